"""Running the live system in tests: embedded Tansu and Valkey, real worker processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from kafka import KafkaConsumer

from streams.tools.embedded import EmbeddedKafka, EmbeddedRedis, create_topics, free_port
from streams.topics import ALL_TOPICS

ROOT = Path(__file__).resolve().parents[1]
from paths import CITY_SAMPLE as SAMPLE  # noqa: E402


def expected() -> dict[str, Any]:
    """The city sample's expected.json, plus the alerts of the detectors added after it
    was made (`expected-typologies.json`, each checked by hand)."""
    data: dict[str, Any] = json.loads((SAMPLE / "expected.json").read_text())
    extra = json.loads((SAMPLE / "expected-typologies.json").read_text())
    data["expected"] = data["expected"] + extra["expected"]
    return data


CITY_ALERTS = len(expected()["expected"])  # 97 of expected.json + 5 fuel_economy_anomaly


@dataclass
class LiveSystem:
    kafka: EmbeddedKafka
    redis_server: EmbeddedRedis
    log_dir: Path
    app_id: str = field(default_factory=lambda: f"sunlight-test-{uuid.uuid4().hex[:8]}")
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def bootstrap(self) -> str:
        return self.kafka.bootstrap

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_server.url)

    def start_worker(self, **env: str) -> subprocess.Popen[bytes]:
        n = len(self.workers)
        environ = dict(os.environ)
        environ.update(
            SUNLIGHT_KAFKA_BOOTSTRAP=self.bootstrap,
            SUNLIGHT_REDIS_URL=self.redis_server.url,
            SUNLIGHT_APP_ID=self.app_id,
            SUNLIGHT_AUDIT_KEY="test-only-audit-key",  # the case desk writes the ledger
            SUNLIGHT_METRICS_PORT=str(free_port()),
            SUNLIGHT_DATA_DIR=str(self.log_dir / f"worker-{n}"),
            SUNLIGHT_ENGINE_IDLE_ADVANCE_S="5",
        )
        environ.update(env)
        log = open(self.log_dir / f"worker-{n}.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker"], cwd=ROOT, env=environ,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        proc.metrics_port = int(environ["SUNLIGHT_METRICS_PORT"])  # type: ignore[attr-defined]
        proc.clock_ends = bool(environ.get("SUNLIGHT_CLOCK_END"))  # type: ignore[attr-defined]
        self.workers.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, sig)
        proc.wait(30)

    def alerts(self) -> list[dict[str, Any]]:
        entries = self.redis().xrange("sunlight:alerts")
        return [json.loads(fields[b"alert"]) for _, fields in entries]

    def wait_alerts(self, n: int, timeout_s: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.redis().xlen("sunlight:alerts") >= n:
                break
            if self.workers and all(w.poll() is not None for w in self.workers):
                break  # every worker has died: the log tail will say why
            time.sleep(0.5)
        # Not a pause for "anything extra": wait until nothing more can come, then read back.
        self.wait_drained(timeout_s=max(60.0, deadline - time.monotonic()))
        return self.alerts()

    def progress(self) -> tuple[float, ...] | None:
        """What the live workers have done so far: alerts in the stream, and per worker the
        events taken in, the rejects and (when SUNLIGHT_CLOCK_END stops them; otherwise an
        idle clock follows the wall clock) every partition's clock; None while a worker has
        alerts pending for Redis or a feed holding for the registry (or does not answer)."""
        from prometheus_client.parser import text_string_to_metric_families

        done = [float(self.redis().xlen("sunlight:alerts"))]
        for proc in self.workers:
            if proc.poll() is not None:
                continue
            try:
                url = f"http://127.0.0.1:{proc.metrics_port}/metrics"  # type: ignore[attr-defined]
                with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback
                    text = resp.read().decode()
            except OSError:
                return None
            moving = {"sunlight_events_total", "sunlight_events_rejected_total"}
            if getattr(proc, "clock_ends", False):
                moving.add("sunlight_watermark_timestamp_seconds")
            for family in text_string_to_metric_families(text):
                for s in family.samples:
                    if s.name in ("sunlight_sink_pending_alerts", "sunlight_feed_holding") \
                            and s.value:
                        return None
                    if s.name in moving:
                        done.append(s.value)
        return tuple(done)

    def wait_drained(self, timeout_s: float = 60.0, quiet_s: float = 2.0) -> None:
        """Wait until the system is quiet: nothing pending for Redis, and nothing moved (stream
        entries, events taken in, rejects, a stopped partition clock) over `quiet_s`, two ticks of
        the workers' one-second timer. Then whatever is read back is final: an extra or
        doubled alert would have had to come from something that moved."""
        last: tuple[float, ...] | None = None
        since = time.monotonic()

        def settled() -> bool:
            nonlocal last, since
            now, seen = time.monotonic(), self.progress()
            if seen is None or seen != last:
                last, since = seen, now
                return False
            return now - since >= quiet_s

        assert wait_for(settled, timeout_s, step_s=0.5), (
            f"the live system never settled (last progress {last}; None: alerts pending "
            f"for Redis)\n{self.metrics_tail()}\n{self.log_tail()}")

    def metrics_tail(self) -> str:
        """The workers' pending, lag and watermark gauges (for a failure message)."""
        out = []
        for proc in self.workers:
            if proc.poll() is None:
                url = f"http://127.0.0.1:{proc.metrics_port}/metrics"  # type: ignore[attr-defined]
                try:
                    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310
                        text = resp.read().decode()
                except OSError as exc:
                    text = repr(exc)
                out += [line for line in text.splitlines() if line.startswith((
                    "sunlight_sink_pending", "sunlight_watermark", "sunlight_consumer_lag"))]
        return "\n".join(out)

    def topic_records(self, topic: str, timeout_ms: int = 3000) -> list[Any]:
        consumer = KafkaConsumer(topic, bootstrap_servers=self.bootstrap,
                                 auto_offset_reset="earliest", consumer_timeout_ms=timeout_ms)
        try:
            return list(consumer)
        finally:
            consumer.close()

    def log_tail(self, n: int = 3000) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-n:]}"
            for p in sorted(self.log_dir.glob("worker-*.log"))
        )


@contextmanager
def live_system(tmp_path: Path) -> Iterator[LiveSystem]:
    kafka = EmbeddedKafka(partitions=4)
    redis_server = EmbeddedRedis()
    kafka.start()
    redis_server.start()
    system = LiveSystem(kafka, redis_server, tmp_path)
    try:
        create_topics(kafka.bootstrap, [f"sunlight.{t}" for t in ALL_TOPICS], 4)
        yield system
    finally:
        for proc in system.workers:
            system.kill(proc)
        redis_server.stop()
        kafka.stop()


def wait_for(check: Callable[[], bool], timeout_s: float, step_s: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step_s)
    return check()


def subjects(alerts: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((a["detector"], a["subject"]) for a in alerts)
