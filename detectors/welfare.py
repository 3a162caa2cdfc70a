"""`welfare_ineligible`: a payment of a means-tested programme (低保 DB, 特困 TK) went to a
person holding a disqualifying asset (a vehicle, a company) on the payment's local date.

Part of the payee family: the payee's state keeps their assets (`assets`: "kind:id" ->
the latest record by ts) beside their payments of the last 400 days, so an asset recorded
after the payments raises for each earlier payment that qualifies.
"""

from __future__ import annotations

from typing import Any

from detectors.base import Context, State
from detectors.events import Event

RULE = "welfare_ineligible"


def on_asset(payee: str, state: State, event: Event, ctx: Context) -> None:
    assets: dict[str, dict[str, Any]] = state.setdefault("assets", {})
    key = f"{event['asset_kind']}:{event['asset_id']}"
    held = assets.get(key)
    if held is not None and event["ts_ms"] < held["recorded"]:
        return  # an older record arriving late: the later one stands
    assets[key] = {
        "kind": event["asset_kind"],
        "id": event["asset_id"],
        "from": event["from"],
        "to": event.get("to"),
        "recorded": event["ts_ms"],
    }
    pays = state.get("payments", {})
    for pid in sorted(pays, key=lambda p: (pays[p]["ts"], p)):
        check(payee, pid, state, ctx)


def check(payee: str, pid: str, state: State, ctx: Context) -> None:
    if pid in state.get("raised", {}).get(RULE, ()):
        return
    rule = ctx.config.rule(RULE)
    pay = state["payments"][pid]
    if pay["program"] not in rule.names("programs"):
        return
    kinds = rule.names("asset_kinds")
    paid = ctx.zone.local_date(pay["ts"]).isoformat()
    for key in sorted(state.get("assets") or ()):
        asset = state["assets"][key]
        if asset["kind"] not in kinds or not asset["from"] <= paid:
            continue
        if asset["to"] is not None and paid > asset["to"]:
            continue
        state.setdefault("raised", {}).setdefault(RULE, []).append(pid)
        ctx.emit(
            RULE,
            pid,
            entity=("payee", payee),
            event_ts_ms=pay["ts"],
            details={
                "payee_id": payee,
                "program": pay["program"],
                "period": pay["period"],
                "amount_cny": pay["amount"],
                "payment_date": paid,
                "asset_kind": asset["kind"],
                "asset_id": asset["id"],
                "asset_from": asset["from"],
                "asset_to": asset["to"],
                "asset_recorded": ctx.zone.iso(asset["recorded"]),
            },
            evidence=[
                ctx.evidence("payment", pid, pay["ts"]),
                ctx.evidence("asset", f"{asset['kind']}:{asset['id']}", asset["recorded"]),
            ],
            unit=pay["unit"],
            district=pay["district"],
        )
        return
