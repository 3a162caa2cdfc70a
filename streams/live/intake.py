"""The consumer group's records reach the agents a fetched batch at a time.

Faust hands every Kafka record to its agents on its own: a `Message` and an `Event`,
flow-control and producer-buffer waits, two tasks (`wait_first`) in the fetch loop, a
queue hop, four sensor calls and an ack into an interval list. That costs about 190 µs of
CPU a record here: one event a record (how GPS gateways publish) capped a worker at ~5k
events/s, whatever the agent did.

`GroupIntake` keeps Faust's consumer group (membership, rebalances, the flow control and
generation that go with them, the commit loop) and its agents, and replaces only the
per-record delivery: Faust's fetch loop (`Consumer._drain_messages`) puts each fetched
partition batch, whole, on an in-memory channel, and the agent reading that channel
handles it in chunks. Offsets stay exact:

- a record counts as processed once the agent has handled it and sent what it produced
  (`done`); nothing is ever acked before that;
- Faust's commit loop asks `committable`, which is `done` capped by the caller's rule
  (for the engine topics, the last durable checkpoint: see `streams/app.py`);
- a batch fetched before a rebalance (another generation, or flow stopped) is dropped
  unprocessed, and Faust's `wait_empty` waits for the batch being handled (each batch is
  in its unacked set until handled), so a revoke commits after it, never in the middle.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any, cast

import faust
from aiokafka import ConsumerRecord
from faust.types import TP
from mode.utils.futures import notify

log = logging.getLogger(__name__)

Records = list[ConsumerRecord[bytes, bytes]]
# (topic partition, records) -> handled: what they produced is sent
Handler = Callable[[TP, Records], Awaitable[None]]
# the committable offsets (next offset to read) of these partitions
Committable = Callable[[Iterable[TP]], dict[TP, int]]


class Batch:
    """Records of one partition from one fetch. Faust's `wait_empty` sees it as one unacked
    message (weakly referenced, with `acked` and `refcount`) until it is handled."""

    __slots__ = ("tp", "records", "generation", "acked", "refcount", "__weakref__")

    def __init__(self, tp: TP, records: Records, generation: int) -> None:
        self.tp = tp
        self.records = records
        self.generation = generation
        self.acked = False
        self.refcount = 1

    def __repr__(self) -> str:
        first, last = self.records[0].offset, self.records[-1].offset
        return f"<Batch {self.tp.topic}[{self.tp.partition}]@{first}..{last}>"


class GroupIntake:
    """Routes fetched batches by topic to channels; records what was handled."""

    def __init__(self, app: faust.App, chunk: int = 256) -> None:
        self.app = app
        self.chunk = chunk  # records handled between two returns to the event loop
        self.routes: dict[str, faust.ChannelT[Any]] = {}
        self.done: dict[TP, int] = {}  # next offset after the last record handled
        self.batches = 0
        self.records = 0

    def route(self, topics: Iterable[str], maxsize: int = 64) -> faust.ChannelT[Any]:
        """A channel that gets the batches of these topics (an agent reads it)."""
        channel = self.app.channel(maxsize=maxsize)
        for topic in topics:
            self.routes[topic] = channel
        return channel

    def attach(self, consumer: Any, cap: Callable[[TP, int], int | None]) -> None:
        """Take over delivery and commits of Faust's consumer. `cap(tp, offset)` gives
        the offset the group may commit (None: nothing yet) for a handled offset."""

        def pending(topics: Any = None) -> Iterable[TP]:
            return [tp for tp in self.done
                    if topics is None or tp in topics or tp.topic in topics]

        def committable(tps: Iterable[TP]) -> dict[TP, int]:
            committed: Mapping[TP, int | None] = consumer._committed_offset
            out: dict[TP, int] = {}
            for tp in tps:
                handled = self.done.get(tp)
                if handled is None:
                    continue
                offset = cap(tp, handled)
                if offset is None:
                    continue
                done = committed.get(tp)
                if done is not None and offset <= done:
                    continue
                out[tp] = offset
            return out

        consumer._drain_messages = lambda fetcher: self._drain(consumer, fetcher)
        consumer._filter_tps_with_pending_acks = pending
        consumer._filter_committable_offsets = committable
        flow = self.app.flow_control
        clear = flow.clear

        def clear_and_forget() -> None:
            """A rebalance clears the agents' queues: the batches dropped there will never
            be handled, so they are no longer waited for (`wait_empty` would wait for ever,
            and the revoke with it)."""
            dropped = [item for queue in list(flow._queues) for item in list(queue._queue)
                       if isinstance(item, Batch)]
            clear()
            for item in dropped:
                item.acked = True
                consumer._unacked_messages.discard(item)
            if dropped:
                notify(consumer._waiting_for_ack)

        flow.clear = clear_and_forget

    def forget(self, tps: Iterable[TP]) -> None:
        """Partitions revoked: what was handled there is not ours to commit any more."""
        for tp in tps:
            self.done.pop(tp, None)

    async def _drain(self, consumer: Any, fetcher: Any) -> None:
        """Faust's fetch loop, a partition batch at a time (it runs as Fetcher._fetcher)."""
        consumer_stopped = consumer._stopped.is_set
        fetcher_stopped = fetcher._stopped.is_set
        read_offset = consumer._read_offset
        unacked = consumer._unacked_messages
        routes = self.routes
        app = self.app
        try:
            while not (consumer_stopped() or fetcher_stopped()):
                records, active = await consumer._wait_next_records(1.0)
                if records is None or consumer.should_stop:
                    continue
                generation = app.consumer_generation_id
                for tp, batch in records.items():
                    if not consumer.flow_active or app.consumer_generation_id != generation:
                        break
                    if not (active is None or tp in active
                            or tp in consumer._buffered_partitions):
                        continue
                    channel = routes.get(tp.topic)
                    if channel is None or not batch:
                        continue
                    start = read_offset[tp]
                    if start is not None and batch[0].offset < start:
                        batch = [r for r in batch if r.offset >= start]
                        if not batch:
                            continue
                    item = Batch(TP(tp.topic, tp.partition), batch, generation)
                    if await self._put(channel, item):
                        read_offset[tp] = batch[-1].offset + 1
                        unacked.add(item)
                await asyncio.sleep(0)
        except consumer.consumer_stopped_errors:
            if consumer.transport.app.should_stop:
                log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if consumer.transport.app.should_stop:
                return
            raise

    async def _put(self, channel: faust.ChannelT[Any], batch: Batch) -> bool:
        """Queue a batch for the channel's agent, waiting while its queue is full; False
        when a rebalance came first (the batch is stale: the group seeks back for it).

        Not `Channel.put`: a rebalance clears the queues (Faust's flow control) without
        waking a put waiting on a full one, which would then wait for ever."""
        while True:
            if not self.current(batch):
                return False
            queues = [sub.queue for sub in channel._subscribers]  # type: ignore[attr-defined]
            if queues and not any(q.full() for q in queues):
                for q in queues:
                    q.put_nowait(batch)
                return True
            await asyncio.sleep(0.002)  # the agent is busy, or not iterating yet

    def current(self, batch: Batch) -> bool:
        """Whether a batch may still be handled (no rebalance since it was fetched)."""
        app = self.app
        consumer: Any = app.consumer
        return (batch.generation == app.consumer_generation_id
                and app.flow_control.is_active() and bool(consumer.flow_active))

    async def handle(self, stream: faust.StreamT[Any], handler: Handler) -> None:
        """The body of an agent over a channel of `route`: each batch, a chunk of records
        at a time, to `handler`; each chunk counts as handled once `handler` returns."""
        consumer: Any = self.app.consumer
        # Faust's livelock check reads when a partition's stream last took an event in
        inbound = self.app.monitor.stream_inbound_time
        async for batch in cast(AsyncIterator[Batch], stream):
            try:
                records, n, tp = batch.records, self.chunk, batch.tp
                for i in range(0, len(records), n):
                    if not self.current(batch):
                        break
                    inbound[tp] = time.monotonic()
                    chunk = records[i:i + n] if len(records) > n else records
                    try:
                        await handler(tp, chunk)
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        # Handlers deal with each record's failure themselves; one that
                        # fails as a whole would leave its records behind while later
                        # batches move `done` past them. Stop the worker instead: the next
                        # start resumes from the checkpoint and commits, which cover only
                        # what was handled, so nothing is skipped.
                        log.critical("%s[%d]: the handler failed on a chunk from offset %d; "
                                     "stopping the worker so that nothing is skipped",
                                     tp.topic, tp.partition, chunk[0].offset, exc_info=True)
                        os.kill(os.getpid(), signal.SIGTERM)
                        raise
                    if batch.generation == self.app.consumer_generation_id:
                        self.done[tp] = chunk[-1].offset + 1
                    self.records += len(chunk)
                    # A chunk may await nothing: let the fuel feed, the alert writer and
                    # the ticker in between, or a backlog holds them back for seconds.
                    await asyncio.sleep(0)
                self.batches += 1
            finally:
                batch.acked = True
                consumer._unacked_messages.discard(batch)
                notify(consumer._waiting_for_ack)
