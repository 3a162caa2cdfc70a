"""Broadcast feeds on the real embedded broker: a record whose handling fails goes to the
dead-letter callback alone (the rest of its batch is handled), a failing fetch is retried
and shown as down meanwhile, and watermarks come from fetch responses."""

from __future__ import annotations

import asyncio
import time
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


@pytest.mark.timeout(120)
def test_ends_are_the_brokers_ends_now(kafka_bootstrap: str) -> None:
    """The probe's ends count every acknowledged record, batches of many included (Tansu's
    ListOffsets would give a batch's base offset + 1)."""
    topic = f"feed-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_bootstrap, [topic], 2)

    async def run() -> None:
        async def handler(records: list[ConsumerRecord[bytes, bytes]]) -> None:
            return None

        feed = BroadcastFeed(kafka_bootstrap, topic, handler, asyncio.Lock())
        await feed.start()
        try:
            assert await feed.ends() == {0: 0, 1: 0}
            await produce(kafka_bootstrap, topic, [b"%d" % i for i in range(7)])
            assert await feed.ends() == {0: 7, 1: 0}
        finally:
            await feed.stop()

    asyncio.run(run())


@pytest.mark.timeout(120)
def test_the_hold_ends_only_once_what_the_broker_had_is_handled(kafka_bootstrap: str) -> None:
    """A record acknowledged before `complete_to` is called has been handled when it
    returns: every time, with the feed's reader in any phase of its waiting fetch. And a
    CreateTime ahead of the clock holds until the clock passes it plus the grace."""
    topic = f"feed-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_bootstrap, [topic], 2)

    async def run() -> None:
        handled: list[bytes] = []

        async def handler(records: list[ConsumerRecord[bytes, bytes]]) -> None:
            await asyncio.sleep(0.005)  # a registry batch takes a moment to apply
            handled.extend(r.value or b"" for r in records)

        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        feed = BroadcastFeed(kafka_bootstrap, topic, handler, asyncio.Lock())
        await feed.start()
        try:
            for i in range(40):
                value = b"fact-%d" % i
                await (await producer.send(topic, value, partition=i % 2))
                await feed.complete_to(int(time.time() * 1000) - 60_000, grace_ms=0)
                assert value in handled, (i, handled[-3:])
            loop = asyncio.get_running_loop()
            started = loop.time()
            ahead = int(time.time() * 1000) + 300
            await feed.complete_to(ahead, grace_ms=200)
            assert time.time() * 1000 >= ahead + 200
            assert loop.time() - started >= 0.45
        finally:
            await feed.stop()
            await producer.stop()

    asyncio.run(run())


def test_the_registry_grace_is_a_setting() -> None:
    from streams.settings import load_settings

    assert load_settings(environ={}).registry_grace_ms == 20  # the README's promise
    assert load_settings(environ={"SUNLIGHT_REGISTRY_GRACE_MS": "5"}).registry_grace_ms == 5
    with pytest.raises(Exception, match="registry_grace_ms"):
        load_settings(environ={"SUNLIGHT_REGISTRY_GRACE_MS": "-1"})
