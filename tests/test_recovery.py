"""Durable engine state on the real embedded broker and Redis: a worker restarts from its
checkpoint after its input is gone, and a poison record is dead-lettered once and never
blocks the partition again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
import redis
from kafka.admin import KafkaAdminClient
from live_support import CITY_ALERTS, ROOT, SAMPLE, expected, live_system, subjects, wait_for
from recovery_support import (
    checkpoint_positions,
    committed_offsets,
    coverage,
    covers_everything,
    split_sample,
)

from streams.tools.embedded import create_topics, free_port
from streams.tools.producer import produce

pytestmark = pytest.mark.integration
FAST = {"SUNLIGHT_CLOCK_END": "2026-10-31T00:00:00+08:00",
        "SUNLIGHT_CHECKPOINT_INTERVAL_S": "1"}
INPUTS = ["gps", "fuel", "payments", "reviews", "registry", "routed"]


def want() -> list[tuple[str, str]]:
    return sorted((e["detector"], e["subject"]) for e in expected()["expected"])


def recreate(bootstrap: str, topics: list[str]) -> None:
    """Delete the topics (every record in them) and create them again, empty."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.delete_topics(topics)
    finally:
        admin.close()
    create_topics(bootstrap, topics, 4)


@pytest.mark.timeout(1200)
def test_restart_after_the_input_is_gone(tmp_path: Path) -> None:
    """Half the sample, a checkpoint, kill -9, the input topics deleted and created again
    (nothing before the checkpoint is left to re-read), a restart, the other half: exactly
    the alerts of a replay of the whole sample, none doubled."""
    first, second = split_sample(SAMPLE / "stream.jsonl.gz", tmp_path, [0.5])
    state = tmp_path / "state"
    # Between the halves the input is idle for as long as the checkpoint, the kill and the
    # restart take: the first worker's idle clock must not move meanwhile (its checkpoint
    # would carry the clock to SUNLIGHT_CLOCK_END), so it waits 10 min. The second one's
    # input is on the broker before it is ready; its idle clock ends the run.
    env = {**FAST, "SUNLIGHT_STATE_DIR": str(state), "SUNLIGHT_ENGINE_IDLE_ADVANCE_S": "600"}
    last = {**env, "SUNLIGHT_ENGINE_IDLE_ADVANCE_S": "10"}
    with live_system(tmp_path) as system:
        db = state / system.app_id / "state.sqlite"
        worker = system.start_worker(**env)
        produce([first], system.bootstrap)
        assert wait_for(lambda: covers_everything(db, system.bootstrap, 4), 400), (
            coverage(db, system.bootstrap, 4) + system.log_tail())
        before = {a["alert_id"] for a in system.alerts()}
        assert before, "the first half raises alerts"
        # The group commits what a checkpoint covers (at its next commit, which may come
        # a little after the checkpoint), never past a durable checkpoint.
        committed: dict[tuple[str, int], int] = {}

        def commits() -> bool:
            committed.update(committed_offsets(system.bootstrap, system.app_id, 4))
            return any(committed.values())

        assert wait_for(commits, 60), "the group never committed"
        durable = checkpoint_positions(db)  # read after: a checkpoint's positions only grow
        assert all(off <= durable.get(tp, 0) for tp, off in committed.items()), (
            committed, durable)
        system.kill(worker)
        recreate(system.bootstrap, [f"sunlight.{t}" for t in INPUTS])
        system.start_worker(**last)
        produce([second], system.bootstrap)
        alerts = system.wait_alerts(CITY_ALERTS, timeout_s=400)
        assert subjects(alerts) == want(), system.log_tail()
        assert len(alerts) == len({a["alert_id"] for a in alerts}) == CITY_ALERTS
        assert before <= {a["alert_id"] for a in alerts}
        kafka_keys = [r.key for r in system.topic_records("sunlight.alerts")]
        assert len(kafka_keys) == len(set(kafka_keys)) == CITY_ALERTS  # none sent twice


POISON = textwrap.dedent('''
    """Test-only: the payee detector fails on payee POISON-1 (a stand-in for a bug)."""
    import detectors.payments as payments

    _on_event = payments.PayeeDetector.on_event


    def on_event(self, key, state, event, ctx):
        if event.get("payee_id") == "POISON-1" and event["kind"] == "payment":
            raise RuntimeError("detector bug, for the test")
        return _on_event(self, key, state, event, ctx)


    payments.PayeeDetector.on_event = on_event
''')


def payment(pid: str, payee: str, day: int) -> dict[str, object]:
    return {"kind": "payment", "payment_id": pid, "program": "DB", "payee_id": payee,
            "amount_cny": 500, "period": "2026-03", "ts": f"2026-03-{day:02d}T10:00:00+08:00"}


