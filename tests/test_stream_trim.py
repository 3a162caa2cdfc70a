"""`sunlight:alerts` is trimmed to about `maxlen` entries, never past what a subscriber group
has not acknowledged, on a real Redis-protocol server with real consumer groups."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import redis.asyncio as aioredis
from alert_fixtures import engine_alerts

from sinks.redis_store import RedisAlertStore
from sinks.stream_trim import group_floor, trim_stream
from streams.settings import load_settings

KEY = "trim:alerts"


def test_the_default_is_a_million_and_a_setting() -> None:
    assert load_settings(environ={}).alerts_maxlen == 1_000_000
    assert load_settings(environ={"SUNLIGHT_ALERTS_MAXLEN": "5000"}).alerts_maxlen == 5000


async def _fill(client: aioredis.Redis, n: int) -> list[str]:
    await client.delete(KEY)
    pipe = client.pipeline(transaction=False)
    for i in range(n):
        pipe.xadd(KEY, {"alert": f"a{i}"})
    return [x.decode() if isinstance(x, bytes) else str(x) for x in await pipe.execute()]


def test_trim_keeps_what_a_group_has_not_acknowledged(redis_url: str) -> None:
    async def go() -> None:
        client = aioredis.from_url(redis_url)
        try:
            ids = await _fill(client, 3000)
            await client.xgroup_create(KEY, "slow", id="0")
            await client.xgroup_create(KEY, "fast", id="0")
            # "fast" read and acknowledged everything; "slow" read 2,000, acknowledged the
            # first 1,500 but not entries 1,500..1,999 (and never saw 2,000..2,999).
            fast = await client.xreadgroup("fast", "f", {KEY: ">"}, count=5000)
            await client.xack(KEY, "fast", *[i for i, _ in fast[0][1]])
            slow = await client.xreadgroup("slow", "s", {KEY: ">"}, count=2000)
            await client.xack(KEY, "slow", *[i for i, _ in slow[0][1][:1500]])
            assert await group_floor(client, KEY) == ids[1500]

            removed = await trim_stream(client, KEY, maxlen=100)
            left = [i.decode() for i, _ in await client.xrange(KEY)]
            assert 0 < removed <= 1500, "only acknowledged entries may go"
            assert ids[1500] in left and left[-1] == ids[-1]
            assert left == ids[removed:], "trimmed from the oldest, in order"
            pending = await client.xpending_range(KEY, "slow", "-", "+", 1000)
            assert len(pending) == 500
            assert {p["message_id"].decode() for p in pending} <= set(left)

            # Once "slow" has acknowledged everything, maxlen rules (to about 100: `~`).
            rest = await client.xreadgroup("slow", "s", {KEY: ">"}, count=5000)
            await client.xack(KEY, "slow", *[i for i, _ in slow[0][1][1500:]],
                              *[i for i, _ in rest[0][1]])
            await trim_stream(client, KEY, maxlen=100)
            length = await client.xlen(KEY)
            assert 100 <= length < 300, length
        finally:
            await client.aclose()

    asyncio.run(go())


def test_no_group_means_maxlen_alone(redis_url: str) -> None:
    async def go() -> None:
        client = aioredis.from_url(redis_url)
        try:
            await _fill(client, 1000)
            await trim_stream(client, KEY, maxlen=200)
            assert 200 <= await client.xlen(KEY) < 400
            assert await trim_stream(client, KEY, maxlen=5000) == 0
        finally:
            await client.aclose()

    asyncio.run(go())


def test_the_worker_store_trims_as_it_writes(redis_url: str) -> None:
    """RedisAlertStore.add_new (the worker's path) trims with its maxlen, and a group that
    has not acknowledged keeps every entry it needs."""
    prefix = "trimstore:"

    async def go() -> None:
        client = aioredis.from_url(redis_url)
        await client.delete(*[k async for k in client.scan_iter(f"{prefix}*")] or ["-"])
        store = RedisAlertStore(redis_url, prefix, maxlen=10, trim_every_s=0.0)
        alerts: list[dict[str, Any]] = list(engine_alerts())
        try:
            await store.add_new(alerts[:20])
            await client.xgroup_create(f"{prefix}alerts", "tail", id="$")
            await store.add_new(alerts[20:60])  # 40 the group has not read
            entries = await client.xrange(f"{prefix}alerts")
            assert len(entries) >= 40
            new_ids = {a["alert_id"] for a in alerts[20:60]}
            kept = {orjson.loads(f[b"alert"])["alert_id"] for _, f in entries}
            assert new_ids <= kept
            assert len(entries) < 60 and store.trimmed > 0
            # Every alert keeps its case hash (the dedup authority and its case status).
            assert all([await client.exists(f"{prefix}alert:{a['alert_id']}")
                        for a in alerts[:60]])
        finally:
            await store.close()
            await client.aclose()

    asyncio.run(go())
