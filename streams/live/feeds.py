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
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition


def fingerprint(produced_ms: int, value: bytes) -> str:
    """What identifies one record of a topic: its CreateTime and a hash of its value."""
    return f"{produced_ms}:{hashlib.blake2b(value, digest_size=8).hexdigest()}"

log = logging.getLogger(__name__)

# A fetch answer older than this no longer shows that a partition is read to its end.
FRESH_POLL_MS = 3000
# The fuel and invoice feeds' fetch wait: on-arrival alerts wait up to half of it on a
# quiet topic (the embedded broker, Tansu, does not answer a waiting fetch when a record
# arrives; it looks again after half the wait, then half the rest); ~4% of a core idle.
FEED_FETCH_WAIT_MS = 25
# A fetch's round trip, over its wait on the broker (see `complete_to`).
POLL_MARGIN_MS = 20
FETCH_BYTES = 16 * 1024 * 1024  # over any record the broker takes: a record never stalls us
Handler = Callable[[list[ConsumerRecord[bytes, bytes]]], Awaitable[None]]


class BroadcastFeed:
    def __init__(self, bootstrap: str, topic: str, handler: Handler, lock: asyncio.Lock,
                 fetch_wait_ms: int = 10, **kafka: Any) -> None:
        self.bootstrap = bootstrap
        # How long an idle fetch waits on the broker: new records come back at once
        # whatever it is; it bounds how stale `complete_until` gets on an idle topic (the
        # registry's gates fuel, so it stays short) and costs CPU when short (an idle feed
        # at 10 ms takes ~9% of a core here, at 100 ms ~1%).
        self.fetch_wait_ms = fetch_wait_ms
        self.topic = topic
        self.handler = handler
        self.lock = lock  # held while a partition is rebuilt, so positions stand still
        self.kafka = kafka
        self.positions: dict[int, int] = {}
        self.last_produced: dict[int, int] = {}  # partition -> CreateTime of its last record
        self.last_fp: dict[int, str] = {}  # partition -> fingerprint of its last record
        # Where to begin (a checkpoint's positions, checked); the beginning elsewhere.
        self.start_at: dict[int, int] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._progress = asyncio.Event()
        self.errors = 0  # failed fetches and records that failed alone
        self.up = True
        self.last_error: str | None = None
        # A record that fails on its own: (record, error) -> dead-lettered by the owner
        self.on_failed: Callable[[ConsumerRecord[bytes, bytes], Exception],
                                 Awaitable[None]] | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                    auto_offset_reset="earliest",
                                    fetch_max_wait_ms=self.fetch_wait_ms,
                                    max_partition_fetch_bytes=FETCH_BYTES, **self.kafka)
        await consumer.start()
        parts = consumer.partitions_for_topic(self.topic)
        if not parts:
            await consumer.force_metadata_update()
            parts = consumer.partitions_for_topic(self.topic) or set()
        tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        begin = await consumer.beginning_offsets(tps)
        self.positions = {}
        for tp in tps:
            at = self.start_at.get(tp.partition, 0)
            if at > begin[tp]:
                consumer.seek(tp, at)
            self.positions[tp.partition] = max(at, begin[tp])
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
        """Read the topic for ever. A failing fetch is retried with backoff (counted, the
        feed shows as down meanwhile); a batch whose handling fails is handled again one
        record at a time, and a record that fails alone goes to `on_failed` (the DLQ) with
        the error, so one bad record neither stops the feed nor takes others with it."""
        assert self._consumer is not None
        backoff = 0.1
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=100, max_records=2000)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.errors += 1
                self.up = False
                log.exception("%s feed: fetching failed; retrying in %.1f s", self.topic,
                              backoff)
                self.last_error = f"{type(exc).__name__}: {exc}"
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            backoff = 0.1
            self.up = True
            records = [r for batch in batches.values() for r in batch]
            if records:
                async with self.lock:
                    await self._handle(records)
                    for tp, batch in batches.items():
                        self.positions[tp.partition] = batch[-1].offset + 1
                        self.last_produced[tp.partition] = batch[-1].timestamp
                        self.last_fp[tp.partition] = fingerprint(batch[-1].timestamp,
                                                                 batch[-1].value or b"")
            self._progress.set()

    async def _handle(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        try:
            await self.handler(records)
            return
        except Exception:
            log.exception("%s feed: handling %d records failed; one at a time now",
                          self.topic, len(records))
        for record in records:
            try:
                await self.handler([record])
            except Exception as exc:
                self.errors += 1
                log.exception("%s[%d]@%d failed", self.topic, record.partition, record.offset)
                if self.on_failed is not None:
                    await self.on_failed(record, exc)

    def alive(self) -> bool:
        """Started, its reader running, and its last fetch succeeded."""
        return self._task is not None and not self._task.done() and self.up

    def at_end(self) -> bool:
        """Everything the broker has told us about has been handled, and it told us
        lately (an old answer no longer shows that nothing more is there)."""
        if self._consumer is None:
            return False
        now_ms = time.time() * 1000
        for p, pos in self.positions.items():
            tp = TopicPartition(self.topic, p)
            high = self._consumer.highwater(tp)
            if high is None or pos < high:
                return False
            polled = self._consumer.last_poll_timestamp(tp)
            if not polled or now_ms - polled > FRESH_POLL_MS:
                return False
        return True

    def received_ms(self, records: list[ConsumerRecord[bytes, bytes]]) -> float:
        """When the fetch answers that brought `records` were taken in (wall ms), or a
        later time: each partition's last answer, which is at or after its records'."""
        if self._consumer is None:
            return time.time() * 1000
        parts = {r.partition for r in records}
        stamps = [self._consumer.last_poll_timestamp(TopicPartition(self.topic, p))
                  for p in parts]
        if not stamps or not all(stamps):
            return time.time() * 1000
        return float(max(stamps))

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

    async def complete_to(self, produced_ms: int, arrived_ms: float | None = None,
                          warn_every_s: float = 5.0) -> float:
        """Wait until every record produced (CreateTime) up to `produced_ms` is handled,
        and, given `arrived_ms` (wall ms), every record the broker had by then; however
        long that takes (a warning every `warn_every_s`); returns the seconds waited.

        The second is exact whatever the clocks and the load: aiokafka asks for a partition
        again only once it has processed the previous answer, so the answer after one
        processed at or after `arrived_ms` was asked for after it. An answer's own time is
        when it was processed, which a loaded worker may do long after the broker wrote
        it: that alone let a fuel transaction miss a revocation the broker had.
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        warn_at = started + warn_every_s
        # `complete_until` is when a fetch answer came back; the broker looked at its log
        # up to a fetch wait and a round trip before: a record appended just before
        # `produced_ms` shows only in an answer this much later.
        wanted = produced_ms + self.fetch_wait_ms + POLL_MARGIN_MS
        first: dict[int, float] = {}  # partition -> its first answer at or after arrival
        # The background fetcher moves both every poll (about 10 ms), sooner than
        # `getmany` returns to us when the topic is idle: check often.
        while self.complete_until() < wanted or (
                arrived_ms is not None and not self._read_since(arrived_ms, first)):
            if loop.time() > warn_at:
                log.warning("%s feed: not complete to %d after %.0f s; still waiting",
                            self.topic, produced_ms, loop.time() - started)
                warn_at += warn_every_s
            await asyncio.sleep(0.003)
        return loop.time() - started

    def _read_since(self, arrived_ms: float, first: dict[int, float]) -> bool:
        """Every partition handled to the end an answer asked for after `arrived_ms`
        showed (`first` keeps each partition's first answer at or after it)."""
        if self._consumer is None:
            return False
        done = True
        for p, pos in self.positions.items():
            tp = TopicPartition(self.topic, p)
            polled = self._consumer.last_poll_timestamp(tp)
            if not polled or polled < arrived_ms:
                done = False
                continue
            if polled <= first.setdefault(p, polled):
                done = False  # this answer may have been asked for before the arrival
                continue
            high = self._consumer.highwater(tp)
            if high is None or pos < high:
                done = False
        return done

    async def caught_up(self, warn_every_s: float = 30.0) -> float:
        """Wait until every record on the topic now has been handled, however long that
        takes (a warning every `warn_every_s`); returns the seconds waited."""
        assert self._consumer is not None
        loop = asyncio.get_running_loop()
        started = loop.time()
        marks = await watermarks(self.bootstrap, list(self._consumer.assignment()), **self.kafka)
        ends = {tp: high for tp, (_low, high) in marks.items()}
        warn_at = started + warn_every_s
        while any(self.positions.get(tp.partition, 0) < end for tp, end in ends.items()):
            self._progress.clear()
            if loop.time() > warn_at:
                log.warning("%s feed: not caught up after %.0f s; still waiting", self.topic,
                            loop.time() - started)
                warn_at += warn_every_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), 0.5)
        return loop.time() - started


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
    finally:
        await consumer.stop()
    ends = await watermarks(bootstrap, tps, **kafka)
    return out, {tp: high for tp, (_low, high) in ends.items()}


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


