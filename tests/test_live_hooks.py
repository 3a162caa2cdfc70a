"""The worker's hooks run beside the engine: a tick never waits on Redis, an outage is
counted and logged once, and a pass publishes the clocks and the positions."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

import pytest
import redis.asyncio as aioredis

from sinks.fleet import FleetPublisher
from sinks.live_hooks import LiveHooks
from streams.embedded import free_port

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
