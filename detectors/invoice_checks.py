"""The three-flow comparisons (三流合一) of one invoice: upload against the tax authority's
record, and the project account's payments against the upload. Pure functions over the
invoice state's records; money is compared in integer cents."""

from __future__ import annotations

from typing import Any

Record = dict[str, Any]


def cents(amount: float) -> int:
    return round(amount * 100)


def disagreements(upload: Record, version: Record, tolerance: int) -> list[dict[str, Any]]:
    """Every field in which a tax record version disagrees with an upload."""
    found = []
    if version["seller"] != upload["seller"]:
        found.append(("seller_id", upload["seller"], version["seller"]))
    if version["buyer"] != upload["org"]:
        found.append(("buyer_id", upload["org"], version["buyer"]))
    if version["issued"] != upload["issued"]:
        found.append(("issued", upload["issued"], version["issued"]))
    if abs(cents(version["total"]) - cents(upload["total"])) > tolerance:
        found.append(("total_cny", upload["total"], version["total"]))
    if version["status"] in ("void", "red"):
        found.append(("status", "normal", version["status"]))
    return [{"field": f, "upload": u, "tax": t} for f, u, t in found]


def payment_faults(
    upload: Record, pays: list[tuple[str, Record]], tolerance: int
) -> dict[str, list[dict[str, Any]]]:
    """txn -> what is wrong with it, for the payments of one (invoice, project).

    Summed in `ts` order (ties: `txn_id`); a payment is past the total when the sum at
    it passes `total_cny` + tolerance. Sums only grow as payments arrive, so a payment
    past it stays past it.
    """
    limit = cents(upload["total"]) + tolerance
    running = 0
    faults: dict[str, list[dict[str, Any]]] = {}
    for txn, pay in sorted(pays, key=lambda p: (p[1]["ts"], p[0])):
        running += cents(pay["amount"])
        found = []
        if pay["payee"] != upload["seller"]:
            found.append({"field": "payee_id", "payment": pay["payee"],
                          "upload": upload["seller"]})
        if pay["payer"] != upload["org"]:
            found.append({"field": "payer_id", "payment": pay["payer"],
                          "upload": upload["org"]})
        if running > limit:
            found.append({"field": "amount_cny", "payment": running / 100,
                          "upload": upload["total"]})
        if found:
            faults[txn] = found
    return faults


def cumulative(pays: list[tuple[str, Record]]) -> list[tuple[str, Record, float]]:
    """The payments in `ts` order (ties: `txn_id`) with the running sum at each."""
    running = 0
    out = []
    for txn, pay in sorted(pays, key=lambda p: (p[1]["ts"], p[0])):
        running += cents(pay["amount"])
        out.append((txn, pay, running / 100))
    return out
