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
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import for_code
from aiokafka.protocol.fetch import FetchRequest


def fingerprint(produced_ms: int, value: bytes) -> str:
    """What identifies one record of a topic: its CreateTime and a hash of its value."""
    return f"{produced_ms}:{hashlib.blake2b(value, digest_size=8).hexdigest()}"

log = logging.getLogger(__name__)

# A fetch answer older than this no longer shows that a partition is read to its end.
FRESH_POLL_MS = 3000
# The broadcast feeds' fetch wait: on-arrival alerts wait up to half of it on a quiet
# topic (the embedded broker, Tansu, does not answer a waiting fetch when a record
# arrives; it looks again after half the wait, then half the rest). An idle feed at 25 ms
# costs ~4.5 % of a core here and as much of the broker's (at 10 ms ~8.5 %, at 100 ms ~2 %).
FEED_FETCH_WAIT_MS = 25
# How long a probe of the broker's ends waits there (see `BroadcastFeed.ends`).
PROBE_WAIT_MS = 1
FETCH_BYTES = 16 * 1024 * 1024  # over any record the broker takes: a record never stalls us
Handler = Callable[[list[ConsumerRecord[bytes, bytes]]], Awaitable[None]]


class BroadcastFeed:
    def __init__(self, bootstrap: str, topic: str, handler: Handler, lock: asyncio.Lock,
                 fetch_wait_ms: int = FEED_FETCH_WAIT_MS, **kafka: Any) -> None:
        self.bootstrap = bootstrap
        # How long an idle fetch waits on the broker: new records come back at once
        # whatever it is (on Apache Kafka); it bounds how stale `complete_until` gets on an
        # idle topic, and costs CPU when short.
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
        self._probe: AIOKafkaClient | None = None  # asks for the ends (see `ends`)
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
        if self._probe is not None:
            await self._probe.close()

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

    async def ends(self) -> dict[int, int]:
        """The end offset (high watermark) the broker has now for each partition.

        A fetch that takes no records, on a connection of its own (the reader's waiting
        fetch would queue it). It waits 1 ms on the broker: Tansu answers a fetch with no
        wait with no partitions at all, and Apache Kafka answers at once either way.
        """
        if self._probe is None:
            self._probe = AIOKafkaClient(bootstrap_servers=self.bootstrap, **self.kafka)
            await self._probe.bootstrap()
        client = self._probe
        by_node: dict[int, list[tuple[int, int, int]]] = {}
        for p, pos in self.positions.items():
            node = client.cluster.leader_for_partition(TopicPartition(self.topic, p))
            if node is None or node < 0:
                await client.force_metadata_update()
                raise LookupError(f"{self.topic}[{p}] has no leader yet")
            by_node.setdefault(node, []).append((p, pos, 0))
        found: dict[int, int] = {}
        for node, parts in by_node.items():
            response = await client.send(node, FetchRequest(PROBE_WAIT_MS, 0, 0, 0,
                                                            [(self.topic, parts)]))
            for _topic, partitions in response.topics:
                for p, error_code, high, *_rest in partitions:
                    if error_code:
                        raise for_code(error_code)(f"{self.topic}[{p}]")
                    found[p] = high
        missing = sorted(set(self.positions) - set(found))
        if missing:
            raise LookupError(f"{self.topic}: no end offset for partitions {missing}")
        return found

    async def complete_to(self, produced_ms: int, grace_ms: float,
                          warn_every_s: float = 5.0) -> float:
        """Wait until every record the broker had when this worker's clock passed
        `produced_ms` + `grace_ms` is handled, and every record it had when this was called
        (so, given the CreateTime of a record read from another topic, every record the
        broker had before that one); however long that takes (a warning every
        `warn_every_s`); returns the seconds waited.

        Exact, whatever the load: the broker's ends are asked for after both moments, and
        the feed's positions must reach them. (An answer of the feed's own reader does not
        show when the broker read its log: a loaded worker processes answers late, and a
        waiting fetch may have read the log long before it answered.)
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        warn_at = started + warn_every_s

        def warn(what: str) -> None:
            nonlocal warn_at
            if loop.time() > warn_at:
                log.warning("%s feed: not complete to %d after %.0f s (%s); still waiting",
                            self.topic, produced_ms, loop.time() - started, what)
                warn_at += warn_every_s

        while (ahead_ms := produced_ms + grace_ms - time.time() * 1000) > 0:
            warn("a record stamped ahead of this clock")
            await asyncio.sleep(min(ahead_ms / 1000, warn_every_s))
        backoff = 0.05
        while True:
            try:
                ends = await self.ends()
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                warn(f"asking the broker for its ends failed: {self.last_error}")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
        while any(self.positions.get(p, 0) < end for p, end in ends.items()):
            warn("reading to the ends the broker gave")
            await asyncio.sleep(0.002)
        return loop.time() - started

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
