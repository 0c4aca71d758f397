"""Built-in provider layouts and validation of CUSTOM layouts."""

from __future__ import annotations

from typing import Any

import pytest

from bankfeeds.connectors.layouts import LAYOUTS, Layout, layout_from_dict
from bankfeeds.core.errors import ValidationFailed

AXIS_HEADER = [
    "TXNID", "CREDIT_AMT", "NET_CR_AMT", "VALUE_DATE", "UTR", "RRN", "AUTH", "POST_DATE", "BANK",
    "STATUS", "REMARKS",
]  # fmt: skip
PG_HEADER = [
    "pg_txn_id", "merchant_id", "utr", "amount_paise", "fee_paise", "tax_paise", "net_paise",
    "status", "payment_method", "bank", "created_at", "settled_at",
]  # fmt: skip


def _custom(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "CUSTOM",
        "columns": {"txn_id": "Ref", "amount": "Amt", "status": "St"},
        "status_map": {"ok": "SUCCESS", " Bad ": "FAILED"},
    }
    base.update(overrides)
    return base


def _fields(exc: pytest.ExceptionInfo[ValidationFailed]) -> dict[str, str]:
    return {e.field: e.message for e in exc.value.errors}


def test_every_provider_has_a_layout() -> None:
    assert set(LAYOUTS) == {"AXIS", "BOB", "HDFC", "ICICI", "SBI", "YES", "KOTAK", "PG"}


def test_axis_header_is_exactly_the_spec() -> None:
    assert list(LAYOUTS["AXIS"].header) == AXIS_HEADER
    assert LAYOUTS["AXIS"].amount_unit == "rupees"
    assert LAYOUTS["AXIS"].date_formats == ("%Y-%m-%d",)


def test_pg_header_is_exactly_the_design() -> None:
    assert list(LAYOUTS["PG"].header) == PG_HEADER
    assert LAYOUTS["PG"].amount_unit == "paise"


def test_bank_layouts_differ_from_each_other() -> None:
    banks = [layout for name, layout in LAYOUTS.items() if name != "PG"]
    shapes = {(lay.delimiter, lay.encoding, lay.date_formats, lay.file_format, lay.header_row,
               lay.header) for lay in banks}  # fmt: skip
    assert len(shapes) == len(banks)
    assert {lay.delimiter for lay in banks} >= {",", "~", "|"}
    assert {lay.encoding for lay in banks} == {"utf-8", "utf-8-sig", "cp1252"}
    assert LAYOUTS["KOTAK"].file_format == "xlsx"
    assert LAYOUTS["ICICI"].sign == "drcr"


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_builtin_layouts_round_trip_through_validation(name: str) -> None:
    layout = LAYOUTS[name]
    assert layout_from_dict(layout.model_dump()) == layout


def test_layouts_are_frozen() -> None:
    with pytest.raises(ValueError, match="frozen"):
        LAYOUTS["AXIS"].delimiter = ";"  # type: ignore[misc]


def test_custom_layout_is_accepted_and_status_keys_are_normalised() -> None:
    layout = layout_from_dict(_custom(delimiter="~", date_formats=["%d-%m-%Y"]))
    assert isinstance(layout, Layout)
    assert layout.status_map == {"OK": "SUCCESS", "BAD": "FAILED"}
    assert layout.date_formats == ("%d-%m-%Y",)


def test_missing_amount_column_is_reported_by_path() -> None:
    with pytest.raises(ValidationFailed) as exc:
        layout_from_dict(_custom(columns={"txn_id": "Ref", "status": "St"}))
    assert _fields(exc) == {"layout.columns.amount": "required"}
    assert "layout.columns.amount: required" in str(exc.value)


def test_missing_name_is_required() -> None:
    data = _custom()
    del data["name"]
    with pytest.raises(ValidationFailed) as exc:
        layout_from_dict(data)
    assert _fields(exc) == {"layout.name": "required"}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"columns": {"txn_id": "R", "amount": "A", "bogus": "X"}}, "layout.columns.bogus"),
        ({"encoding": "latin-9"}, "layout.encoding"),
        ({"amount_unit": "dollars"}, "layout.amount_unit"),
        ({"status_map": {"OK": "DONE"}}, "layout.status_map.OK"),
        ({"delimiter": "::"}, "layout.delimiter"),
        ({"date_formats": []}, "layout.date_formats"),
        ({"trailer_pattern": "(unclosed"}, "layout.trailer_pattern"),
        ({"sign": "drcr"}, "layout.columns.dr_cr"),
        ({"columns": {"amount": "A", "status": "S"}}, "layout.columns"),
        ({"required": ["utr"]}, "layout.required.utr"),
        ({"header": ["Ref", "Amt"]}, "layout.header"),
        ({"status_map": {}}, "layout.status_map"),
        ({"unknown_option": 1}, "layout.unknown_option"),
    ],
)
def test_invalid_custom_layouts_name_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        layout_from_dict(_custom(**overrides))
    assert field in _fields(exc), _fields(exc)


def test_no_status_column_needs_a_default_status() -> None:
    cols = {"utr": "U", "amount": "A"}
    with pytest.raises(ValidationFailed) as exc:
        layout_from_dict({"name": "C", "columns": cols})
    assert "layout.default_status" in _fields(exc)
    assert layout_from_dict({"name": "C", "columns": cols, "default_status": "SUCCESS"})


def test_status_of_gives_the_providers_own_word() -> None:
    assert LAYOUTS["HDFC"].status_of("SUCCESS") == "SETTLED"
    assert LAYOUTS["SBI"].status_of("FAILED") == "F"
