"""Unpacking a verified delivery, layer by layer: PGP decryption, then gzip or zip.

The sidecar checksum is checked on the bytes as delivered; only then is the delivery unpacked, in
the run's staging directory, into a tree of layers whose leaves are the files to normalise. Nothing
is recorded until the whole tree is unpacked, so a refused layer leaves no plaintext behind.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bankfeeds.core.errors import ArchiveRefused, PgpFailed
from bankfeeds.ingest.archive import gunzip, unzip
from bankfeeds.ingest.pgp import decrypt, is_pgp, plaintext_name
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import Connector

#: Layers a delivery may be wrapped in (e.g. PGP around gzip around CSV); more is refused.
MAX_DEPTH = 3


@dataclass
class Layer:
    """One file of a delivery: the delivery itself, a plaintext, or an archive member."""

    name: str
    path: Path
    sha256: str
    size: int
    children: list[Layer] = field(default_factory=list)
    signer: str | None = None

    def walk(self) -> Iterator[Layer]:
        """This layer and every layer under it, parents first."""
        yield self
        for child in self.children:
            yield from child.walk()

    def leaves(self) -> Iterator[Layer]:
        """The layers that hold data to normalise."""
        return (layer for layer in self.walk() if not layer.children)


@dataclass(frozen=True)
class UnpackRules:
    """A connector's keys and the caps on what one delivery may unpack to."""

    private_key: str | None
    passphrase: str | None
    bank_public_key: str | None
    max_bytes: int
    max_ratio: float


def rules_for(ctx: AppContext, connector: Connector) -> UnpackRules:
    """The unpacking rules of a connector, secrets decrypted."""
    secrets = ctx.secrets.decrypt(connector.secrets)
    return UnpackRules(
        private_key=secrets.get("pgpPrivateKey"),
        passphrase=secrets.get("pgpPassphrase"),
        bank_public_key=connector.config.get("pgpPublicKey"),
        max_bytes=ctx.settings.unpack_max_bytes,
        max_ratio=ctx.settings.unpack_max_ratio,
    )


def needs_unpacking(name: str, rules: UnpackRules) -> bool:
    """Whether a delivery is wrapped (or must be: a bank that signs never sends plain files)."""
    lower = name.lower()
    return is_pgp(lower) or lower.endswith((".gz", ".zip")) or rules.bank_public_key is not None


def unpack(delivered: Layer, rules: UnpackRules, workdir: Path) -> Layer:
    """Unpack ``delivered`` under ``workdir`` into a tree of layers (blocking: run in a thread)."""
    if rules.bank_public_key is not None and not is_pgp(delivered.name.lower()):
        raise PgpFailed(
            f"{delivered.name} is not PGP-encrypted, but this connector requires files signed "
            "with the bank's key."
        )
    counter = itertools.count()
    _unpack(delivered, rules, workdir, counter, 0)
    return delivered


def _unpack(
    layer: Layer, rules: UnpackRules, workdir: Path, counter: itertools.count[int], depth: int
) -> None:
    lower = layer.name.lower()
    wrapped = is_pgp(lower) or lower.endswith((".gz", ".zip"))
    if not wrapped:
        return
    if depth >= MAX_DEPTH:
        raise ArchiveRefused(f"{layer.name} is wrapped more than {MAX_DEPTH} layers deep.")
    place = workdir / str(next(counter))
    place.mkdir(parents=True, exist_ok=True)
    if is_pgp(lower):
        if rules.private_key is None:
            raise PgpFailed(
                f"{layer.name} is PGP-encrypted, but the connector has no pgpPrivateKey to "
                "decrypt it."
            )
        name = plaintext_name(layer.name)
        plain = decrypt(
            layer.path,
            place / "plaintext",
            private_key=rules.private_key,
            passphrase=rules.passphrase,
            signer_public_key=rules.bank_public_key,
            workdir=place,
        )
        layer.children = [
            Layer(name, plain.path, plain.sha256, plain.size, signer=plain.signer_fingerprint)
        ]
    elif lower.endswith(".gz"):
        m = gunzip(
            layer.path, place, name=layer.name, max_bytes=rules.max_bytes, max_ratio=rules.max_ratio
        )
        layer.children = [Layer(m.name, m.path, m.sha256, m.size)]
    else:
        members = unzip(layer.path, place, max_bytes=rules.max_bytes, max_ratio=rules.max_ratio)
        if not members:
            raise ArchiveRefused(f"{layer.name} holds no files.")
        layer.children = [Layer(m.name, m.path, m.sha256, m.size) for m in members]
    for child in layer.children:
        _unpack(child, rules, workdir, counter, depth + 1)
