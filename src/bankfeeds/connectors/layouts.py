"""Provider file layouts, as data: how one provider's settlement file maps to canonical rows.

A layout says where the header is, what to drop, how columns map to canonical fields and how to
read amounts, dates, signs and statuses. Built-in layouts live in ``LAYOUTS``; a ``CUSTOM``
connector carries its own, checked by :func:`layout_from_dict`. See ``docs/layouts.md``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from bankfeeds.core.errors import FieldError, ValidationFailed

Status = Literal["SUCCESS", "FAILED", "PENDING", "REVERSED"]
CanonicalField = Literal[
    "txn_id", "utr", "rrn", "amount", "net_amount", "fee", "tax", "status", "dr_cr",
    "txn_at", "value_date", "payment_method", "merchant_id", "currency",
]  # fmt: skip
KEY_FIELDS: tuple[CanonicalField, ...] = ("txn_id", "utr", "rrn")
# Values that mean "no value" in any column; many bank exports write NA or a dash.
NULL_TOKENS: tuple[str, ...] = ("", "NA", "N/A", "NULL", "-")


class Layout(BaseModel):
    """One provider's file layout: parsing rules and a column map to canonical fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    file_format: Literal["csv", "txt", "xlsx"] = "csv"
    #: Default file name pattern (date tokens as in connector patterns); used by the sandbox.
    file_pattern: str = ""
    encoding: Literal["utf-8", "utf-8-sig", "cp1252"] = "utf-8"
    delimiter: str = ","
    #: 0-based line (xlsx: row) where the header is expected. A hint: the header is the line of
    #: the first 20 (or up to this one) holding the mapped column names; lines above it are skipped.
    header_row: int = 0
    #: The provider's full header, in order; documents the layout and drives the sandbox writer.
    header: tuple[str, ...] = ()
    #: Number of non-empty lines at the end that are trailers (totals, record counts). Trailers
    #: starting with TOTAL, Grand Total, Record Count, TRL… are recognised without it.
    footer_rows: int = 0
    #: Lines after the header matching this regex are trailer lines, wherever they are.
    trailer_pattern: str | None = None
    columns: dict[CanonicalField, str]
    #: Canonical fields that must have a value on every row.
    required: tuple[CanonicalField, ...] = ("amount",)
    #: Tried in order; the first one is how the provider writes dates.
    date_formats: tuple[str, ...] = ("%Y-%m-%d",)
    datetime_formats: tuple[str, ...] = ("%Y-%m-%d %H:%M:%S",)
    #: Zone of naive timestamps in the file.
    timezone: str = "Asia/Kolkata"
    amount_unit: Literal["rupees", "paise"] = "rupees"
    #: How the provider groups digits when writing; parsing accepts any comma grouping.
    amount_grouping: Literal["none", "lakh", "western"] = "none"
    sign: Literal["signed", "drcr"] = "signed"
    debit_markers: tuple[str, ...] = ("DR", "D")
    credit_markers: tuple[str, ...] = ("CR", "C")
    #: Raw status (matched trimmed and upper-cased) to canonical status.
    status_map: dict[str, Status] = {}
    #: Status of every row when the file has no status column.
    default_status: Status | None = None
    currency: str = "INR"

    @field_validator("status_map", mode="after")
    @classmethod
    def _upper_status_keys(cls, value: dict[str, Status]) -> dict[str, Status]:
        # Files vary in case and padding ("Success ", "SUCCESS"); lookups use the cleaned form.
        return {raw.strip().upper(): status for raw, status in value.items()}

    @model_validator(mode="after")
    def _consistent(self) -> Layout:
        errors = _consistency_errors(self)
        if errors:
            # Raised as ValueError so pydantic reports it; layout_from_dict re-maps the paths.
            raise ValueError("\n".join(f"{field}: {msg}" for field, msg in errors))
        return self

    def status_of(self, canonical: Status) -> str:
        """The first raw value this layout maps to ``canonical`` (used when writing files)."""
        return next(raw for raw, status in self.status_map.items() if status == canonical)


