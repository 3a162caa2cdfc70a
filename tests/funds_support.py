"""Builders for the project-funds kinds (contract/funds.md), as `support` has for the city:
one small function per kind, times as local ISO strings, valid credit codes by name."""

from __future__ import annotations

from typing import Any

from support import ev

from detectors.events import Event
from detectors.funds_events import CODE_CHARSET, check_character


def code(name: str) -> str:
    """A valid unified social credit code derived from a short name (stable per name)."""
    body = "".join(CODE_CHARSET[(ord(c) * 7 + i) % 31] for i, c in enumerate(name.ljust(9, "0")))
    first17 = ("91210100" + body)[:17]
    return first17 + check_character(first17)


ORG = code("acme")
OTHER_ORG = code("other")
SELLER = code("seller")


def application(
    app_id: str, ts: str, title: str = "沈阳市冷链物流仓储中心建设项目", org: str = ORG,
    department: str = "发改委投资处", **extra: Any,
) -> Event:
    obj = {"kind": "application", "application_id": app_id, "org_id": org,
           "org_name": "某某冷链有限公司", "title": title, "department": department,
           "amount_cny": 7_870_000.0, "ts": ts, "district": "沈北新区"}
    obj.update(extra)
    return ev(obj)


def grant(gid: str, project: str, ts: str, org: str = ORG, **extra: Any) -> Event:
    obj = {"kind": "grant", "grant_id": gid, "project_id": project, "org_id": org,
           "amount_cny": 3_000_000.0, "ts": ts, "department": "发改委投资处",
           "district": "沈北新区"}
    obj.update(extra)
    return ev(obj)


def followup(fid: str, project: str, kind: str, ts: str) -> Event:
    return ev({"kind": "followup", "followup_id": fid, "project_id": project, "type": kind,
               "ts": ts})


def invoice(
    number: str, project: str, ts: str, total: float = 1000.0, issued: str = "2026-05-08",
    org: str = ORG, seller: str = SELLER,
) -> Event:
    return ev({"kind": "invoice", "invoice_no": number, "project_id": project, "org_id": org,
               "seller_id": seller, "total_cny": total, "issued": issued, "ts": ts})


def tax(
    number: str, ts: str, status: str = "normal", total: float = 1000.0,
    issued: str = "2026-05-08", seller: str = SELLER, buyer: str = ORG,
) -> Event:
    return ev({"kind": "tax_invoice", "invoice_no": number, "seller_id": seller,
               "buyer_id": buyer, "total_cny": total, "issued": issued, "status": status,
               "ts": ts})


def bank(
    txn: str, number: str, project: str, ts: str, amount: float = 1000.0,
    payer: str = ORG, payee: str = SELLER,
) -> Event:
    return ev({"kind": "bank_payment", "txn_id": txn, "project_id": project, "payer_id": payer,
               "payee_id": payee, "amount_cny": amount, "invoice_no": number, "ts": ts})
