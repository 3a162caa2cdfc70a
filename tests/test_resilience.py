"""Resilience of the live engine (issue 6), each on the real embedded broker (Tansu) and
Redis (Valkey) with real `sunlight worker` processes, no mocks:

1. Redis stopped for 30 s mid-run and started again: every alert arrives, once, in order;
2. a worker killed with `kill -9` five times during a 200k-event run: the alerts equal the
   replay's, with no duplicate stream entry;
3. hostile input through the live path: each bad record goes to the DLQ with its reason,
   good records with a missing or wrong key are processed, and the worker carries on;
4. a slow consumer of `sunlight alerts tail` does not slow the workers;
5. `promtool check metrics` on a live worker's /metrics, and every metric the deployment
   (EXPOSED_METRICS, the Grafana dashboard) relies on is exposed by a live worker.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaProducer
from live_support import CITY_ALERTS, ROOT, SAMPLE, LiveSystem, expected, subjects
from resilience_support import (
    PARTITIONS,
    Feed,
    declared_families,
    durable_live_system,
    fetch_text,
    sample_value,
    samples,
    wait_until,
    worker_metrics_url,
)
from test_deploy_config import (
    EXPOSED_METRICS,
    GRAFANA_DASHBOARD_FILE,
    SYNTHETIC_SERIES,
    _dashboard_exprs,
    promql_metric_names,
)

from streams.batch.replay import replay_files
from streams.tools.bench.suite import synthetic_gps
from streams.topics import partition_for

pytestmark = [
    pytest.mark.integration,
]
STREAM = SAMPLE / "stream.jsonl.gz"
STREAM_KEY = "sunlight:alerts"
# What makes an alert the same alert: all but the wall-clock `raised_at` and the narrative
# (`details`, `evidence`). The narrative of `review_overdue` can differ between live and
# replay without any fault: in live a `complete` after the deadline may arrive before the
# partition clock reaches the deadline, and the alert (same id) then tells the late
# completion; replay, in `ts` order, tells an open node at the deadline. See the report.
NARRATIVE_FIELDS = ("raised_at", "details", "evidence")


def until() -> str:
    value: str = expected()["until"]
    return value


def want() -> list[tuple[str, str]]:
    return sorted((e["detector"], e["subject"]) for e in expected()["expected"])


def start_and_wait(system: LiveSystem, **env: str) -> subprocess.Popen[bytes]:
    """A worker whose /metrics answers (the group join follows a few seconds later)."""
    worker = system.start_worker(**env)
    up = wait_until(lambda: fetch_text(worker_metrics_url(worker)) != "", 90)
    assert up, system.log_tail()
    return worker


def stream_entries(system: LiveSystem) -> list[tuple[bytes, dict[str, Any]]]:
    return [(entry_id, json.loads(fields[b"alert"]))
            for entry_id, fields in system.redis().xrange(STREAM_KEY)]


def assert_once_each(system: LiveSystem, alerts: list[dict[str, Any]], n: int) -> None:
    """`n` stream entries, one per alert id, each with its case hash."""
    ids = Counter(a["alert_id"] for a in alerts)
    doubled = {i: c for i, c in ids.items() if c > 1}
    assert not doubled, f"alert ids with more than one stream entry: {doubled}"
    assert system.redis().xlen(STREAM_KEY) == len(ids) == n
    client = system.redis()
    for a in alerts:
        stored = client.hget(f"sunlight:alert:{a['alert_id']}", "alert")
        assert stored is not None and json.loads(stored) == a


def identity(alert: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in alert.items() if k not in NARRATIVE_FIELDS}


# --- 1. Redis outage -----------------------------------------------------------------------


@pytest.mark.timeout(360)
def test_redis_outage_of_30_s_loses_doubles_and_reorders_nothing(tmp_path: Path) -> None:
    with durable_live_system(tmp_path, appendonly=True) as system:
        worker = start_and_wait(system, SUNLIGHT_CLOCK_END=until())
        metrics = worker_metrics_url(worker)

        def retries() -> float:
            text = fetch_text(metrics)
            return sample_value(text, "sunlight_sink_retries_total", sink="redis") or 0.0

        # ~50 s of input at 1,500 lines/s: the outage falls in the middle of it.
        feed = Feed([STREAM], system.bootstrap, rate=1500)
        feed.start()
        assert wait_until(lambda: system.redis().xlen(STREAM_KEY) >= 10, 120), (
            system.log_tail()
        )
        before = stream_entries(system)  # the worker may add a few more before the stop
        system.redis_server.stop()
        outage_started = time.monotonic()
        assert feed.is_alive(), "the outage should fall in the middle of the input"
        assert wait_until(lambda: retries() >= 1, 25), (
            "the worker did not retry Redis during the outage\n" + system.log_tail()
        )
        time.sleep(max(0.0, 30.0 - (time.monotonic() - outage_started)))
        assert worker.poll() is None, "the worker died during the outage\n" + system.log_tail()
        retried_in_outage = retries()
        system.redis_server.start()  # the same port and data directory (AOF)
        feed.join_ok(180)

        system.wait_alerts(CITY_ALERTS, timeout_s=200)  # then waits until nothing more can come
        entries = stream_entries(system)
        alerts = [a for _, a in entries]
        assert subjects(alerts) == want(), system.log_tail()
        assert_once_each(system, alerts, CITY_ALERTS)
        # In order: what was written before the outage is still first, unchanged, with
        # its stream ids; everything written since follows it.
        assert entries[: len(before)] == before
        # Kafka gets each new alert once, after Redis has it: none was sent twice.
        kafka_ids = Counter(r.key.decode() for r in system.topic_records("sunlight.alerts"))
        assert kafka_ids == Counter(a["alert_id"] for a in alerts)
        text = fetch_text(metrics)
        assert retries() >= retried_in_outage >= 1
        assert sample_value(text, "sunlight_sink_pending_alerts", sink="redis") == 0
        assert wait_until(lambda: fetch_text(metrics).count(
            "sunlight_watermark_timestamp_seconds{") == PARTITIONS, 30), system.log_tail()
        text = fetch_text(metrics)
        assert worker.poll() is None
    # /metrics of this worker, which ran the whole sample (and an outage), checked as
    # Prometheus and the Grafana dashboard would read it.
    assert_metrics_pass_promtool_and_cover_the_dashboard(text)


# --- 2. kill -9, five times ------------------------------------------------------------------


def synthetic_file(path: Path, vehicles: int, per_vehicle: int) -> int:
    """Extra GPS: `vehicles` unregistered cars driving from 20:26 local into the night of
    2026-09-10 (shifted 12 h from `synthetic_gps`), so the off-hours rule has work."""
    shift_ms = 12 * 3600 * 1000
    with path.open("wb") as f:
        for event in synthetic_gps(vehicles, per_vehicle, seed=11):
            event["ts"] += shift_ms
            f.write(orjson.dumps(event) + b"\n")
    return vehicles * per_vehicle


@pytest.mark.timeout(480)
def test_kill_9_five_times_gives_the_replays_alerts(tmp_path: Path) -> None:
    synthetic = tmp_path / "gps-synthetic.jsonl"
    extra = synthetic_file(synthetic, vehicles=100, per_vehicle=1262)
    inputs = [STREAM, synthetic]
    assert extra + 73_822 >= 200_000
    out = io.BytesIO()
    replay_files(inputs, out, until=until())
    replayed = {a["alert_id"]: identity(a)
                for a in map(orjson.loads, out.getvalue().splitlines())}
    synthetic_alerts = [a for a in replayed.values() if a["entity"]["id"].startswith("B-")]
    assert synthetic_alerts, "the extra GPS should raise alerts of its own (off-hours)"

    rng = random.Random(6_0009)  # seeded: the kill moments are the same on every run
    with durable_live_system(tmp_path, appendonly=False) as system:
        worker = start_and_wait(system, SUNLIGHT_CLOCK_END=until())
        feed = Feed(inputs, system.bootstrap, rate=4000)  # ~50 s of input
        feed.start()
        kills = []
        for _ in range(5):
            time.sleep(rng.uniform(3.0, 12.0))
            kills.append(round(time.monotonic() - feed.started_at, 1))
            system.kill(worker)  # SIGKILL to the worker's process group
            worker = system.start_worker(SUNLIGHT_CLOCK_END=until())
        feed.join_ok(300)
        assert kills[0] < feed.finished_at - feed.started_at, "no kill during the input"

        system.wait_alerts(len(replayed), timeout_s=300)  # then until nothing more can come
        alerts = [a for _, a in stream_entries(system)]
        context = f"kills at {kills} s; " + system.log_tail()
        assert_once_each(system, alerts, len(alerts))
        live = {a["alert_id"]: identity(a) for a in alerts}
        assert sorted(live) == sorted(replayed), context
        different = [(live[i], replayed[i]) for i in live if live[i] != replayed[i]]
        assert not different, f"{len(different)} alerts differ from the replay's: {different[:2]}"
        assert worker.poll() is None
        print(f"kill -9 test: kills at {kills} s; {len(alerts)} alerts as replay")


# --- 3. hostile input --------------------------------------------------------------------


PAY_TS = "2026-03-02T10:00:00+08:00"  # a Monday
MIB = 1 << 20


def payment(pid: str, payee: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "payment", "payment_id": pid, "program": "dibao", "payee_id": payee,
            "amount_cny": 500.0, "ts": PAY_TS, **extra}


def parked_fix(vehicle: str, n: int, **extra: Any) -> dict[str, Any]:
    # Working hours of a working day, not moving: no alert of its own.
    return {"vehicle_id": vehicle, "ts": f"2026-03-02T10:{n // 60 % 60:02d}:{n % 60:02d}+08:00",
            "lat": 41.8, "lon": 123.4, "speed_kmh": 0, **extra}


def padded(event: dict[str, Any], size: int) -> bytes:
    """The event as JSON of exactly `size` bytes (an extra field holds the padding)."""
    base = orjson.dumps({**event, "pad": ""})
    value = orjson.dumps({**event, "pad": "x" * (size - len(base))})
    assert len(value) == size
    return value


def key_on(prefix: str, partition: int) -> str:
    """An id that the partitioner puts on `partition`."""
    for n in range(1000):
        if partition_for(f"{prefix}-{n}", PARTITIONS) == partition:
            return f"{prefix}-{n}"
    raise AssertionError(f"no {prefix} id for partition {partition}")


Hostile = tuple[str, str, str, bytes, str | None]


def hostile_records(p: int, payee: str) -> list[Hostile]:
    """(name, topic, key, value, the DLQ reason_class, or None for a good record), keyed
    (right) to partition `p`, so that none is re-routed: they all meet the good events."""
    big, deep, batch, num = (key_on(f"V-{x}", p) for x in ("BIG", "DEEP", "BATCH", "NUM"))
    nested: Any = "deep"
    for _ in range(200):  # deep, yet within the parser's depth limit: the field is wrong
        nested = {"a": nested}
    tiny = {"vehicle_id": batch, "ts": 1772416800000, "lat": 41.8, "lon": 123.4}
    fix = orjson.dumps(parked_fix(num, 0))
    utf = orjson.dumps(payment("PAY-UTF", f"{payee}@@"))
    not_json = "record: not JSON"
    records: list[Hostile] = [
        ("1 MiB + 1", "gps", big, padded(parked_fix(big, 1), MIB + 1), "record: too large"),
        ("3 MiB", "gps", big, padded(parked_fix(big, 2), 3 * MIB), "record: too large"),
        ("exactly 1 MiB", "gps", big, padded(parked_fix(big, 3), MIB), None),
        ("array nested 100k deep", "gps", deep, b"[" * 100_000 + b"]" * 100_000, not_json),
        ("object nested 100k deep", "payments", payee,
         b'{"a":' * 100_000 + b"1" + b"}" * 100_000, not_json),
        ("a field nested 200 deep", "payments", payee,
         orjson.dumps(payment("PAY-NEST", payee, payee_id=nested)), "payee_id: wrong type"),
        ("batch of 10,001", "gps", batch, orjson.dumps([tiny] * 10_001),
         "record: batch too large"),
        ("batch of 10,000", "gps", batch, orjson.dumps([tiny] * 10_000), None),
        ("invalid UTF-8", "payments", payee, utf.replace(b"@@", b"\xff\xfe"), not_json),
        ("lone surrogate", "payments", payee, utf.replace(b"@@", b"\\ud800"), not_json),
        ("NaN", "gps", num, fix.replace(b'"lat":41.8', b'"lat":NaN'), not_json),
        ("Infinity", "gps", num, fix.replace(b'"lon":123.4', b'"lon":Infinity'), not_json),
        ("-Infinity", "gps", num, fix.replace(b'"lon":123.4', b'"lon":-Infinity'), not_json),
        ("1e999", "gps", num, fix.replace(b'"lat":41.8', b'"lat":1e999'), not_json),
        ("NaN in a batch", "gps", num, b"[" + fix + b',{"lat":NaN}]', not_json),
        ("a good fix after them", "gps", num, fix, None),
    ]
    changed = [r for r in records[8:15] if r[3] in (fix, utf)]
    assert not changed, f"a hostile record was not made: {changed}"
    return records


@pytest.mark.timeout(240)
def test_hostile_input_goes_to_the_dlq_and_the_worker_carries_on(tmp_path: Path) -> None:
    good = "P-GOOD"
    p = partition_for(good, PARTITIONS)
    hostile = hostile_records(p, good)
    rejects = [h for h in hostile if h[4] is not None]

    with durable_live_system(tmp_path, appendonly=False) as system:
        worker = start_and_wait(system)
        producer = KafkaProducer(bootstrap_servers=system.bootstrap, acks="all",
                                 max_request_size=8 * MIB, linger_ms=0)
        where: dict[str, str] = {}  # record name -> its DLQ key, topic/partition/offset

        def send(name: str, topic: str, key: str | None, value: bytes, partition: int) -> None:
            meta = producer.send(f"sunlight.{topic}", key=key.encode() if key else None,
                                 value=value, partition=partition).get(timeout=60)
            where[name] = f"{topic}/{meta.partition}/{meta.offset}"

        for name, topic, key, value, _ in hostile:
            send(name, topic, key, value, p)
        # Good payments whose duplicate comes with no key, or with a wrong key, on another
        # partition than their payee's: only a correct re-route makes the two meet.
        for payee, keyed in (("P-NOKEY", False), ("P-WRONGKEY", True)):
            home = partition_for(payee, PARTITIONS)
            elsewhere = (home + 1) % PARTITIONS
            send(f"{payee} 1", "payments", payee, orjson.dumps(payment(f"PAY-{payee}-1", payee)),
                 home)
            send(f"{payee} 2", "payments", key_on("WRONG", elsewhere) if keyed else None,
                 orjson.dumps(payment(f"PAY-{payee}-2", payee)), elsewhere)
        # Last, a good pair on the partition that had the hostile records.
        for n in (1, 2):
            send(f"good {n}", "payments", good, orjson.dumps(payment(f"PAY-{good}-{n}", good)), p)
        producer.close()

        alerts = system.wait_alerts(3, timeout_s=150)
        assert sorted((a["detector"], a["subject"]) for a in alerts) == [
            ("duplicate_payment", "PAY-P-GOOD-2"),
            ("duplicate_payment", "PAY-P-NOKEY-2"),
            ("duplicate_payment", "PAY-P-WRONGKEY-2"),
        ], system.log_tail()
        metrics = worker_metrics_url(worker)

        def counted(name: str, **labels: str) -> float:
            text = fetch_text(metrics)
            if labels:
                return sample_value(text, name, **labels) or 0.0
            return sum(v for _, v in samples(text).get(name, []))

        # gps and payments are read independently: wait for the gps records as well.
        assert wait_until(lambda: counted("sunlight_events_total", kind="gps") >= 10_002, 60), (
            "the 1 MiB fix, the batch of 10,000 and the fix after them were not all taken in"
        )
        assert wait_until(lambda: counted("sunlight_dlq_records_total") >= len(rejects), 60)
        system.wait_drained()  # an extra count would be in by now
        assert counted("sunlight_events_total", kind="gps") == 10_002
        assert counted("sunlight_events_total", kind="payment") == 6
        assert counted("sunlight_events_rejected_total") == len(rejects)
        assert worker.poll() is None, system.log_tail()

        dead = {r.key.decode(): json.loads(r.value)
                for r in system.topic_records("sunlight.dlq", timeout_ms=5000)}
        names = {v: k for k, v in where.items()}
        assert len(dead) == len(rejects), sorted(
            (names.get(k, k), d["reason"][:80]) for k, d in dead.items()
        )
        for name, topic, _key, value, reason in hostile:
            record = dead.get(where[name])
            if reason is None:
                assert record is None, f"{name}: a good record was dead-lettered: {record}"
                continue
            assert record is not None, f"{name}: not in the DLQ"
            assert record["reason_class"] == reason, name
            field = reason.partition(": ")[0]
            assert record["reason"].startswith(f"{field}: "), record["reason"]
            assert record["source_topic"] == f"sunlight.{topic}"
            assert f"{topic}/{record['partition']}/{record['offset']}" == where[name]
            if len(value) > 64 * 1024:
                assert record["raw_truncated"] is True
                assert record["raw_bytes"] == len(value)
                assert record["raw_sha256"] == hashlib.sha256(value).hexdigest()
                assert record["raw"].encode() == value[: 64 * 1024]
            else:
                assert "raw_truncated" not in record
                assert record["raw"] == value.decode("utf-8", errors="backslashreplace")
        assert "\\xff\\xfe" in dead[where["invalid UTF-8"]]["raw"]
        assert "1,048,577 bytes" in dead[where["1 MiB + 1"]]["reason"]
        assert "depth" in dead[where["array nested 100k deep"]]["reason"]


@pytest.mark.timeout(180)
def test_a_record_of_exactly_1_mib_with_a_wrong_key_is_processed(tmp_path: Path) -> None:
    """The contract rejects only records *over* 1 MiB, and a record with a wrong key must
    still be processed: re-routing a 1 MiB record must not push it over any limit."""
    payee = "P-BIGWRONG"
    home = partition_for(payee, PARTITIONS)
    elsewhere = (home + 1) % PARTITIONS
    with durable_live_system(tmp_path, appendonly=False) as system:
        worker = start_and_wait(system)
        producer = KafkaProducer(bootstrap_servers=system.bootstrap, acks="all",
                                 max_request_size=8 * MIB)
        producer.send("sunlight.payments", key=payee.encode(), partition=home,
                      value=orjson.dumps(payment(f"PAY-{payee}-1", payee))).get(timeout=60)
        big = padded(payment(f"PAY-{payee}-2", payee), MIB)
        producer.send("sunlight.payments", key=key_on("WRONG", elsewhere).encode(),
                      partition=elsewhere, value=big).get(timeout=60)
        producer.close()
        alerts = system.wait_alerts(1, timeout_s=45)
        dead = [json.loads(r.value) for r in system.topic_records("sunlight.dlq")]
        assert [(a["detector"], a["subject"]) for a in alerts] == [
            ("duplicate_payment", f"PAY-{payee}-2")
        ], [d["reason"] for d in dead]
        assert dead == []
        assert worker.poll() is None


# --- 4. a slow subscriber ----------------------------------------------------------------


def tail_process(system: LiveSystem, group: str) -> subprocess.Popen[bytes]:
    """`sunlight alerts tail` in its own consumer group; it exits after the sample's alerts."""
    return subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "alerts", "tail", "--redis",
         system.redis_server.url, "--group", group, "--consumer", f"{group}-1",
         "--from-start", "--max", str(CITY_ALERTS)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True,
    )


