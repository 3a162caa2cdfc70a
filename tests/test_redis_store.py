"""The Redis alert store against a real Redis-protocol server: once per id, in order."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from sinks.metrics import Metrics
from sinks.redis_store import RedisAlertStore
from streams.tools.embedded import EmbeddedRedis

pytestmark = pytest.mark.integration


def _alert(n: int, detector: str = "tank_overfill") -> dict[str, Any]:
    return {
        "alert_id": f"{detector}:{n:016x}",
        "detector": detector,
        "subject": f"TXN-{n:06d}",
        "severity": "high",
        "title": "加油量超过油箱容积",
    }


def _sample(metrics: Metrics, name: str) -> float:
    return metrics.registry.get_sample_value(name, {"sink": "redis"}) or 0.0


def _prefix() -> str:
    return f"test:{uuid.uuid4().hex[:8]}:"


async def _stream_ids(client: aioredis.Redis, key: str) -> list[str]:
    entries = await client.xrange(key)
    return [orjson.loads(fields[b"alert"])["alert_id"] for _, fields in entries]


async def _live_until(pubsub: aioredis.client.PubSub, last_id: str) -> list[str]:
    """Alert ids published until `last_id` arrives (a sentinel, so no sleeping)."""
    seen: list[str] = []
    async with asyncio.timeout(10):
        while not seen or seen[-1] != last_id:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is not None:
                seen.append(orjson.loads(message["data"])["alert_id"])
    return seen


@pytest.mark.timeout(30)
def test_same_alert_twice_is_one_entry_and_one_publish(redis_url: str) -> None:
    async def run() -> None:
        prefix = _prefix()
        store = RedisAlertStore(redis_url, prefix=prefix)
        client = aioredis.from_url(redis_url)
        pubsub = client.pubsub()
        await pubsub.subscribe(f"{prefix}alerts:live")
        try:
            assert await store.ping()
            a, b, sentinel = _alert(1), _alert(2), _alert(99)
            # Not forwarded yet: both copies come back for the Kafka sink (a no-op twice).
            assert await store.add_new([a, a]) == [a, a]
            await store.mark_forwarded([a["alert_id"]])
            assert await store.add_new([a, b]) == [b]
            await store.mark_forwarded([b["alert_id"]])
            assert await store.add_new([sentinel]) == [sentinel]
            assert await _live_until(pubsub, sentinel["alert_id"]) == [
                a["alert_id"],
                b["alert_id"],
                sentinel["alert_id"],
            ]
            assert await _stream_ids(client, f"{prefix}alerts") == [
                a["alert_id"],
                b["alert_id"],
                sentinel["alert_id"],
            ]
        finally:
            await pubsub.aclose()
            await client.aclose()
            await store.close()

    asyncio.run(run())


@pytest.mark.timeout(30)
def test_hash_holds_the_alert_and_an_open_case(redis_url: str) -> None:
    async def run() -> None:
        prefix = _prefix()
        store = RedisAlertStore(redis_url, prefix=prefix)
        client = aioredis.from_url(redis_url, decode_responses=True)
        try:
            alert = _alert(7)
            await store.add_new([alert])
            fields = await client.hgetall(f"{prefix}alert:{alert['alert_id']}")
            # the case fields, plus what the index keeps for moving it (sinks/alert_index.py)
            assert set(fields) == {"alert", "status", "updated_at", "note",
                                   "indexed", "raised_ms", "facets"}
            assert orjson.loads(fields["alert"]) == alert
            assert fields["status"] == "open"
            assert fields["note"] == ""
            assert datetime.fromisoformat(fields["updated_at"]).tzinfo is not None
            # A case action on the hash is not undone by a redelivery.
            await client.hset(f"{prefix}alert:{alert['alert_id']}", "status", "confirmed")
            await store.mark_forwarded([alert["alert_id"]])
            assert await store.add_new([alert]) == []
            assert await client.hget(f"{prefix}alert:{alert['alert_id']}", "status") == "confirmed"
            assert await client.xlen(f"{prefix}alerts") == 1
        finally:
            await client.aclose()
            await store.close()

    asyncio.run(run())


@pytest.mark.timeout(30)
def test_concurrent_workers_add_each_alert_once(redis_url: str) -> None:
    async def run() -> None:
        prefix = _prefix()
        stores = [RedisAlertStore(redis_url, prefix=prefix) for _ in range(4)]
        client = aioredis.from_url(redis_url)
        alerts = [_alert(i) for i in range(300)]
        try:
            await asyncio.gather(*(s.add_new(alerts) for s in stores))
            ids = await _stream_ids(client, f"{prefix}alerts")
            assert sorted(ids) == sorted(a["alert_id"] for a in alerts)
        finally:
            await client.aclose()
            for s in stores:
                await s.close()

    asyncio.run(run())


def test_alert_without_id_is_rejected_before_anything_is_written() -> None:
    async def run() -> None:
        store = RedisAlertStore("redis://127.0.0.1:1/0")  # nothing listens: never reached
        with pytest.raises(ValueError, match="alert_id"):
            await store.add_new([_alert(1), {"detector": "x"}])
        assert store.pending == 0
        await store.close()

    asyncio.run(run())


@pytest.mark.timeout(60)
def test_outage_holds_the_caller_back_and_loses_nothing(tmp_path: Path) -> None:
    server = EmbeddedRedis(data_dir=tmp_path / "redis", appendonly=True)
    metrics = Metrics(CollectorRegistry())

    async def run() -> None:
        prefix = _prefix()
        store = RedisAlertStore(
            server.url, prefix=prefix, metrics=metrics, backoff_min_s=0.05, backoff_max_s=0.4
        )
        alerts = [_alert(i) for i in range(40)]
        try:
            assert len(await store.add_new(alerts[:10])) == 10
            server.stop()
            writing = asyncio.create_task(store.add_new(alerts[10:40]))
            while _sample(metrics, "sunlight_sink_retries_total") < 2:
                await asyncio.sleep(0.05)  # polls the retry counter: retries are failing
            assert not writing.done(), "the caller must be held back during the outage"
            assert store.pending == 30
            assert _sample(metrics, "sunlight_sink_pending_alerts") == 30
            await asyncio.to_thread(server.start)
            assert len(await asyncio.wait_for(writing, 20)) == 30
            assert store.pending == 0
            # A redelivery after the outage adds nothing to the stream.
            await store.add_new(alerts[5:12])
        finally:
            await store.close()
        client = aioredis.from_url(server.url)
        try:
            ids = await _stream_ids(client, f"{prefix}alerts")
        finally:
            await client.aclose()
        assert ids == [a["alert_id"] for a in alerts]

    with server:
        asyncio.run(run())
    assert _sample(metrics, "sunlight_sink_retries_total") >= 2
    assert _sample(metrics, "sunlight_sink_pending_alerts") == 0
