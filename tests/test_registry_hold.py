"""On-arrival decisions wait for the registry: a fuel transaction is checked against the
card bindings only once the registry is read up to the transaction's CreateTime, however
long that takes, and the wait shows in a metric. A decision taken against partial facts
(a false `card_vehicle_mismatch`) could never be taken back."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest
from kafka import KafkaProducer
from live_support import live_system, wait_for
from prometheus_client.parser import text_string_to_metric_families

pytestmark = [pytest.mark.integration]
EVENT_TS = "2026-09-15T10:00:00+08:00"  # a Tuesday


def metric(port: int, name: str) -> float | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:  # noqa: S310
            text = resp.read().decode()
    except OSError:
        return None
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name:
                return float(s.value)
    return None


def send(producer: KafkaProducer, topic: str, key: str, event: dict[str, object],
         created_ms: int) -> None:
    producer.send(f"sunlight.{topic}", key=key.encode(), value=json.dumps(event).encode(),
                  timestamp_ms=created_ms)
    producer.flush()


@pytest.mark.timeout(180)
def test_fuel_waits_for_the_binding_produced_before_it(tmp_path: Path) -> None:
    with live_system(tmp_path) as system:
        worker = system.start_worker()
        port: int = worker.metrics_port  # type: ignore[attr-defined]
        assert wait_for(lambda: metric(port, "sunlight_registry_caught_up") == 1.0, 90), (
            system.log_tail())
        # started: what exists is frozen out of the collector's walks (README, "Long-lived
        # state stays out of the garbage collector's way")
        assert wait_for(lambda: (metric(port, "sunlight_gc_frozen_objects") or 0) > 50_000, 30)
        producer = KafkaProducer(bootstrap_servers=system.bootstrap)
        now = int(time.time() * 1000)
        vehicle = {"kind": "vehicle", "vehicle_id": "LN-H-0001", "unit": "UNIT-H",
                   "tank_liters": 60.0, "fuel_type": "92", "exempt_off_hours": False,
                   "district": "D0", "ts": "2026-09-01T09:00:00+08:00"}
        send(producer, "registry", "vehicle:LN-H-0001", vehicle, now)
        # The transaction's producer stamped it 12 s ahead; the binding was stamped 8 s
        # ahead, so it was produced first (CreateTime) but reaches the broker later,
        # after the 5 s the worker used to wait before deciding anyway.
        fuel = {"kind": "fuel", "txn_id": "TXN-HOLD-1", "card_id": "CARD-H-1",
                "vehicle_id": "LN-H-0001", "station_id": "ST-H", "liters": 30.0,
                "amount_cny": 230.0, "fuel_type": "92", "ts": EVENT_TS}
        send(producer, "fuel", "CARD-H-1", fuel, now + 12_000)
        # The binding's producer is slow: it reaches the broker 6 s after the transaction,
        # while the worker holds the transaction (the hold's wait counts once it is over).
        waited_before = metric(port, "sunlight_registry_wait_seconds_total") or 0.0
        assert wait_for(lambda: metric(port, "sunlight_feed_holding") == 1.0
                        and time.time() * 1000 >= now + 6_000, 60, step_s=0.05), (
            system.log_tail())
        card = {"kind": "card", "card_id": "CARD-H-1", "vehicle_id": "LN-H-0001",
                "unit": "UNIT-H", "ts": "2026-09-01T09:00:00+08:00"}
        send(producer, "registry", "card:CARD-H-1", card, now + 8_000)
        producer.close()
        # still held when the binding was on the broker: the test shows the hold, not luck
        assert metric(port, "sunlight_feed_holding") == 1.0
        assert (metric(port, "sunlight_registry_wait_seconds_total") or 0.0) == waited_before
        # With no GPS the transaction is decided (unverifiable) once the idle clock moves:
        # the one alert it may raise; a mismatch would mean it was checked without the card.
        def about_it() -> list[str]:
            return sorted(a["detector"] for a in system.alerts() if a["subject"] == "TXN-HOLD-1")

        assert wait_for(lambda: about_it() != [], 60), system.log_tail()
        system.wait_drained()
        assert "card_vehicle_mismatch" not in about_it(), about_it()
        assert (metric(port, "sunlight_registry_wait_seconds_total") or 0) >= 10.0
