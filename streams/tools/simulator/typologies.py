"""The typologies of contract/typologies.md in the simulated city: places on the city's
edge (scenic spots, clubs, golf, hotels...), a few scripted vehicles (a stay at a
restricted place, a repeated refuel, a heavy-fuel month, and their look-alikes), and the
welfare recipients' assets (a car recorded late, a company, and look-alikes).

The scripted vehicles are extra to `--vehicles` and do nothing else, so each pattern and
each look-alike stands alone. Places lie 10-14 km from the centre, beyond every errand
of the ordinary fleet (within 9 km), so only the scripted visits stay at them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, timedelta
from math import cos, sin

from streams.tools.simulator.city import (
    CENTER,
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    City,
    Point,
    iso,
    local_date,
    move,
)
from streams.tools.simulator.vehicles import Track
from streams.tools.simulator.writer import Stream

CATEGORIES = ["scenic", "entertainment", "golf", "private_club", "luxury_dining", "hotel",
              "residence", "other"]
RESTRICTED = frozenset(CATEGORIES[:5])  # the shipped restricted_place_stay categories
VEHICLE_FRAUDS = ["place_stay", "refuel_pair", "heavy_month"]
VEHICLE_LOOKALIKES = ["short_place_visit", "place_stay_silence", "hotel_stay",
                      "exempt_place_stay", "refuel_pair_far", "month_just_under"]
PAYEE_FRAUDS = ["asset_vehicle_late", "asset_company"]
PAYEE_LOOKALIKES = ["asset_property", "asset_sold", "asset_not_means_tested"]
MEANS_TESTED = ("DB", "TK")
TANK = 60.0


def places(city: City, rng: random.Random, out: Stream, at: int) -> list[tuple[str, str,
                                                                                Point]]:
    """Two places of every category on the city's edge: (place_id, category, centre)."""
    found = []
    for i in range(2 * len(CATEGORIES)):
        category = CATEGORIES[i % len(CATEGORIES)]
        angle = rng.uniform(0, 6.283)
        dist = rng.uniform(10_000, 14_000)
        p = move(CENTER, dist * cos(angle), dist * sin(angle))
        pid = f"PL-{i:03d}"
        out.emit("place", at, {"place_id": pid, "name": f"{category}-{i}", "category": category,
                               "lat": round(p[0], 6), "lon": round(p[1], 6),
                               "radius_m": float(rng.choice([150, 200, 300]))})
        found.append((pid, category, p))
    return found


