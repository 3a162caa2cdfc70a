"""Kafka and Redis over TLS for real: Debian's stunnel4 terminates TLS in front of the embedded
Tansu broker and Valkey, with a CA and a server certificate made here by openssl. The clients
are Sunlight's own, built from the settings: `sunlight produce`, topic creation, the audit
anchor (aiokafka), the worker's Redis store and `sunlight alerts tail`. Without the CA the
same connections are refused. (stunnel4 and openssl come with `make sysdeps`; missing, this
fails: it never skips.)"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from alert_fixtures import engine_alerts
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from live_support import wait_for

from sinks.audit_anchor import KafkaAnchor, read_anchors
from sinks.redis_client import async_redis
from sinks.redis_store import RedisAlertStore
from streams.kafka_options import aiokafka_options, kafka_python_options
from streams.settings import Settings, load_settings
from streams.tools.embedded import EmbeddedKafka, EmbeddedRedis, create_topics, free_port

pytestmark = pytest.mark.integration
HOST = "127.0.0.1"


def _tool(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} is not installed: `make sysdeps` (Debian stunnel4, openssl)"
    return found


def make_ca(folder: Path) -> tuple[Path, Path, Path]:
    """A CA, and a server certificate it signs for 127.0.0.1 (IP SAN)."""
    openssl = _tool("openssl")
    ca_key, ca, key, csr, cert = (folder / n for n in
                                  ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem"))
    run = lambda *a: subprocess.run([openssl, *a], check=True, capture_output=True)  # noqa: E731
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca),
        "-days", "2", "-subj", "/CN=sunlight test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
        "-subj", "/CN=127.0.0.1")
    ext = folder / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", str(ext))
    return ca, cert, key


class TlsAdvertisedKafka(EmbeddedKafka):
    """Tansu listening in plaintext on its port, telling clients to come back through the
    TLS terminator's port (the advertised listener)."""

    def __init__(self, tls_port: int) -> None:
        super().__init__(partitions=2)
        self.tls_port = tls_port

    def _command(self) -> list[str]:
        command = super()._command()
        at = command.index("--advertised-listener-url") + 1
        command[at] = f"tcp://{HOST}:{self.tls_port}"
        return command

    def _ready(self) -> bool:
        with socket.socket() as s:
            return s.connect_ex((HOST, self.port)) == 0


@dataclass
class TlsSystem:
    settings: Settings
    ca: Path
    plain_kafka: str


