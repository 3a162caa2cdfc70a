"""`sunlight up` and `sunlight demo`: the whole system on one machine.

Starts the embedded Kafka-protocol broker (Tansu) and Redis server (Valkey), creates the
topics, starts a worker and the dashboard as child processes, prints where each listens,
and stops everything it started on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from streams.embedded import EmbeddedKafka, EmbeddedRedis, create_topics, free_port
from streams.settings import Settings
from streams.topics import ALL_TOPICS


def worker_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        SUNLIGHT_KAFKA_BOOTSTRAP=settings.kafka_bootstrap,
        SUNLIGHT_REDIS_URL=settings.redis_url,
        SUNLIGHT_REDIS_PREFIX=settings.redis_prefix,
        SUNLIGHT_TOPIC_PREFIX=settings.topic_prefix,
        SUNLIGHT_PARTITIONS=str(settings.partitions),
        SUNLIGHT_METRICS_PORT=str(settings.metrics_port),
        SUNLIGHT_DASHBOARD_PORT=str(settings.dashboard_port),
        SUNLIGHT_DATA_DIR=settings.data_dir,
    )
    if settings.clock_end:
        env["SUNLIGHT_CLOCK_END"] = settings.clock_end
    return env


def start_worker(settings: Settings, log_path: Path | None = None) -> subprocess.Popen[bytes]:
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "--config", str(settings.config_dir), "worker"],
        env=worker_env(settings),
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_http(url: str, timeout_s: float = 60.0, alive: Callable[[], bool] = lambda: True) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and alive():
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as resp:
            if resp.status == 200:
                return True
        time.sleep(0.2)
    return False


def stop_process(proc: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


class System:
    """The embedded servers plus child processes, stopped together."""

    def __init__(self, settings: Settings, kafka_port: int | None = None,
                 redis_port: int | None = None, log_dir: Path | None = None) -> None:
        self.kafka = EmbeddedKafka(kafka_port, partitions=settings.partitions)
        self.redis = EmbeddedRedis(redis_port)
        self.settings = settings
        self.log_dir = log_dir
        self.children: list[subprocess.Popen[bytes]] = []

    def start(self) -> Settings:
        self.kafka.start()
        self.redis.start()
        s = replace(self.settings, kafka_bootstrap=self.kafka.bootstrap,
                    redis_url=self.redis.url)
        create_topics(s.kafka_bootstrap, [s.topic(t) for t in ALL_TOPICS], s.partitions)
        self.settings = s
        return s

    def spawn(self, cmd: list[str], env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
        out = open(self.log_dir / f"{name}.log", "ab") if self.log_dir else subprocess.DEVNULL  # noqa: SIM115
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.children.append(proc)
        return proc

    def stop(self) -> None:
        for proc in reversed(self.children):
            stop_process(proc)
        self.children.clear()
        self.redis.stop()
        self.kafka.stop()


def run_up(settings: Settings, feed: Callable[[Settings], None] | None = None,
           kafka_port: int | None = None, redis_port: int | None = None,
           demo: bool = False) -> int:
    log_dir = Path(settings.data_dir) / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    system = System(settings, kafka_port, redis_port, log_dir)
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        s = system.start()
        print(f"kafka: {s.kafka_bootstrap}", flush=True)
        print(f"redis: {s.redis_url}", flush=True)
        env = worker_env(s)
        cli = [sys.executable, "-m", "streams.cli", "--config", str(s.config_dir)]
        worker = system.spawn([*cli, "worker"], env, "worker")
        if not wait_http(f"http://127.0.0.1:{s.metrics_port}/metrics",
                         alive=lambda: worker.poll() is None):
            print(f"worker did not start; see {log_dir / 'worker.log'}", file=sys.stderr)
            return 1
        print(f"metrics: http://127.0.0.1:{s.metrics_port}/metrics", flush=True)
        dashboard = system.spawn([*cli, "dashboard", "--host", "127.0.0.1", "--port",
                                  str(s.dashboard_port), "--redis", s.redis_url,
                                  *(["--demo"] if demo else [])], env,
                                 "dashboard")
        if wait_http(f"http://127.0.0.1:{s.dashboard_port}/healthz",
                     alive=lambda: dashboard.poll() is None, timeout_s=30):
            print(f"dashboard: http://127.0.0.1:{s.dashboard_port}/", flush=True)
        else:
            print(f"dashboard did not start; see {log_dir / 'dashboard.log'}", file=sys.stderr)
        print("ready", flush=True)
        if feed is not None:
            threading.Thread(target=feed, args=(s,), daemon=True).start()
        while not stop.is_set():
            if any(p.poll() is not None for p in system.children):
                print("a child process exited; stopping", file=sys.stderr)
                return 1
            stop.wait(0.5)
        return 0
    finally:
        system.stop()


def default_ports(settings: Settings) -> Settings:
    """Free ports for anything left at its default, so `up` runs beside other things."""
    return replace(settings, metrics_port=settings.metrics_port or free_port(),
                   dashboard_port=settings.dashboard_port or free_port())