def header_needs(layout: Layout) -> tuple[tuple[CanonicalField, ...], tuple[CanonicalField, ...]]:
    """The fields whose column a file's header must have, and the keys it needs one of.

    Every other mapped column is optional: a file without it reads that field as empty. Needed are
    the amount, the ``required`` fields, the status without a ``default_status``, the Dr/Cr
    column of a ``drcr`` layout and, of the mapped txn_id/UTR/RRN columns, at least one (the
    only one when just one is mapped).
    """
    must: list[CanonicalField] = ["amount", *layout.required]
    if layout.default_status is None:
        must.append("status")
    if layout.sign == "drcr":
        must.append("dr_cr")
    keys = tuple(key for key in KEY_FIELDS if key in layout.columns)
    if len(keys) == 1:
        must.append(keys[0])
    needed = tuple(dict.fromkeys(f for f in must if f in layout.columns))
    return needed, (() if set(keys) & set(needed) else keys)


def _consistency_errors(layout: Layout) -> list[tuple[str, str]]:
    """Cross-field rules that single-field types cannot express, as (path, message) pairs."""
    errs: list[tuple[str, str]] = []
    cols = layout.columns
    if "amount" not in cols:
        errs.append(("columns.amount", "required"))
    if not any(key in cols for key in KEY_FIELDS):
        errs.append(("columns", "map at least one of txn_id, utr, rrn"))
    if layout.sign == "drcr" and "dr_cr" not in cols:
        errs.append(("columns.dr_cr", "required when sign is drcr"))
    if "status" in cols and not layout.status_map:
        errs.append(("status_map", "required when a status column is mapped"))
    if "status" not in cols and layout.default_status is None:
        errs.append(("default_status", "required when no status column is mapped"))
    if layout.file_format != "xlsx" and len(layout.delimiter) != 1:
        errs.append(("delimiter", "must be exactly one character"))
    if layout.header_row < 0 or layout.footer_rows < 0:
        errs.append(("header_row", "header_row and footer_rows must not be negative"))
    for name in ("date_formats", "datetime_formats"):
        formats: tuple[str, ...] = getattr(layout, name)
        if not formats or any("%" not in fmt for fmt in formats):
            errs.append((name, "give at least one strftime format such as %d-%m-%Y"))
    unmapped = [f for f in layout.required if f not in cols and f != "amount"]  # amount: above
    errs += [(f"required.{f}", "is not mapped in columns") for f in unmapped]
    if layout.header:
        missing = sorted(set(cols.values()) - set(layout.header))
        errs += [("header", f"has no column {name!r} used in columns") for name in missing]
    if layout.trailer_pattern is not None:
        try:
            re.compile(layout.trailer_pattern)
        except re.error as exc:
            errs.append(("trailer_pattern", f"invalid regex: {exc}"))
    return errs


def layout_from_dict(d: Mapping[str, Any]) -> Layout:
    """Validate a CUSTOM connector's layout, raising ValidationFailed with ``layout.*`` paths."""
    try:
        return Layout.model_validate(dict(d))
    except ValidationError as exc:
        raise ValidationFailed(errors=_field_errors(exc)) from exc


def _field_errors(exc: ValidationError) -> list[FieldError]:
    """Turn pydantic's errors into FieldErrors addressed as ``layout.columns.amount``."""
    out: list[FieldError] = []
    for err in exc.errors():
        if err["type"] == "value_error" and not err["loc"]:
            # Our cross-field check: the message already holds "path: message" pairs.
            for part in str(err["ctx"]["error"]).split("\n"):
                field, _, message = part.partition(": ")
                out.append(FieldError(f"layout.{field}", message))
            continue
        path = ".".join(str(p) for p in err["loc"] if p != "[key]")
        message = "required" if err["type"] == "missing" else err["msg"]
        out.append(FieldError(f"layout.{path}" if path else "layout", message))
    return out


