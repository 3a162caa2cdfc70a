"""Sunlight's metrics: names, labels and the /metrics endpoint, on a fresh registry."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from sinks.metrics import Metrics, serve_metrics
from streams.tools.embedded import free_port


def _metrics() -> tuple[Metrics, CollectorRegistry]:
    registry = CollectorRegistry()
    return Metrics(registry), registry


def test_counters_and_gauges_have_their_names_and_labels() -> None:
    m, r = _metrics()
    m.events.labels(kind="gps").inc(3)
    m.events_rejected.labels(kind="fuel", reason="bad_json").inc()
    m.alerts.labels(detector="tank_overfill", severity="high").inc(2)
    m.watermark.labels(partition="3").set(1_772_417_700.0)
    m.consumer_lag.labels(topic="sunlight.gps", partition="0").set(42)
    m.sink_retries.labels(sink="redis").inc()
    m.sink_pending.labels(sink="redis").set(5)
    m.dlq_records.labels(topic="sunlight.dlq").inc()

    assert r.get_sample_value("sunlight_events_total", {"kind": "gps"}) == 3
    assert (
        r.get_sample_value(
            "sunlight_events_rejected_total", {"kind": "fuel", "reason": "bad_json"}
        )
        == 1
    )
    labels = {"detector": "tank_overfill", "severity": "high"}
    assert r.get_sample_value("sunlight_alerts_total", labels) == 2
    assert r.get_sample_value("sunlight_watermark_timestamp_seconds", {"partition": "3"}) == (
        1_772_417_700.0
    )
    lag = {"topic": "sunlight.gps", "partition": "0"}
    assert r.get_sample_value("sunlight_consumer_lag_records", lag) == 42
    assert r.get_sample_value("sunlight_sink_retries_total", {"sink": "redis"}) == 1
    assert r.get_sample_value("sunlight_sink_pending_alerts", {"sink": "redis"}) == 5
    assert r.get_sample_value("sunlight_dlq_records_total", {"topic": "sunlight.dlq"}) == 1


def test_event_lag_histogram_spans_milliseconds_to_a_day() -> None:
    m, r = _metrics()
    for lag_s in (0.003, 0.2, 7200.0, 90_000.0):
        m.event_lag.observe(lag_s)
    bucket = "sunlight_event_lag_seconds_bucket"
    assert r.get_sample_value(bucket, {"le": "0.005"}) == 1
    assert r.get_sample_value(bucket, {"le": "0.25"}) == 2
    assert r.get_sample_value(bucket, {"le": "86400.0"}) == 3
    assert r.get_sample_value(bucket, {"le": "+Inf"}) == 4
    assert r.get_sample_value("sunlight_event_lag_seconds_count") == 4


def test_two_instances_on_fresh_registries_do_not_clash() -> None:
    a, _ = _metrics()
    b, _ = _metrics()
    a.events.labels(kind="gps").inc()
    assert b.registry.get_sample_value("sunlight_events_total", {"kind": "gps"}) is None


@pytest.mark.timeout(30)
def test_metrics_endpoint_serves_the_registry() -> None:
    m, _ = _metrics()
    m.alerts.labels(detector="payment_after_death", severity="critical").inc()

    async def run() -> str:
        port = free_port()
        runner = await serve_metrics(m.registry, port=port)
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{port}/metrics") as response,
            ):
                assert response.status == 200
                assert response.headers["Content-Type"].startswith("text/plain")
                return await response.text()
        finally:
            await runner.cleanup()

    text = asyncio.run(run())
    line = 'sunlight_alerts_total{detector="payment_after_death",severity="critical"} 1.0'
    assert line in text
    assert "# TYPE sunlight_event_lag_seconds histogram" in text
