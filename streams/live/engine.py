"""The live engine of one worker: the partitions it holds, the shared registry, the feeds
of broadcast topics (registry, fuel), and the sinks.

State is rebuilt, not checkpointed: when the worker is given partition p it reads p's
input up to the consumer group's committed position (and the broadcast topics up to where
its feeds stand) and folds it in — alerts that come out again are deduplicated by id in
Redis — then carries on with what the group delivers. See README, "State and recovery".
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiokafka import ConsumerRecord, TopicPartition

from detectors.calendar import WorkCalendar
from detectors.config import EngineConfig
from detectors.engine import Engine
from detectors.events import Event, Rejected, decode_record
from detectors.refuel import fuel_key
from detectors.registry import Registry
from detectors.timeutil import Zone
from sinks.alert_sinks import AlertSinks
from sinks.live_hooks import LiveHooks
from sinks.metrics import Metrics
from streams.live import state_codec
from streams.live.checkpoint import (
    FORMAT_VERSION,
    Checkpointer,
    KafkaChangelog,
    LocalStore,
    Meta,
    Position,
    RegistryRow,
    StateRow,
    fingerprint,
    restore_registry,
)
from streams.live.feeds import BroadcastFeed, group_positions, read_ranges
from streams.live.partition import CLOCK_KINDS, Outcome, PartitionEngine, belongs, routes
from streams.live.recovery import check_positions
from streams.settings import Settings
from streams.topics import ENGINE_TOPICS, INPUT_TOPICS, max_bytes, partition_for

log = logging.getLogger(__name__)

# Sends a record and returns an awaitable that completes when the broker acknowledged it.
Send = Callable[[str, bytes, bytes], Awaitable[Awaitable[Any]]]
# (short topic, partition, folded offset, CreateTime of its last record) -> complete until
GroupHorizon = Callable[[str, int, int, int], float]
SOURCES = (*ENGINE_TOPICS, "fuel", "deaths", "invoices")
# A record stamped (CreateTime) this long before a poll may still be on its way to the log.
PRODUCE_MARGIN_MS = 2000
DLQ_RAW_LIMIT = 64 * 1024
# Keys a checkpoint encodes between two turns of the event loop (~7 us a vehicle: ~3 ms).
CUT_CHUNK_KEYS = 500
MAX_FETCH_BYTES = 16 * 1024 * 1024  # a DLQ record must itself fit in a Kafka message


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def encode_state(state: Any) -> bytes:
    return state_codec.encode(state)


def decode_state(raw: bytes) -> Any:
    return state_codec.decode(raw)


async def _no_flush() -> None:
    return None


def dlq_record(
    source_topic: str, partition: int, offset: int, exc: Rejected, raw: bytes
) -> dict[str, Any]:
    """The dead letter: where it came from, why, and the original bytes (or, for a record
    too large to carry, its first 64 KiB, its size and its SHA-256)."""
    record: dict[str, Any] = {
        "source_topic": source_topic,
        "partition": partition,
        "offset": offset,
        "reason": str(exc),
        "reason_class": exc.reason,
        "raw": raw[:DLQ_RAW_LIMIT].decode("utf-8", errors="backslashreplace"),
    }
    if len(raw) > DLQ_RAW_LIMIT:
        record["raw_truncated"] = True
        record["raw_bytes"] = len(raw)
        record["raw_sha256"] = hashlib.sha256(raw).hexdigest()
    return record


class LiveEngine:
    def __init__(
        self,
        settings: Settings,
        config: EngineConfig,
        calendar: WorkCalendar,
        sinks: AlertSinks,
        send: Send,
        metrics: Metrics,
        kafka: dict[str, Any] | None = None,
        flush: Callable[[], Awaitable[Any]] = _no_flush,
    ) -> None:
        self.settings = settings
        self.config = config
        self.calendar = calendar
        self.sinks = sinks
        self.send = send
        self.metrics = metrics
        self.kafka = kafka or {}
        self.zone = Zone(config.zone)
        self.clock_end_ms = self.zone.parse(settings.clock_end) if settings.clock_end else None
        self.registry = Registry()
        self.router = self.new_engine()
        self.parts: dict[int, PartitionEngine] = {}
        self._building: dict[int, asyncio.Task[PartitionEngine]] = {}
        self.fuel_lock = asyncio.Lock()
        self.registry_lock = asyncio.Lock()
        boot = settings.kafka_bootstrap
        self.registry_feed = BroadcastFeed(boot, settings.topic("registry"), self._on_registry,
                                           self.registry_lock, **self.kafka)
        self.fuel_feed = BroadcastFeed(boot, settings.topic("fuel"), self._on_fuel,
                                       self.fuel_lock, **self.kafka)
        # Invoice uploads are broadcast too: each belongs to its invoice and its project,
        # and a repartition hop would lag it behind its project's clock (see feeds.py).
        self.invoice_feed = BroadcastFeed(boot, settings.topic("invoices"), self._on_invoices,
                                          self.fuel_lock, **self.kafka)
        self.group_horizon: GroupHorizon = lambda _t, _p, _o, _c: float("inf")
        self.group_behind: Callable[[str, int, int], bool] = lambda _t, _p, _o: False
        self.group_highwater: Callable[[str, int], int | None] = lambda _t, _p: None
        self.flush = flush
        self.checkpointer: Checkpointer | None = None
        if settings.checkpoint_interval_s > 0:
            changelog = (KafkaChangelog(boot, settings.topic("state"), settings.app_id,
                                        **self.kafka)
                         if settings.checkpoint_kafka else None)
            self.checkpointer = Checkpointer(
                LocalStore(settings.state_path / "state.sqlite"), changelog)
        for feed in self.feeds():
            feed.on_failed = self._feed_failed
        self.checkpoint_lock = asyncio.Lock()
        self.registry_dirty = False
        # (short topic, partition) -> next offset a durable checkpoint covers: the group
        # never commits past it
        self.commit_cap: dict[tuple[str, int], int] = {}
        self.hooks: LiveHooks | None = None  # positions and clocks (sinks/live_hooks.py)

    def new_engine(self) -> Engine:
        engine = Engine(self.config, self.calendar, wall_ms, registry=self.registry)
        engine.clock_end = self.clock_end_ms
        return engine

    async def start(self) -> None:
        if self.checkpointer is not None:
            await self.checkpointer.start()
            await self._restore_registry(self.checkpointer.local)
        await self.registry_feed.start()
        # No decision before the reference facts are read to their end: the engine's
        # agents wait for `start`, however long the registry takes.
        self.metrics.registry_wait.inc(await self.registry_feed.caught_up())
        self.metrics.registry_caught_up.set(1)
        await self.fuel_feed.start()
        await self.invoice_feed.start()

    async def _feed_failed(self, record: ConsumerRecord[bytes, bytes], error: Exception) -> None:
        short = record.topic.removeprefix(self.settings.topic_prefix)
        self.metrics.feed_errors.labels(topic=record.topic).inc()
        await self.dead_letter(short, record.partition, record.offset, record.value or b"",
                               error)

    def health(self) -> dict[str, Any]:
        """What /healthz answers: every broadcast feed alive (a dead one is down)."""
        feeds = {f.topic: {"up": f.alive(), "errors": f.errors, "last_error": f.last_error}
                 for f in self.feeds()}
        for topic, state in feeds.items():
            self.metrics.feed_up.labels(topic=topic).set(1 if state["up"] else 0)
        return {"ok": all(s["up"] for s in feeds.values()), "feeds": feeds,
                "partitions": sorted(self.parts)}

    def feeds(self) -> tuple[BroadcastFeed, ...]:
        """The broadcast feeds, each read whole by every worker."""
        return (self.fuel_feed, self.registry_feed, self.invoice_feed)

    async def _restore_registry(self, local: LocalStore) -> None:
        """The reference facts this worker knew, and where its registry feed stood: a new
        broker (the embedded one forgets) or a registry past retention loses nothing."""
        found = restore_registry(local)
        if found is None:
            return
        restored, positions = found
        self.registry.facts, self.registry.changed = restored.facts, restored.changed
        self.registry_dirty = bool(restored.changed)
        topic = self.settings.topic("registry")
        wanted = {TopicPartition(topic, int(q)): Position.from_json(v)
                  for q, v in positions.items()}
        checked = await check_positions(self.settings.kafka_bootstrap, wanted, self.metrics,
                                        **self.kafka)
        self.registry_feed.start_at = {tp.partition: c.start for tp, c in checked.items()}

    async def stop(self) -> None:
        await self.checkpoint()
        await self.sinks.stop()
        await self.invoice_feed.stop()
        await self.fuel_feed.stop()
        await self.registry_feed.stop()
        if self.checkpointer is not None:
            await self.checkpointer.stop()

    # --- checkpoints --------------------------------------------------------------------

    async def checkpoint(self) -> None:
        """Every partition held, with the positions of all it has taken in, durably.

        The cut is taken at one instant (no await between), with the feeds standing
        still: each partition's positions, clock and held events, and which keys changed.
        Those keys are then encoded a chunk at a time while input goes on, each as it was
        at the cut (a key about to change is encoded first: `Engine.begin_cut`): at 100k
        vehicles that was ~0.3 s of a held event loop every checkpoint. Then everything
        sent so far (alerts, DLQ, re-routed records that this input produced) is flushed
        to the broker; then the checkpoint is written (Kafka, then the local disk); only
        then may the group commit up to its positions.
        """
        if self.checkpointer is None:
            return
        async with self.checkpoint_lock:
            started = time.monotonic()
            async with self.fuel_lock, self.registry_lock:
                epoch = wall_ms()
                broadcast: dict[str, Position] = {}
                for feed in self.feeds():
                    short = feed.topic.removeprefix(self.settings.topic_prefix)
                    for q, pos in feed.positions.items():
                        broadcast[f"{short}/{q}"] = Position(pos, feed.last_fp.get(q))
                cuts: list[tuple[PartitionEngine, Meta, bool]] = []
                for pe in self.parts.values():
                    meta = pe.checkpoint_meta(epoch, broadcast)
                    full = pe.full_checkpoint
                    if full:
                        pe.engine.mark_all_dirty()
                    pe.engine.begin_cut(encode_state)
                    pe.full_checkpoint = False
                    cuts.append((pe, meta, full))
                worker: dict[str, bytes] = {}
                changed: list[tuple[str, str, list[Any]]] = []
                if self.registry_dirty:
                    # the facts changed since the last checkpoint, a row each, encoded
                    # below between turns of the loop (the whole registry was 41 ms of a
                    # held loop at 200k facts, for each change)
                    changed = self.registry.take_changed()
                    worker["registry"] = orjson.dumps({
                        "version": FORMAT_VERSION,
                        "positions": {str(q): Position(pos, self.registry_feed.last_fp.get(q))
                                      .to_json()
                                      for q, pos in self.registry_feed.positions.items()},
                    })
                    self.registry_dirty = False
            parts: list[tuple[PartitionEngine, Meta, list[StateRow], bool]] = []
            facts: list[RegistryRow] = []
            try:
                # A fact applied since the cut may be in its row already: harmless, as the
                # feed applies it again from the positions, and applying is idempotent.
                for start in range(0, len(changed), CUT_CHUNK_KEYS):
                    facts += [(kind, ident, orjson.dumps(versions)) for kind, ident, versions
                              in changed[start:start + CUT_CHUNK_KEYS]]
                    await asyncio.sleep(0)
                for pe, meta, full in cuts:
                    while not pe.engine.cut_some(CUT_CHUNK_KEYS):
                        await asyncio.sleep(0)  # the loop goes on between chunks
                    rows: list[StateRow] = pe.engine.end_cut()
                    if full and pe.stale_keys:  # the changelog's keys this state has not
                        held = {(d, k) for d, k, _v in rows}
                        rows += [(d, k, None) for d, k in pe.stale_keys if (d, k) not in held]
                    parts.append((pe, meta, rows, full))
                serialised = time.monotonic()
                await self.sinks.flush()  # the alerts of the covered input are written
                await self.flush()
                await self.checkpointer.write([(m, rows, full) for _pe, m, rows, full in parts],
                                              worker, facts)
            except BaseException:
                # Nothing of it is known durable: write these partitions whole next time.
                for pe, _meta, _full in cuts:
                    pe.engine.abandon_cut()  # nothing to give up once its keys are encoded
                    pe.full_checkpoint = True
                if worker:
                    self.registry_dirty = True
                    self.registry.changed.update((kind, ident) for kind, ident, _v in changed)
                raise
            for pe, meta, rows, full in parts:
                if full:
                    pe.stale_keys = set()  # their tombstones are written
                for topic in ENGINE_TOPICS:
                    pos = meta.positions.get(topic)
                    if pos is not None:
                        self.commit_cap[(topic, pe.partition)] = pos.offset
                self.metrics.checkpoint_keys.inc(len(rows))
            m = self.metrics
            m.checkpoints.labels(store="local").inc()
            if self.checkpointer.changelog is not None:
                m.checkpoints.labels(store="kafka").inc()
            took = time.monotonic() - started
            m.checkpoint_seconds.observe(took)
            m.last_checkpoint.set(time.time())
            size = sum(len(v or b"") for _pe, _m, rows, _f in parts for _d, _k, v in rows)
            log.log(logging.WARNING if took > self.settings.checkpoint_interval_s else
                    logging.INFO, "checkpoint of %d partitions: %d keys, %d bytes in %.2f s "
                    "(serialise %.2f s)", len(parts), sum(len(r) for *_x, r, _f in parts), size,
                    took, serialised - started)

    def commit_limit(self, short: str, partition: int) -> int | None:
        """The highest offset the group may commit for this engine topic partition."""
        return self.commit_cap.get((short, partition))

    # --- partitions -------------------------------------------------------------------

    async def partition(self, p: int) -> PartitionEngine:
        pe = self.parts.get(p)
        if pe is not None:
            return pe
        task = self._building.get(p)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._build(p))
            self._building[p] = task
            task.add_done_callback(lambda _t: self._building.pop(p, None))
        return await asyncio.shield(task)

    async def _build(self, p: int) -> PartitionEngine:
        """`rebuild`, again and again with backoff until it succeeds: a broker that cannot
        be reached while a partition is restored holds the partition back, it never
        crashes the agent (whose fetched records would then be skipped)."""
        delay = 1.0
        while True:
            try:
                return await self.rebuild(p)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is None or task.cancelling():
                    raise  # we are being stopped
                log.warning("rebuilding partition %d was cancelled inside; again in %.0f s",
                            p, delay)
            except Exception:
                log.exception("rebuilding partition %d failed; again in %.0f s", p, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    def horizon(self, pe: PartitionEngine) -> Callable[[str], float]:
        def until(source: str) -> float:
            if source == "fuel":
                return self.fuel_feed.complete_until() - PRODUCE_MARGIN_MS
            if source == "deaths":
                return self.registry_feed.complete_until() - PRODUCE_MARGIN_MS
            if source == "invoices":
                return self.invoice_feed.complete_until() - PRODUCE_MARGIN_MS
            return self.group_horizon(source, pe.partition, pe.folded.get(source, -1),
                                      pe.last_produced.get(source, 0))

        return until

    def behind(self, pe: PartitionEngine) -> Callable[[str], bool]:
        def check(source: str) -> bool:
            if source == "fuel":
                return not self.fuel_feed.at_end()
            if source == "deaths":
                return not self.registry_feed.at_end()
            if source == "invoices":
                return not self.invoice_feed.at_end()
            return self.group_behind(source, pe.partition, pe.folded.get(source, -1))

        return check

    async def rebuild(self, p: int) -> PartitionEngine:
        """Restore partition p: its newest checkpoint (local, or the Kafka changelog when
        that is newer or the disk has none), then the input after the checkpoint's
        positions up to where the group and the feeds stand.

        The clock follows only what every source is complete up to: the group's records
        up to its committed offsets, and broadcast records produced no later than the
        last of those (where the group has more to read); the rest waits in `pending`.
        """
        started = time.monotonic()
        s = self.settings
        pe = PartitionEngine(p, s.partitions, self.new_engine(), SOURCES)
        ckpt = await self.checkpointer.load(p) if self.checkpointer else None
        wanted: dict[TopicPartition, Position] = {}
        if ckpt is not None:
            for (detector, key), raw in ckpt.states.items():
                pe.engine.load_state(detector, key, decode_state(raw))
            pe.load_meta(ckpt.meta)
            for name, pos in ckpt.meta.positions.items():
                topic, _, q = name.partition("/")
                wanted[TopicPartition(s.topic(topic), int(q) if q else p)] = pos
            pe.full_checkpoint = ckpt.source != "local" or not ckpt.current
            pe.stale_keys = ckpt.stale
        if self.checkpointer is not None:  # dead-lettered since the checkpoint
            pe.poisoned |= self.checkpointer.poisoned(p)
        group = [TopicPartition(s.topic(t), p) for t in ENGINE_TOPICS]
        committed, _ends = await group_positions(s.kafka_bootstrap, s.app_id, group,
                                                 **self.kafka)
        checked = await check_positions(s.kafka_bootstrap, wanted, self.metrics, **self.kafka)
        async with self.fuel_lock, self.registry_lock:
            ranges: dict[TopicPartition, tuple[int, int]] = {}
            for tp in group:
                short = tp.topic.removeprefix(s.topic_prefix)
                c = checked.get(tp)
                start = c.start if c is not None else 0
                # The group may stand past the checkpoint (it never should: commits wait
                # for checkpoints); what lies between is read here. A committed offset
                # past the topic's end belongs to an earlier topic of that name.
                end = min(committed[tp], _ends[tp])
                pe.folded[short] = max(start, end) - 1
                if c is not None and c.reason is None and wanted[tp].last:
                    pe.last_fp[short] = wanted[tp].last or ""
                ranges[tp] = (start, end)
            for feed in self.feeds():
                short = feed.topic.removeprefix(s.topic_prefix)
                for q, pos in feed.positions.items():
                    tp = TopicPartition(feed.topic, q)
                    c = checked.get(tp)
                    start = c.start if c is not None else 0
                    pe.broadcast_from[f"{short}/{q}"] = start
                    ranges[tp] = (start, pos)
            records = await read_ranges(s.kafka_bootstrap, ranges, **self.kafka)
            horizon = float("inf")
            merged: list[tuple[int, int, str, Event]] = []  # replayed in ts order
            for tp, batch in records.items():
                short = tp.topic.removeprefix(s.topic_prefix)
                if short in ENGINE_TOPICS:
                    if batch:
                        pe.last_fp[short] = fingerprint(batch[-1][2], batch[-1][1])
                    if committed[tp] < _ends[tp]:
                        horizon = min(horizon, batch[-1][2] if batch else 0)
                for _offset, value, produced in batch:
                    if short in ENGINE_TOPICS:
                        merged += [(e["ts_ms"], produced, short, e)
                                   for e in self._mine(pe, short, value)]
                    else:
                        merged += [(e["ts_ms"], produced, src, e)
                                   for src, key, e in self._broadcast_events(short, value,
                                                                             apply=False)
                                   if partition_for(key, s.partitions) == p]
            merged.sort(key=lambda m: m[0])
            out = Outcome()
            for ts, produced, source, event in merged:
                out.merge(pe.offer_events(source, [event], produced))
                if produced <= horizon and event["kind"] in CLOCK_KINDS:
                    if pe.pending[source]:
                        pe.pending[source].pop()
                    out.alerts += pe.engine.see_ts(ts)
            self.parts[p] = pe
        await self.sinks.add(out.alerts)
        if out.grants and self.hooks is not None:  # published once per id: a replay is safe
            self.hooks.on_grants(out.grants)
        source = ckpt.source if ckpt is not None else "none"
        self.metrics.restores.labels(source=source).inc()
        self.metrics.restore_seconds.observe(time.monotonic() - started)
        log.info("partition %d restored (checkpoint: %s, %d keys) and %d events after it, "
                 "in %.2f s", p, source, len(ckpt.states) if ckpt else 0, out.processed,
                 time.monotonic() - started)
        return pe

    def _mine(self, pe: PartitionEngine, topic: str, value: bytes) -> list[Event]:
        """Events of a record that belong to this partition (rejects and re-routes were
        handled when the record first came in)."""
        default_kind, allowed = INPUT_TOPICS.get(topic, (None, None))
        found = []
        for item in decode_record(value, self.zone, default_kind, allowed, max_bytes(topic)):
            if isinstance(item, Rejected):
                continue
            try:
                pe.engine.check(item)
            except Rejected:
                continue
            found += belongs(item, pe.engine, pe.partition, self.settings.partitions)
        return found

    def keep_only(self, assigned: set[int]) -> None:
        for p in [p for p in self.parts if p not in assigned]:
            del self.parts[p]

    # --- input ------------------------------------------------------------------------

    async def on_engine_record(
        self, topic: str, p: int, offset: int, value: bytes, produced_ms: int
    ) -> None:
        pe = await self.partition(p)
        if pe.seen(topic, offset):
            return
        out = pe.offer(topic, offset, value, produced_ms)
        out.merge(pe.drain(self.horizon(pe), self.behind(pe)))
        await self.emit(out, pe)

    async def on_validate_record(self, topic: str, p: int, offset: int, value: bytes) -> None:
        """fuel and registry are read by every worker (broadcast); the group's reader of
        them only sends their bad records to the DLQ, once."""
        default_kind, allowed = INPUT_TOPICS[topic]
        out = Outcome()
        for item in decode_record(value, self.zone, default_kind, allowed):
            if isinstance(item, Rejected):
                out.rejects.append((topic, p, offset, item, value))
            else:
                out.kinds[item["kind"]] = out.kinds.get(item["kind"], 0) + 1
        await self.emit(out, None)

    def _broadcast_events(self, topic: str, value: bytes, apply: bool = True
                          ) -> list[tuple[str, str, Event]]:
        """(source, key, event) of a fuel or registry record that a partition needs; a
        registry fact is applied to the worker's registry (`apply`), which a partition's
        restore, reading again what the feed has read, leaves out: the registry holds it
        already (at 200k facts a restore held the loop 1.2-2.9 s with them, ~0.75 s
        without)."""
        default_kind, allowed = INPUT_TOPICS[topic]
        found = []
        for item in decode_record(value, self.zone, default_kind, allowed):
            if isinstance(item, Rejected):
                continue
            if item["kind"] == "fuel":
                found.append(("fuel", fuel_key(item, self.router.ctx), item))
            elif item["kind"] in ("death", "asset"):  # to the person's partition
                found.append(("deaths", item["person_id"], item))
            elif item["kind"] == "invoice":  # one copy for its invoice, one for its project
                found += [("invoices", key, copy) for key, copy in routes(item, self.router)]
            elif apply:
                self.registry.apply(item)
                self.registry_dirty = True
        return found

    async def _deliver(self, records: list[ConsumerRecord[bytes, bytes]], topic: str) -> None:
        """A feed's batch into the partitions it belongs to; what it produced goes out once
        a partition (one Redis and one Kafka round trip for all its alerts, not one a
        record: a fill a record took ~10 ms, and 250 fills/s outran the feed)."""
        touched: dict[int, PartitionEngine] = {}
        outs: dict[int, Outcome] = {}
        for record in records:
            for source, key, event in self._broadcast_events(topic, record.value or b""):
                p = partition_for(key, self.settings.partitions)
                pe = self.parts.get(p)
                # not ours, or folded in when it is rebuilt, or covered by its checkpoint
                if pe is not None and pe.takes(topic, record.partition, record.offset):
                    origin = (topic, record.partition, record.offset, record.value or b"")
                    out = outs.get(p)
                    if out is None:
                        out = outs[p] = Outcome()
                    pe.offer_events(source, [event], record.timestamp, origin, out)
                    touched[p] = pe
        for p, pe in touched.items():
            out = outs[p]
            pe.drain(self.horizon(pe), self.behind(pe), out=out)
            await self.emit(out, pe)

    async def _on_registry(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        await self._deliver(records, "registry")

    async def _on_invoices(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        await self._deliver(records, "invoices")

    async def _on_fuel(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        # A binding (or revocation) the broker had before the fuel, or within the grace
        # after the fuel's CreateTime, must be known before we key by it and check it (see
        # `BroadcastFeed.complete_to`). However long it takes: a check against partial
        # facts could not be taken back.
        holding = self.metrics.feed_holding.labels(topic=self.fuel_feed.topic)
        holding.set(1)
        try:
            waited = await self.registry_feed.complete_to(max(r.timestamp for r in records),
                                                          self.settings.registry_grace_ms)
        finally:
            holding.set(0)
        if waited:
            self.metrics.registry_wait.inc(waited)
        await self._deliver(records, "fuel")

    async def tick(self) -> None:
        """Once a second: release events held for a slow source, and move idle clocks."""
        self.health()  # the feed gauges
        now = wall_ms()
        idle_s = self.config.idle_advance_ms / 1000
        for p, pe in list(self.parts.items()):
            out = pe.drain(self.horizon(pe), self.behind(pe))
            # "when input goes idle": a partition that never had input keeps its clock, so
            # a backlog that arrives later is not all late.
            # Not idle while a source still has records on the broker for it (a busy
            # worker can leave a partition unread for longer than idle_advance_s), nor
            # while the broker's last word on a source is old (`behind` says so).
            # Nor before the group has fetched each of its topics once: a partition just
            # restored from a checkpoint has a clock but, for a while, no input yet.
            if (pe.engine.max_ts is not None and pe.idle_for() >= idle_s
                    and not pe.holding() and not any(map(self.behind(pe), pe.sources))
                    and all(self.group_highwater(t, p) is not None for t in ENGINE_TOPICS)):
                target = now if self.clock_end_ms is None else min(now, self.clock_end_ms)
                if target > pe.engine.watermark_ms:
                    log.info("partition %d idle for %.0f s: its clock moves from %s to %s", p,
                             pe.idle_for(), self.zone.iso(pe.engine.watermark_ms),
                             self.zone.iso(target))
                out.alerts += pe.engine.advance_to(target)
            if out.alerts or out.processed:
                await self.emit(out, pe)
            self.metrics.watermark.labels(partition=str(p)).set(pe.engine.watermark_ms / 1000)
            for topic in ENGINE_TOPICS:
                high = self.group_highwater(topic, p)
                if high is not None:
                    lag = max(0, high - pe.folded.get(topic, -1) - 1)
                    self.metrics.consumer_lag.labels(
                        topic=self.settings.topic(topic), partition=str(p)).set(lag)
        if self.hooks is not None:
            await self.hooks.on_tick({p: pe.engine.watermark_ms for p, pe in self.parts.items()})

    # --- output -----------------------------------------------------------------------

    async def dead_letter(self, topic: str, p: int, offset: int, value: bytes,
                          error: Exception | None = None) -> None:
        """A record the engine failed on: to the DLQ, so that nothing stops or is lost."""
        why = f" ({type(error).__name__}: {error})" if error is not None else ""
        exc = Rejected("record", "engine error",
                       f"the engine failed on it{why}; see the worker log")
        try:
            await self.emit(Outcome(rejects=[(topic, p, offset, exc, value)]), None)
        except Exception:
            log.exception("could not dead-letter %s[%d]@%d", topic, p, offset)

    async def emit(self, out: Outcome, pe: PartitionEngine | None) -> None:
        m = self.metrics
        if out.gps and self.hooks is not None:
            self.hooks.on_gps(out.gps)
        if out.grants and self.hooks is not None:
            self.hooks.on_grants(out.grants)
        for kind, n in out.kinds.items():
            m.events.labels(kind=kind).inc(n)
        acks = []
        for topic, p, offset, exc, raw in out.rejects:
            m.events_rejected.labels(kind=topic, reason=exc.reason).inc()
            m.dlq_records.labels(topic=topic).inc()
            record = dlq_record(self.settings.topic(topic), p, offset, exc, raw)
            key = f"{topic}/{p}/{offset}".encode()
            acks.append(await self.send(self.settings.topic("dlq"), key, orjson.dumps(record)))
        for key, event in out.forwards:
            event.pop("ts_ms", None)
            acks.append(await self.send(self.settings.topic("routed"), key.encode(),
                                        orjson.dumps([event])))
        if acks:
            await asyncio.gather(*acks)  # a produce error raises here, not silently later
        if pe is not None and pe.new_poison:
            if self.checkpointer is not None:
                self.checkpointer.local.add_poison(pe.partition, pe.new_poison)
            pe.new_poison = []
        if out.alerts:
            for a in out.alerts:
                m.alerts.labels(detector=a["detector"], severity=a["severity"]).inc()
            await self.sinks.add(out.alerts)
        if pe is not None and pe.engine.max_ts is not None:
            m.event_lag.observe(max(0.0, (wall_ms() - pe.engine.max_ts) / 1000))
            m.watermark.labels(partition=str(pe.partition)).set(pe.engine.watermark_ms / 1000)