def group_names(system: LiveSystem) -> set[str]:
    client = system.redis()
    if not client.exists(STREAM_KEY):
        return set()
    return {info["name"].decode() for info in client.xinfo_groups(STREAM_KEY)}


def acknowledged(system: LiveSystem, group: str) -> int:
    """Entries a group has been given and has acknowledged (handled)."""
    for info in system.redis().xinfo_groups(STREAM_KEY):
        if info["name"].decode() == group:
            return int(info["entries-read"] or 0) - int(info["pending"])
    raise AssertionError(f"no group {group}")


def time_to_all_alerts(system: LiveSystem) -> float:
    """Feed the sample as fast as the producer goes; seconds until Redis has all its alerts."""
    feed = Feed([STREAM], system.bootstrap)
    feed.start()
    done = wait_until(lambda: system.redis().xlen(STREAM_KEY) >= CITY_ALERTS, 240, step_s=0.1)
    took = time.monotonic() - feed.started_at
    feed.join_ok(60)
    assert done, system.log_tail()
    return took


def read_all(proc: subprocess.Popen[bytes], timeout_s: float) -> list[bytes]:
    """Every line a tail process prints until it exits."""
    stdout = proc.stdout
    assert stdout is not None
    out: list[bytes] = []
    reader = threading.Thread(target=lambda: out.extend(stdout.read().splitlines()),
                              daemon=True)
    reader.start()
    reader.join(timeout_s)
    assert not reader.is_alive(), "the tail did not exit"
    proc.wait(10)
    return [line for line in out if line.strip()]