def _wait_port(port: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsSystem]:
    folder = tmp_path_factory.mktemp("tls")
    ca, cert, key = make_ca(folder)
    kafka_tls, redis_tls = free_port(), free_port()
    kafka = TlsAdvertisedKafka(kafka_tls)
    valkey = EmbeddedRedis()
    conf = folder / "stunnel.conf"
    with kafka, valkey:
        conf.write_text(
            f"foreground = yes\npid =\ncert = {cert}\nkey = {key}\n"
            f"[kafka]\naccept = {HOST}:{kafka_tls}\nconnect = {HOST}:{kafka.port}\n"
            f"[redis]\naccept = {HOST}:{redis_tls}\nconnect = {HOST}:{valkey.port}\n")
        log = open(folder / "stunnel.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen([_tool("stunnel4"), str(conf)], stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_port(kafka_tls)
            _wait_port(redis_tls)
            settings = load_settings(environ={
                "SUNLIGHT_KAFKA_BOOTSTRAP": f"{HOST}:{kafka_tls}",
                "SUNLIGHT_KAFKA_SECURITY_PROTOCOL": "SSL",
                "SUNLIGHT_KAFKA_SSL_CAFILE": str(ca),
                "SUNLIGHT_REDIS_URL": f"rediss://{HOST}:{redis_tls}/0",
                "SUNLIGHT_REDIS_TLS_CA": str(ca),
                "SUNLIGHT_TOPIC_PREFIX": "tls.",
                "SUNLIGHT_PARTITIONS": "2",
            })
            names = [settings.topic(t) for t in ("gps", "payments", "audit")]

            def created() -> bool:  # the broker answers through TLS once it is all up
                try:
                    create_topics(settings.kafka_bootstrap, names, 2,
                                  **kafka_python_options(settings))
                except KafkaError:
                    return False
                return True

            assert wait_for(created, 30, step_s=0.5), (folder / "stunnel.log").read_text()
            yield TlsSystem(settings, ca, kafka.bootstrap)
        finally:
            proc.terminate()
            proc.wait(10)
            log.close()


def _env(s: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUNLIGHT_")}
    env.update(SUNLIGHT_KAFKA_BOOTSTRAP=s.kafka_bootstrap, SUNLIGHT_KAFKA_SECURITY_PROTOCOL="SSL",
               SUNLIGHT_KAFKA_SSL_CAFILE=str(s.kafka_ssl_cafile), SUNLIGHT_REDIS_URL=s.redis_url,
               SUNLIGHT_REDIS_TLS_CA=str(s.redis_tls_ca), SUNLIGHT_TOPIC_PREFIX=s.topic_prefix)
    return env


def test_produce_and_consume_over_tls(tls: TlsSystem, tmp_path: Path) -> None:
    s = tls.settings
    lines = [{"kind": "gps", "vehicle_id": f"V{i}", "ts": 1772410500000 + i, "lat": 41.8,
              "lon": 123.4} for i in range(5)]
    src = tmp_path / "gps.jsonl"
    src.write_text("".join(json.dumps(x) + "\n" for x in lines))
    proc = subprocess.run([sys.executable, "-m", "streams.cli", "produce", str(src)],
                          env=_env(s), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    consumer = KafkaConsumer(bootstrap_servers=s.kafka_bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=5000, **kafka_python_options(s))
    tps = [TopicPartition(s.topic("gps"), p) for p in (0, 1)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    got = sorted(json.loads(r.value)["vehicle_id"] for r in consumer)
    consumer.close()
    assert got == [f"V{i}" for i in range(5)]


def test_the_audit_anchor_over_tls(tls: TlsSystem) -> None:
    s = tls.settings

    async def go() -> dict[int, str]:
        anchor = KafkaAnchor(s.kafka_bootstrap, s.topic("audit"), aiokafka_options(s))
        for seq in (1, 2, 3):
            await anchor.publish(seq, f"h{seq}")
        await anchor.stop()
        return await read_anchors(s.kafka_bootstrap, s.topic("audit"), aiokafka_options(s))

    assert asyncio.run(go()) == {1: "h1", 2: "h2", 3: "h3"}


def test_kafka_without_the_ca_is_refused(tls: TlsSystem) -> None:
    import ssl

    from kafka.errors import NoBrokersAvailable

    with pytest.raises((NoBrokersAvailable, ssl.SSLCertVerificationError)):
        KafkaConsumer(bootstrap_servers=tls.settings.kafka_bootstrap, security_protocol="SSL",
                      api_version_auto_timeout_ms=3000)


def test_redis_round_trip_over_tls(tls: TlsSystem) -> None:
    """The worker's store writes over TLS; `sunlight alerts tail` reads it back over TLS."""
    s = tls.settings
    alerts = list(engine_alerts())[:3]

    async def write() -> None:
        store = RedisAlertStore(s.redis_url, "tls:", tls_ca=s.redis_tls_ca)
        assert await store.ping()
        assert len(await store.add_new(alerts)) == 3
        await store.close()

    asyncio.run(write())
    proc = subprocess.run(
        [sys.executable, "-m", "streams.cli", "alerts", "tail", "--prefix", "tls:",
         "--from-start", "--max", "3", "--idle-exit", "5"],
        env=_env(s), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    got = [json.loads(line)["alert_id"] for line in proc.stdout.splitlines()]
    assert got == [a["alert_id"] for a in alerts]


def test_redis_without_the_ca_is_refused(tls: TlsSystem) -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError

    async def go() -> None:
        client = async_redis(tls.settings.redis_url, None)
        try:
            with pytest.raises(RedisConnectionError, match="certificate verify failed"):
                await client.ping()
        finally:
            await client.aclose()
        trusted = aioredis.from_url(tls.settings.redis_url, ssl_ca_certs=str(tls.ca))
        assert await trusted.ping()
        await trusted.aclose()

    asyncio.run(go())
