"""The fleet publisher: newest fix per vehicle, throttled per vehicle, bounded, batched into
Redis (positions, the day's bounded track, one live message per batch); and the
dashboard's fleet API over what it wrote. Real Redis."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import orjson
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from detectors.calendar import WorkCalendar
from detectors.registry import Registry
from sinks.dashboard.app import create_app
from sinks.dashboard.config import DashboardConfig
from sinks.fleet import Fix, FleetPublisher, FleetSettings
from sinks.fleet_sites import SitePublisher
from sinks.redis_store import RedisAlertStore

pytestmark = pytest.mark.integration
ZONE = ZoneInfo("Asia/Shanghai")
# Wednesday 6 May 2026, 10:00 local: a working day after the May Day holiday
T0 = int(datetime(2026, 5, 6, 10, 0, tzinfo=ZONE).timestamp() * 1000)
SUNDAY = int(datetime(2026, 5, 10, 10, 0, tzinfo=ZONE).timestamp() * 1000)


def fix(vid: str, ts: int, lat: float, lon: float = 123.4) -> dict[str, object]:
    return {"kind": "gps", "vehicle_id": vid, "ts_ms": ts, "lat": lat, "lon": lon}


def test_positions_are_throttled_bounded_and_tracked(redis_url: str) -> None:
    prefix = f"fl{uuid.uuid4().hex[:8]}:"

    async def go() -> None:
        r = aioredis.Redis.from_url(redis_url, decode_responses=True)
        pub = FleetPublisher(r, prefix, WorkCalendar(), settings=FleetSettings(
            min_interval_ms=10_000, max_vehicles=3, batch=2, track_points=4))
        sub = r.pubsub()
        await sub.subscribe(f"{prefix}fleet:live")
        await sub.get_message(timeout=1)  # the subscribe confirmation
        try:
            # newest fix per vehicle wins, in event time, whatever the arrival order
            pub.offer([fix("A", T0 + 5000, 41.80), fix("A", T0, 41.70), fix("B", T0, 41.90),
                       fix("C", T0, 41.95), fix("D", T0, 41.99)])
            assert pub.dropped == 1  # bounded: a 4th vehicle waits for room
            assert await pub.flush() == 3
            pos = {k: orjson.loads(v) for k, v in (await r.hgetall(f"{prefix}fleet:pos")).items()}
            assert set(pos) == {"A", "B", "C"} and pos["A"]["lat"] == 41.80
            batches = []
            while (m := await sub.get_message(timeout=1)) is not None:
                batches.append(orjson.loads(m["data"]))
            assert [len(b) for b in batches] == [2, 1]  # batch of 2
            # throttle: a fix 5 s later waits; 12 s later it goes, with a speed and a state
            pub.offer([fix("A", T0 + 10_000, 41.801)])
            assert await pub.flush() == 0
            pub.offer([fix("A", T0 + 17_000, 41.802)])
            assert await pub.flush() == 1
            a = orjson.loads(await r.hget(f"{prefix}fleet:pos", "A"))
            assert a["state"] == "moving" and 60 < a["kmh"] < 75  # 222 m in 12 s: 66.7 km/h
            # parked below 3 km/h; off-hours when moving at night or on a day off
            pub.offer([fix("B", T0 + 60_000, 41.90)])
            await pub.flush()
            assert orjson.loads(await r.hget(f"{prefix}fleet:pos", "B"))["state"] == "parked"
            pub.offer([fix("C", SUNDAY, 41.95), fix("C", SUNDAY + 60_000, 41.96)])
            await pub.flush()
            pub.offer([fix("C", SUNDAY + 120_000, 41.97)])
            await pub.flush()
            assert orjson.loads(await r.hget(f"{prefix}fleet:pos", "C"))["state"] == "off_hours"
            # the day's track is bounded
            for i in range(10):
                pub.offer([fix("A", T0 + 30_000 + i * 10_000, 41.81 + i / 1000)])
                await pub.flush()
            track = await r.lrange(f"{prefix}fleet:track:A:20260506", 0, -1)
            assert len(track) == 4 and orjson.loads(track[-1])[0] == T0 + 120_000
            assert await r.ttl(f"{prefix}fleet:track:A:20260506") > 86_000
        finally:
            await sub.aclose()
            await r.aclose()

    asyncio.run(go())


def test_fleet_api_marks_vehicles_with_open_alerts(redis_url: str) -> None:
    prefix = f"fl{uuid.uuid4().hex[:8]}:"

    async def go() -> None:
        r = aioredis.Redis.from_url(redis_url, decode_responses=True)
        pub = FleetPublisher(r, prefix, WorkCalendar())
        pub.offer([fix("LN-1", T0, 41.8), fix("LN-2", T0, 41.9)])
        await pub.flush()
        registry = Registry()
        registry.apply({"kind": "station", "station_id": "ST-1", "lat": 41.81, "lon": 123.41,
                        "ts_ms": T0})
        registry.apply({"kind": "place", "place_id": "PL-1", "name": "golf-2",
                        "category": "golf", "lat": 41.7, "lon": 123.5, "radius_m": 200.0,
                        "ts_ms": T0})
        await SitePublisher(r, prefix, registry).flush()
        writer = RedisAlertStore(redis_url, prefix=prefix)
        raised = datetime.fromtimestamp(T0 / 1000, ZONE).isoformat(timespec="milliseconds")
        await writer.add_new([{
            "alert_id": "tank_overfill:1", "detector": "tank_overfill", "subject": "TXN-1",
            "severity": "high", "entity": {"kind": "vehicle", "id": "LN-2"},
            "event_ts": raised, "raised_at": raised, "title": "加油量超油箱容量",
            "details": {}, "evidence": [], "unit": "市水务局", "district": "和平区",
            "rule": {"name": "tank_overfill", "version": "1"}}])
        await writer.close()
        app = create_app(redis_url, prefix, DashboardConfig.load(),
                         audit_key=b"test-only-audit-key")
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            resp = await client.post("/api/login", json={"user": "viewer", "password": "viewer"})
            assert resp.status == 200
            body = await (await client.get("/api/fleet")).json()
            alerts = {v["id"]: v["alerts"] for v in body["vehicles"]}
            assert alerts == {"LN-1": 0, "LN-2": 1}
            assert body["sites"] == [
                {"kind": "place", "id": "PL-1", "name": "golf-2", "lat": 41.7, "lon": 123.5,
                 "category": "golf", "radius_m": 200.0},
                {"kind": "station", "id": "ST-1", "name": "", "lat": 41.81, "lon": 123.41}]
            one = await (await client.get("/api/fleet/LN-2")).json()
            assert one["day"] == "20260506" and len(one["track"]) == 1
            assert [a["alert_id"] for a in one["alerts"]] == ["tank_overfill:1"]
        await r.aclose()

    asyncio.run(go())


def test_a_fix_without_a_position_is_dropped_when_published_and_blocks_nothing() -> None:
    pub = FleetPublisher(aioredis.Redis(), "fl-unused:", WorkCalendar())
    pub.offer([fix("A", T0, 41.8), {"vehicle_id": "B", "ts_ms": T0, "lat": None, "lon": 1.0},
               {"vehicle_id": "C", "ts_ms": T0}])
    assert [vid for vid, _fix in pub.due()] == ["A"]
    assert pub.dropped == 2 and pub.pending == {}


def test_a_tick_walks_only_the_vehicles_past_their_throttle() -> None:
    pub = FleetPublisher(aioredis.Redis(), "fl-unused:", WorkCalendar(),
                         settings=FleetSettings(min_interval_ms=10_000))
    pub.offer([fix(f"V{n}", T0, 41.8) for n in range(1000)])
    assert [vid for vid, _fix in pub.due()][:3] == ["V0", "V1", "V2"]  # offered order
    # the flush writes them: their fixes become the last published
    pub.last.update({f"V{n}": Fix(T0, 41.8, 123.4) for n in range(1000)})
    pub.offer([fix(f"V{n}", T0 + 5_000, 41.8) for n in range(1000)])  # all throttled
    assert len(pub.pending) == 1000 and pub.ready == {}  # nothing for a tick to walk
    assert pub.due() == [] and len(pub.pending) == 1000
    pub.offer([fix("V7", T0 + 10_000, 41.81)])  # past the throttle: the one to publish
    assert [vid for vid, _fix in pub.due()] == ["V7"] and len(pub.pending) == 999


def test_a_fix_offered_while_a_flush_writes_waits_for_its_throttle() -> None:
    pub = FleetPublisher(aioredis.Redis(), "fl-unused:", WorkCalendar(),
                         settings=FleetSettings(min_interval_ms=10_000))
    pub.offer([fix("A", T0, 41.8)])
    (vid, written), = pub.due()
    # while the flush writes A's fix, a fix 5 s later comes: it is compared with the fix
    # published before (none), so it looks ready ...
    pub.offer([fix("A", T0 + 5_000, 41.8)])
    pub.last[vid] = written  # ... until the flush records what it wrote
    assert pub.due() == [] and pub.pending["A"][0] == T0 + 5_000  # throttled after all
    pub.offer([fix("A", T0 + 12_000, 41.81)])
    assert [(v, f.ts) for v, f in pub.due()] == [("A", T0 + 12_000)]
