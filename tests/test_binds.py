"""Where things listen: loopback by default on a host; all interfaces of a container only when
the image or compose says so (the dashboard's published port must reach it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from live_support import wait_for

from streams.cli import build_parser
from streams.cli.ops import dashboard_bind
from streams.settings import load_settings
from streams.tools.embedded import create_topics, free_port
from streams.topics import ALL_TOPICS

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def _env(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as the container sees it (only literal values kept)."""
    return {k: str(v) for k, v in (service.get("environment") or {}).items()
            if v is not None and "${" not in str(v)}


def test_settings_bind_loopback_by_default() -> None:
    s = load_settings(environ={})
    assert (s.metrics_host, s.dashboard_host) == ("127.0.0.1", "127.0.0.1")
    s = load_settings(environ={"SUNLIGHT_METRICS_HOST": "0.0.0.0",
                               "SUNLIGHT_DASHBOARD_HOST": "::"})
    assert (s.metrics_host, s.dashboard_host) == ("0.0.0.0", "::")


def test_compose_dashboard_listens_where_its_port_is_published(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    service = compose["services"]["dashboard"]
    env = _env(service)
    for key in list(os.environ):
        if key.startswith("SUNLIGHT_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    args = build_parser().parse_args(service["command"][1:])
    host, port = dashboard_bind(args)
    assert host == "0.0.0.0", "inside its container the dashboard must listen on all interfaces"
    published = [str(p).rsplit(":", 1)[-1] for p in service["ports"]]
    assert published == [str(port)]
    assert all(str(p).startswith("${SUNLIGHT_DASHBOARD_BIND:-127.0.0.1}:")
               for p in service["ports"]), "the host side stays on loopback by default"


def test_compose_workers_serve_metrics_to_prometheus(compose: dict[str, Any]) -> None:
    env = _env(compose["services"]["worker"])
    s = load_settings(environ=env)
    assert s.metrics_host == "0.0.0.0", "Prometheus scrapes workers over compose's network"
    assert s.metrics_port == 9101


def test_compose_points_at_its_mounted_config(compose: dict[str, Any]) -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "COPY --chown=root:root config" not in text, "defaults come inside the package"
    for name in ("worker", "dashboard"):
        service = compose["services"][name]
        folder = _env(service)["SUNLIGHT_CONFIG"]
        assert f"./config:{folder}:ro" in service["volumes"]


def _listening(port: int) -> set[str]:
    """Local addresses listening on `port` (Linux /proc/net/tcp and tcp6, hex encoded)."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


LOOPBACK_V4 = "0100007F"  # 127.0.0.1, little-endian hex


@pytest.mark.integration
def test_a_worker_serves_metrics_on_loopback_only(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    create_topics(kafka_bootstrap, [f"sunlight.{t}" for t in ALL_TOPICS], 4)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUNLIGHT_")}
    env.update(SUNLIGHT_KAFKA_BOOTSTRAP=kafka_bootstrap, SUNLIGHT_REDIS_URL=redis_url,
               SUNLIGHT_METRICS_PORT=str(port), SUNLIGHT_DATA_DIR=str(tmp_path),
               SUNLIGHT_APP_ID=f"binds-{port}")
    with open(tmp_path / "worker.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "streams.cli", "worker"], env=env,
                                cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    try:
        assert wait_for(lambda: bool(_listening(port)) or proc.poll() is not None, 60), \
            (tmp_path / "worker.log").read_text()[-2000:]
        assert _listening(port) == {LOOPBACK_V4}
    finally:
        proc.terminate()
        proc.wait(30)
