"""The typology golden test: `sunlight replay` of the typology sample, through the CLI,
raises exactly the 185 alerts of its expected.json (all detectors, made independently of
this code) and rejects its 5 bad lines, each with a reason naming field and rule."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import pytest
from paths import TYPOLOGY_SAMPLE as SAMPLE

from detectors.base import alert_id


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], list[dict], str]:
    expected = json.loads((SAMPLE / "expected.json").read_text())
    tmp = tmp_path_factory.mktemp("golden-typologies")
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
    want = Counter((e["detector"], e["subject"]) for e in expected["expected"])
    got = Counter((a["detector"], a["subject"]) for a in alerts)
    assert got - want == Counter(), "alerts raised that should not be"
    assert want - got == Counter(), "expected alerts missing"
    assert len(alerts) == len(expected["expected"]) == 185
    assert {a["detector"] for a in alerts} == {
        "refuel_repeat", "restricted_place_stay", "fuel_economy_anomaly", "welfare_ineligible",
        "off_hours_use"}
    for a in alerts:
        assert a["alert_id"] == alert_id(a["detector"], a["subject"])
        assert a["title"] and a["title_en"] and a["evidence"]
        assert a["event_ts"].endswith("+08:00")


def test_exactly_the_bad_lines_rejected(replayed: tuple[list[dict], list[dict], str]) -> None:
    _, rejects, stderr = replayed
    expected = json.loads((SAMPLE / "expected.json").read_text())
    assert len(rejects) == expected["bad_lines"] == 5
    assert {r["reason"] for r in rejects} == {
        "category: 'casino' is not one of entertainment, golf, hotel, luxury_dining, other, "
        "private_club, residence, scenic",
        "radius_m: 0 is outside [10, 5000]",
        "rated_l_per_100km: -3 is outside (0, ∞]",
        "asset_kind: 'yacht' is not one of company, housing_fund, property, vehicle",
        "from: '2026-02-30' is not a valid date",
    }
    assert "rejected: 5" in stderr
    for kind, n in expected["counts"].items():
        assert f"{kind:<10} {n:>10,}" in stderr


def test_evidence_of_each_typology(replayed: tuple[list[dict], list[dict], str]) -> None:
    alerts, _, _ = replayed
    by = {(a["detector"], a["subject"]): a for a in alerts}
    pair = by[("refuel_repeat", "TXN-000017")]["details"]
    assert pair["other_txn_id"] == "TXN-000016" and pair["minutes_apart"] == 90.0
    assert pair["total_liters"] == 96.0 and pair["tank_liters"] == 80.0
    stay = by[("restricted_place_stay", "LN-A-0000/PL-000/2026-09-19")]["details"]
    assert stay["place"]["category"] == "scenic" and stay["minutes"] >= 30
    assert stay["track"] and stay["arrival"] < stay["departure"]
    month = by[("fuel_economy_anomaly", "LN-A-0009/2026-09")]["details"]
    assert month["liters"] == 192.5 and 230 < month["km"] < 236
    assert month["rated_l_per_100km"] == 10.0 and month["days"]
    welfare = by[("welfare_ineligible", "PAY-0000083")]["details"]
    assert welfare["payment_date"] == "2026-07-05" and welfare["asset_from"] == "2026-07-05"
