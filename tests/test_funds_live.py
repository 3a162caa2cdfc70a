"""The funds half live, on the real embedded broker (Tansu) and Redis (Valkey): produce the
funds sample onto its five topics, and the worker puts exactly the replay's alert ids in
Redis and the 11 bad lines in the DLQ."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from live_support import live_system
from paths import FUNDS_SAMPLE

from detectors.base import alert_id
from streams.producer import produce

pytestmark = [pytest.mark.integration]


@pytest.mark.timeout(300)
def test_funds_parity_with_the_golden_file(tmp_path: Path) -> None:
    expected = json.loads((FUNDS_SAMPLE / "expected.json").read_text())
    want = sorted(alert_id(e["detector"], e["subject"]) for e in expected["expected"])
    with live_system(tmp_path) as system:
        system.start_worker(SUNLIGHT_CLOCK_END=expected["until"])
        produce([FUNDS_SAMPLE / "stream.jsonl.gz"], system.bootstrap)
        alerts = system.wait_alerts(len(want), timeout_s=150)
        assert sorted(a["alert_id"] for a in alerts) == want, system.log_tail()
        assert system.redis().xlen("sunlight:alerts") == 81
        dead = [json.loads(r.value) for r in system.topic_records("sunlight.dlq")]
        assert len(dead) == expected["bad_lines"] == 11
        assert "org_id: check character is 'J', expected 'B'" in {d["reason"] for d in dead}
        topics = {d["source_topic"] for d in dead}
        assert topics <= {f"sunlight.{t}" for t in
                          ("applications", "projects", "invoices", "tax", "bank")}
        assert len(topics) == 5
