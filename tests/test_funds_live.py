"""The funds half live, on the real embedded broker (Tansu) and Redis (Valkey): produce the
funds sample onto its five topics, and the worker puts exactly the replay's alert ids in
Redis and the 11 bad lines in the DLQ, and publishes every valid grant once for the public
page (no enterprise credit code)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import orjson
import pytest
from live_support import live_system, wait_for
from paths import FUNDS_SAMPLE
from support import engine

from detectors.base import alert_id
from detectors.events import Rejected, decode_record
from streams.tools.producer import produce
from streams.topics import INPUT_TOPICS

pytestmark = [pytest.mark.integration]


def valid_grants() -> dict[str, str]:
    """grant id -> org_id of every grant of the sample the engine takes in."""
    eng = engine()
    out: dict[str, str] = {}
    with gzip.open(FUNDS_SAMPLE / "stream.jsonl.gz", "rb") as fh:
        for line in fh:
            for item in decode_record(line, eng.zone, None, INPUT_TOPICS["projects"][1]):
                if isinstance(item, Rejected) or item["kind"] != "grant":
                    continue
                try:
                    eng.check(item)
                except Rejected:
                    continue
                out[item["grant_id"]] = item["org_id"]
    return out


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
        grants = valid_grants()
        assert len(grants) == 68
        r = system.redis()
        assert wait_for(lambda: r.zcard("sunlight:public:grants") == len(grants), 30), \
            system.log_tail()
        published = {k.decode(): orjson.loads(v)
                     for k, v in r.hgetall("sunlight:public:grant").items()}
        assert set(published) == set(grants)
        assert all(g["project_id"] and g["amount_cny"] > 0 and g["ts"]
                   for g in published.values())
        text = json.dumps(list(published.values()), ensure_ascii=False)
        assert not any(org in text for org in grants.values())
