"""Readers of Kafka outside the consumer group.

- `BroadcastFeed`: every worker reads a whole topic (all partitions). The registry is
  broadcast (reference facts, time-versioned), and so is fuel: it is keyed by card, a
  thousand times rarer than GPS, and reading it everywhere lets each worker re-key it to
  the vehicle locally, time-aligned with that vehicle's GPS, with no repartition hop.
- `read_ranges`: records of given partitions between given offsets, used to rebuild a
  partition's state when the worker is given it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

log = logging.getLogger(__name__)

FETCH_BYTES = 16 * 1024 * 1024  # over any record the broker takes: a record never stalls us
Handler = Callable[[list[ConsumerRecord[bytes, bytes]]], Awaitable[None]]


class BroadcastFeed:
    def __init__(self, bootstrap: str, topic: str, handler: Handler, lock: asyncio.Lock,
                 **kafka: Any) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.handler = handler
        self.lock = lock  # held while a partition is rebuilt, so positions stand still
        self.kafka = kafka
        self.positions: dict[int, int] = {}
        self.last_produced: dict[int, int] = {}  # partition -> CreateTime of its last record
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._progress = asyncio.Event()

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                    auto_offset_reset="earliest", fetch_max_wait_ms=10,
                                    max_partition_fetch_bytes=FETCH_BYTES, **self.kafka)
        await consumer.start()
        parts = consumer.partitions_for_topic(self.topic)
        if not parts:
            await consumer.force_metadata_update()
            parts = consumer.partitions_for_topic(self.topic) or set()
        tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        self.positions = {tp.partition: 0 for tp in tps}
        self._consumer = consumer
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            batches = await self._consumer.getmany(timeout_ms=100, max_records=2000)
            records = [r for batch in batches.values() for r in batch]
            if records:
                async with self.lock:
                    try:
                        await self.handler(records)
                    except Exception:  # one bad batch never stops the feed
                        log.exception("%s: handling %d records failed", self.topic,
                                      len(records))
                    for tp, batch in batches.items():
                        self.positions[tp.partition] = batch[-1].offset + 1
                        self.last_produced[tp.partition] = batch[-1].timestamp
            self._progress.set()

    def at_end(self) -> bool:
        """Everything the broker has told us about has been handled."""
        if self._consumer is None:
            return False
        for p, pos in self.positions.items():
            high = self._consumer.highwater(TopicPartition(self.topic, p))
            if high is None or pos < high:
                return False
        return True

    def complete_until(self) -> float:
        """A CreateTime (ms) up to which every record of the topic has been handled."""
        if self._consumer is None:
            return 0.0
        until = float("inf")
        for p, pos in self.positions.items():
            tp = TopicPartition(self.topic, p)
            high = self._consumer.highwater(tp)
            if high is not None and pos >= high:
                polled = self._consumer.last_poll_timestamp(tp)
                until = min(until, float(polled) if polled else 0.0)
            else:
                # records stamped in the same millisecond as the last may still be unread
                until = min(until, float(self.last_produced.get(p, 0)) - 1)
        return until

    async def complete_to(self, produced_ms: int, timeout_s: float = 5.0) -> None:
        """Wait until every record produced (CreateTime) up to `produced_ms` is handled."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        # The background fetcher moves `complete_until` every poll (about 10 ms), sooner
        # than `getmany` returns to us when the topic is idle: check it often.
        while self.complete_until() < produced_ms:
            if loop.time() > deadline:
                log.warning("%s feed: not complete to %d after %.0f s", self.topic,
                            produced_ms, timeout_s)
                return
            await asyncio.sleep(0.003)

    async def caught_up(self, timeout_s: float = 30.0) -> None:
        """Wait until every record on the topic now has been handled."""
        assert self._consumer is not None
        ends = await self._consumer.end_offsets(list(self._consumer.assignment()))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while any(self.positions.get(tp.partition, 0) < end for tp, end in ends.items()):
            self._progress.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                log.warning("%s feed: not caught up after %.0f s", self.topic, timeout_s)
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), min(remaining, 0.5))


async def group_positions(
    bootstrap: str, group_id: str, tps: list[TopicPartition], **kafka: Any
) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    """The consumer group's committed positions (0 where it has none), and the ends."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id,
                                enable_auto_commit=False, **kafka)
    await consumer.start()
    try:
        out = {}
        for tp in tps:
            committed = await consumer.committed(tp)
            out[tp] = committed if committed is not None and committed >= 0 else 0
        ends = await consumer.end_offsets(tps)
        return out, dict(ends)
    finally:
        await consumer.stop()


async def read_ranges(
    bootstrap: str, ranges: dict[TopicPartition, tuple[int, int]], **kafka: Any
) -> dict[TopicPartition, list[tuple[int, bytes, int]]]:
    """(offset, value, CreateTime) of records with start <= offset < end of each partition."""
    out: dict[TopicPartition, list[tuple[int, bytes, int]]] = {tp: [] for tp in ranges}
    todo = {tp for tp, (start, end) in ranges.items() if end > start}
    if not todo:
        return out
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest",
                                max_partition_fetch_bytes=FETCH_BYTES, **kafka)
    await consumer.start()
    try:
        consumer.assign(list(todo))
        for tp in todo:
            consumer.seek(tp, ranges[tp][0])
        while todo:
            batches = await consumer.getmany(*todo, timeout_ms=500, max_records=10_000)
            for tp, batch in batches.items():
                end = ranges[tp][1]
                out[tp] += [(r.offset, r.value or b"", r.timestamp) for r in batch
                            if r.offset < end]
            for tp in list(todo):
                if await consumer.position(tp) >= ranges[tp][1]:
                    todo.discard(tp)
        return out
    finally:
        await consumer.stop()
