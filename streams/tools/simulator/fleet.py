"""The fleet over the period: each vehicle's days (office, rest, duty trips), its fuel
level and refuels, and the vehicle scenarios of `frauds.py` with their ground truth."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from streams.tools.simulator.city import HOUR_MS, MINUTE_MS, City, Vehicle, iso, km, local_date
from streams.tools.simulator.vehicles import Dwell, Track, off_day_trip, office_day, rest_day
from streams.tools.simulator.writer import Stream

GRADES = {"gasoline": ["92", "92", "95"], "diesel": ["0", "0", "-10"]}
PRICE = {"92": 7.62, "95": 8.12, "0": 7.35, "-10": 7.80}
PUMP_STOP = frozenset({"tank_overfill", "fuel_type_mismatch", "card_foreign_plate",
                       "card_revoked", "late_gps_burst", "gap_with_trip"})


class Fleet:
    def __init__(self, city: City, rng: random.Random, out: Stream,
                 plan: dict[tuple[int, int], str], workdays: Sequence[bool]) -> None:
        self.city, self.rng, self.out = city, rng, out
        self.plan, self.workdays = plan, workdays
        self.txn = 0
        self.private = 0

    def run(self) -> None:
        for v_index, vehicle in enumerate(self.city.vehicles):
            track = Track(random.Random(self.rng.getrandbits(64)))
            for d in range(len(self.workdays)):
                day = self.city.config.start_ms + d * 24 * HOUR_MS
                self._day(vehicle, track, day, self.workdays[d], self.plan.get((v_index, d)))
            self._emit_track(vehicle, track)

    # --- one day ---------------------------------------------------------------------

    def _day(self, v: Vehicle, track: Track, day: int, workday: bool,
             scenario: str | None) -> None:
        rng = track.rng
        track.km_today = 0.0
        if scenario is None:
            if workday and rng.random() > 0.1:
                self._office(v, track, day, refuel=v.level < 0.3 * v.tank)
            elif not workday and v.exempt and rng.random() < 0.3:
                off_day_trip(track, v.home, day)  # a duty call
            else:
                rest_day(track, v.home, day)
        elif scenario in PUMP_STOP:
            self._office(v, track, day, refuel=True, scenario=scenario)
        elif scenario == "refuel_location_mismatch":
            self._card_far_away(v, track, day)
        elif scenario in ("refuel_without_trip", "refuel_unverifiable"):
            self._card_while_parked(v, track, day, scenario)
        elif scenario == "off_hours_night":
            if workday:
                office_day(track, v.home, day, night_trip=True)
            else:
                off_day_trip(track, v.home, day, night=True)
            self._off_hours(v, day, "drove after 22:00")
        elif scenario == "off_hours_weekend":
            off_day_trip(track, v.home, day)
            self._off_hours(v, day, "drove on a day off")
        elif scenario == "exempt_weekend":
            off_day_trip(track, v.home, day)
            self.out.lookalike(scenario, f"{v.vehicle_id}/{local_date(day).isoformat()}",
                               "exempt duty vehicle drove on a day off: no off_hours_use")
        v.level = max(v.tank * 0.05, v.level - track.km_today * v.per_km)

    def _off_hours(self, v: Vehicle, day: int, note: str) -> None:
        self.out.truth("off_hours_use", f"{v.vehicle_id}/{local_date(day).isoformat()}", note)

    def _office(self, v: Vehicle, track: Track, day: int, refuel: bool,
                scenario: str | None = None) -> None:
        station = self.rng.choice(self.city.near_stations(v.home)) if refuel else None
        times: list[int] = []
        office_day(track, v.home, day, station.point if station else None, times)
        if station is None:
            return
        t = times[0]
        liters = round(max(5.0, v.tank - v.level - self.rng.uniform(0.5, 3.0)), 2)
        grade = self.rng.choice(GRADES[v.fuel_type])
        card, plate = v.card_id, v.vehicle_id
        if scenario == "tank_overfill":
            liters = round(v.tank * self.rng.uniform(1.15, 1.6), 2)
        elif scenario == "fuel_type_mismatch":
            grade = self.rng.choice(GRADES["diesel" if v.fuel_type == "gasoline" else "gasoline"])
        elif scenario == "card_foreign_plate":
            self.private += 1
            plate = f"LN-A-P{self.private:04d}"
        elif scenario == "card_revoked":
            card = self._reissue(v, day + self.rng.randint(60, 420) * MINUTE_MS)  # before 07:00
        txn = self._fuel(v, t, station.station_id, liters, grade, card, plate)
        v.level = v.tank
        notes = {
            "tank_overfill": "filled more than the tank holds (jerry cans)",
            "fuel_type_mismatch": "fuel of the other family for this vehicle",
            "card_foreign_plate": "private plate keyed in on an official card",
            "card_revoked": "card used after it was revoked and reissued",
        }
        detector = {"card_foreign_plate": "card_vehicle_mismatch",
                    "card_revoked": "card_vehicle_mismatch"}.get(scenario or "", scenario)
        if scenario in notes and detector is not None:
            self.out.truth(detector, txn, notes[scenario])
        elif scenario == "late_gps_burst":
            # the fixes of the pump stop come an hour late, in one burst
            n = track.delay(t - 25 * MINUTE_MS, t + 25 * MINUTE_MS, t + 85 * MINUTE_MS)
            self.out.lookalike(scenario, txn, f"{n} fixes around the refuel uploaded an hour "
                               "late: no refuel alert")
        elif scenario == "gap_with_trip":
            track.remove(t - 110 * MINUTE_MS, t - 50 * MINUTE_MS)
            self.out.lookalike(scenario, txn, "GPS gap in the window but a visible trip to the "
                               "station: no refuel alert")

    def _card_far_away(self, v: Vehicle, track: Track, day: int) -> None:
        dwells: list[Dwell] = office_day(track, v.home, day)
        dwell = max(dwells, key=lambda w: w.leave - w.arrive)
        t = dwell.arrive + self.rng.randint(12, 18) * MINUTE_MS
        station = max(self.city.stations, key=lambda s: km(s.point, dwell.point))
        liters = round(v.tank * self.rng.uniform(0.4, 0.8), 2)
        txn = self._fuel(v, t, station.station_id, liters, self.rng.choice(GRADES[v.fuel_type]),
                         v.card_id, v.vehicle_id)
        self.out.truth("refuel_location_mismatch", txn,
                       f"vehicle {km(station.point, dwell.point):.1f} km from the station")

    def _card_while_parked(self, v: Vehicle, track: Track, day: int, scenario: str) -> None:
        rest_day(track, v.home, day)
        t = day + self.rng.randint(10 * 60, 16 * 60) * MINUTE_MS
        station = self.rng.choice(self.city.stations)
        liters = round(v.tank * self.rng.uniform(0.4, 0.8), 2)
        txn = self._fuel(v, t, station.station_id, liters, self.rng.choice(GRADES[v.fuel_type]),
                         v.card_id, v.vehicle_id)
        if scenario == "refuel_unverifiable":
            track.remove(t - 100 * MINUTE_MS, t + 25 * MINUTE_MS)
            self.out.truth(scenario, txn, "GPS silent around the refuel, no trip seen")
        else:
            self.out.truth(scenario, txn, "card used while the car stood in the depot")

    # --- events ------------------------------------------------------------------------

    def _reissue(self, v: Vehicle, at: int) -> str:
        """Revoke the vehicle's card at `at` and bind a new one; returns the old card."""
        old = v.card_id
        n = self.city.extra_cards.get(v.vehicle_id, 0) + 1
        self.city.extra_cards[v.vehicle_id] = n
        v.card_id = f"{old.split('-R')[0]}-R{n}"
        self.out.emit("card", at, {"card_id": old, "vehicle_id": v.vehicle_id,
                                   "status": "revoked", "unit": v.unit.name})
        self.out.emit("card", at, {"card_id": v.card_id, "vehicle_id": v.vehicle_id,
                                   "status": "active", "unit": v.unit.name})
        return old

    def _fuel(self, v: Vehicle, t: int, station_id: str, liters: float, grade: str,
              card: str, plate: str) -> str:
        self.txn += 1
        txn = f"TXN-{self.txn:06d}"
        self.out.emit("fuel", t, {
            "txn_id": txn, "card_id": card, "liters": liters,
            "amount_cny": round(liters * PRICE[grade], 2), "station_id": station_id,
            "vehicle_id": plate, "fuel_type": grade,
        })
        return txn

    def _emit_track(self, v: Vehicle, track: Track) -> None:
        rng, vid, late = track.rng, v.vehicle_id, track.late
        add = self.out.add_line
        for ts, lat, lon, speed, ignition in track.fixes:
            line = (f'{{"kind":"gps","vehicle_id":"{vid}","ts":"{iso(ts)}","lat":{lat},'
                    f'"lon":{lon},"speed_kmh":{speed},"ignition":{_js(ignition)}}}').encode()
            arrival = late.get(ts, ts + rng.randint(0, 20_000))  # network delay
            add(line, arrival)
            if rng.random() < 0.001:  # at-least-once: the same fix again, a little later
                add(line, arrival + rng.randint(1_000, 120_000))


def _js(flag: bool) -> str:
    return "true" if flag else "false"


def registry(city: City, out: Stream, at: int) -> None:
    """Vehicles, cards and stations, effective from `at`."""
    for s in city.stations:
        out.emit("station", at, {"station_id": s.station_id, "lat": round(s.point[0], 6),
                                 "lon": round(s.point[1], 6), "name": s.name})
    for v in city.vehicles:
        fields: dict[str, Any] = {
            "vehicle_id": v.vehicle_id, "unit": v.unit.name, "tank_liters": v.tank,
            "fuel_type": v.fuel_type, "district": v.unit.district,
            "exempt_off_hours": v.exempt,
        }
        out.emit("vehicle", at, fields)
        out.emit("card", at, {"card_id": v.card_id, "vehicle_id": v.vehicle_id,
                              "status": "active", "unit": v.unit.name})