def _names(joined: str) -> tuple[str, ...]:
    """A header written as one comma-separated string (keeps the tables below readable)."""
    return tuple(joined.split(","))


_STD_STATUS: dict[str, Status] = {
    "SUCCESS": "SUCCESS",
    "FAILED": "FAILED",
    "PENDING": "PENDING",
    "REVERSED": "REVERSED",
}

# The built-in layouts are tables; keep them one mapping per line. See docs/layouts.md.
# fmt: off
AXIS = Layout(
    name="AXIS", file_pattern="AXIS_RECON_YYYYMMDD.csv",
    header=_names("TXNID,CREDIT_AMT,NET_CR_AMT,VALUE_DATE,UTR,RRN,AUTH,POST_DATE,BANK,STATUS,REMARKS"),
    columns={"txn_id": "TXNID", "amount": "CREDIT_AMT", "net_amount": "NET_CR_AMT",
             "value_date": "VALUE_DATE", "utr": "UTR", "rrn": "RRN", "txn_at": "POST_DATE",
             "status": "STATUS"},
    required=("txn_id", "amount", "status"),
    status_map=_STD_STATUS,
)
BOB = Layout(
    name="BOB", file_pattern="BOB_RECON_YYYYMMDD.csv",
    header_row=2,  # two-line report title above the header
    header=_names("Sr No,Merchant Ref No,Txn Amount,Commission,GST,Net Amount,Settlement Date,"
                  "UTR No,RRN,Txn Date,Status"),
    columns={"txn_id": "Merchant Ref No", "amount": "Txn Amount", "fee": "Commission",
             "tax": "GST", "net_amount": "Net Amount", "value_date": "Settlement Date",
             "utr": "UTR No", "rrn": "RRN", "txn_at": "Txn Date", "status": "Status"},
    required=("txn_id", "amount", "status"),
    date_formats=("%d/%m/%Y",), datetime_formats=("%d/%m/%Y %H:%M:%S",),
    status_map={"SUCCESS": "SUCCESS", "FAILURE": "FAILED", "PENDING": "PENDING",
                "REVERSAL": "REVERSED"},
)
HDFC = Layout(
    name="HDFC", file_pattern="HDFC_TXN_YYYYMMDD.csv",
    delimiter="~", trailer_pattern=r"^TRL~",
    header=_names("MERCHANT_CODE,TRAN_ID,ARN_NO,UTR_NO,TRAN_DATE,SETTLE_DATE,GROSS_AMT,MDR,GST,"
                  "NET_AMT,TRAN_STATUS"),
    columns={"merchant_id": "MERCHANT_CODE", "txn_id": "TRAN_ID", "rrn": "ARN_NO",
             "utr": "UTR_NO", "txn_at": "TRAN_DATE", "value_date": "SETTLE_DATE",
             "amount": "GROSS_AMT", "fee": "MDR", "tax": "GST", "net_amount": "NET_AMT",
             "status": "TRAN_STATUS"},
    required=("utr", "amount", "status"),
    date_formats=("%d-%m-%Y",), datetime_formats=("%d-%m-%Y %H:%M:%S",),
    status_map={"SETTLED": "SUCCESS", "REJECTED": "FAILED", "PENDING": "PENDING",
                "REFUNDED": "REVERSED"},
)
ICICI = Layout(
    name="ICICI", file_pattern="ICICI_SETTLEMENT_YYYYMMDD.csv",
    delimiter="|", amount_grouping="lakh", sign="drcr",
    header=_names("Transaction ID,Bank Ref No,UTR,Transaction Date,Value Date,Amount,Charges,"
                  "Net Amount,Dr/Cr,Status,Remarks"),
    columns={"txn_id": "Transaction ID", "rrn": "Bank Ref No", "utr": "UTR",
             "txn_at": "Transaction Date", "value_date": "Value Date", "amount": "Amount",
             "fee": "Charges", "net_amount": "Net Amount", "dr_cr": "Dr/Cr", "status": "Status"},
    required=("utr", "amount", "status", "dr_cr"),
    date_formats=("%d/%m/%y",), datetime_formats=("%d/%m/%y %H:%M",),
    status_map={"SUCCESS": "SUCCESS", "FAILURE": "FAILED", "PENDING": "PENDING",
                "REVERSED": "REVERSED"},
)
SBI = Layout(
    name="SBI", file_pattern="SBI_MIS_YYYYMMDD.csv",
    encoding="cp1252", amount_grouping="western",
    header=_names("TXN_REF,UTR,RRN,TXN_DATE,VALUE_DT,AMOUNT_INR,NET_AMOUNT_INR,STATUS,NARRATION"),
    columns={"txn_id": "TXN_REF", "utr": "UTR", "rrn": "RRN", "txn_at": "TXN_DATE",
             "value_date": "VALUE_DT", "amount": "AMOUNT_INR", "net_amount": "NET_AMOUNT_INR",
             "status": "STATUS"},
    required=("txn_id", "amount", "status"),
    date_formats=("%d-%b-%y",), datetime_formats=("%d-%b-%y %H:%M:%S",),
    status_map={"S": "SUCCESS", "F": "FAILED", "P": "PENDING", "R": "REVERSED"},
)
YES = Layout(
    name="YES", file_format="txt", file_pattern="YES_SETTLEMENT_YYYYMMDD.txt",
    encoding="utf-8-sig", delimiter="\t", amount_unit="paise",
    # Its "TOTAL RECORDS: n" footer is a default trailer, found and its count checked; no
    # footer_rows, which would drop the last row of a file sent without the footer.
    header=_names("txn_ref,utr,rrn,txn_time,value_date,amount_paise,charges_paise,net_paise,status"),
    columns={"txn_id": "txn_ref", "utr": "utr", "rrn": "rrn", "txn_at": "txn_time",
             "value_date": "value_date", "amount": "amount_paise", "fee": "charges_paise",
             "net_amount": "net_paise", "status": "status"},
    required=("txn_id", "amount", "status"),
    date_formats=("%d-%m-%Y",), datetime_formats=("%d-%m-%Y %H:%M:%S",),
    status_map=_STD_STATUS,
)
KOTAK = Layout(
    name="KOTAK", file_format="xlsx", file_pattern="KOTAK_SETTLEMENT_YYYYMMDD.xlsx",
    header_row=1,  # a title row above the header
    header=_names("Txn Ref,UTR,RRN,Txn Date,Value Date,Gross Amount,Fee,GST,Net Amount,Status"),
    columns={"txn_id": "Txn Ref", "utr": "UTR", "rrn": "RRN", "txn_at": "Txn Date",
             "value_date": "Value Date", "amount": "Gross Amount", "fee": "Fee", "tax": "GST",
             "net_amount": "Net Amount", "status": "Status"},
    required=("txn_id", "amount", "status"),
    status_map=_STD_STATUS,
)
PG = Layout(
    name="PG", file_pattern="PG_TXN_YYYYMMDD.csv", amount_unit="paise",
    header=_names("pg_txn_id,merchant_id,utr,amount_paise,fee_paise,tax_paise,net_paise,status,"
                  "payment_method,bank,created_at,settled_at"),
    columns={"txn_id": "pg_txn_id", "merchant_id": "merchant_id", "utr": "utr",
             "amount": "amount_paise", "fee": "fee_paise", "tax": "tax_paise",
             "net_amount": "net_paise", "status": "status", "payment_method": "payment_method",
             "txn_at": "created_at", "value_date": "settled_at"},
    required=("txn_id", "amount", "status"),
    datetime_formats=("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"),
    status_map={**_STD_STATUS, "REFUNDED": "REVERSED"},
)
# fmt: on

#: Built-in layouts by provider.
LAYOUTS: dict[str, Layout] = {
    layout.name: layout for layout in (AXIS, BOB, HDFC, ICICI, SBI, YES, KOTAK, PG)
}
