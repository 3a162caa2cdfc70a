"""The worker's alert writer against a real Redis-protocol server and the real broker:
everything handed over is written once, in order, before `flush` returns, through
failing sends."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from sinks.alert_sinks import AlertSinks
from sinks.redis_store import RedisAlertStore
from streams.tools.embedded import create_topics

pytestmark = pytest.mark.integration


def _alert(n: int) -> dict[str, Any]:
    return {"alert_id": f"tank_overfill:{n:016x}", "detector": "tank_overfill",
            "subject": f"TXN-{n:06d}", "severity": "high", "title": "加油量超过油箱容积"}


async def _topic_ids(bootstrap: str, topic: str, want: int) -> list[str]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    await consumer.seek_to_beginning(tp)
    seen: list[str] = []
    try:
        async with asyncio.timeout(20):
            while len(seen) < want:
                for batch in (await consumer.getmany(timeout_ms=200)).values():
                    seen += [r.key.decode() for r in batch if r.key]
    finally:
        await consumer.stop()
    return seen


async def _with_store_and_producer(
    redis_url: str, kafka_bootstrap: str, body: Any
) -> None:
    """`body(prefix, store, producer)` with a fresh key prefix, closing both after."""
    prefix = f"test:{uuid.uuid4().hex[:8]}:"
    store = RedisAlertStore(redis_url, prefix=prefix)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await body(prefix, store, producer)
    finally:
        await producer.stop()
        await store.close()


@pytest.mark.timeout(60)
def test_flush_returns_once_everything_handed_over_is_written_through_failing_sends(
    redis_url: str, kafka_bootstrap: str
) -> None:
    topic = f"alerts-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_bootstrap, [topic], 1)

    async def run(prefix: str, store: RedisAlertStore, producer: AIOKafkaProducer) -> None:
        failures = {"left": 2}

        async def send(name: str, key: bytes, value: bytes) -> Any:
            if failures["left"]:  # the broker refusing twice, as in an outage
                failures["left"] -= 1
                raise ConnectionError("broker unreachable")
            return await producer.send(name, value, key=key)

        sinks = AlertSinks(store, send, topic)
        client = aioredis.from_url(redis_url)
        try:
            first = [_alert(n) for n in range(50)]
            second = [_alert(n) for n in range(40, 120)]  # 40-49 again: written once
            await sinks.add(first)
            await sinks.add(second)
            await sinks.flush()
            assert sinks.pending == 0
            entries = await client.xrange(f"{prefix}alerts")
            ids = [orjson.loads(fields[b"alert"])["alert_id"] for _, fields in entries]
            assert ids == [_alert(n)["alert_id"] for n in range(120)]  # once, in order
            for n in (0, 119):
                assert await client.hget(f"{prefix}alert:{_alert(n)['alert_id']}",
                                         "forwarded") == b"1"
            forwarded = await _topic_ids(kafka_bootstrap, topic, 120)
            assert set(forwarded) == {_alert(n)["alert_id"] for n in range(120)}
            assert failures["left"] == 0  # the failing sends were retried, not skipped
            await sinks.flush()  # nothing handed over since: returns at once
            await sinks.stop()
        finally:
            await client.aclose()

    asyncio.run(_with_store_and_producer(redis_url, kafka_bootstrap, run))


@pytest.mark.timeout(60)
def test_a_full_backlog_holds_the_raisers_back_until_the_writer_catches_up(
    redis_url: str, kafka_bootstrap: str
) -> None:
    topic = f"alerts-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_bootstrap, [topic], 1)

    async def run(_prefix: str, store: RedisAlertStore, producer: AIOKafkaProducer) -> None:
        broker_back = asyncio.Event()

        async def send(name: str, key: bytes, value: bytes) -> Any:
            await broker_back.wait()  # the broker away for a while
            return await producer.send(name, value, key=key)

        sinks = AlertSinks(store, send, topic, max_pending=5)
        await sinks.add([_alert(n) for n in range(5)])  # the backlog is full now
        more = asyncio.ensure_future(sinks.add([_alert(5)]))
        await asyncio.sleep(0.3)
        assert not more.done()  # held back while nothing is written
        assert sinks.pending == 5
        broker_back.set()
        await asyncio.wait_for(more, 10)
        await sinks.flush()
        assert sinks.pending == 0
        assert len(set(await _topic_ids(kafka_bootstrap, topic, 6))) == 6
        await sinks.stop()

    asyncio.run(_with_store_and_producer(redis_url, kafka_bootstrap, run))


@pytest.mark.timeout(60)
def test_the_next_batch_reaches_redis_while_the_broker_still_acknowledges_the_last(
    redis_url: str, kafka_bootstrap: str
) -> None:
    """A broker round trip does not hold later alerts back from Redis (what the control
    room and subscribers read); marks and `flush` still wait for the acks."""
    topic = f"alerts-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_bootstrap, [topic], 1)

    async def run(prefix: str, store: RedisAlertStore, producer: AIOKafkaProducer) -> None:
        acks_back = asyncio.Event()

        async def send(name: str, key: bytes, value: bytes) -> Any:
            ack = await producer.send(name, value, key=key)

            async def held() -> Any:  # the broker slow to acknowledge
                await acks_back.wait()
                return await ack

            return asyncio.ensure_future(held())

        sinks = AlertSinks(store, send, topic)
        client = aioredis.from_url(redis_url)
        try:
            await sinks.add([_alert(n) for n in range(10)])
            async with asyncio.timeout(10):
                while await client.xlen(f"{prefix}alerts") < 10:
                    await asyncio.sleep(0.01)
            await sinks.add([_alert(n) for n in range(10, 30)])
            async with asyncio.timeout(10):  # no ack has come back yet
                while await client.xlen(f"{prefix}alerts") < 30:
                    await asyncio.sleep(0.01)
            assert await client.hget(f"{prefix}alert:{_alert(0)['alert_id']}",
                                     "forwarded") is None
            flushed = asyncio.ensure_future(sinks.flush())
            await asyncio.sleep(0)
            assert not flushed.done() and sinks.pending == 30
            acks_back.set()
            await asyncio.wait_for(flushed, 10)
            assert sinks.pending == 0
            for n in (0, 29):
                assert await client.hget(f"{prefix}alert:{_alert(n)['alert_id']}",
                                         "forwarded") == b"1"
            assert set(await _topic_ids(kafka_bootstrap, topic, 30)) == {
                _alert(n)["alert_id"] for n in range(30)}
            await sinks.stop()
        finally:
            await client.aclose()

    asyncio.run(_with_store_and_producer(redis_url, kafka_bootstrap, run))
