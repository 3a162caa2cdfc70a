"""The simulated city: simulate -> replay -> evaluate gives precision and recall 1.0 for
every detector; the output is reproducible and realistic; evaluate scores correctly."""

from __future__ import annotations

import argparse
import gzip
import json
from collections import defaultdict
from datetime import date
from pathlib import Path

import orjson
import pytest
from paths import CITY_SAMPLE as SAMPLE

from detectors.calendar import load_calendar
from detectors.config import DEFAULT_CONFIG_DIR
from detectors.geo import distance_km
from detectors.timeutil import Zone
from streams.batch.replay import replay_files
from streams.cli import sim
from streams.tools.evaluate import DETECTORS, load_alerts, load_truth, score
from streams.tools.simulator import frauds, typologies
from streams.tools.simulator.funds import FUNDS_LOOKALIKES

SMALL = ["--vehicles", "20", "--days", "10", "--recipients", "120", "--cases", "40"]


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sunlight")
    sub = parser.add_subparsers(dest="command", required=True)
    sim.register(sub)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


def simulate(out: Path, *extra: str) -> dict[str, object]:
    assert run(["simulate", "--out", str(out), *extra]) == 0
    truth: dict[str, object] = json.loads((out / "truth.json").read_text())
    return truth


def replay(out: Path, until: str) -> Path:
    alerts = out / "alerts.jsonl"
    with alerts.open("wb") as f:
        stats = replay_files([out / "stream.jsonl.gz"], f, until=until)
    assert not stats.rejects, stats.rejects
    return alerts


@pytest.mark.parametrize("seed", [1, 7])
@pytest.mark.parametrize("size", [SMALL, ["--vehicles", "32", "--days", "15",
                                          "--recipients", "200", "--cases", "60",
                                          "--start", "2026-02-09"]])
def test_simulate_replay_evaluate_is_perfect(tmp_path: Path, seed: int, size: list[str]) -> None:
    truth = simulate(tmp_path, "--seed", str(seed), *size)
    alerts = replay(tmp_path, str(truth["until"]))
    report = score(load_alerts(alerts), load_truth(tmp_path / "truth.json"))
    assert not report.misses and not report.false_alerts, (report.misses, report.false_alerts)
    assert report.perfect
    assert run(["evaluate", str(alerts), str(tmp_path / "truth.json")]) == 0


