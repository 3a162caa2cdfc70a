"""Vehicle positions for the live fleet map.

The live engine offers every GPS fix it applies; the publisher keeps only each vehicle's
newest fix (bounded by ``max_vehicles``) and, once a tick, writes what changed in one
pipeline:

- ``{prefix}fleet:pos``: a hash, vehicle id -> ``{"ts", "lat", "lon", "state", "kmh"}``;
- ``{prefix}fleet:track:{vehicle}:{YYYYMMDD}``: the day's track (local date), one point
  per vehicle per ``min_interval_ms`` of event time, capped at ``track_points``, kept
  ``track_days`` days;
- a message on ``{prefix}fleet:live`` per batch of up to ``batch`` changes, which the
  dashboard relays to open pages over server-sent events.

A vehicle is published at most once per ``min_interval_ms`` of event time (throttle).
State: ``moving`` above ``moving_kmh`` since its previous fix, else ``parked``; ``off_hours``
when moving at night or on a non-working day (the off_hours_use rule's window). Whether an
alert is open on it is the dashboard's to add.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from redis.asyncio import Redis

from detectors.calendar import WorkCalendar

# ARGV: prefix, track points kept, track TTL s, the batch's live message, then per vehicle
# (id, position JSON, local day YYYYMMDD, track point JSON). One call per batch: a
# pipeline of four commands per vehicle costs more in the client than in Redis.
_FLUSH_LUA = """
local prefix, keep, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local pos = prefix .. 'fleet:pos'
for i = 5, #ARGV, 4 do
  local vid = ARGV[i]
  redis.call('HSET', pos, vid, ARGV[i + 1])
  local t = prefix .. 'fleet:track:' .. vid .. ':' .. ARGV[i + 2]
  redis.call('RPUSH', t, ARGV[i + 3])
  redis.call('LTRIM', t, -keep, -1)
  redis.call('EXPIRE', t, ttl)
end
redis.call('PUBLISH', prefix .. 'fleet:live', ARGV[4])
return (#ARGV - 4) / 4
"""


@dataclass(frozen=True)
class FleetSettings:
    min_interval_ms: int = 10_000
    max_vehicles: int = 200_000
    # 500 a Lua call: building a batch holds the worker's event loop (~10 us a vehicle) and
    # its call holds Redis; at 100k vehicles batches of 5,000 held each ~50 ms.
    batch: int = 500
    track_points: int = 2_000
    track_days: int = 2
    moving_kmh: float = 3.0
    night_start_hour: int = 22
    night_end_hour: int = 6


@dataclass
class Fix:
    ts: int
    lat: float
    lon: float
    kmh: float = 0.0


def km_between(a: Fix, b: Fix) -> float:
    dlat = math.radians(b.lat - a.lat)
    dlon = math.radians(b.lon - a.lon) * math.cos(math.radians((a.lat + b.lat) / 2))
    return 6371.0 * math.hypot(dlat, dlon)


class FleetPublisher:
    def __init__(self, redis: Redis, prefix: str, calendar: WorkCalendar | None = None,
                 zone: str = "Asia/Shanghai", settings: FleetSettings = FleetSettings()) -> None:
        self.redis = redis
        self.prefix = prefix
        self.calendar = calendar
        self.zone = ZoneInfo(zone)
        self.settings = settings
        # vehicle -> (ts_ms, event) of its newest fix not yet published
        self.pending: dict[str, tuple[int, Mapping[str, Any]]] = {}
        # the pending vehicles whose fix is past their throttle, decided as fixes arrive:
        # a tick walks these, not every pending vehicle (100k throttled vehicles took a
        # tick's walk 77 ms)
        self.ready: dict[str, None] = {}  # in the order they became ready
        self.last: dict[str, Fix] = {}  # last published fix per vehicle
        self.dropped = 0  # fixes refused (max_vehicles were pending) or without a position
        self.published = 0
        self._script = redis.register_script(_FLUSH_LUA)
        zone_ = self.zone

        @lru_cache(maxsize=4096)
        def local_hour(hour: int) -> tuple[str, int, bool]:
            """(YYYYMMDD, hour of day, working day) of an epoch hour, in the zone."""
            local = datetime.fromtimestamp(hour * 3600, zone_)
            workday = self.calendar is None or self.calendar.is_workday(local.date())
            return local.strftime("%Y%m%d"), local.hour, workday

        self._local_hour = local_hour

    def offer(self, events: Iterable[Mapping[str, Any]]) -> None:
        """Keep each vehicle's newest fix (event time) until the next flush: the event
        itself (a fix is made of it only when published; most are superseded first)."""
        pending, ready, last = self.pending, self.ready, self.last
        cap = self.settings.max_vehicles
        gap = self.settings.min_interval_ms
        for e in events:
            vid, ts = e.get("vehicle_id"), e.get("ts_ms")
            if not isinstance(vid, str) or not isinstance(ts, int):
                continue
            current = pending.get(vid)
            if current is None:
                if len(pending) >= cap:
                    self.dropped += 1
                    continue
            elif current[0] >= ts:
                continue
            pending[vid] = (ts, e)
            if vid not in ready:
                prev = last.get(vid)
                if prev is None or ts - prev.ts >= gap:
                    ready[vid] = None

    def state(self, fix: Fix) -> str:
        if fix.kmh < self.settings.moving_kmh:
            return "parked"
        _day, hour, workday = self._local_hour(fix.ts // 3_600_000)
        s = self.settings
        night = hour >= s.night_start_hour or hour < s.night_end_hour
        return "off_hours" if night or not workday else "moving"

    def due(self) -> list[tuple[str, Fix]]:
        """Pending fixes past their vehicle's throttle; the rest stay pending."""
        out = []
        gap = self.settings.min_interval_ms
        ready, self.ready = self.ready, {}
        for vid in ready:
            ts, e = self.pending[vid]
            # checked again: a fix offered while the last flush was writing was compared
            # with the fix before the one it wrote
            prev = self.last.get(vid)
            if prev is not None and ts - prev.ts < gap:
                continue  # pending until a fix past the throttle comes
            del self.pending[vid]
            try:
                fix = Fix(ts, float(e["lat"]), float(e["lon"]))
            except (KeyError, TypeError, ValueError):  # not a position: never blocks the rest
                self.dropped += 1
                continue
            if prev is not None and fix.ts > prev.ts:
                fix.kmh = km_between(prev, fix) / ((fix.ts - prev.ts) / 3_600_000)
            out.append((vid, fix))
        return out

    async def flush(self) -> int:
        """Write the due fixes; returns how many vehicles were published."""
        due = self.due()
        s = self.settings
        for start in range(0, len(due), s.batch):
            chunk = due[start:start + s.batch]
            changes = []
            args: list[str | bytes] = []
            for vid, fix in chunk:
                item = {"id": vid, "ts": fix.ts, "lat": fix.lat, "lon": fix.lon,
                        "state": self.state(fix), "kmh": round(fix.kmh, 1)}
                changes.append(item)
                day = self._local_hour(fix.ts // 3_600_000)[0]
                args += [vid, orjson.dumps(item), day, orjson.dumps([fix.ts, fix.lat, fix.lon])]
            await self._script(args=[self.prefix, s.track_points, s.track_days * 86400,
                                     orjson.dumps(changes), *args])
            for vid, fix in chunk:
                self.last[vid] = fix
        self.published += len(due)
        return len(due)
