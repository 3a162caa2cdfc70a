"""A vehicle's GPS: parking with heartbeats, driving along streets, stops at stations,
and the day routines built from them (office day, rest day, night or weekend trip)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from streams.tools.simulator.city import HOUR_MS, MINUTE_MS, Point, km, move, random_point

PARK_JITTER_M = 8.0  # pairwise < 50 m, so parked fixes are jitter to the engine
MOVE_NOISE_M = 4.0
NIGHT_KMH = 40.0

# A fix: (ts_ms, lat, lon, speed_kmh, ignition)
Fix = tuple[int, float, float, float, bool]


@dataclass
class Dwell:
    point: Point
    arrive: int
    leave: int


@dataclass
class Track:
    rng: random.Random
    fixes: list[Fix] = field(default_factory=list)
    late: dict[int, int] = field(default_factory=dict)  # ts -> arrival, for delayed uploads
    km_today: float = 0.0

    def _fix(self, ts: int, p: Point, speed: float, ignition: bool) -> None:
        if self.fixes and ts <= self.fixes[-1][0]:
            return
        self.fixes.append((ts, round(p[0], 6), round(p[1], 6), round(speed, 1), ignition))

    def _jitter(self, p: Point, radius: float) -> Point:
        return move(p, self.rng.uniform(-radius, radius), self.rng.uniform(-radius, radius))

    def park(self, at: Point, t0: int, t1: int, every_s: tuple[int, int] = (300, 870),
             ignition: bool = False) -> None:
        """Heartbeats from t0 until before t1, at most `every_s[1]` s apart."""
        t = t0
        while t < t1:
            self._fix(t, self._jitter(at, PARK_JITTER_M), 0.0, ignition)
            t += self.rng.randint(*every_s) * 1000

    def drive(self, a: Point, b: Point, t0: int, speed_kmh: float | None = None) -> int:
        """Drive a -> b along two street legs; returns the arrival time."""
        rng = self.rng
        corner = (b[0], a[1]) if rng.random() < 0.5 else (a[0], b[1])
        legs = [(a, corner, km(a, corner)), (corner, b, km(corner, b))]
        total = legs[0][2] + legs[1][2]
        speed = speed_kmh or rng.uniform(24.0, 45.0)
        self._fix(t0, a, 0.0, True)
        t, done = t0, 0.0
        while True:
            step_s = rng.randint(10, 45)
            v = speed * rng.uniform(0.75, 1.25)
            if done + v * step_s / 3600 >= total:
                t += int((total - done) / v * 3600 * 1000) + 1000
                self._fix(t, b, v, True)
                break
            t += step_s * 1000
            done += v * step_s / 3600
            p = _along(legs, done)
            self._fix(t, self._jitter(p, MOVE_NOISE_M), v, True)
        self.km_today += total
        return t

    def stop(self, at: Point, t0: int, t1: int) -> None:
        """Engine running at a pump: a fix about every minute."""
        self.park(at, t0, t1, every_s=(40, 75), ignition=True)

    def remove(self, t0: int, t1: int) -> int:
        """The device is silent in [t0, t1]: drop those fixes; returns how many."""
        before = len(self.fixes)
        self.fixes = [f for f in self.fixes if not t0 <= f[0] <= t1]
        return before - len(self.fixes)

    def delay(self, t0: int, t1: int, arrival: int) -> int:
        """Fixes in [t0, t1] are buffered and uploaded together at `arrival`."""
        n = 0
        for f in self.fixes:
            if t0 <= f[0] <= t1:
                self.late[f[0]] = arrival
                n += 1
        return n


def _along(legs: list[tuple[Point, Point, float]], done: float) -> Point:
    for a, b, length in legs:
        if done <= length or length == 0:
            f = done / length if length else 1.0
            return (a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f)
        done -= length
    return legs[-1][1]


def destination(rng: random.Random, origin: Point, lo_m: float, hi_m: float) -> Point:
    """A point in the city lo..hi metres (straight line) from origin."""
    while True:
        p = random_point(rng)
        if lo_m / 1000 <= km(origin, p) <= hi_m / 1000:
            return p


def rest_day(track: Track, home: Point, day: int) -> None:
    track.park(home, day, day + 24 * HOUR_MS)


def office_day(track: Track, home: Point, day: int, station: Point | None = None,
               refuel_at: list[int] | None = None, night_trip: bool = False) -> list[Dwell]:
    """Leave 07:30-09:30, one to three errands, back by evening; optionally a pump stop
    first (its transaction time appended to `refuel_at`) and a trip after 22:00."""
    rng = track.rng
    depart = day + rng.randint(450, 570) * MINUTE_MS
    track.park(home, day, depart)
    pos, t = home, depart
    dwells: list[Dwell] = []
    if station is not None:
        t = track.drive(pos, station, t)
        leave = t + rng.randint(300, 540) * 1000
        if refuel_at is not None:
            refuel_at.append(t + rng.randint(90, 200) * 1000)
        track.stop(station, t, leave)
        pos, t = station, leave
    for errand in range(rng.randint(1, 3)):
        if errand and t > day + 16 * HOUR_MS:
            break
        there = destination(rng, pos, 2_000, 7_000)
        t = track.drive(pos, there, t)
        leave = t + rng.randint(30, 150) * MINUTE_MS
        track.park(there, t, leave)
        dwells.append(Dwell(there, t, leave))
        t = track.drive(there, home, leave)
        pos = home
        back = t + rng.randint(20, 90) * MINUTE_MS
        track.park(home, t, back)
        t = back
    if night_trip:
        go = day + rng.randint(22 * 60 + 10, 22 * 60 + 30) * MINUTE_MS
        track.park(home, t, go)
        t = trip_and_back(track, home, go, 4_000, 6_000, NIGHT_KMH)
    track.park(home, t, day + 24 * HOUR_MS)
    return dwells


def trip_and_back(track: Track, home: Point, t0: int, lo_m: float, hi_m: float,
                  speed_kmh: float | None = None) -> int:
    """Out to a point lo..hi metres away, a short stop, and back home."""
    rng = track.rng
    there = destination(rng, home, lo_m, hi_m)
    t = track.drive(home, there, t0, speed_kmh)
    leave = t + rng.randint(8, 15) * MINUTE_MS
    track.park(there, t, leave)
    return track.drive(there, home, leave, speed_kmh)


def off_day_trip(track: Track, home: Point, day: int, night: bool = False) -> None:
    """A day parked at the depot but for one trip (daytime, or after 22:00)."""
    rng = track.rng
    if night:  # empty roads: back well before midnight, so one date holds the trip
        go = day + rng.randint(22 * 60 + 10, 22 * 60 + 30) * MINUTE_MS
        track.park(home, day, go)
        t = trip_and_back(track, home, go, 4_000, 6_000, NIGHT_KMH)
    else:
        go = day + rng.randint(10 * 60, 15 * 60) * MINUTE_MS
        track.park(home, day, go)
        t = trip_and_back(track, home, go, 4_000, 7_000)
    track.park(home, t, day + 24 * HOUR_MS)
