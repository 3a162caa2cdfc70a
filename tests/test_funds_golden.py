"""The funds golden test: `sunlight replay` of the funds sample, through the CLI, raises
exactly the 81 alerts of expected.json (made independently of this code) and rejects its
11 bad lines, each with a reason naming the field and the rule."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import pytest
from paths import FUNDS_SAMPLE as SAMPLE

from detectors.base import alert_id

REQUIRED = {"alert_id", "detector", "subject", "severity", "entity", "event_ts", "raised_at",
            "title", "title_en", "details", "evidence", "unit", "district", "rule"}
ENTITY = {"duplicate_application": "org", "funds_idle": "project",
          "inspection_overdue": "project"}


@pytest.fixture(scope="module")
def expected() -> dict:
    return json.loads((SAMPLE / "expected.json").read_text())


@pytest.fixture(scope="module")
def replayed(
    tmp_path_factory: pytest.TempPathFactory, expected: dict
) -> tuple[list[dict], list[dict], str]:
    tmp = tmp_path_factory.mktemp("funds-golden")
    out, dlq = tmp / "alerts.jsonl", tmp / "dlq.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "streams.cli", "replay", str(SAMPLE / "stream.jsonl.gz"),
         "--until", expected["until"], "--out", str(out), "--dlq", str(dlq)],
        capture_output=True, text=True, timeout=120, check=True,
    )
    alerts = [json.loads(line) for line in out.read_text().splitlines()]
    rejects = [json.loads(line) for line in dlq.read_text().splitlines()]
    return alerts, rejects, proc.stderr


def test_exactly_the_expected_alerts(replayed: tuple, expected: dict) -> None:
    alerts, _, _ = replayed
    want = Counter((e["detector"], e["subject"]) for e in expected["expected"])
    got = Counter((a["detector"], a["subject"]) for a in alerts)
    assert got - want == Counter(), "alerts raised that should not be"
    assert want - got == Counter(), "expected alerts missing"
    assert len(alerts) == len(expected["expected"]) == 81
    assert sorted(a["alert_id"] for a in alerts) == sorted(
        alert_id(e["detector"], e["subject"]) for e in expected["expected"]
    )


def test_exactly_the_bad_lines_rejected(replayed: tuple, expected: dict) -> None:
    _, rejects, stderr = replayed
    assert len(rejects) == expected["bad_lines"] == 11
    for r in rejects:
        field, _, rule = r["reason"].partition(": ")
        assert field and rule, r["reason"]
        assert r["line"] > 0 and r["raw"]
    reasons = {r["reason"] for r in rejects}
    assert "org_id: check character is 'J', expected 'B'" in reasons
    assert "payee_id: check character is 'H', expected 'A'" in reasons
    assert "issued: '2026-02-30' is not a valid date" in reasons
    assert "rejected: 11" in stderr


def test_event_counts_in_the_summary(replayed: tuple, expected: dict) -> None:
    _, _, stderr = replayed
    for kind, n in expected["counts"].items():
        assert f"{kind:<10} {n:>10,}" in stderr


def test_alerts_are_complete(replayed: tuple) -> None:
    alerts, _, _ = replayed
    for a in alerts:
        assert a.keys() >= REQUIRED
        assert a["alert_id"].startswith(a["detector"] + ":")
        assert a["title"] and a["title_en"] and a["evidence"]
        assert a["event_ts"].endswith("+08:00")
        assert a["entity"]["kind"] == ENTITY.get(a["detector"], "invoice")
        if a["entity"]["kind"] != "invoice":
            assert a["district"], a["subject"]


def test_details_let_an_officer_act(replayed: tuple) -> None:
    by_subject = {(a["detector"], a["subject"]): a for a in replayed[0]}
    dup = by_subject["duplicate_application", "APP-000003"]["details"]
    assert dup["channel"] == "multi" and dup["department"] != dup["other_department"]
    assert dup["other_application_id"] and dup["similarity"] >= 0.85
    assert by_subject["duplicate_application", "APP-000005"]["details"]["channel"] == "repeat"
    idle = by_subject["funds_idle", "GR-000003"]["details"]
    assert idle["working_days"] == 60 and idle["deadline_date"] and idle["skipped_days"]
    mismatch = by_subject["invoice_mismatch", "26213000000000000103"]["details"]
    assert mismatch["fields"] == ["total_cny"]
    (diff,) = mismatch["mismatches"]
    assert abs(diff["upload"] - diff["tax"]) == pytest.approx(1.5)
    assert mismatch["uploads"] and mismatch["tax_versions"]
    late = by_subject["invoice_reused", "26211000000000000051/PRJ-2026-00034"]["details"]
    assert late["first_project_id"] != "PRJ-2026-00034"