def joined(system: LiveSystem, worker: subprocess.Popen[bytes]) -> None:
    """Wait until the worker has joined its group and taken its partitions (Faust counts a
    finished rebalance), so that the timed feed starts after the join."""
    url = worker_metrics_url(worker)
    done = wait_until(lambda: (sample_value(fetch_text(url),
                                            "faust_rebalance_done_latency_count") or 0) >= 1, 90)
    assert done, system.log_tail()


@pytest.mark.timeout(360)
def test_a_slow_tail_subscriber_does_not_slow_the_workers(tmp_path: Path) -> None:
    with durable_live_system(tmp_path / "alone", appendonly=False) as system:
        joined(system, start_and_wait(system, SUNLIGHT_CLOCK_END=until()))
        alone = time_to_all_alerts(system)

    with durable_live_system(tmp_path / "slow", appendonly=False) as system:
        worker = start_and_wait(system, SUNLIGHT_CLOCK_END=until())
        # One subscriber writes into a 4 KiB pipe that nobody reads (it blocks in write);
        # another is stopped outright (SIGSTOP) while it waits in XREADGROUP BLOCK.
        blocked = tail_process(system, "blocked")
        assert blocked.stdout is not None
        fcntl.fcntl(blocked.stdout.fileno(), fcntl.F_SETPIPE_SZ, 4096)
        stopped = tail_process(system, "stopped")
        try:
            assert wait_until(lambda: group_names(system) == {"blocked", "stopped"}, 30)
            os.killpg(stopped.pid, signal.SIGSTOP)
            joined(system, worker)
            slow = time_to_all_alerts(system)
            lagging = acknowledged(system, "blocked"), acknowledged(system, "stopped")
            assert lagging[0] < CITY_ALERTS and lagging[1] == 0, (
                f"subscribers were not slow: {lagging}")
            assert blocked.poll() is None and stopped.poll() is None

            # Then both catch up: each gets every alert once, through its group.
            os.killpg(stopped.pid, signal.SIGCONT)
            ids = sorted(a["alert_id"] for _, a in stream_entries(system))
            for proc in (blocked, stopped):
                lines = read_all(proc, 120)
                assert sorted(orjson.loads(x)["alert_id"] for x in lines) == ids
        finally:
            for proc in (blocked, stopped):
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
    print(f"slow subscriber test: alone {alone:.1f} s, with slow subscribers {slow:.1f} s")
    # Run times vary on this shared 2-core machine, hence the slack; a subscriber that held
    # the workers back would keep them from finishing at all while it is blocked.
    assert slow <= 2.0 * alone + 20.0, f"alone {alone:.1f} s, with slow subscribers {slow:.1f} s"