class Scripted:
    """The scripted vehicles: parked at their depot but for their scenario's trips."""

    def __init__(self, city: City, rng: random.Random, out: Stream, workdays: Sequence[bool],
                 places: list[tuple[str, str, Point]], first_txn: int) -> None:
        self.city, self.rng, self.out, self.workdays = city, rng, out, workdays
        self.places = places
        self.txn = first_txn

    def run(self) -> None:
        cfg = self.city.config
        at = cfg.history_ms
        names = VEHICLE_FRAUDS + VEHICLE_LOOKALIKES
        for i, name in enumerate(names):
            vid = f"LN-T-{i:04d}"
            unit = self.city.units[i % len(self.city.units)]
            home = move(unit.depot, self.rng.uniform(-40, 40), self.rng.uniform(-40, 40))
            self.out.emit("vehicle", at, {
                "vehicle_id": vid, "unit": unit.name, "tank_liters": TANK,
                "fuel_type": "gasoline", "district": unit.district,
                "exempt_off_hours": name == "exempt_place_stay", "rated_l_per_100km": 9.0})
            self.out.emit("card", at, {"card_id": f"CARD-T{i:04d}", "vehicle_id": vid,
                                       "status": "active", "unit": unit.name})
            track = Track(random.Random(self.rng.getrandbits(64)))
            days = self._days(name)
            if days is None:
                self.out.skipped.append(name)
                days = []
            for d in range(len(self.workdays)):
                day = cfg.start_ms + d * DAY_MS
                if d in days:
                    self._scenario(name, vid, f"CARD-T{i:04d}", home, track, day, days)
                else:
                    track.park(home, day, day + DAY_MS)
            for ts, lat, lon, speed, ignition in track.fixes:
                self.out.emit("gps", ts, {"vehicle_id": vid, "lat": lat, "lon": lon,
                                          "speed_kmh": speed, "ignition": ignition})

    def _days(self, name: str) -> list[int] | None:
        work = [d for d in range(1, len(self.workdays) - 1) if self.workdays[d]]
        if name not in ("heavy_month", "month_just_under"):
            return [self.rng.choice(work)] if work else None
        # two working days of a month that ends within the period
        start = self.city.config.start
        for d in work:
            month_end = _next_month(start + timedelta(days=d))
            if (month_end - start).days > len(self.workdays):
                return None
            same = [e for e in work if e >= d and start + timedelta(days=e) < month_end]
            if len(same) >= 2:
                return same[:2]
        return None

    def _scenario(self, name: str, vid: str, card: str, home: Point, track: Track, day: int,
                  days: list[int]) -> None:
        rng, out = self.rng, self.out
        the_date = local_date(day).isoformat()
        if name in ("place_stay", "short_place_visit", "place_stay_silence", "hotel_stay",
                    "exempt_place_stay"):
            wanted = {"hotel_stay": "hotel", "exempt_place_stay": "golf"}.get(name)
            pool = [p for p in self.places
                    if (p[1] == wanted if wanted else p[1] in RESTRICTED)]
            pid, category, centre = rng.choice(pool)
            minutes = {"short_place_visit": rng.randint(12, 20),
                       "place_stay_silence": 60}.get(name, rng.randint(40, 90))
            go = day + rng.randint(9 * 60, 12 * 60) * MINUTE_MS
            track.park(home, day, go)
            t = track.drive(home, centre, go)
            leave = t + minutes * MINUTE_MS
            track.park(centre, t, leave, every_s=(50, 90))
            if name == "place_stay_silence":
                track.remove(t + 17 * MINUTE_MS, t + 42 * MINUTE_MS)
            back = track.drive(centre, home, leave)
            track.park(home, back, day + DAY_MS)
            subject = f"{vid}/{pid}/{the_date}"
            if name == "place_stay":
                out.truth("restricted_place_stay", subject,
                          f"{minutes} min at a {category} place in office hours")
            else:
                notes = {"short_place_visit": f"only {minutes} min at a {category} place",
                         "place_stay_silence": "60 min with a 25-min GPS silence: two short "
                                               "runs",
                         "hotel_stay": f"{minutes} min at a hotel (not restricted by default)",
                         "exempt_place_stay": f"exempt vehicle, {minutes} min at a golf club"}
                out.lookalike(name, subject, notes[name])
        elif name in ("refuel_pair", "refuel_pair_far"):
            a = rng.choice(self.city.near_stations(home))
            b = self.city.near_stations(a.point, min_km=3.0, k=1)[0]
            go = day + rng.randint(9 * 60, 10 * 60) * MINUTE_MS
            track.park(home, day, go)
            t = track.drive(home, a.point, go)
            first = t + rng.randint(90, 200) * 1000
            apart = rng.randint(60, 100) if name == "refuel_pair" else rng.randint(150, 200)
            second = first + apart * MINUTE_MS
            track.stop(a.point, t, first + 5 * MINUTE_MS)
            t = track.drive(a.point, b.point, first + 5 * MINUTE_MS)
            track.park(b.point, t, second + 5 * MINUTE_MS, every_s=(60, 120))
            back = track.drive(b.point, home, second + 5 * MINUTE_MS)
            track.park(home, back, day + DAY_MS)
            shares = (rng.uniform(0.55, 0.65), rng.uniform(0.55, 0.65))
            self._fuel(card, vid, first, a.station_id, round(TANK * shares[0], 2))
            txn = self._fuel(card, vid, second, b.station_id, round(TANK * shares[1], 2))
            if name == "refuel_pair":
                out.truth("refuel_repeat", txn, f"{shares[0]:.2f} + {shares[1]:.2f} of the tank "
                          f"{apart} min apart")
            else:
                out.lookalike(name, txn, f"{shares[0]:.2f} + {shares[1]:.2f} of the tank but "
                              f"{apart} min apart")
        elif name in ("heavy_month", "month_just_under"):
            station = rng.choice(self.city.near_stations(home))
            go = day + rng.randint(9 * 60, 11 * 60) * MINUTE_MS
            track.park(home, day, go)
            t = track.drive(home, station.point, go)
            fill = t + rng.randint(90, 200) * 1000
            track.stop(station.point, t, fill + 5 * MINUTE_MS)
            back = track.drive(station.point, home, fill + 5 * MINUTE_MS)
            track.park(home, back, day + DAY_MS)
            liters = rng.uniform(50.5, 56.0) if name == "heavy_month" else rng.uniform(45.0, 48.5)
            self._fuel(card, vid, fill, station.station_id, round(liters, 2))
            if day == self.city.config.start_ms + days[-1] * DAY_MS:
                month = local_date(day)
                subject = f"{vid}/{month.year:04d}-{month.month:02d}"
                if name == "heavy_month":
                    out.truth("fuel_economy_anomaly", subject,
                              "over 100 L in the month for a few km of trips to the pump")
                else:
                    out.lookalike(name, subject, "a month's fuel just under 100 L")

    def _fuel(self, card: str, plate: str, t: int, station_id: str, liters: float) -> str:
        self.txn += 1
        txn = f"TXN-T{self.txn:05d}"
        self.out.emit("fuel", t, {"txn_id": txn, "card_id": card, "liters": liters,
                                  "amount_cny": round(liters * 7.62, 2),
                                  "station_id": station_id, "vehicle_id": plate,
                                  "fuel_type": "92"})
        return txn


