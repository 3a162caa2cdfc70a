"""Approval cases: each moves through the nodes in order, every node with a limit in
working days; and the case scenarios (overdue nodes, a suspension, a node entered again,
and look-alikes completed just in time)."""

from __future__ import annotations

import random
from datetime import date, timedelta

from detectors.calendar import WorkCalendar
from streams.tools.simulator.city import MINUTE_MS, UNIT_NAMES, City, date_ms, local_date
from streams.tools.simulator.writer import Stream

NODES = [("acceptance", 1), ("preliminary_review", 5), ("expert_review", 10),
         ("approval", 3), ("fund_allocation", 5)]
HANDLERS = ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄强"]


class Approvals:
    def __init__(self, city: City, rng: random.Random, out: Stream, calendar: WorkCalendar,
                 plan: dict[int, str]) -> None:
        self.city, self.rng, self.out, self.cal, self.plan = city, rng, out, calendar, plan
        self.until = city.config.until_ms

    # --- time helpers ------------------------------------------------------------------

    def _at(self, d: date, lo: int = 9 * 60, hi: int = 17 * 60 + 30) -> int:
        return date_ms(d) + self.rng.randint(lo, hi) * MINUTE_MS + self.rng.randint(0, 59) * 1000

    def _workday(self, d: date) -> date:
        while not self.cal.is_workday(d):
            d += timedelta(days=1)
        return d

    def deadline(self, d: date, n: int) -> date:
        return self.cal.add_working_days(d, n)

    def _end(self, d: date) -> int:
        return date_ms(d + timedelta(days=1))

    # --- events ------------------------------------------------------------------------

    def _step(self, case: str, unit: str, node: str, action: str, t: int,
              sla: int | None = None) -> bool:
        if t >= self.until:
            return False
        fields: dict[str, object] = {"case_id": case, "node": node, "action": action}
        if sla is not None:
            fields["sla_working_days"] = sla
        fields["unit"] = unit
        fields["handler"] = self.rng.choice(HANDLERS)
        self.out.emit("review", t, fields)
        return True

    def _overdue(self, subject: str, deadline: date, note: str) -> None:
        if self._end(deadline) <= self.until:
            self.out.truth("review_overdue", subject, f"{note}; deadline {deadline}")

    # --- cases -------------------------------------------------------------------------

    def run(self) -> None:
        cfg = self.city.config
        first = local_date(cfg.history_ms)
        span = max(1, (local_date(self.until) - first).days - 1)
        units = UNIT_NAMES[: max(1, cfg.units)]
        for i in range(cfg.cases):
            scenario = self.plan.get(i)
            case = f"CASE-{i:05d}"
            unit = self.rng.choice(units)
            if scenario is None:
                start = first + timedelta(days=self.rng.randrange(span))
            else:
                start = first + timedelta(days=self.rng.randint(0, 10))
            t = self._at(self._workday(start))
            if scenario == "deadline_across_holiday":
                t = self._at(self._before_holiday(first, span))
            self._case(case, unit, t, scenario)

    def _before_holiday(self, first: date, span: int) -> date:
        """A working day followed by a holiday on a weekday (else by a weekend)."""
        days = [first + timedelta(days=k) for k in range(1, max(2, span - 20))]
        work = [d for d in days if self.cal.is_workday(d)]
        holiday = [d for d in work if d.weekday() < 4
                   and not self.cal.is_workday(d + timedelta(days=1))]
        weekend = [d for d in work if not self.cal.is_workday(d + timedelta(days=1))]
        return self.rng.choice(holiday or weekend or work or [first])

    def _case(self, case: str, unit: str, t: int, scenario: str | None) -> None:
        rng = self.rng
        target = 0 if scenario == "deadline_across_holiday" else rng.randint(1, 3)
        for idx, (node, sla) in enumerate(NODES):
            if not self._step(case, unit, node, "enter", t, sla):
                return
            e = local_date(t)
            done: int | None = self._on_time(e, sla, t)
            if idx == target and scenario is not None:
                done = self._scenario(case, unit, node, sla, t, scenario)
            if done is None:
                return
            if not self._step(case, unit, node, "complete", done):
                return
            t = done + rng.randint(10, 120) * MINUTE_MS

    def _on_time(self, e: date, sla: int, t: int) -> int:
        k = self.rng.randint(0, sla - 1)
        if k == 0:
            return t + self.rng.randint(20, 120) * MINUTE_MS
        return self._at(self.deadline(e, k))

    def _scenario(self, case: str, unit: str, node: str, sla: int, t: int,
                  scenario: str) -> int | None:
        """Play the scenario on this node; the completion time, or None: the case stops."""
        rng, e = self.rng, local_date(t)
        d0 = self.deadline(e, sla)
        subject = f"{case}/{node}"
        if scenario == "overdue_open":
            self._overdue(subject, d0, "left open past its deadline")
            return None
        if scenario == "overdue_completed_late":
            self._overdue(subject, d0, "completed after its deadline")
            return self._at(self.deadline(d0, rng.randint(1, 3)))
        if scenario == "deadline_across_holiday":
            self.out.lookalike(scenario, subject, f"completed on its deadline day {d0}, "
                               f"{(d0 - e).days} calendar days after entry")
            return self._at(d0, 15 * 60, 17 * 60 + 30)
        if scenario in ("overdue_after_resume", "saved_by_suspension"):
            s = self.deadline(e, 1)
            self._step(case, unit, node, "suspend", date_ms(s) + 15 * 60 * MINUTE_MS)
            left = self.cal.working_days_between(s, d0)
            r = self._workday(s + timedelta(days=rng.randint(6, 14)))
            self._step(case, unit, node, "resume", self._at(r, 9 * 60, 10 * 60))
            d1 = self.deadline(r, left)
            if scenario == "saved_by_suspension":
                self.out.lookalike(scenario, subject, f"suspended {s}, resumed {r}: deadline "
                                   f"moved from {d0} to {d1}, completed on {d1}")
                return self._at(d1, 15 * 60, 17 * 60 + 30)
            self._overdue(subject, d1, f"still open after a suspension ({s} to {r})")
            return None
        # overdue_reentered: completed in time, sent back by the next node, entered again
        done = self._on_time(e, sla, t)
        nxt, nxt_sla = NODES[NODES.index((node, sla)) + 1]
        t2 = done + rng.randint(10, 120) * MINUTE_MS
        self._step(case, unit, node, "complete", done)
        self._step(case, unit, nxt, "enter", t2, nxt_sla)
        back = self._on_time(local_date(t2), nxt_sla, t2)
        self._step(case, unit, nxt, "complete", back)
        again = back + rng.randint(10, 60) * MINUTE_MS
        self._step(case, unit, node, "enter", again, sla)
        self._overdue(f"{subject}#2", self.deadline(local_date(again), sla),
                      "entered again after it was sent back, then left open")
        return None
