"""`sunlight up` and `sunlight demo`: the whole system on one machine.

Starts the embedded Kafka-protocol broker (Tansu) and Redis server (Valkey, with an
append-only file in the data dir, so alerts, cases and the audit ledger survive a
restart), creates the topics, starts a worker and the dashboard as child processes, prints
where each listens, restarts a worker or dashboard that dies (with backoff, and a message),
and stops everything it started on Ctrl-C or SIGTERM: the worker first, which writes a
final checkpoint. The broker is memory-only: the worker's checkpoints (in the state dir)
are what carry the engine's state across a restart.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from streams.settings import Settings
from streams.tools.embedded import EmbeddedKafka, EmbeddedRedis, create_topics, free_port
from streams.topics import ALL_TOPICS, topic_configs


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
    if settings.state_dir:
        env["SUNLIGHT_STATE_DIR"] = settings.state_dir
    if settings.audit_key:
        env["SUNLIGHT_AUDIT_KEY"] = settings.secret("audit_key") or ""
    return env


def demo_audit_key(settings: Settings) -> Settings:
    """`up` and `demo` without SUNLIGHT_AUDIT_KEY: a key of their own, kept (mode 0600) in
    the data folder, so `SUNLIGHT_AUDIT_KEY=$(cat DIR/audit.key) sunlight audit verify`
    works against the running system."""
    if settings.audit_key:
        return settings
    path = Path(settings.data_dir) / "audit.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return settings.with_(audit_key=path.read_text().strip())


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


def stop_process(proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
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
        self.redis = EmbeddedRedis(redis_port, data_dir=Path(settings.data_dir) / "redis",
                                   appendonly=True, appendfsync="everysec")
        self.settings = settings
        self.log_dir = log_dir
        self.children: list[subprocess.Popen[bytes]] = []
        self.commands: dict[int, tuple[list[str], dict[str, str], str]] = {}

    def start(self) -> Settings:
        self.kafka.start()
        self.redis.start()
        s = self.settings.with_(kafka_bootstrap=self.kafka.bootstrap,
                                redis_url=self.redis.url)
        create_topics(s.kafka_bootstrap, [s.topic(t) for t in ALL_TOPICS], s.partitions,
                      topic_configs(s.topic_prefix))
        self.settings = s
        return s

    def spawn(self, cmd: list[str], env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
        out = open(self.log_dir / f"{name}.log", "ab") if self.log_dir else subprocess.DEVNULL  # noqa: SIM115
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.children.append(proc)
        self.commands[proc.pid] = (cmd, env, name)
        if self.log_dir:  # for operators (and tests): which process is the worker now
            (self.log_dir / f"{name}.pid").write_text(f"{proc.pid}\n")
        return proc

    def respawn(self, proc: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
        """Start a child that exited again, in its place."""
        cmd, env, name = self.commands.pop(proc.pid)
        self.children.remove(proc)
        return self.spawn(cmd, env, name)

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
    settings = demo_audit_key(settings)
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
        supervisor = Supervisor(system)
        while not stop.is_set():
            if not (system.kafka.running and system.redis.running):
                print("the embedded broker or Redis exited; stopping", file=sys.stderr)
                return 1
            supervisor.check()
            stop.wait(0.5)
        return 0
    finally:
        system.stop()


class Supervisor:
    """Restarts a child that died, after a backoff that doubles while it keeps dying
    (1 s up to 60 s) and resets once it has run a minute."""

    def __init__(self, system: System, clock: Callable[[], float] = time.monotonic) -> None:
        self.system = system
        self.clock = clock
        self.delay: dict[str, float] = {}
        self.started: dict[str, float] = {}
        self.due: dict[int, float] = {}  # pid of a dead child -> when to start it again
        self.restarts = 0

    def check(self) -> None:
        now = self.clock()
        for proc in list(self.system.children):
            name = self.system.commands[proc.pid][2]
            if proc.poll() is None:
                if now - self.started.setdefault(name, now) > 60:
                    self.delay[name] = 1.0
                continue
            if proc.pid not in self.due:
                delay = self.delay.get(name, 1.0)
                self.due[proc.pid] = now + delay
                self.delay[name] = min(delay * 2, 60.0)
                print(f"{name} exited with code {proc.returncode}; restarting it in "
                      f"{delay:.0f} s (log: {name}.log)", file=sys.stderr, flush=True)
            elif now >= self.due[proc.pid]:
                del self.due[proc.pid]
                self.system.respawn(proc)
                self.started[name] = now
                self.restarts += 1
                print(f"{name} restarted", file=sys.stderr, flush=True)


def default_ports(settings: Settings) -> Settings:
    """Free ports for anything left at its default, so `up` runs beside other things."""
    return settings.with_(metrics_port=settings.metrics_port or free_port(),
                          dashboard_port=settings.dashboard_port or free_port())
