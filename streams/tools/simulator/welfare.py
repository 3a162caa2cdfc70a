"""Welfare: monthly payments per recipient and program, deaths, and the payee scenarios
(payments after a death registered late or ignored, duplicates, and look-alikes)."""

from __future__ import annotations

import random
from datetime import date, timedelta

from detectors.calendar import WorkCalendar
from streams.tools.simulator.city import (
    DAY_MS,
    DISTRICTS,
    HOUR_MS,
    PROGRAMS,
    City,
    Recipient,
    date_ms,
    local_date,
)
from streams.tools.simulator.typologies import asset_programs, assets
from streams.tools.simulator.writer import Stream

GRACE_DAYS = 30  # the shipped payment_after_death grace
PAY_DAY = 10  # payments go out on the 10th, or the next working day


def run_days(city: City, calendar: WorkCalendar) -> list[tuple[str, int]]:
    """(period, local midnight of the pay day) for every monthly run in the simulation."""
    cfg = city.config
    first, last = local_date(cfg.history_ms), local_date(cfg.until_ms - 1)
    runs = []
    y, m = first.year, first.month
    while (y, m) <= (last.year, last.month):
        d = date(y, m, PAY_DAY)
        while not calendar.is_workday(d):
            d += timedelta(days=1)
        ms = date_ms(d)
        if cfg.history_ms <= ms and ms + 18 * HOUR_MS < cfg.until_ms:
            runs.append((f"{y:04d}-{m:02d}", ms))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return runs


class Welfare:
    def __init__(self, city: City, rng: random.Random, out: Stream, calendar: WorkCalendar,
                 plan: dict[int, str]) -> None:
        self.city, self.rng, self.out, self.plan = city, rng, out, plan
        self.runs = run_days(city, calendar)
        self.n = 0
        self.paid: list[tuple[str, str, int]] = []  # the current recipient's payments

    def run(self) -> None:
        cfg = self.city.config
        for i, r in enumerate(self.city.recipients):
            scenario = self.plan.get(i)
            r.programs = asset_programs(scenario, r.programs)
            self.paid = []
            self._recipient(i, r, scenario)
            assets(self.rng, self.out, r.payee_id, scenario, self.paid, cfg.history_ms,
                   cfg.until_ms)

    def _pay(self, r: Recipient, program: str, amount: float, ts: int, period: str,
             unit: str | None = None, arrival: int | None = None) -> tuple[str, bytes]:
        self.n += 1
        pid = f"PAY-{self.n:07d}"
        self.paid.append((pid, program, ts))
        line = self.out.emit("payment", ts, {
            "payment_id": pid, "program": program, "payee_id": r.payee_id,
            "amount_cny": amount, "period": period,
            "unit": unit or f"{r.district}民政局", "district": r.district,
        }, arrival)
        return pid, line

    def _recipient(self, i: int, r: Recipient, scenario: str | None) -> None:
        rng, cfg, runs = self.rng, self.city.config, self.runs
        if not runs:
            return
        amounts = {p: round(PROGRAMS[p] * rng.uniform(0.6, 1.4), -1) for p in r.programs}
        died: date | None = None
        first = len(runs) // 2 if scenario == "catch_up_payment" and len(runs) > 1 else 0
        special = rng.randrange(max(1, len(runs) - 1))
        if scenario in ("death_recorded_late", "death_ignored", "death_within_grace"):
            died = local_date(cfg.history_ms) + timedelta(days=rng.randint(3, 30))
            lag = rng.randint(45, 75) if scenario == "death_recorded_late" else rng.randint(3, 20)
            recorded = min(date_ms(died) + lag * DAY_MS + 10 * HOUR_MS, cfg.until_ms - HOUR_MS)
            self.out.emit("death", recorded,
                          {"person_id": r.payee_id, "date_of_death": died.isoformat()})
        for k in range(first, len(runs)):
            period, day = runs[k]
            for j, program in enumerate(r.programs):
                ts = day + 9 * HOUR_MS + ((i * 37 + j * 600) % 21_600) * 1000
                after = died is not None and local_date(ts) > died + timedelta(GRACE_DAYS)
                if after and scenario == "death_within_grace":
                    continue  # payments stopped in time
                pid, line = self._pay(r, program, amounts[program], ts, period)
                if after:
                    note = ("death registered months late" if scenario == "death_recorded_late"
                            else "paid although the death was on record")
                    self.out.truth("payment_after_death", pid, note)
                if j or k != (first if scenario == "catch_up_payment" else special):
                    continue
                self._special(r, scenario, program, amounts[program], ts, period, pid, line, k)
        if scenario == "death_within_grace" and died is not None:
            self.out.lookalike(scenario, r.payee_id,
                               "died; the last payment fell inside the 30-day grace")

    def _special(self, r: Recipient, scenario: str | None, program: str, amount: float,
                 ts: int, period: str, pid: str, line: bytes, k: int) -> None:
        rng = self.rng
        if scenario == "duplicate_other_unit":
            other = rng.choice([d for d in DISTRICTS if d != r.district])
            later = ts + rng.randint(1, 10) * DAY_MS + rng.randint(0, 7) * HOUR_MS
            dup, _ = self._pay(r, program, amount, later, period, unit=f"{other}民政局")
            self.out.truth("duplicate_payment", dup, f"paid again by {other} for {period}")
        elif scenario == "duplicate_arrives_late":
            # another office paid the day before; its record arrives three days late, so
            # the payment already seen is the later one by ts and is the duplicate
            self._pay(r, program, amount, ts - DAY_MS, period, unit=f"{r.district}街道办",
                      arrival=ts + 3 * DAY_MS)
            self.out.truth("duplicate_payment", pid, "an earlier payment for the same period "
                           "arrived late")
        elif scenario == "catch_up_payment" and k > 0:
            catch_up, _ = self._pay(r, program, amount, ts + 60_000, self.runs[k - 1][0])
            self.out.lookalike(scenario, catch_up, "back pay for the month before enrolment: "
                               "another period, not a duplicate")
        elif scenario == "redelivered_payment":
            self.out.add_line(line, ts + 30 * 60_000)
            self.out.lookalike(scenario, pid, "the same payment id delivered twice")
