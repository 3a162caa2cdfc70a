"""Broadcast feeds on the real embedded broker: a record whose handling fails goes to the
dead-letter callback alone (the rest of its batch is handled), a failing fetch is retried
and shown as down meanwhile, and watermarks come from fetch responses."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition

from streams.live.feeds import BroadcastFeed, watermarks
from streams.tools.embedded import create_topics

pytestmark = pytest.mark.integration


async def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        acks = [await producer.send(topic, v, partition=0) for v in values]
        await asyncio.gather(*acks)
    finally:
        await producer.stop()


async def until(check: Any, timeout_s: float = 30.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not check():
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


@pytest.mark.timeout(120)
def test_a_failing_record_is_dead_lettered_alone(kafka_bootstrap: str) -> None:
    topic = f"feed-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_bootstrap, [topic], 2)

    async def run() -> None:
        await produce(kafka_bootstrap, topic, [b"a", b"poison", b"c"])
        handled: list[bytes] = []
        failed: list[tuple[int, str]] = []

        async def handler(records: list[ConsumerRecord[bytes, bytes]]) -> None:
            if any(r.value == b"poison" for r in records):
                raise ValueError("cannot handle poison")
            handled.extend(r.value or b"" for r in records)

        async def on_failed(record: ConsumerRecord[bytes, bytes], exc: Exception) -> None:
            failed.append((record.offset, str(exc)))

        feed = BroadcastFeed(kafka_bootstrap, topic, handler, asyncio.Lock())
        feed.on_failed = on_failed
        await feed.start()
        try:
            assert await until(lambda: feed.positions.get(0) == 3)
            assert handled == [b"a", b"c"]
            assert failed == [(1, "cannot handle poison")]
            assert feed.alive() and feed.errors == 1
        finally:
            await feed.stop()

    asyncio.run(run())


@pytest.mark.timeout(120)
def test_a_failing_fetch_is_retried_and_shows_as_down(kafka_bootstrap: str) -> None:
    topic = f"feed-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_bootstrap, [topic], 1)

    async def run() -> None:
        got: list[bytes] = []

        async def handler(records: list[ConsumerRecord[bytes, bytes]]) -> None:
            got.extend(r.value or b"" for r in records)

        feed = BroadcastFeed(kafka_bootstrap, topic, handler, asyncio.Lock())
        await feed.start()
        try:
            consumer = feed._consumer
            assert consumer is not None
            real = consumer.getmany
            failures = {"left": 3}
            seen_down = []

            async def flaky(*args: Any, **kw: Any) -> Any:
                seen_down.append(feed.up)
                if failures["left"]:
                    failures["left"] -= 1
                    raise ConnectionError("broker unreachable")
                return await real(*args, **kw)

            consumer.getmany = flaky  # type: ignore[method-assign]
            await produce(kafka_bootstrap, topic, [b"x"])
            assert await until(lambda: got == [b"x"])
            assert feed.errors == 3 and False in seen_down and feed.alive()
            assert feed.last_error == "ConnectionError: broker unreachable"
        finally:
            await feed.stop()

    asyncio.run(run())


@pytest.mark.timeout(60)
def test_watermarks_count_every_record(kafka_bootstrap: str) -> None:
    """Tansu answers ListOffsets(latest) with the last batch's base offset + 1; the feed
    reads the high watermark of a fetch instead."""
    topic = f"feed-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_bootstrap, [topic], 2)

    async def run() -> None:
        await produce(kafka_bootstrap, topic, [b"%d" % i for i in range(10)])
        marks = await watermarks(kafka_bootstrap, [TopicPartition(topic, 0),
                                                   TopicPartition(topic, 1)])
        assert marks == {TopicPartition(topic, 0): (0, 10), TopicPartition(topic, 1): (0, 0)}

    asyncio.run(run())
