"""Compressed and encrypted deliveries end to end: what was delivered and what it unpacks to."""

from __future__ import annotations

import gzip
import hashlib
import io
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.support.pgp import Keys, encrypt_file, make_keys
from tests.support.pipeline import make_connector, publish, run_once, staging_left
from tests.support.targets import Target

from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import IngestedFile

SAMPLE = (Path(__file__).parents[2] / "fixtures" / "AXIS_RECON_20250110.csv").read_bytes()


async def files(ctx: AppContext) -> list[IngestedFile]:
    """Every file row, oldest first."""
    async with ctx.sessions() as session:
        return list((await session.scalars(select(IngestedFile).order_by(IngestedFile.id))).all())


def sha(data: bytes) -> str:
    """Hex SHA-256."""
    return hashlib.sha256(data).hexdigest()


async def test_gzip_delivery_is_stored_with_its_plaintext_linked(
    ctx: AppContext, target: Target
) -> None:
    packed = gzip.compress(SAMPLE)
    publish(target, "AXIS_RECON_20250110.csv.gz", packed)
    cid = await make_connector(ctx, target, filePattern="AXIS_RECON_YYYYMMDD*.csv.gz")

    run = await run_once(ctx, cid)
    assert run["status"] == "SUCCESS", run
    delivered, plain = await files(ctx)
    assert (delivered.sha256, delivered.status, delivered.parent_id) == (
        sha(packed),
        "UNPACKED",
        None,
    )
    assert plain.parent_id == delivered.id and plain.sha256 == sha(SAMPLE)
    assert plain.remote_name == "AXIS_RECON_20250110.csv"
    assert plain.status == "NORMALIZED" and plain.row_count and plain.row_count > 0
    assert await ctx.store.read_bytes(str(delivered.object_key)) == packed
    assert await ctx.store.read_bytes(str(plain.object_key)) == SAMPLE
    assert staging_left(ctx) == []

    again = await run_once(ctx, cid, force=True)
    assert (again["filesDownloaded"], again["filesSkipped"]) == (0, 1)
    assert len(await files(ctx)) == 2


async def test_zip_members_are_each_ingested_and_a_known_member_is_skipped(
    ctx: AppContext, target: Target
) -> None:
    second = SAMPLE.replace(b"TXN0000", b"TXN9000")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("AXIS_RECON_20250110_a.csv", SAMPLE)
        archive.writestr("AXIS_RECON_20250110_b.csv", second)
    publish(target, "AXIS_RECON_20250110.zip", buffer.getvalue())
    cid = await make_connector(ctx, target, filePattern="AXIS_RECON_YYYYMMDD*.zip")

    run = await run_once(ctx, cid)
    assert run["status"] == "SUCCESS", run
    rows = await files(ctx)
    container = next(r for r in rows if r.status == "UNPACKED")
    members = {r.remote_name: r for r in rows if r.parent_id == container.id}
    assert set(members) == {"AXIS_RECON_20250110_a.csv", "AXIS_RECON_20250110_b.csv"}
    assert {m.sha256 for m in members.values()} == {sha(SAMPLE), sha(second)}
    assert all(m.status == "NORMALIZED" for m in members.values())

    # A later archive repeating one member stores only what is new.
    third = SAMPLE.replace(b"TXN0000", b"TXN8000")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("AXIS_RECON_20250110_a.csv", SAMPLE)
        archive.writestr("AXIS_RECON_20250110_c.csv", third)
    publish(target, "AXIS_RECON_20250110_late.zip", buffer.getvalue())
    await run_once(ctx, cid)
    rows = await files(ctx)
    assert sorted(r.sha256 for r in rows if r.parent_id is not None) == sorted(
        [sha(SAMPLE), sha(second), sha(third)]
    )
    assert staging_left(ctx) == []


async def test_zip_slip_archive_is_refused_and_stores_nothing(
    ctx: AppContext, target: Target
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../../etc/AXIS_RECON_20250110.csv", SAMPLE)
    publish(target, "AXIS_RECON_20250110.zip", buffer.getvalue())
    cid = await make_connector(ctx, target, filePattern="AXIS_RECON_YYYYMMDD*.zip")

    run = await run_once(ctx, cid)
    assert run["status"] == "FAILED", run
    assert run["errorCode"] == "file-refused"
    assert "refused" in run["error"]
    assert await files(ctx) == []
    assert [k for k in await ctx.store.list_keys() if k.startswith("sha256/")] == []
    assert staging_left(ctx) == []


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    """The bank's, our and a stranger's PGP key pairs, made once for this module."""
    return make_keys(tmp_path_factory.mktemp("keys"))


async def pgp_connector(ctx: AppContext, target: Target, keys: Keys) -> str:
    """An AXIS connector that decrypts with our key and requires the bank's signature."""
    return await make_connector(
        ctx,
        target,
        filePattern="AXIS_RECON_YYYYMMDD*.csv.pgp",
        pgpPrivateKey=keys.ours.private,
        pgpPublicKey=keys.bank.public,
    )


async def test_signed_pgp_delivery_keeps_ciphertext_and_plaintext_linked(
    ctx: AppContext, target: Target, keys: Keys, tmp_path: Path
) -> None:
    plain = tmp_path / "plain.csv"
    plain.write_bytes(SAMPLE)
    encrypt_file(plain, tmp_path / "sealed.pgp", keys)
    sealed = (tmp_path / "sealed.pgp").read_bytes()
    publish(target, "AXIS_RECON_20250110.csv.pgp", sealed)
    cid = await pgp_connector(ctx, target, keys)

    run = await run_once(ctx, cid)
    assert run["status"] == "SUCCESS", run
    delivered, clear = await files(ctx)
    assert (delivered.sha256, delivered.status) == (sha(sealed), "UNPACKED")
    assert (clear.parent_id, clear.sha256, clear.status) == (
        delivered.id,
        sha(SAMPLE),
        "NORMALIZED",
    )
    assert await ctx.store.read_bytes(str(delivered.object_key)) == sealed
    assert staging_left(ctx) == []


@pytest.mark.parametrize("case", ["stranger-signed", "wrong-recipient", "tampered"])
async def test_bad_pgp_delivery_is_refused_and_keeps_no_plaintext(
    ctx: AppContext, target: Target, keys: Keys, tmp_path: Path, case: str
) -> None:
    plain = tmp_path / "plain.csv"
    plain.write_bytes(SAMPLE)
    sealed = tmp_path / "sealed.pgp"
    if case == "stranger-signed":
        encrypt_file(plain, sealed, keys, signer="stranger")
    elif case == "wrong-recipient":
        encrypt_file(plain, sealed, keys, recipient="stranger")
    else:
        encrypt_file(plain, sealed, keys)
        data = bytearray(sealed.read_bytes())
        data[len(data) // 2] ^= 0xFF
        sealed.write_bytes(bytes(data))
    publish(target, "AXIS_RECON_20250110.csv.pgp", sealed.read_bytes())
    cid = await pgp_connector(ctx, target, keys)

    run = await run_once(ctx, cid)
    assert run["status"] == "FAILED", run
    assert run["errorCode"] == "file-refused"
    assert await files(ctx) == []
    assert [k for k in await ctx.store.list_keys() if k.startswith("sha256/")] == []
    assert staging_left(ctx) == []
