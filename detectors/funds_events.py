"""Decoding the project-funds kinds (contract/funds.md): applications, grants, follow-ups,
invoice uploads, the tax authority's invoice records and the project account's payments.

Checks beyond the common ones: unified social credit codes (GB 32100-2015, with their
check character), invoice numbers (数电票 or paper-era code-number), `issued` dates and
titles that still say something once normalised. Codes are accepted in any case and kept
in upper case, so that an enterprise is one key whatever its source typed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from detectors.events import (
    _CHECKS,
    KEY_FIELD,
    Event,
    Rejected,
    _choice,
    _id,
    _iso_date,
    _number,
    _show,
    _text,
)
from detectors.timeutil import Zone
from detectors.titles import normalise

CODE_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CODE_VALUE = {c: i for i, c in enumerate(CODE_CHARSET)}
CODE_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))  # 1, 3, 9, 27, 19, 26, ...
FOLLOWUP_TYPES = frozenset({"report", "inspection", "completion"})
TAX_STATUSES = frozenset({"normal", "void", "red"})
_INVOICE_NO = re.compile(r"[0-9]{20}|[0-9]{10}-[0-9]{8}|[0-9]{12}-[0-9]{8}")

FUNDS_KINDS = ("application", "grant", "followup", "invoice", "tax_invoice", "bank_payment")
# The entity id that keys each kind (its record key on Kafka). An invoice upload belongs
# to its project too: see `detectors.invoices.routes`.
FUNDS_KEY_FIELD = {
    "application": "org_id",
    "grant": "project_id",
    "followup": "project_id",
    "invoice": "invoice_no",
    "tax_invoice": "invoice_no",
    "bank_payment": "invoice_no",
}


def check_character(code17: str) -> str:
    """The 18th character of a unified social credit code whose first 17 are given."""
    total = sum(CODE_VALUE[c] * w for c, w in zip(code17, CODE_WEIGHTS, strict=True))
    return CODE_CHARSET[(31 - total % 31) % 31]


_VALID: dict[str, None] = {}  # codes seen valid (an enterprise recurs), bounded
_VALID_MAX = 100_000


def _credit_code(ev: Event, field: str) -> None:
    value = ev.get(field)
    if value is None:
        raise Rejected(field, "required", "is required")
    if not isinstance(value, str):
        raise Rejected(field, "wrong type", f"{_show(value)} is not a string")
    if value in _VALID:
        return  # valid, and already upper case
    code = value.upper()
    if code in _VALID:
        ev[field] = code
        return
    if len(code) != 18:
        raise Rejected(
            field, "bad credit code", f"{_show(value)} has {len(value)} characters, not 18"
        )
    for i, c in enumerate(code, 1):
        if c not in CODE_VALUE:
            raise Rejected(
                field,
                "bad credit code",
                f"character {i} {c!r} is not in the credit-code alphabet {CODE_CHARSET}",
            )
    expected = check_character(code[:17])
    if code[17] != expected:
        raise Rejected(
            field, "check character", f"check character is {code[17]!r}, expected {expected!r}"
        )
    if len(_VALID) >= _VALID_MAX:
        _VALID.clear()
    _VALID[code] = None
    ev[field] = code


def _invoice_no(ev: Event) -> None:
    value = ev.get("invoice_no")
    if value is None:
        raise Rejected("invoice_no", "required", "is required")
    if not isinstance(value, str) or _INVOICE_NO.fullmatch(value) is None:
        raise Rejected(
            "invoice_no",
            "bad invoice number",
            f"{_show(value)} is neither 20 digits nor a 10- or 12-digit code, '-' "
            "and 8 digits",
        )


def _title(ev: Event) -> None:
    _text(ev, "title", required=True)
    if not normalise(ev["title"]):
        raise Rejected("title", "no letters", f"{_show(ev['title'])} has no letter or digit")


def _amount(ev: Event, field: str) -> None:
    _number(ev, field, 0, math.inf, lo_open=True)


def _check_application(ev: Event, zone: Zone) -> None:
    _id(ev, "application_id")
    _credit_code(ev, "org_id")
    _text(ev, "org_name", required=True)
    _title(ev)
    _text(ev, "department", required=True)
    _amount(ev, "amount_cny")
    _text(ev, "program")
    _text(ev, "district")


def _check_grant(ev: Event, zone: Zone) -> None:
    _id(ev, "grant_id")
    _id(ev, "project_id")
    _credit_code(ev, "org_id")
    _amount(ev, "amount_cny")
    for name in ("department", "program", "unit", "district"):
        _text(ev, name)


def _check_followup(ev: Event, zone: Zone) -> None:
    _id(ev, "followup_id")
    _id(ev, "project_id")
    _choice(ev, "type", FOLLOWUP_TYPES, required=True)
    _text(ev, "inspector")


def _check_invoice(ev: Event, zone: Zone) -> None:
    _invoice_no(ev)
    _id(ev, "project_id")
    _credit_code(ev, "org_id")
    _credit_code(ev, "seller_id")
    _amount(ev, "total_cny")
    _iso_date(ev, "issued")


def _check_tax_invoice(ev: Event, zone: Zone) -> None:
    _invoice_no(ev)
    _credit_code(ev, "seller_id")
    _credit_code(ev, "buyer_id")
    _amount(ev, "total_cny")
    _iso_date(ev, "issued")
    _choice(ev, "status", TAX_STATUSES, required=True)


def _check_bank_payment(ev: Event, zone: Zone) -> None:
    _id(ev, "txn_id")
    _id(ev, "project_id")
    _credit_code(ev, "payer_id")
    _credit_code(ev, "payee_id")
    _amount(ev, "amount_cny")
    _invoice_no(ev)


FUNDS_CHECKS: dict[str, Callable[[Event, Zone], None]] = {
    "application": _check_application,
    "grant": _check_grant,
    "followup": _check_followup,
    "invoice": _check_invoice,
    "tax_invoice": _check_tax_invoice,
    "bank_payment": _check_bank_payment,
}

_CHECKS.update(FUNDS_CHECKS)
KEY_FIELD.update(FUNDS_KEY_FIELD)
