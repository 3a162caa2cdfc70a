"""The Faust app: two agents over the contract's topics, a one-second ticker, /metrics.

- `engine` agent: gps, payments, reviews and the internal `routed` topic, co-partitioned
  so that partition p of each meets in one worker and one engine.
- `router` agent: fuel (re-keyed by the vehicle the card is bound to at `ts`) and the
  registry (deaths and assets re-keyed by person into `routed`; vehicles, cards, stations
  and places reach every worker through the registry feed).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faust
from aiokafka import ConsumerRecord
from faust.sensors.prometheus import setup_prometheus_sensors
from faust.tables import TableManager
from faust.types import TP
from prometheus_client import CollectorRegistry

from detectors.calendar import load_calendar
from detectors.config import load_config
from sinks.alert_sinks import AlertSinks
from sinks.catalogue import Catalogue
from sinks.live_hooks import build_live_hooks as live_hooks
from sinks.metrics import Metrics
from sinks.redis_store import RedisAlertStore
from streams.kafka_options import aiokafka_options as kafka_security
from streams.kafka_options import faust_credentials
from streams.live.batch import fold_records, horizon_from
from streams.live.engine import MAX_FETCH_BYTES, PRODUCE_MARGIN_MS, LiveEngine
from streams.live.feeds import FRESH_POLL_MS
from streams.live.intake import Batch, GroupIntake
from streams.live.membership import member_path, remember
from streams.settings import Settings
from streams.topics import BROADCAST_TOPICS, ENGINE_TOPICS

log = logging.getLogger(__name__)


def aiokafka_consumer(app: faust.App) -> Any:
    """The aiokafka consumer under Faust's threaded consumer, for per-partition poll times."""
    thread = getattr(app.consumer, "_thread", None)
    return getattr(thread, "_consumer", None)


def freeze_survivors(phase: str, info: dict[str, int]) -> None:
    """After each full collection, its survivors leave the collector's walks (gc.freeze).

    A full collection walks every tracked object not frozen, and the state grows with the
    fleet: at 100k vehicles in a growing fleet they came every 2-3 s and held the event
    loop 50-500 ms each. What survived one is live, so the next walks only what has come
    since. State a detector drops is still freed by its reference count; only a cycle
    among long-lived objects that later becomes garbage is kept (the gauge
    `sunlight_gc_frozen_objects` would climb past the state's growth). Called inside the
    collector: no locks, no allocation worth the name.
    """
    if phase == "stop" and info.get("generation") == 2:
        gc.freeze()
        FROZEN[0] = gc.get_freeze_count()  # counts the list: here, not at each scrape


FROZEN = [0]  # objects frozen, as of the last freeze (the gauge reads it)


class TablelessManager(TableManager):
    """Faust's table manager first sleeps a second for tables to be declared, then joins
    the group. Sunlight declares none (its state is its own, in checkpoints): it joins at
    once, a second sooner on every start and restart."""

    async def on_start(self) -> None:
        if self:  # tables were declared after all: Faust's own way
            await super().on_start()
        elif not self.should_stop:
            await self._update_channels()
            await self.recovery.start()


class SunlightApp(faust.App):
    """Faust's app, whose consumer is handed to `on_consumer` when it is made (the intake
    takes over its delivery and commits there, before its fetch loop first runs)."""

    on_consumer: Callable[[Any], None] | None = None
    fetch_max_wait_ms: int | None = None  # over Faust's fixed 1,500 ms (see Settings)

    def _new_consumer(self) -> Any:
        consumer = super()._new_consumer()
        if self.on_consumer is not None:
            self.on_consumer(consumer)
        thread = getattr(consumer, "_thread", None)
        if self.fetch_max_wait_ms is not None and thread is not None:
            make = thread._create_consumer

            def create(loop: asyncio.AbstractEventLoop) -> Any:
                kafka_consumer = make(loop)
                kafka_consumer._fetch_max_wait_ms = self.fetch_max_wait_ms  # read by start()
                return kafka_consumer

            thread._create_consumer = create
        return consumer


