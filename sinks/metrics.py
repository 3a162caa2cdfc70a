"""Prometheus metrics of a worker, on a registry passed in (tests use a fresh one)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

#: Event lag runs from a few ms (live) to a day (a device uploading a day's backlog).
LAG_BUCKETS_S: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0, 43200.0, 86400.0,
)  # fmt: skip


class Metrics:
    """Every metric Sunlight exports; one instance per worker."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else REGISTRY
        r = self.registry
        self.events = Counter("sunlight_events", "Events accepted, by kind.", ["kind"], registry=r)
        self.events_rejected = Counter(
            "sunlight_events_rejected",
            "Events rejected (dead-lettered), by kind and reason.",
            ["kind", "reason"],
            registry=r,
        )
        self.alerts = Counter(
            "sunlight_alerts",
            "Alerts raised, by detector and severity.",
            ["detector", "severity"],
            registry=r,
        )
        self.event_lag = Histogram(
            "sunlight_event_lag_seconds",
            "Processing time minus the event's ts.",
            buckets=LAG_BUCKETS_S,
            registry=r,
        )
        self.watermark = Gauge(
            "sunlight_watermark_timestamp_seconds",
            "Event-time clock of each partition (epoch seconds).",
            ["partition"],
            registry=r,
        )
        self.consumer_lag = Gauge(
            "sunlight_consumer_lag_records",
            "Records between the committed offset and the end of each partition.",
            ["topic", "partition"],
            registry=r,
        )
        self.sink_retries = Counter(
            "sunlight_sink_retries",
            "Failed sink writes that were retried, by sink.",
            ["sink"],
            registry=r,
        )
        self.sink_pending = Gauge(
            "sunlight_sink_pending_alerts",
            "Alerts waiting to be written, by sink.",
            ["sink"],
            registry=r,
        )
        self.dlq_records = Counter(
            "sunlight_dlq_records",
            "Records sent to a dead-letter topic, by topic.",
            ["topic"],
            registry=r,
        )

        self.feed_errors = Counter(
            "sunlight_feed_errors", "Broadcast feed records that failed on their own (and "
            "went to the DLQ).", ["topic"], registry=r,
        )
        self.feed_up = Gauge(
            "sunlight_feed_up", "1 while a broadcast feed (fuel, registry, invoices) reads.",
            ["topic"], registry=r,
        )
        self.registry_wait = Counter(
            "sunlight_registry_wait_seconds", "Seconds decisions were held until the "
            "registry was read up to them (at start, and before fuel checks its card).",
            registry=r,
        )
        self.feed_holding = Gauge(
            "sunlight_feed_holding", "1 while a broadcast feed's batch waits for the registry "
            "to be read up to it (its decisions held).", ["topic"], registry=r,
        )
        self.registry_caught_up = Gauge(
            "sunlight_registry_caught_up", "1 once the registry was read to its end at "
            "start (no decision is taken before).", registry=r,
        )
        self.gc_frozen = Gauge(
            "sunlight_gc_frozen_objects", "Objects out of the garbage collector's walks "
            "(gc.freeze of what survives a full collection); a steady climb past the "
            "state's growth would be garbage cycles kept.", registry=r,
        )
        self.checkpoints = Counter(
            "sunlight_checkpoints", "Checkpoints written, by where (local, kafka).", ["store"],
            registry=r,
        )
        self.checkpoint_seconds = Histogram(
            "sunlight_checkpoint_duration_seconds",
            "Time to write one checkpoint of every partition held (local and Kafka).",
            registry=r,
        )
        self.checkpoint_keys = Counter(
            "sunlight_checkpoint_keys", "Detector keys written by checkpoints.", registry=r
        )
        self.last_checkpoint = Gauge(
            "sunlight_last_checkpoint_timestamp_seconds",
            "Wall time of the last durable checkpoint.", registry=r,
        )
        self.restores = Counter(
            "sunlight_restores", "Partitions restored, by source (local, kafka, none).",
            ["source"], registry=r,
        )
        self.restore_seconds = Histogram(
            "sunlight_restore_duration_seconds",
            "Time to restore one partition (checkpoint plus the input after it).", registry=r,
        )
        self.position_resets = Counter(
            "sunlight_restore_position_resets",
            "Checkpoint positions not found as they were: the topic is new (read from its "
            "start) or records were deleted before being read (a retention gap).",
            ["topic", "reason"], registry=r,
        )

    def metrics_text(self) -> bytes:
        return generate_latest(self.registry)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def metrics_handler(registry: CollectorRegistry) -> Handler:
    """An aiohttp handler serving the registry in the Prometheus text format."""

    async def handle(request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    return handle


def add_metrics_route(app: web.Application, registry: CollectorRegistry) -> None:
    """Serve `registry` at GET /metrics of an aiohttp app (the dashboard or Faust's web)."""
    app.router.add_get("/metrics", metrics_handler(registry))


async def serve_metrics(
    registry: CollectorRegistry, host: str = "127.0.0.1", port: int = 9108
) -> web.AppRunner:
    """Start a standalone /metrics server; stop it with `await runner.cleanup()`."""
    app = web.Application()
    add_metrics_route(app, registry)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
