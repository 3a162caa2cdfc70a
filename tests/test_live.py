"""The live system on the real embedded broker (Tansu) and Redis (Valkey), no mocks:
parity with the golden file, a kill -9 mid-run, two workers, and the idle clock."""

from __future__ import annotations

import json
import signal
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from live_support import CITY_ALERTS, SAMPLE, expected, live_system, subjects, wait_for

from streams.tools.producer import produce

pytestmark = [
    pytest.mark.integration,
]
UNTIL = {"SUNLIGHT_CLOCK_END": "2026-10-31T00:00:00+08:00"}


def fetch(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback
            return str(resp.read().decode())
    except OSError:
        return ""


def want() -> list[tuple[str, str]]:
    return sorted((e["detector"], e["subject"]) for e in expected()["expected"])


@pytest.mark.timeout(300)
def test_parity_with_the_golden_file(tmp_path: Path) -> None:
    with live_system(tmp_path) as system:
        system.start_worker(**UNTIL)
        produce([SAMPLE / "stream.jsonl.gz"], system.bootstrap)
        alerts = system.wait_alerts(CITY_ALERTS, timeout_s=150)
        assert subjects(alerts) == want(), system.log_tail()
        assert system.redis().xlen("sunlight:alerts") == CITY_ALERTS  # one stream entry each
        dead = [json.loads(r.value) for r in system.topic_records("sunlight.dlq")]
        assert len(dead) == 41
        assert all(d["reason"] and d["source_topic"].startswith("sunlight.") for d in dead)
        assert "lat: 999.0 is outside [-90, 90]" in {d["reason"] for d in dead}
        kafka_alerts = system.topic_records("sunlight.alerts")
        assert sorted(r.key.decode() for r in kafka_alerts) == sorted(
            a["alert_id"] for a in alerts
        )
        h = system.redis().hgetall(f"sunlight:alert:{alerts[0]['alert_id']}")
        assert h[b"status"] == b"open" and json.loads(h[b"alert"]) == alerts[0]


@pytest.mark.timeout(300)
def test_kill_9_mid_run_loses_and_doubles_nothing(tmp_path: Path) -> None:
    with live_system(tmp_path) as system:
        first = system.start_worker(**UNTIL)
        feed = threading.Thread(
            target=produce, args=([SAMPLE / "stream.jsonl.gz"], system.bootstrap),
            kwargs={"rate": 6000},
        )
        feed.start()
        assert wait_for(lambda: system.redis().xlen("sunlight:alerts") >= 20, 120), (
            system.log_tail()
        )
        system.kill(first)  # kill -9, in the middle of the feed
        system.start_worker(**UNTIL)
        feed.join()
        alerts = system.wait_alerts(CITY_ALERTS, timeout_s=150)
        assert subjects(alerts) == want(), system.log_tail()
        assert system.redis().xlen("sunlight:alerts") == CITY_ALERTS
        ids = Counter(a["alert_id"] for a in alerts)
        assert max(ids.values()) == 1


@pytest.mark.timeout(300)
def test_two_workers_split_and_hand_over(tmp_path: Path) -> None:
    with live_system(tmp_path) as system:
        a = system.start_worker(**UNTIL)
        system.start_worker(**UNTIL)
        feed = threading.Thread(
            target=produce, args=([SAMPLE / "stream.jsonl.gz"], system.bootstrap),
            kwargs={"rate": 6000},
        )
        feed.start()
        assert wait_for(lambda: system.redis().xlen("sunlight:alerts") >= 20, 120)
        system.kill(a, signal.SIGTERM)  # a clean stop: its partitions go to the other
        feed.join()
        alerts = system.wait_alerts(CITY_ALERTS, timeout_s=150)
        assert subjects(alerts) == want(), system.log_tail()
        assert system.redis().xlen("sunlight:alerts") == CITY_ALERTS


@pytest.mark.timeout(180)
def test_idle_clock_fires_a_deadline_with_no_new_input(tmp_path: Path) -> None:
    from kafka import KafkaProducer

    with live_system(tmp_path) as system:
        worker = system.start_worker(SUNLIGHT_ENGINE_IDLE_ADVANCE_S="4")
        metrics = f"http://127.0.0.1:{worker.metrics_port}/metrics"  # type: ignore[attr-defined]
        # Entered 2026-11-23 (Mon) with 1 working day: the deadline (end of 11-24) has
        # passed on the wall clock, but not on the engine's clock (enter's ts - 10 min).
        producer = KafkaProducer(bootstrap_servers=system.bootstrap)
        enter = {"case_id": "IDLE-1", "node": "acceptance", "action": "enter",
                 "ts": "2026-11-23T10:00:00+08:00", "sla_working_days": 1}
        producer.send("sunlight.reviews", key=b"IDLE-1", value=json.dumps(enter).encode())
        producer.flush()
        producer.close()
        assert wait_for(lambda: 'sunlight_events_total{kind="review"} 1.0' in fetch(metrics),
                        90, step_s=0.05), system.log_tail()
        taken_in = time.monotonic()
        assert system.redis().xlen("sunlight:alerts") == 0  # the engine's clock is behind
        assert wait_for(lambda: system.redis().xlen("sunlight:alerts") >= 1, 30, step_s=0.05)
        took = time.monotonic() - taken_in
        (alert,) = system.alerts()
        assert alert["subject"] == "IDLE-1/acceptance"
        assert alert["event_ts"] == "2026-11-25T00:00:00+08:00"
        assert 4.0 - 1.0 <= took <= 4.0 + 3.0  # the idle advance, plus the 1 s ticker
