"""`funds_idle` and `inspection_overdue`, one key per project (一批了之、一拨了之).

A project's state keeps its grants until both of their deadlines are decided, and its
follow-ups and invoice uploads (the project's signs of use). Each grant is decided on
its own, over what the project shows in [grant `ts`, deadline); what arrives later
changes nothing once the clock has reached a deadline. Decided grants are kept (for
redeliveries) as long as the signs of use are, then forgotten.
"""

from __future__ import annotations

from typing import Any

from detectors.base import Context, State
from detectors.deadlines import days_off, deadline, unit_of
from detectors.events import Event
from detectors.timeutil import DAY_MS

IDLE = "funds_idle"
INSPECTION = "inspection_overdue"
USE_TYPES = frozenset({"report", "completion", "invoice"})


def routed_to(event: Event, family: str) -> bool:
    """An invoice upload copy re-routed live for one key family only (`_route`)."""
    route = event.get("_route")
    return route is None or route == family


class ProjectDetector:
    name = "project"
    kinds = frozenset({"grant", "followup", "invoice"})

    def key(self, event: Event, ctx: Context) -> str | None:
        if event["kind"] == "invoice" and not routed_to(event, "project"):
            return None
        project: str = event["project_id"]
        return project

    def on_event(
        self, key: str, state: State | None, event: Event, ctx: Context
    ) -> State | None:
        if state is None:
            state = {"grants": {}, "signs": {}}
        kind = event["kind"]
        ts = event["ts_ms"]
        if kind == "grant":
            gid = event["grant_id"]
            if gid in state["grants"]:
                return state  # the same grant delivered again
            grant: dict[str, Any] = {
                "ts": ts,
                "org": event["org_id"],
                "amount": event["amount_cny"],
                "department": event.get("department"),
                "program": event.get("program"),
                "unit": unit_of(event),
                "district": event.get("district"),
            }
            for detector in (IDLE, INSPECTION):
                days = int(ctx.config.rule(detector).num("working_days"))
                grant[detector] = deadline(ts, days, ctx)[0]  # None once decided
            state["grants"][gid] = grant
            return state
        if kind == "followup":
            sign, kind_of = event["followup_id"], event["type"]
        else:  # an invoice upload, once per invoice: the earliest by ts stands
            sign, kind_of = "invoice:" + event["invoice_no"], "invoice"
        known = state["signs"].get(sign)
        if known is None or ts < known[0]:
            state["signs"][sign] = [ts, kind_of]
        return state

    def on_timer(self, key: str, state: State, ctx: Context) -> State | None:
        wm = ctx.watermark_ms
        grants = state["grants"]
        due_now = sorted(
            (g[d], gid, d) for gid, g in grants.items() for d in (IDLE, INSPECTION)
            if g[d] is not None and g[d] <= wm
        )
        for due, gid, detector in due_now:  # in deadline order
            grant = grants[gid]
            grant[detector] = None
            types = USE_TYPES if detector == IDLE else frozenset({"inspection"})
            if not any(
                grant["ts"] <= ts < due and t in types for ts, t in state["signs"].values()
            ):
                self._raise(key, gid, grant, detector, state, ctx)
        self._prune(state, ctx)
        return state if state["grants"] or state["signs"] else None

    def next_timer(self, state: State, ctx: Context) -> int | None:
        dues: list[int] = [
            g[d] for g in state["grants"].values() for d in (IDLE, INSPECTION) if g[d] is not None
        ]
        if dues:
            return min(dues)
        times: list[int] = [g["ts"] for g in state["grants"].values()]
        times += [s[0] for s in state["signs"].values()]
        if not times:
            return None
        return min(times) + self._keep_ms(ctx) + 1  # when the oldest is forgotten

    def _keep_ms(self, ctx: Context) -> int:
        return int(ctx.config.rule(IDLE).num("keep_days") * DAY_MS)

    def _prune(self, state: State, ctx: Context) -> None:
        horizon = ctx.watermark_ms - self._keep_ms(ctx)
        grants = state["grants"]
        for gid in [g for g, v in grants.items()
                    if v[IDLE] is None and v[INSPECTION] is None and v["ts"] < horizon]:
            del grants[gid]
        pending = [v["ts"] for v in grants.values()
                   if v[IDLE] is not None or v[INSPECTION] is not None]
        keep_from = min([horizon, *pending])
        signs = state["signs"]
        for sign in [s for s, v in signs.items() if v[0] < keep_from]:
            del signs[sign]

    def _raise(
        self, project: str, gid: str, grant: dict[str, Any], detector: str, state: State,
        ctx: Context,
    ) -> None:
        zone = ctx.zone
        days = int(ctx.config.rule(detector).num("working_days"))
        end_ms, last = deadline(grant["ts"], days, ctx)
        timeline = sorted(
            [v[0], v[1], s.removeprefix("invoice:")] for s, v in state["signs"].items()
        )
        ctx.emit(
            detector,
            gid,
            entity=("project", project),
            event_ts_ms=end_ms,
            details={
                "project_id": project,
                "grant_id": gid,
                "org_id": grant["org"],
                "amount_cny": grant["amount"],
                "department": grant["department"],
                "program": grant["program"],
                "granted": zone.iso(grant["ts"]),
                "working_days": days,
                "deadline": zone.iso(end_ms),
                "deadline_date": last.isoformat(),
                "skipped_days": days_off(grant["ts"], last, ctx),
                "looked_for": sorted(USE_TYPES if detector == IDLE else {"inspection"}),
                "timeline": [
                    {"ts": zone.iso(ts), "type": t, "id": ident,
                     "in_window": grant["ts"] <= ts < end_ms}
                    for ts, t, ident in timeline
                ],
            },
            evidence=[ctx.evidence("grant", gid, grant["ts"])]
            + [ctx.evidence("invoice" if t == "invoice" else "followup", ident, ts)
               for ts, t, ident in timeline if grant["ts"] <= ts < end_ms],
            unit=grant["unit"],
            district=grant["district"],
        )
