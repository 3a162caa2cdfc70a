"""The packed GPS track gives the same answers as the list of fixes it replaced: every
decision of the detectors that read a vehicle's track (the fuel family and off-hours use),
over the city sample, equals the reference in tests/data/city-sample-alerts.jsonl.gz,
alert for alert, details included (track points, path_km, gaps, nearest fix), all fields
but `raised_at` (the wall clock).

With the shipped rules only 17 such alerts are raised, so the sample is also replayed
under two variants of the rules that make every GPS decision raise and so show its
details: `every_window` (any fuel window is "no trip" or "unverifiable"; every hour is
off-hours and any distance raises, so every vehicle-day that moved is an alert) and
`every_nearest` (every fuel window of a vehicle goes on to the nearest-fix check, and
any distance raises). Their alerts keep a digest of the track
points instead of the points, to keep the reference small; the rest is kept as is.

Coordinates are packed at 1e-6 degree: at 1e-5 this test fails (the same alerts are
raised, with other track points and distances in their details).

The reference was generated once from main's code before the track was packed (main at
f4776b4, `python tests/test_track_answers.py`); regenerate it only for a deliberate
change of the answers.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import orjson
from paths import CITY_SAMPLE, DATA

from detectors.config import EngineConfig, load_config
from streams.batch.replay import replay_files

REFERENCE = DATA / "city-sample-alerts.jsonl.gz"
UNTIL = "2026-10-31T00:00:00+08:00"  # the sample's expected.json `until`
TRACK_DETECTORS = frozenset({
    "refuel_without_trip", "refuel_location_mismatch", "refuel_unverifiable",
    "tank_overfill", "fuel_type_mismatch", "card_vehicle_mismatch", "off_hours_use",
})


VARIANTS: dict[str, dict[str, dict[str, float]]] = {
    "shipped": {},
    "every_window": {
        "refuel_without_trip": {"min_path_km": 1e9},
        "refuel_unverifiable": {"min_path_km": 1e9},
        "off_hours_use": {"min_km": 0.0, "night_start_hour": 0, "night_end_hour": 0},
    },
    "every_nearest": {
        "refuel_without_trip": {"min_path_km": 0.0},
        "refuel_unverifiable": {"min_path_km": 0.0},
        "refuel_location_mismatch": {"min_path_km": 0.0, "max_distance_km": -1.0},
    },
}


def config_of(variant: str) -> EngineConfig:
    config = load_config()
    rules = dict(config.rules)
    for name, params in VARIANTS[variant].items():
        rules[name] = replace(rules[name], params=MappingProxyType({**rules[name].params,
                                                                   **params}))
    return replace(config, rules=MappingProxyType(rules))


def track_decisions() -> list[dict[str, Any]]:
    kept = []
    for variant in VARIANTS:
        out = io.BytesIO()
        replay_files([CITY_SAMPLE / "stream.jsonl.gz"], out, until=UNTIL,
                     config=config_of(variant))
        for line in out.getvalue().splitlines():
            alert = orjson.loads(line)
            if alert["detector"] in TRACK_DETECTORS:
                del alert["raised_at"]
                if variant != "shipped" and "track" in alert["details"]:
                    points = orjson.dumps(alert["details"]["track"])
                    alert["details"]["track"] = hashlib.sha256(points).hexdigest()
                kept.append({"variant": variant, **alert})
    return sorted(kept, key=lambda a: (a["variant"], a["detector"], a["subject"]))


def test_every_track_decision_is_unchanged() -> None:
    with gzip.open(REFERENCE, "rb") as f:
        want = [orjson.loads(line) for line in f.read().splitlines()]
    got = track_decisions()
    assert Counter(a["variant"] for a in want) == {"shipped": 17, "every_window": 219,
                                                    "every_nearest": 44}
    assert [(a["variant"], a["detector"], a["subject"]) for a in got] == [
        (a["variant"], a["detector"], a["subject"]) for a in want
    ]
    for g, w in zip(got, want, strict=True):
        assert g == w, (w["variant"], w["detector"], w["subject"])


if __name__ == "__main__":
    lines = b"".join(orjson.dumps(a, option=orjson.OPT_SORT_KEYS) + b"\n"
                     for a in track_decisions())
    Path(REFERENCE).write_bytes(gzip.compress(lines, mtime=0))
    print(f"wrote {REFERENCE} ({len(lines.splitlines())} alerts)", file=sys.stderr)