# --- 5. /metrics of a live worker ----------------------------------------------------------

# `promtool check metrics` (2.42) exits 1 when the text does not parse and 3 when it parses
# but lint findings are printed. A parse failure always fails the test, and so does any lint
# finding on a Sunlight metric. Faust's own sensor (faust.sensors.prometheus) names a
# histogram `faust_events_runtime_ms`: promtool's naming advice ("abbreviated units"), not
# an error Prometheus would refuse to scrape, and the name is Faust's, not ours. Exactly
# these findings are tolerated; any other finding, Faust's included, fails.
TOLERATED_LINT = frozenset({
    ("faust_events_runtime_ms", "metric names should not contain abbreviated units"),
    ("faust_events_runtime_ms_created", "metric names should not contain abbreviated units"),
})
# A counter with labels shows a sample only once a label value has been counted: sink
# retries happen only when a sink fails (test 1 checks a real value after a Redis outage).
ONLY_AFTER_A_FAILURE = frozenset({"sunlight_sink_retries_total"})


def lint_findings(output: str) -> set[tuple[str, str]]:
    found = set()
    for line in output.splitlines():
        name, _, finding = line.strip().partition(" ")
        if name:
            found.add((name, finding.strip()))
    return found


def assert_metrics_pass_promtool_and_cover_the_dashboard(text: str) -> None:
    """The /metrics text of a live worker that ran the whole sample: promtool parses it
    with no finding but the tolerated ones, every metric we document is there, and every
    series the Grafana dashboard queries exists."""
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool is not installed: `make sysdeps` (Debian `prometheus`)"

    check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=60, check=False)
    output = check.stdout + check.stderr
    assert check.returncode in (0, 3), f"promtool could not parse /metrics: {output}"
    findings = lint_findings(output)
    assert (check.returncode == 0) == (not findings), output
    assert findings <= TOLERATED_LINT, f"lint findings: {sorted(findings - TOLERATED_LINT)}"

    present = samples(text)  # also parses the exposition with prometheus_client
    declared = declared_families(text)
    for name in EXPOSED_METRICS:
        assert name in declared, f"{name} is not declared on /metrics"
        if name in ONLY_AFTER_A_FAILURE:
            continue
        series = [s for s in present if s == name or s.startswith(f"{name}_")]
        assert series, f"{name} is declared but a live worker that ran the sample has no series"
    exposed = set(present) | declared | SYNTHETIC_SERIES
    dashboard = json.loads(GRAFANA_DASHBOARD_FILE.read_text(encoding="utf-8"))
    exprs = _dashboard_exprs(dashboard)
    assert exprs
    for expr in exprs:
        names = promql_metric_names(expr)
        assert names and names <= exposed, f"{expr}: {sorted(names - exposed)} not exposed"
        missing = {n for n in names - SYNTHETIC_SERIES - ONLY_AFTER_A_FAILURE
                   if n not in present}
        assert not missing, f"{expr}: no series of {sorted(missing)} on a live worker"