def write(path: Path, events: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


@pytest.mark.timeout(600)
def test_poison_record_is_dead_lettered_once_through_restarts(tmp_path: Path) -> None:
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(POISON)
    state = tmp_path / "state"
    env = {**FAST, "SUNLIGHT_STATE_DIR": str(state), "PYTHONPATH": str(hook)}
    with live_system(tmp_path) as system:
        db = state / system.app_id / "state.sqlite"
        # No checkpoint before the crash: the restart reads the poison record again.
        worker = system.start_worker(**{**env, "SUNLIGHT_CHECKPOINT_INTERVAL_S": "3600"})
        produce([write(tmp_path / "a.jsonl", [payment("P-1", "POISON-1", 2),
                                              payment("P-2", "PAYEE-2", 2)])], system.bootstrap)

        def dead() -> list[dict[str, object]]:
            return [json.loads(r.value) for r in system.topic_records("sunlight.dlq", 1000)]

        assert wait_for(lambda: len(dead()) >= 1, 120), system.log_tail()
        system.kill(worker)  # a crash right after the dead letter, before any checkpoint
        worker = system.start_worker(**env)
        # The same payee again (its partition), and a duplicate for another payee.
        produce([write(tmp_path / "b.jsonl", [payment("P-3", "POISON-1", 3),
                                              payment("P-4", "PAYEE-2", 4)])], system.bootstrap)
        assert wait_for(lambda: covers_everything(db, system.bootstrap, 4), 120), (
            system.log_tail())
        system.kill(worker, signal.SIGTERM)  # a clean stop: a final checkpoint
        system.start_worker(**env)
        produce([write(tmp_path / "c.jsonl", [payment("P-5", "PAYEE-2", 5)])],
                 system.bootstrap)
        alerts = system.wait_alerts(2, timeout_s=120)
        assert {a["subject"] for a in alerts} == {"P-4", "P-5"}, system.log_tail()
        letters = dead()
        assert len(letters) == 2, letters  # P-1 once, P-3 once: never twice
        assert len({(d["source_topic"], d["partition"], d["offset"]) for d in letters}) == 2
        assert all("detector bug, for the test" in str(d["reason"]) for d in letters)


class Up:
    """`sunlight up` as a user runs it, its output collected line by line."""

    def __init__(self, env: dict[str, str]) -> None:
        self.lines: list[str] = []
        ports = [str(free_port()) for _ in range(4)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "up", "--kafka-port", ports[0],
             "--redis-port", ports[1], "--metrics-port", ports[2], "--dashboard-port", ports[3]],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True)
        threading.Thread(target=self._read, daemon=True).start()
        assert wait_for(lambda: "ready" in self.lines, 120), self.text()
        self.kafka = self.value("kafka: ")
        self.redis = redis.Redis.from_url(self.value("redis: "))

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.append(raw.decode(errors="replace").rstrip())

    def value(self, prefix: str) -> str:
        return next(line.removeprefix(prefix) for line in self.lines if line.startswith(prefix))

    def text(self) -> str:
        return "\n".join(self.lines[-40:])

    def stop(self) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)  # Ctrl-C
        return self.proc.wait(90)

    def alerts(self) -> list[dict[str, object]]:
        return [json.loads(f[b"alert"]) for _, f in self.redis.xrange("sunlight:alerts")]


@pytest.mark.timeout(1500)
def test_up_keeps_its_data_and_restarts_its_worker(tmp_path: Path) -> None:
    """`sunlight up`: its worker killed with -9 is restarted by `up`; stopped with Ctrl-C
    and started again (a new, empty broker; Redis from its append-only file), it carries
    on from its checkpoint: the final alerts equal the replay's, none doubled."""
    parts = split_sample(SAMPLE / "stream.jsonl.gz", tmp_path, [0.3, 0.6])
    data = tmp_path / "data"
    # Between the parts the input is idle for as long as a checkpoint, a restart or the
    # stop of `up` take: until the last part its idle clock must not move (a checkpoint
    # would carry the clock to SUNLIGHT_CLOCK_END), so it waits 10 min. The last `up`'s
    # idle clock ends the run.
    env = {**os.environ, **FAST, "SUNLIGHT_DATA_DIR": str(data),
           "SUNLIGHT_ENGINE_IDLE_ADVANCE_S": "600"}
    db = data / "state" / "sunlight" / "state.sqlite"
    pid_file = data / "logs" / "worker.pid"
    up = Up(env)
    try:
        produce([parts[0]], up.kafka)
        assert wait_for(lambda: covers_everything(db, up.kafka, 4), 400), up.text()
        first_pid = int(pid_file.read_text())
        os.killpg(first_pid, signal.SIGKILL)
        assert wait_for(lambda: "worker restarted" in up.lines, 60), up.text()
        assert int(pid_file.read_text()) != first_pid
        # the killed worker is removed from the group at once (streams/live/membership.py)
        worker_log = data / "logs" / "worker.log"
        assert wait_for(lambda: "did not leave group" in worker_log.read_text(), 60), \
            worker_log.read_text()[-2000:]
        produce([parts[1]], up.kafka)
        assert wait_for(lambda: covers_everything(db, up.kafka, 4), 400), up.text()
        before = {a["alert_id"] for a in up.alerts()}
    finally:
        assert up.stop() == 0, up.text()
    assert before
    up = Up({**env, "SUNLIGHT_ENGINE_IDLE_ADVANCE_S": "10"})
    try:
        assert {a["alert_id"] for a in up.alerts()} == before  # Redis kept them
        produce([parts[2]], up.kafka)
        assert wait_for(lambda: up.redis.xlen("sunlight:alerts") >= CITY_ALERTS, 400), up.text()
        alerts = up.alerts()
        got = sorted((str(a["detector"]), str(a["subject"])) for a in alerts)
        assert got == want(), (sorted(set(want()) - set(got)), sorted(set(got) - set(want())))
        assert len(alerts) == len({a["alert_id"] for a in alerts})
    finally:
        assert up.stop() == 0, up.text()
