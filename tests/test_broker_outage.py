"""Kafka delivery through a broker outage: the broker goes away for 20 s in the middle of
a run (every connection reset, its address refusing) and comes back with its data. The
worker rides it out; nothing it sends is lost: every alert reaches Redis once and the
`sunlight.alerts` topic, every bad record reaches the DLQ, and it never marks as sent what
the broker did not acknowledge."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest
from live_support import CITY_ALERTS, SAMPLE, LiveSystem, expected, subjects, wait_for
from outage_support import RelayedKafka

from streams.tools.embedded import EmbeddedRedis, create_topics
from streams.tools.producer import produce
from streams.topics import ALL_TOPICS

pytestmark = [pytest.mark.integration]
UNTIL = {"SUNLIGHT_CLOCK_END": "2026-10-31T00:00:00+08:00"}
DEAD_LETTERS = 41  # the sample's bad records (tests/test_live.py)


@pytest.mark.timeout(420)
def test_a_broker_outage_mid_run_loses_nothing(tmp_path: Path) -> None:
    kafka = RelayedKafka(partitions=4)
    redis_server = EmbeddedRedis()
    kafka.start()
    redis_server.start()
    system = LiveSystem(kafka, redis_server, tmp_path)
    assert kafka.relay is not None
    try:
        create_topics(kafka.bootstrap, [f"sunlight.{t}" for t in ALL_TOPICS], 4)
        produce([SAMPLE / "stream.jsonl.gz"], system.bootstrap)
        worker = system.start_worker(**UNTIL)
        assert wait_for(lambda: system.redis().xlen("sunlight:alerts") >= 20, 180), (
            system.log_tail())
        kafka.relay.cut()
        cut_at = time.monotonic()
        before = system.redis().xlen("sunlight:alerts")
        assert before < CITY_ALERTS, "the outage should fall in the middle of the run"
        assert wait_for(lambda: time.monotonic() - cut_at >= 20, 30, step_s=0.5)
        assert worker.poll() is None, system.log_tail()
        kafka.relay.open()

        alerts = system.wait_alerts(CITY_ALERTS, timeout_s=240)
        want = sorted((e["detector"], e["subject"]) for e in expected()["expected"])
        assert subjects(alerts) == want, system.log_tail()
        assert system.redis().xlen("sunlight:alerts") == CITY_ALERTS  # none doubled
        # Every alert reached the topic (at least once: a send whose acknowledgement was
        # cut off is sent again), and nothing else did.
        keys = Counter(r.key.decode() for r in system.topic_records("sunlight.alerts"))
        assert set(keys) == {a["alert_id"] for a in alerts}
        dead = {(d["source_topic"], d["partition"], d["offset"], d["reason"])
                for d in (json.loads(r.value) for r in system.topic_records("sunlight.dlq"))}
        assert len(dead) == DEAD_LETTERS
        assert worker.poll() is None, system.log_tail()
        print(f"broker outage: {before} alerts before the cut; topic copies "
              f"{sum(keys.values())} for {len(keys)} alerts")
    finally:
        for proc in system.workers:
            system.kill(proc)
        redis_server.stop()
        kafka.stop()