def create_app(settings: Settings, registry: CollectorRegistry | None = None) -> faust.App:
    config = load_config(settings.config_dir, dict(settings.engine_overrides))
    calendar = load_calendar(Path(settings.config_dir) / "calendar.yaml")
    timeout = settings.group_timeout_s
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    app = SunlightApp(
        settings.app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="memory://",
        web_bind=settings.metrics_host,  # what /metrics listens on (web_host only names it)
        web_host=settings.metrics_host,
        web_port=settings.metrics_port,
        broker_session_timeout=timeout,
        broker_rebalance_timeout=timeout,
        broker_heartbeat_interval=1.0,
        # aiokafka decouples the poll interval from the rebalance timeout: Tansu needs the
        # latter short (it joins only after it), while a backlog may keep Faust from
        # polling a while when its stream buffers are full.
        broker_max_poll_interval=300.0,
        stream_buffer_maxsize=32_768,
        consumer_auto_offset_reset="earliest",
        topic_partitions=settings.partitions,
        topic_replication_factor=1,
        topic_allow_declare=False,
        producer_acks=-1,
        datadir=str(Path(settings.data_dir) / settings.app_id),
        web_in_thread=False,
        # Whole records over the contract's 1 MiB must still be read (and dead-lettered):
        # a fetch limit below a record's size stalls the partition.
        consumer_max_fetch_size=MAX_FETCH_BYTES,
        producer_max_request_size=MAX_FETCH_BYTES,
        broker_credentials=faust_credentials(settings),
        TableManager=TablelessManager,
    )
    app.fetch_max_wait_ms = settings.fetch_max_wait_ms
    intake = GroupIntake(app)
    registry = registry or CollectorRegistry()
    setup_prometheus_sensors(app, registry=registry, name_prefix="faust")
    metrics = Metrics(registry)
    store = RedisAlertStore(settings.redis_url, settings.redis_prefix, metrics=metrics,
                            tls_ca=settings.redis_tls_ca, maxlen=settings.alerts_maxlen,
                            catalogue=Catalogue.for_config(settings.config_dir))

    def topic(*names: str) -> faust.TopicT:
        return app.topic(
            *[settings.topic(n) for n in names],
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=settings.partitions,
        )

    engine_topics = topic(*ENGINE_TOPICS)
    broadcast_topics = topic(*BROADCAST_TOPICS)

    async def send(name: str, key: bytes, value: bytes) -> Any:
        return await app.producer.send(name, key, value, partition=None, timestamp=None,
                                       headers=None)

    kafka = kafka_security(settings)
    async def flush() -> None:
        await app.producer.flush()

    # One writer for every alert the worker raises (engine, feeds, case desk), in order.
    alert_sinks = AlertSinks(store, send, settings.topic("alerts"),
                             backlog=metrics.sink_pending.labels(sink="handover"))
    live = LiveEngine(settings, config, calendar, alert_sinks, send, metrics, kafka,
                      flush=flush)
    prefix = settings.topic_prefix

    def group_state(short: str, p: int) -> tuple[int | None, float]:
        """The highwater of an engine topic partition, and how far it is complete when
        read to its end: up to its last poll (less the margin)."""
        tp = TP(prefix + short, p)
        high = app.consumer.highwater(tp)
        if high is None:
            return None, float("inf")
        inner = aiokafka_consumer(app)
        polled = inner.last_poll_timestamp(tp) if inner is not None else None
        return int(high), float(polled) - PRODUCE_MARGIN_MS if polled else float("inf")

    def group_horizon(short: str, p: int, folded: int, last_produced: int) -> float:
        """Complete up to the last poll when read to the end, else up to the last record."""
        return horizon_from(*group_state(short, p), folded, last_produced)

    def group_behind(short: str, p: int, folded: int) -> bool:
        """Records on the broker not read yet, or not known: a partition never fetched, or
        whose last fetch answer is older than FRESH_POLL_MS (paused while Faust's buffer is
        full, a rebalance, a busy worker), may have more than its old highwater says."""
        tp = TP(prefix + short, p)
        high = app.consumer.highwater(tp)
        if high is None or folded + 1 < high:
            return True
        inner = aiokafka_consumer(app)
        polled = inner.last_poll_timestamp(tp) if inner is not None else None
        return not polled or time.time() * 1000 - polled > FRESH_POLL_MS

    def group_highwater(short: str, p: int) -> int | None:
        high = app.consumer.highwater(TP(prefix + short, p))
        return None if high is None else int(high)

    live.group_highwater = group_highwater
    live.hooks = live_hooks(settings, calendar, config.zone,
                            alert_sinks,
                            registry=live.registry)
    live.group_horizon = group_horizon
    live.group_behind = group_behind
    ready = asyncio.Event()

    def commit_cap(tp: TP, handled: int) -> int | None:
        """The group never commits an engine topic past a durable checkpoint: the offset
        after the last record handled, capped at the checkpoint's position."""
        short = tp.topic.removeprefix(prefix)
        if short not in ENGINE_TOPICS:
            return handled
        limit = live.commit_limit(short, tp.partition)
        return None if limit is None else min(handled, limit)

    app.on_consumer = lambda consumer: intake.attach(consumer, commit_cap)
    assert app._consumer is None, "the consumer was made before the intake could attach"

    @app.task
    async def start_feeds() -> None:
        await store.ping()
        await live.start()
        # What exists now (modules, Faust, configuration, calendar, registry: ~190k objects)
        # lives as long as the worker: out of the collector's full walks, which took ~12 %
        # of the CPU of one event a record (5 % after). The thresholds stay CPython's.
        gc.collect()
        gc.freeze()
        if freeze_survivors not in gc.callbacks:
            gc.callbacks.append(freeze_survivors)
        FROZEN[0] = gc.get_freeze_count()
        metrics.gc_frozen.set_function(lambda: FROZEN[0])
        ready.set()

    @app.timer(interval=settings.checkpoint_interval_s)
    async def checkpointer() -> None:
        if ready.is_set():
            try:
                await live.checkpoint()
            except Exception:  # retried at the next interval, written whole
                log.exception("checkpoint failed")

    @app.on_partitions_revoked.connect
    async def on_revoked(sender: Any, revoked: set[TP], **kw: Any) -> None:
        intake.forget(revoked)  # committed as far as it may be (Faust's wait_empty)
        if ready.is_set():  # the next owner starts from here
            try:
                await live.checkpoint()
            except Exception:
                log.exception("checkpoint on revoke failed")

    # Faust's consumer group reads these topics; its fetch loop hands each partition
    # batch whole to the agent of its channel (streams/intake.py), not a record at a time.
    app.topics.add(engine_topics)
    app.topics.add(broadcast_topics)
    engine_batches = intake.route(engine_topics.topics)
    validator_batches = intake.route(broadcast_topics.topics)

    async def fold(tp: TP, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        await ready.wait()
        await fold_records(live, group_state, tp.topic.removeprefix(prefix), tp.partition,
                           records)

    async def validate(tp: TP, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        short = tp.topic.removeprefix(prefix)
        for r in records:
            value = r.value or b""
            try:
                await live.on_validate_record(short, r.partition, r.offset, value)
            except Exception:
                log.exception("validator: %s[%d]@%d failed", r.topic, r.partition, r.offset)
                await live.dead_letter(short, r.partition, r.offset, value)

    @app.agent(engine_batches, name="engine")
    async def engine_agent(stream: faust.StreamT[Batch]) -> None:
        await intake.handle(stream, fold)

    @app.agent(validator_batches, name="validator")
    async def validator_agent(stream: faust.StreamT[Batch]) -> None:
        await intake.handle(stream, validate)

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        """200 once started with every broadcast feed reading; 503 with the reason else."""
        state = live.health()
        state["ready"] = ready.is_set()
        return web.json(state, status=200 if state["ok"] and state["ready"] else 503)

    @app.timer(interval=1.0)
    async def ticker() -> None:
        if ready.is_set():
            await live.tick()

    @app.on_partitions_assigned.connect
    async def on_assigned(sender: Any, assigned: set[TP], **kw: Any) -> None:
        ours = {tp.partition for tp in assigned if tp.topic.startswith(prefix)
                and tp.topic.removeprefix(prefix) in ENGINE_TOPICS}
        live.keep_only(ours)
        coordinator = getattr(aiokafka_consumer(app), "_coordinator", None)
        with contextlib.suppress(OSError):  # only a faster restart after a kill is at stake
            remember(member_path(settings.data_dir, settings.app_id),
                     getattr(coordinator, "member_id", "") or "")

        async def warm() -> None:  # rebuild now, not on the partition's first record
            await ready.wait()
            for p in sorted(ours):
                try:
                    await live.partition(p)
                except Exception:
                    log.exception("rebuilding partition %d failed", p)

        asyncio.get_running_loop().create_task(warm())

    @app.on_before_shutdown.connect
    async def on_shutdown(sender: Any, **kw: Any) -> None:
        await live.stop()
        await store.close()

    app.sunlight = live  # type: ignore[attr-defined]
    return app
