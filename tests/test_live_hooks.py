"""The worker's hooks run beside the engine: a tick never waits on Redis, an outage is
counted and logged once, and a pass publishes the clocks and the positions."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

import orjson
import pytest
import redis.asyncio as aioredis

from detectors.registry import Registry
from sinks.catalogue import Catalogue
from sinks.fleet import FleetPublisher
from sinks.fleet_sites import SitePublisher
from sinks.live_hooks import LiveHooks
from sinks.publication import GrantPublisher, published
from streams.tools.embedded import free_port

pytestmark = pytest.mark.integration


def test_a_tick_never_waits_on_redis_and_an_outage_is_logged_once(
        caplog: pytest.LogCaptureFixture) -> None:
    async def go() -> None:
        dead = aioredis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0",
                                       decode_responses=True, socket_connect_timeout=1.0)
        hooks = LiveHooks(dead, "x:", None, FleetPublisher(dead, "x:"))
        hooks.on_gps([{"vehicle_id": "V1", "ts_ms": 1_000, "lat": 41.8, "lon": 123.4}])
        for i in range(5):
            started = time.perf_counter()
            await hooks.on_tick({0: 1_000 + i})
            assert time.perf_counter() - started < 0.05
            await asyncio.wait_for(asyncio.shield(hooks._task), 5)  # type: ignore[arg-type]
        assert hooks.failures == 5
        assert hooks._marks == {0: 1_004}  # kept for when Redis is back
        await hooks.close()

    with caplog.at_level(logging.INFO, logger="sinks.live_hooks"):
        asyncio.run(go())
    assert caplog.text.count("pass failed") == 1


def test_a_pass_publishes_clocks_and_positions(redis_url: str) -> None:
    prefix = f"hk{uuid.uuid4().hex[:8]}:"

    async def go() -> None:
        r = aioredis.Redis.from_url(redis_url, decode_responses=True)
        hooks = LiveHooks(r, prefix, None, FleetPublisher(r, prefix))
        hooks.on_gps([{"vehicle_id": "V1", "ts_ms": 1_700_000_000_000, "lat": 41.8,
                       "lon": 123.4}])
        await hooks.on_tick({0: 1_700_000_000_000, 1: 1_700_000_005_000})
        await asyncio.wait_for(asyncio.shield(hooks._task), 5)  # type: ignore[arg-type]
        assert await r.hgetall(f"{prefix}engine:clock") == {"0": "1700000000000",
                                                             "1": "1700000005000"}
        assert await r.hexists(f"{prefix}fleet:pos", "V1")
        await hooks.close()

    asyncio.run(go())


def test_a_pass_publishes_each_grant_once_with_its_class_and_no_credit_code(
        redis_url: str) -> None:
    prefix = f"hk{uuid.uuid4().hex[:8]}:"
    cat = Catalogue.load()
    org = "91210113BLAKLBKPEK"

    def grant(n: int, program: str | None, day: int) -> dict[str, object]:
        g: dict[str, object] = {"kind": "grant", "grant_id": f"GR-{n}", "project_id": f"PRJ-{n}",
                                "org_id": org, "amount_cny": 1000.0 * n,
                                "ts": f"2026-03-{day:02d}T10:00:00+08:00",
                                "ts_ms": 1_772_330_400_000 + day * 86_400_000,
                                "department": "发改委投资处", "district": "和平区",
                                "applicant_phone": "13800000000"}
        if program is not None:
            g["program"] = program
        return g

    async def go() -> None:
        r = aioredis.Redis.from_url(redis_url, decode_responses=True)
        hooks = LiveHooks(r, prefix, None, None, GrantPublisher(r, prefix, cat))
        hooks.on_grants([grant(1, "中央预算内", 1), grant(2, "未知专项", 3), grant(3, None, 2)])
        hooks.on_grants([grant(2, "未知专项", 3)])  # a redelivery: one grant, counted once
        await hooks.on_tick({0: 1})
        await asyncio.wait_for(asyncio.shield(hooks._task), 5)  # type: ignore[arg-type]
        assert hooks.failures == 0 and hooks.grants is not None
        assert hooks.grants.pending == [] and hooks.grants.published == 3
        items = await published(r, prefix, 10)
        assert [g["grant_id"] for g in items] == ["GR-2", "GR-3", "GR-1"]  # newest first
        first = items[2]
        assert first["class_code"] == cat.lookup("中央预算内").class_code  # type: ignore[union-attr]
        assert first["class_name"] and first["amount_cny"] == 1000.0
        assert items[0]["class_code"] == "" and items[0]["program"] == "未知专项"
        text = str(items)
        assert org not in text and "13800000000" not in text and "ts_ms" not in text
        assert await r.hgetall(f"{prefix}catalogue:unknown") == {"未知专项": "1"}
        await hooks.close()

    asyncio.run(go())


def test_a_pass_publishes_stations_and_places_when_they_change(redis_url: str) -> None:
    prefix = f"hk{uuid.uuid4().hex[:8]}:"
    registry = Registry()
    registry.apply({"kind": "station", "station_id": "S1", "lat": 41.8, "lon": 123.4,
                    "name": "中石化一站", "ts_ms": 1})
    registry.apply({"kind": "place", "place_id": "PL1", "name": "棋盘山", "category": "scenic",
                    "lat": 41.9, "lon": 123.6, "radius_m": 300.0, "ts_ms": 1})
    registry.apply({"kind": "vehicle", "vehicle_id": "V1", "unit": "u", "ts_ms": 1})

    async def go() -> None:
        r = aioredis.Redis.from_url(redis_url, decode_responses=True)
        hooks = LiveHooks(r, prefix, None, None, None, SitePublisher(r, prefix, registry))

        async def tick() -> dict[str, dict[str, object]]:
            await hooks.on_tick({0: 1})
            await asyncio.wait_for(asyncio.shield(hooks._task), 5)  # type: ignore[arg-type]
            raw = await r.hgetall(f"{prefix}fleet:sites")
            return {k: orjson.loads(v) for k, v in raw.items()}

        got = await tick()
        assert got == {
            "station:S1": {"kind": "station", "id": "S1", "name": "中石化一站", "lat": 41.8,
                           "lon": 123.4},
            "place:PL1": {"kind": "place", "id": "PL1", "name": "棋盘山", "lat": 41.9,
                          "lon": 123.6, "category": "scenic", "radius_m": 300.0}}
        # a new version moves the place; a new station appears
        registry.apply({"kind": "place", "place_id": "PL1", "name": "棋盘山", "category": "scenic",
                        "lat": 42.0, "lon": 123.6, "radius_m": 300.0, "ts_ms": 5})
        registry.apply({"kind": "station", "station_id": "S2", "lat": 41.7, "lon": 123.3,
                        "ts_ms": 5})
        got = await tick()
        assert got["place:PL1"]["lat"] == 42.0 and set(got) == {"station:S1", "station:S2",
                                                                "place:PL1"}
        await hooks.close()

    asyncio.run(go())