def _next_month(d: date) -> date:
    return date(d.year + d.month // 12, d.month % 12 + 1, 1)


def asset_programs(scenario: str | None, programs: list[str]) -> list[str]:
    """The programmes a recipient with an asset scenario is enrolled in."""
    if scenario in ("asset_vehicle_late", "asset_company", "asset_property", "asset_sold"):
        return [p for p in programs if p in MEANS_TESTED] or ["DB"]
    if scenario == "asset_not_means_tested":
        return [p for p in programs if p not in MEANS_TESTED] or ["GL"]
    return programs


def assets(rng: random.Random, out: Stream, payee: str, scenario: str | None,
           paid: list[tuple[str, str, int]], history_ms: int, until_ms: int) -> None:
    """The recipient's asset record and, for the frauds, the payments it disqualifies.
    `paid`: (payment_id, program, ts) of the recipient."""
    if scenario not in PAYEE_FRAUDS + PAYEE_LOOKALIKES or not paid:
        return
    first, last = local_date(paid[0][2]), local_date(paid[-1][2])
    start, end, kind, recorded = date(2020, 1, 1), None, "vehicle", history_ms
    if scenario == "asset_vehicle_late":
        recorded = min(paid[-1][2] + rng.randint(2, 20) * DAY_MS, until_ms - HOUR_MS)
    elif scenario == "asset_company":
        kind = "company"
        start = first + timedelta(days=(last - first).days // 2)
    elif scenario == "asset_property":
        kind = "property"
    elif scenario == "asset_sold":
        end = first - timedelta(days=1)
    ident = {"vehicle": f"辽A{rng.randint(10000, 99999)}", "company": f"91210100MA{payee}",
             "property": f"沈房{rng.randint(1000, 9999)}"}[kind]
    fields = {"person_id": payee, "asset_kind": kind, "asset_id": ident,
              "from": start.isoformat()}
    if end is not None:
        fields["to"] = end.isoformat()
    out.emit("asset", recorded, fields)
    if scenario in PAYEE_LOOKALIKES:
        notes = {"asset_property": "holds a flat: not a disqualifying asset",
                 "asset_sold": "sold the car the day before the first payment",
                 "asset_not_means_tested": "holds a car, but the programme is not means-tested"}
        out.lookalike(scenario, payee, notes[scenario])
        return
    for pid, program, ts in paid:
        if program in MEANS_TESTED and local_date(ts) >= start:
            note = (f"holds a car since before the payments, recorded {iso(recorded)[:10]}"
                    if kind == "vehicle" else f"holds a company since {start.isoformat()}")
            out.truth("welfare_ineligible", pid, note)

