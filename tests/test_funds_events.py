"""Decoding the project-funds kinds: credit codes with their check character, invoice
numbers, `issued` dates, titles, and reasons that name the field and the rule."""

from __future__ import annotations

from typing import Any

import pytest
from funds_support import ORG, SELLER, code

from detectors.events import Rejected, validate
from detectors.funds_events import CODE_WEIGHTS, check_character
from detectors.timeutil import Zone
from streams.topics import INPUT_TOPICS

ZONE = Zone("Asia/Shanghai")
INVOICE = {"kind": "invoice", "invoice_no": "26212000000000000062", "project_id": "PRJ-1",
           "org_id": "91210104P14A8PX6P4", "seller_id": "91210102EJA4HWYHU1",
           "total_cny": 264097.7, "issued": "2026-03-21", "ts": "2026-03-24T15:35:29+08:00"}


def reject(obj: dict[str, Any], **kw: Any) -> str:
    with pytest.raises(Rejected) as info:
        validate(dict(obj), ZONE, **kw)
    return str(info.value)


def test_weights_are_powers_of_three_mod_31() -> None:
    assert CODE_WEIGHTS == (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def test_real_codes_from_the_sample_pass() -> None:
    for good in ("91210113BLAKLBKPEK", "91210104P14A8PX6P4", "91210102EJA4HWYHU1"):
        assert check_character(good[:17]) == good[17]
    assert validate(dict(INVOICE), ZONE)["seller_id"] == "91210102EJA4HWYHU1"


def test_wrong_check_character_names_the_expected_one() -> None:
    bad = "91210102EJA4HWYHUL"
    assert reject(dict(INVOICE, seller_id=bad)) == (
        "seller_id: check character is 'L', expected '1'"
    )
    with pytest.raises(Rejected) as info:
        validate(dict(INVOICE, seller_id=bad), ZONE)
    assert info.value.reason == "seller_id: check character"


def test_lower_case_is_accepted_and_kept_upper() -> None:
    event = validate(dict(INVOICE, org_id="91210104p14a8px6p4"), ZONE)
    assert event["org_id"] == "91210104P14A8PX6P4"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("91210104P14A8PX6P", "org_id: '91210104P14A8PX6P' has 17 characters, not 18"),
        ("91210I04P14A8PX6P4", "org_id: character 6 'I' is not in the credit-code alphabet"),
        ("91210104P14A8PX6PS", "org_id: character 18 'S' is not in the credit-code alphabet"),
        (12345, "org_id: 12345 is not a string"),
    ],
)
def test_malformed_codes(value: object, message: str) -> None:
    assert reject(dict(INVOICE, org_id=value)).startswith(message)


def test_the_builders_make_valid_codes() -> None:
    assert len({ORG, SELLER, code("x")}) == 3
    for c in (ORG, SELLER):
        assert check_character(c[:17]) == c[17]


@pytest.mark.parametrize("number", ["26212000000000000062", "2100103158-00000025",
                                    "210010315811-00000025"])
def test_invoice_number_forms(number: str) -> None:
    assert validate(dict(INVOICE, invoice_no=number), ZONE)["invoice_no"] == number


@pytest.mark.parametrize("number", ["2621200000000000006", "262120000000000000621",
                                    "21001031580-00000025", "2100103158-0000002",
                                    "2100103158_00000025",
                                    "２６２１２０００００００００００００００６２",
                                    "A6212000000000000062", 26212000000000000062])
def test_bad_invoice_numbers(number: object) -> None:
    assert reject(dict(INVOICE, invoice_no=number)).startswith("invoice_no: ")


def test_issued_is_a_calendar_date() -> None:
    assert reject(dict(INVOICE, issued="2026-02-30")) == (
        "issued: '2026-02-30' is not a valid date"
    )
    assert reject(dict(INVOICE, issued="2026/03/21")).startswith("issued: ")
    assert reject({k: v for k, v in INVOICE.items() if k != "issued"}) == "issued: is required"


def test_amounts_are_positive() -> None:
    assert reject(dict(INVOICE, total_cny=0)) == "total_cny: 0 is outside (0, ∞]"


def test_titles_need_a_letter_or_digit() -> None:
    app = {"kind": "application", "application_id": "A1", "org_id": ORG, "org_name": "x",
           "title": "——（）。 ", "department": "科技局", "amount_cny": 1.0,
           "ts": "2026-05-06T10:00:00+08:00"}
    assert reject(app) == "title: '——（）。 ' has no letter or digit"
    assert validate(dict(app, title="（１）"), ZONE)["title"] == "（１）"
    assert reject(dict(app, title="x", department=None)) == "department: is required"


def test_followup_types_and_tax_statuses() -> None:
    fu = {"kind": "followup", "followup_id": "F1", "project_id": "P1", "type": "party",
          "ts": "2026-05-06T10:00:00+08:00"}
    assert reject(fu) == "type: 'party' is not one of completion, inspection, report"
    taxed = {"kind": "tax_invoice", "invoice_no": "26212000000000000062", "seller_id": SELLER,
             "buyer_id": ORG, "total_cny": 1.0, "issued": "2026-03-21", "status": "cancelled",
             "ts": "2026-05-06T10:00:00+08:00"}
    assert reject(taxed) == "status: 'cancelled' is not one of normal, red, void"


def test_topics_carry_only_their_kinds() -> None:
    default, allowed = INPUT_TOPICS["invoices"]
    no_kind = {k: v for k, v in INVOICE.items() if k != "kind"}
    assert validate(dict(no_kind), ZONE, default, allowed)["kind"] == "invoice"
    grant = {"kind": "grant", "grant_id": "G1", "project_id": "P1", "org_id": ORG,
             "amount_cny": 1.0, "ts": "2026-05-06T10:00:00+08:00"}
    assert reject(grant, allowed=allowed) == "kind: 'grant' does not belong on this topic"
    default, allowed = INPUT_TOPICS["projects"]
    assert default is None and allowed == {"grant", "followup"}
    assert reject(dict(grant, kind="teleport")).startswith("kind: 'teleport' is not one of")
