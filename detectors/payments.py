"""Payee detectors: `payment_after_death`, `duplicate_payment` and (in `welfare.py`)
`welfare_ineligible`, one key per payee.

A payee's state keeps their payments of the last 400 days and their death, so a death
registered months late re-opens the payments made since. A payment is forgotten
`keep_days` after it was made (a timer, whether or not more payments come); a payee
with no payment left is forgotten, unless a death is recorded, which is kept on its own
(a few bytes) until `death_kept_days` after it was recorded. Only what is not empty is
kept: `payments`, `death`, `raised`.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from detectors import welfare
from detectors.base import Context, State
from detectors.events import Event
from detectors.timeutil import DAY_MS

PAD = "payment_after_death"
DUP = "duplicate_payment"


class PayeeDetector:
    name = "payee"
    kinds = frozenset({"payment", "death", "asset"})

    def key(self, event: Event, ctx: Context) -> str | None:
        field = "payee_id" if event["kind"] == "payment" else "person_id"  # death, asset
        payee: str = event[field]
        return payee

    def on_event(
        self, key: str, state: State | None, event: Event, ctx: Context
    ) -> State | None:
        if state is None:
            state = {}
        if event["kind"] == "death":
            death = state.get("death")
            if death is None or event["ts_ms"] >= death["recorded"]:
                state["death"] = {"date": event["date_of_death"], "recorded": event["ts_ms"]}
            for pid in sorted(state.get("payments", ())):
                self._check_death(key, pid, state, ctx)
            return state
        if event["kind"] == "asset":
            welfare.on_asset(key, state, event, ctx)
            return state
        pid = event["payment_id"]
        payments = state.setdefault("payments", {})
        if pid in payments:
            return state  # the same payment delivered again
        payments[pid] = {
            "ts": event["ts_ms"],
            "program": event["program"],
            "period": event["period"],
            "amount": event["amount_cny"],
            "unit": event.get("unit"),
            "district": event.get("district"),
        }
        self._check_death(key, pid, state, ctx)
        self._check_duplicates(key, pid, state, ctx)
        welfare.check(key, pid, state, ctx)
        self._prune(state, ctx)
        return state if state else None

    def on_timer(self, key: str, state: State, ctx: Context) -> State | None:
        self._prune(state, ctx)
        return state if state else None

    def next_timer(self, state: State, ctx: Context) -> int | None:
        """When the oldest payment expires, or else the death kept on its own."""
        pays = state.get("payments")
        if pays:
            keep = int(ctx.config.rule(PAD).num("keep_days")) * DAY_MS
            oldest: int = min(p["ts"] for p in pays.values())
            return oldest + keep + 1
        death = state.get("death")
        if death is not None:
            kept = int(ctx.config.rule(PAD).num("death_kept_days")) * DAY_MS
            due: int = death["recorded"] + kept + 1
            return due
        return None

    def _check_death(self, payee: str, pid: str, state: State, ctx: Context) -> None:
        death = state.get("death")
        if death is None or pid in state.get("raised", {}).get(PAD, ()):
            return
        pay = state["payments"][pid]
        grace = int(ctx.config.rule(PAD).num("grace_days"))
        died = date.fromisoformat(death["date"])
        paid = ctx.zone.local_date(pay["ts"])
        if not died + timedelta(days=grace) < paid:
            return
        state.setdefault("raised", {}).setdefault(PAD, []).append(pid)
        ctx.emit(
            PAD,
            pid,
            entity=("payee", payee),
            event_ts_ms=pay["ts"],
            details={
                "payee_id": payee,
                "date_of_death": death["date"],
                "payment_date": paid.isoformat(),
                "days_after_death": (paid - died).days,
                "grace_days": grace,
                "program": pay["program"],
                "period": pay["period"],
                "amount_cny": pay["amount"],
                "death_recorded": ctx.zone.iso(death["recorded"]),
            },
            evidence=[
                ctx.evidence("payment", pid, pay["ts"]),
                ctx.evidence("death", payee, death["recorded"]),
            ],
            unit=pay["unit"],
            district=pay["district"],
        )

    def _check_duplicates(self, payee: str, pid: str, state: State, ctx: Context) -> None:
        """Every payment of a (payee, program, period) but the first is a duplicate.

        The subject of a pair is the later by ts (ties: the greater id), so whatever the
        arrival order, the alerts are one per payment other than the earliest.
        """
        pays = state["payments"]
        pay = pays[pid]
        group = sorted(
            (p["ts"], other)
            for other, p in pays.items()
            if p["program"] == pay["program"] and p["period"] == pay["period"]
        )
        if len(group) < 2:
            return
        first_ts, first = group[0]
        raised = state.setdefault("raised", {}).setdefault(DUP, [])
        for _, other in group[1:]:
            if other in raised:
                continue
            raised.append(other)
            p = pays[other]
            ctx.emit(
                DUP,
                other,
                entity=("payee", payee),
                event_ts_ms=p["ts"],
                details={
                    "payee_id": payee,
                    "program": p["program"],
                    "period": p["period"],
                    "amount_cny": p["amount"],
                    "other_payment_id": first,
                    "other_ts": ctx.zone.iso(first_ts),
                    "other_unit": pays[first]["unit"],
                },
                evidence=[
                    ctx.evidence("payment", other, p["ts"]),
                    ctx.evidence("payment", first, first_ts),
                ],
                unit=p["unit"],
                district=p["district"],
            )

    def _prune(self, state: State, ctx: Context) -> None:
        rules = ctx.config.rule(PAD), ctx.config.rule(welfare.RULE)
        keep = int(max(r.num("keep_days") for r in rules)) * DAY_MS
        horizon = ctx.watermark_ms - keep
        pays: dict[str, Any] = state.get("payments", {})
        old = [pid for pid, p in pays.items() if p["ts"] < horizon]
        for pid in old:
            del pays[pid]
        if old:
            raised = state.get("raised", {})
            for name in list(raised):
                raised[name] = [s for s in raised[name] if s in pays]
                if not raised[name]:
                    del raised[name]
            if not raised:
                state.pop("raised", None)
        if not pays:
            state.pop("payments", None)
        death = state.get("death")
        if death is not None and not pays:
            kept = int(ctx.config.rule(PAD).num("death_kept_days")) * DAY_MS
            if death["recorded"] < ctx.watermark_ms - kept:
                del state["death"]