async def watermarks(
    bootstrap: str, tps: list[TopicPartition], **kafka: Any
) -> dict[TopicPartition, tuple[int, int]]:
    """(first offset still on the broker, end offset) of each partition.

    The end is the high watermark of a fetch response, not ListOffsets: Tansu 0.6 answers
    ListOffsets(latest) with the base offset of the last batch plus one.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest", max_partition_fetch_bytes=1,
                                fetch_max_wait_ms=10, **kafka)
    await consumer.start()
    try:
        starts = await consumer.beginning_offsets(tps)
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, starts[tp])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        high: dict[TopicPartition, int] = {}
        while len(high) < len(tps) and loop.time() < deadline:
            todo = [tp for tp in tps if tp not in high]
            await consumer.getmany(*todo, timeout_ms=200, max_records=1)
            for tp in todo:
                known = consumer.highwater(tp)
                if known is not None:
                    high[tp] = int(known)
                    consumer.pause(tp)
        missing = [tp for tp in tps if tp not in high]
        if missing:
            raise TimeoutError(f"no high watermark for {missing} after 30 s")
        return {tp: (int(starts[tp]), high[tp]) for tp in tps}
    finally:
        await consumer.stop()


async def fetch_at(
    bootstrap: str, offsets: dict[TopicPartition, int], **kafka: Any
) -> dict[TopicPartition, tuple[int, bytes] | None]:
    """(CreateTime, value) of the record at each given offset (each below its partition's
    end), None where there is none."""
    found: dict[TopicPartition, tuple[int, bytes] | None] = {tp: None for tp in offsets}
    if not offsets:
        return found
    ranges = {tp: (off, off + 1) for tp, off in offsets.items()}
    records = await read_ranges(bootstrap, ranges, **kafka)
    for tp, batch in records.items():
        for offset, value, produced in batch:
            if offset == offsets[tp]:
                found[tp] = (produced, value)
    return found
