"""Helpers for the resilience tests: a live system whose Redis keeps its data across a
restart, a producer thread that reports its errors, and reading a worker's /metrics."""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from live_support import LiveSystem, wait_for
from prometheus_client.parser import text_string_to_metric_families

from streams.tools.embedded import EmbeddedKafka, EmbeddedRedis, create_topics
from streams.tools.producer import produce
from streams.topics import ALL_TOPICS

PARTITIONS = 4


@contextmanager
def durable_live_system(tmp_path: Path, appendonly: bool = True) -> Iterator[LiveSystem]:
    """Like `live_system`, but Redis writes an AOF (fsync always) under `tmp_path`, so
    stopping it and starting it again on the same port keeps every alert."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    kafka = EmbeddedKafka(partitions=PARTITIONS)
    data_dir = tmp_path / "redis-data" if appendonly else None
    redis_server = EmbeddedRedis(data_dir=data_dir, appendonly=appendonly)
    kafka.start()
    redis_server.start()
    system = LiveSystem(kafka, redis_server, tmp_path)
    try:
        create_topics(kafka.bootstrap, [f"sunlight.{t}" for t in ALL_TOPICS], PARTITIONS)
        yield system
    finally:
        for proc in system.workers:
            system.kill(proc)
        redis_server.stop()
        kafka.stop()


class Feed(threading.Thread):
    """`streams.tools.producer.produce` in a thread; `join_ok()` re-raises what it raised."""

    def __init__(self, paths: list[Path], bootstrap: str, **kwargs: Any) -> None:
        super().__init__(daemon=True)
        self.paths = paths
        self.bootstrap = bootstrap
        self.kwargs = kwargs
        self.sent = 0
        self.error: BaseException | None = None
        self.started_at = 0.0
        self.finished_at = 0.0

    def run(self) -> None:
        self.started_at = time.monotonic()
        try:
            self.sent = produce(self.paths, self.bootstrap, **self.kwargs)
        except BaseException as exc:  # reported by join_ok
            self.error = exc
        finally:
            self.finished_at = time.monotonic()

    def join_ok(self, timeout_s: float) -> int:
        self.join(timeout_s)
        assert not self.is_alive(), f"the producer did not finish in {timeout_s} s"
        if self.error is not None:
            raise AssertionError(f"the producer failed: {self.error!r}") from self.error
        return self.sent


def worker_metrics_url(proc: Any) -> str:
    return f"http://127.0.0.1:{proc.metrics_port}/metrics"


def fetch_text(url: str, timeout_s: float = 5.0) -> str:
    """The body of a GET, or "" when nothing answers (yet)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # noqa: S310 - loopback
            return str(resp.read().decode())
    except OSError:
        return ""


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Sample name -> [(labels, value)] of a Prometheus text exposition."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return out


def sample_value(text: str, name: str, **labels: str) -> float | None:
    """The value of the one sample `name{labels}` (None when it is not exposed)."""
    for have, value in samples(text).get(name, []):
        if have == labels:
            return value
    return None


def declared_families(text: str) -> set[str]:
    """Metric names with a `# TYPE` line (declared, with or without samples)."""
    return {
        line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")
    }


def wait_until(check: Callable[[], bool], timeout_s: float, step_s: float = 0.5) -> bool:
    return wait_for(check, timeout_s, step_s)
