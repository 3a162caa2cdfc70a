"""Which entities carry an injected fraud pattern, or a look-alike that must not alert.

`fraud_rate` is the share of vehicles, payees and approval cases given a fraud pattern,
spread evenly over the patterns, with at least one of each. Every look-alike is injected
as often as the rarest fraud pattern of its family. Each vehicle scenario takes one
vehicle-day, away from the first and last day of the period (its GPS window must lie
inside the period); one vehicle-day holds at most one scenario.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

VEHICLE_FRAUDS = [
    "refuel_without_trip", "refuel_location_mismatch", "refuel_unverifiable",
    "tank_overfill", "fuel_type_mismatch", "card_foreign_plate", "card_revoked",
    "off_hours_night", "off_hours_weekend",
]
VEHICLE_LOOKALIKES = ["late_gps_burst", "gap_with_trip", "exempt_weekend"]
PAYEE_FRAUDS = ["death_recorded_late", "death_ignored", "duplicate_other_unit",
                "duplicate_arrives_late", "asset_vehicle_late", "asset_company"]
PAYEE_LOOKALIKES = ["catch_up_payment", "redelivered_payment", "death_within_grace",
                    "asset_property", "asset_sold", "asset_not_means_tested"]
CASE_FRAUDS = ["overdue_open", "overdue_completed_late", "overdue_after_resume",
               "overdue_reentered"]
CASE_LOOKALIKES = ["deadline_across_holiday", "saved_by_suspension"]

OFF_DAY = frozenset({"off_hours_weekend", "exempt_weekend"})  # need a non-working day
ANY_DAY = frozenset({"refuel_without_trip", "refuel_unverifiable", "off_hours_night"})
# the rest need a working day (an office day with trips)


def counts(frauds: Sequence[str], lookalikes: Sequence[str], population: int,
           rate: float) -> list[str]:
    """The scenarios to inject, frauds first, each name once per injection."""
    total = max(len(frauds), round(rate * population))
    per, extra = divmod(total, len(frauds))
    names = [f for i, f in enumerate(frauds) for _ in range(per + (i < extra))]
    return names + [name for name in lookalikes for _ in range(per)]


def plan_vehicles(rng: random.Random, exempt: Sequence[bool], workdays: Sequence[bool],
                  rate: float) -> tuple[dict[tuple[int, int], str], list[str]]:
    """(vehicle index, day index) -> scenario; and the scenarios that found no room."""
    names = counts(VEHICLE_FRAUDS, VEHICLE_LOOKALIKES, len(exempt), rate)
    days = range(1, len(workdays) - 1)
    normal = [i for i, e in enumerate(exempt) if not e]
    duty = [i for i, e in enumerate(exempt) if e]
    rng.shuffle(normal)
    plan: dict[tuple[int, int], str] = {}
    skipped: list[str] = []
    turn = {"normal": 0, "duty": 0}
    for name in names:
        pool_name = "duty" if name == "exempt_weekend" else "normal"
        pool = duty if pool_name == "duty" else normal
        placed = False
        for k in range(len(pool)):
            v = pool[(turn[pool_name] + k) % len(pool)]
            free = [d for d in days if (v, d) not in plan and _fits(name, workdays[d])]
            if free:
                plan[(v, rng.choice(free))] = name
                turn[pool_name] += k + 1
                placed = True
                break
        if not placed:
            skipped.append(name)
    return plan, skipped


def _fits(name: str, workday: bool) -> bool:
    if name in OFF_DAY:
        return not workday
    return name in ANY_DAY or workday


def plan_entities(rng: random.Random, frauds: Sequence[str], lookalikes: Sequence[str],
                  population: int, rate: float) -> tuple[dict[int, str], list[str]]:
    """Entity index -> scenario, one scenario per entity; and those that found no room."""
    names = counts(frauds, lookalikes, population, rate)
    chosen = rng.sample(range(population), min(population, len(names)))
    return dict(zip(chosen, names, strict=False)), names[len(chosen):]