def test_every_detector_and_lookalike_at_default_rate(tmp_path: Path) -> None:
    truth = simulate(tmp_path, *SMALL)
    expected = truth["expected"]
    assert isinstance(expected, list)
    assert {e["detector"] for e in expected} == set(DETECTORS)
    assert all(e["note"] for e in expected)
    subjects = {e["subject"] for e in expected if e["detector"] == "review_overdue"}
    assert any("#2" in s for s in subjects), "a node entered again"
    notes = " ".join(e["note"] for e in expected)
    assert "suspension" in notes and "months late" in notes
    kinds = {x["kind"] for x in truth["lookalikes"]}  # type: ignore[attr-defined]
    assert kinds == set(frauds.VEHICLE_LOOKALIKES + frauds.PAYEE_LOOKALIKES
                        + frauds.CASE_LOOKALIKES + typologies.VEHICLE_LOOKALIKES
                        + FUNDS_LOOKALIKES)
    assert truth["skipped"] == []


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for out, seed in ((a, "3"), (b, "3"), (c, "4")):
        simulate(out, "--seed", seed, "--vehicles", "10", "--days", "8")
    for name in ("stream.jsonl.gz", "truth.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    assert (a / "stream.jsonl.gz").read_bytes() != (c / "stream.jsonl.gz").read_bytes()


def test_stream_is_realistic(tmp_path: Path) -> None:
    simulate(tmp_path, "--vehicles", "20", "--days", "14")  # through the 调休 Saturday
    events = [orjson.loads(line)
              for line in gzip.decompress((tmp_path / "stream.jsonl.gz").read_bytes()).splitlines()]
    assert all(e["kind"] and str(e["ts"]).endswith("+08:00") for e in events)
    kinds = {e["kind"] for e in events}
    assert kinds == {"gps", "fuel", "payment", "review", "vehicle", "card", "station", "death",
                     "place", "asset", "application", "grant", "followup", "invoice",
                     "tax_invoice", "bank_payment"}
    zone = Zone()
    tracks: dict[str, list[tuple[int, float, float, float]]] = defaultdict(list)
    for e in events:
        if e["kind"] == "gps":
            tracks[e["vehicle_id"]].append((zone.parse(e["ts"]), e["lat"], e["lon"],
                                            e["speed_kmh"]))
    long_gaps = 0
    calendar = load_calendar(DEFAULT_CONFIG_DIR / "calendar.yaml")
    driven_on: set[date] = set()
    for fixes in tracks.values():
        fixes = sorted(set(fixes))
        for (t0, la0, lo0, v0), (t1, la1, lo1, v1) in zip(fixes, fixes[1:], strict=False):
            gap_s = (t1 - t0) / 1000
            km = distance_km(la0, lo0, la1, lo1)
            if gap_s > 15 * 60:
                long_gaps += 1  # only the injected silent devices
            if v0 > 0 and v1 > 0:  # moving: a fix every 10-60 s at a plausible speed
                assert 1 <= gap_s <= 60
                assert km / (gap_s / 3600) < 90
            if v0 == 0 and v1 == 0 and gap_s > 120:  # parked: jitter under 50 m
                assert km < 0.05
            if v1 > 0:
                driven_on.add(zone.local_date(t1))
    assert long_gaps <= 2 * len(frauds.VEHICLE_FRAUDS)
    assert date(2026, 5, 9) in driven_on, "the 调休 Saturday is a working day"
    assert not calendar.is_workday(date(2026, 5, 2))


def test_city_sample_evaluates_perfect(tmp_path: Path) -> None:
    until = json.loads((SAMPLE / "expected.json").read_text())["until"]
    alerts = tmp_path / "alerts.jsonl"
    with alerts.open("wb") as f:
        replay_files([SAMPLE / "stream.jsonl.gz"], f, until=until)
    truth = json.loads((SAMPLE / "expected.json").read_text())
    truth["expected"] += json.loads((SAMPLE / "expected-typologies.json").read_text())["expected"]
    truth_file = tmp_path / "truth.json"
    truth_file.write_text(json.dumps(truth))
    assert run(["evaluate", str(alerts), str(truth_file)]) == 0


def test_evaluate_reports_miss_and_false_alert(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    truth = simulate(tmp_path, "--vehicles", "10", "--days", "8")
    alerts = replay(tmp_path, str(truth["until"]))
    lines = alerts.read_bytes().splitlines()
    dropped = orjson.loads(lines[0])
    fake = dict(dropped, detector="tank_overfill", subject="TXN-NOT-REAL")
    doctored = tmp_path / "doctored.jsonl"
    doctored.write_bytes(b"\n".join([*lines[1:], lines[1], orjson.dumps(fake)]) + b"\n")
    capsys.readouterr()
    numbers = tmp_path / "numbers.json"
    assert run(["evaluate", str(doctored), str(tmp_path / "truth.json"),
                "--json", str(numbers)]) == 1
    printed = capsys.readouterr().out
    assert "misses: 1" in printed and "false alerts: 1" in printed
    assert dropped["subject"] in printed and "TXN-NOT-REAL" in printed
    result = json.loads(numbers.read_text())
    assert result["perfect"] is False
    assert [(m["detector"], m["subject"]) for m in result["misses"]] == [
        (dropped["detector"], dropped["subject"])]
    assert [(f["detector"], f["subject"]) for f in result["false_alerts"]] == [
        ("tank_overfill", "TXN-NOT-REAL")]
    row = result["detectors"]["tank_overfill"]
    assert row["precision"] < 1.0 and row["recall"] == 1.0
    missed = result["detectors"][dropped["detector"]]
    assert missed["recall"] < 1.0 and missed["precision"] == 1.0


@pytest.mark.integration
def test_live_feed_keys_records_per_contract() -> None:
    from kafka import KafkaConsumer

    from detectors.events import KEY_FIELD
    from streams.tools.embedded import EmbeddedKafka
    from streams.tools.producer import registry_key
    from streams.tools.simulator import SimConfig
    from streams.tools.simulator.live import ending_today, feed
    from streams.topics import INPUT_TOPICS

    topics = [f"sunlight.{n}" for n in INPUT_TOPICS]  # the city's five and the funds' five
    config = ending_today(SimConfig(vehicles=4, days=3, recipients=20, cases=6, projects=6),
                          today=date(2026, 5, 8))
    with EmbeddedKafka() as kafka:
        kafka.create_topics(topics)
        sent = feed(config, kafka.bootstrap, speed=1e7)
        consumer = KafkaConsumer(*topics, bootstrap_servers=kafka.bootstrap, group_id=None,
                                 auto_offset_reset="earliest", consumer_timeout_ms=3000)
        seen = 0
        for record in consumer:
            event = orjson.loads(record.value)
            key = event[KEY_FIELD[event["kind"]]]
            if record.topic == "sunlight.registry":  # compacted: every version has its key
                key = registry_key(event["kind"], key, event["ts"], event)
            assert record.key.decode() == key
            seen += 1
        consumer.close()
    assert seen == sent > 0
