"""`review_overdue`: an approval node still open when its working-day deadline passes.

A case's state keeps each node's steps; the node's story is replayed in time order
whenever a decision is due, so steps that arrive out of order within the allowed
lateness change nothing. Deadlines are the end (24:00 local) of the N-th working day
after the local date of `enter`; `suspend` stops the clock and `resume` restarts it with
the working days that were left.

A case whose nodes are all closed (completed or withdrawn, nothing left to decide) is
forgotten `closed_kept_days` after its last step, so that a redelivered step finds it
within that grace but the state does not grow with every case ever seen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from detectors.base import Context, State
from detectors.events import Event
from detectors.timeutil import DAY_MS

DETECTOR = "review_overdue"
_ORDER = {"enter": 0, "resume": 1, "suspend": 2, "complete": 3, "withdraw": 4}


@dataclass
class Episode:
    """One entry of a node: `#1`, `#2`, ..."""

    number: int
    entered_ms: int
    sla: int
    deadline: date | None  # the date whose end is the deadline; None while suspended
    open: bool = True
    remaining: int = 0  # working days left while suspended
    overdue_at_ms: int | None = None  # set once a later step shows the deadline passed open
    overdue_deadline: date | None = None
    closed_ms: int | None = None
    timeline: list[list[Any]] = field(default_factory=list)

    def due(self, ctx: Context) -> tuple[int, date] | None:
        """(deadline instant, deadline date) that decides this entry, if any."""
        if self.overdue_at_ms is not None and self.overdue_deadline is not None:
            return self.overdue_at_ms, self.overdue_deadline
        if self.open and self.deadline is not None:
            return ctx.zone.date_start_ms(self.deadline + timedelta(days=1)), self.deadline
        return None


def node_sla(event_sla: int | None, node: str, ctx: Context) -> int | None:
    if event_sla is not None:
        return event_sla
    defaults = ctx.config.rule(DETECTOR).params.get("node_sla_working_days") or {}
    value = defaults.get(node)
    return int(value) if value is not None else None


def episodes(steps: list[list[Any]], node: str, ctx: Context) -> list[Episode]:
    """Replay a node's steps ([ts_ms, action, sla]) in time order."""
    cal, zone = ctx.calendar, ctx.zone
    found: list[Episode] = []
    cur: Episode | None = None
    for ts, action, sla in sorted(steps, key=lambda s: (s[0], _ORDER[s[1]])):
        if cur is not None and cur.open and cur.deadline is not None:
            end_ms = zone.date_start_ms(cur.deadline + timedelta(days=1))
            if cur.overdue_at_ms is None and ts >= end_ms:
                cur.overdue_at_ms = end_ms
                cur.overdue_deadline = cur.deadline
        today = zone.local_date(ts)
        if action == "enter":
            if cur is not None and cur.open:
                continue  # entered twice while open: the first entry stands
            n = node_sla(sla, node, ctx)
            if n is None:
                continue
            cur = Episode(len(found) + 1, ts, n, cal.add_working_days(today, n))
            found.append(cur)
        elif cur is None or not cur.open:
            continue
        elif action in ("complete", "withdraw"):
            cur.open = False
            cur.closed_ms = ts
        elif action == "suspend" and cur.deadline is not None:
            cur.remaining = cal.working_days_between(today, cur.deadline)
            cur.deadline = None
        elif action == "resume" and cur.deadline is None:
            cur.deadline = cal.add_working_days(today, cur.remaining)
        else:
            continue
        cur.timeline.append([ts, action])
    return found


class ReviewDetector:
    name = "case"
    kinds = frozenset({"review"})

    def key(self, event: Event, ctx: Context) -> str | None:
        case: str = event["case_id"]
        return case

    def on_event(
        self, key: str, state: State | None, event: Event, ctx: Context
    ) -> State | None:
        if state is None:
            state = {"nodes": {}}
        node = state["nodes"].setdefault(
            event["node"], {"steps": [], "raised": [], "unit": None, "timer": None}
        )
        step = [event["ts_ms"], event["action"], event.get("sla_working_days")]
        if step in node["steps"]:
            return state  # the same step delivered again
        node["steps"].append(step)
        if event.get("unit"):
            node["unit"] = event["unit"]
        self._schedule(key, event["node"], node, ctx)
        return state

    def on_timer(self, key: str, state: State, ctx: Context) -> State | None:
        for name, node in state["nodes"].items():
            if node["timer"] is not None and node["timer"] <= ctx.watermark_ms:
                self._decide(key, name, node, ctx)
                self._schedule(key, name, node, ctx)
        forget = self._forget_at(state, ctx)
        if forget is not None and forget <= ctx.watermark_ms:
            return None
        return state

    def next_timer(self, state: State, ctx: Context) -> int | None:
        timers = [n["timer"] for n in state["nodes"].values() if n["timer"] is not None]
        return min(timers) if timers else self._forget_at(state, ctx)

    def _forget_at(self, state: State, ctx: Context) -> int | None:
        """When a case with every node closed and nothing to decide is forgotten."""
        nodes = state["nodes"]
        if any(n["timer"] is not None for n in nodes.values()):
            return None
        for name, node in nodes.items():
            if any(ep.open for ep in episodes(node["steps"], name, ctx)):
                return None
        grace = int(ctx.config.rule(DETECTOR).num("closed_kept_days")) * DAY_MS
        last: int = max(step[0] for node in nodes.values() for step in node["steps"])
        return last + grace + 1

    def _schedule(self, case: str, name: str, node: dict[str, Any], ctx: Context) -> None:
        node["timer"] = None
        for ep in episodes(node["steps"], name, ctx):
            due = ep.due(ctx)
            if due is None or _subject(case, name, ep) in node["raised"]:
                continue
            if node["timer"] is None or due[0] < node["timer"]:
                node["timer"] = due[0]

    def _decide(self, case: str, name: str, node: dict[str, Any], ctx: Context) -> None:
        zone = ctx.zone
        for ep in episodes(node["steps"], name, ctx):
            subject = _subject(case, name, ep)
            due = ep.due(ctx)
            if due is None or due[0] > ctx.watermark_ms or subject in node["raised"]:
                continue
            end_ms, deadline = due
            node["raised"].append(subject)
            entered = zone.local_date(ep.entered_ms)
            skipped = [
                (entered + timedelta(days=i)).isoformat()
                for i in range(1, (deadline - entered).days + 1)
                if not ctx.calendar.is_workday(entered + timedelta(days=i))
            ]
            ctx.emit(
                DETECTOR,
                subject,
                entity=("case", case),
                event_ts_ms=end_ms,
                details={
                    "case_id": case,
                    "node": name,
                    "entry": ep.number,
                    "sla_working_days": ep.sla,
                    "entered": zone.iso(ep.entered_ms),
                    "deadline": zone.iso(end_ms),
                    "deadline_date": deadline.isoformat(),
                    "completed_late": None if ep.closed_ms is None else zone.iso(ep.closed_ms),
                    "timeline": [{"action": a, "ts": zone.iso(t)} for t, a in ep.timeline],
                    "skipped_days": skipped,
                },
                evidence=[ctx.evidence("review", f"{case}/{name}", t) for t, _ in ep.timeline],
                unit=node["unit"],
                district=None,
            )


def _subject(case: str, node: str, ep: Episode) -> str:
    return f"{case}/{node}" if ep.number == 1 else f"{case}/{node}#{ep.number}"
