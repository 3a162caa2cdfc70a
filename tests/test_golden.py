"""The golden test: `sunlight replay` of the city sample, through the CLI, raises exactly
the alerts of expected.json (made independently of this code), plus those of the detectors
added after it was made (expected-typologies.json), and rejects its bad lines."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import pytest
from paths import CITY_SAMPLE as SAMPLE

REQUIRED = {"alert_id", "detector", "subject", "severity", "entity", "event_ts", "raised_at",
            "title", "details", "evidence", "unit", "district", "rule"}



@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], list[dict], str]:
    expected = json.loads((SAMPLE / "expected.json").read_text())
    tmp = tmp_path_factory.mktemp("golden")
    out, dlq = tmp / "alerts.jsonl", tmp / "dlq.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "streams.cli", "replay", str(SAMPLE / "stream.jsonl.gz"),
         "--until", expected["until"], "--out", str(out), "--dlq", str(dlq)],
        capture_output=True, text=True, timeout=300, check=True,
    )
    alerts = [json.loads(line) for line in out.read_text().splitlines()]
    rejects = [json.loads(line) for line in dlq.read_text().splitlines()]
    return alerts, rejects, proc.stderr


def test_exactly_the_expected_alerts(replayed: tuple[list[dict], list[dict], str]) -> None:
    alerts, _, _ = replayed
    expected = json.loads((SAMPLE / "expected.json").read_text())
    later = json.loads((SAMPLE / "expected-typologies.json").read_text())
    assert len(expected["expected"]) == 97 and len(later["expected"]) == 5
    want = Counter((e["detector"], e["subject"]) for e in expected["expected"] + later["expected"])
    got = Counter((a["detector"], a["subject"]) for a in alerts)
    assert got - want == Counter(), "alerts raised that should not be"
    assert want - got == Counter(), "expected alerts missing"
    assert len(alerts) == 102


def test_exactly_the_bad_lines_rejected(replayed: tuple[list[dict], list[dict], str]) -> None:
    _, rejects, stderr = replayed
    expected = json.loads((SAMPLE / "expected.json").read_text())
    assert len(rejects) == expected["bad_lines"] == 41
    for r in rejects:
        field, _, rule = r["reason"].partition(": ")
        assert field and rule, r["reason"]
        assert r["line"] > 0 and r["raw"]
    reasons = {r["reason"] for r in rejects}
    assert "lat: 999.0 is outside [-90, 90]" in reasons
    assert "rejected: 41" in stderr


def test_event_counts_in_the_summary(replayed: tuple[list[dict], list[dict], str]) -> None:
    _, _, stderr = replayed
    expected = json.loads((SAMPLE / "expected.json").read_text())
    for kind, n in expected["counts"].items():
        assert f"{kind:<10} {n:>10,}" in stderr


def test_alerts_are_complete(replayed: tuple[list[dict], list[dict], str]) -> None:
    alerts, _, _ = replayed
    ids = [a["alert_id"] for a in alerts]
    assert len(ids) == len(set(ids))
    for a in alerts:
        assert a.keys() >= REQUIRED
        assert a["alert_id"].startswith(a["detector"] + ":")
        assert a["severity"] in {"low", "medium", "high", "critical"}
        assert a["title"] and a["title_en"] and a["evidence"]
        assert a["event_ts"].endswith("+08:00")
