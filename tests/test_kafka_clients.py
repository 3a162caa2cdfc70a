"""SASL/SCRAM over TLS reaches every Kafka client Sunlight builds: Faust (the worker's own
consumers and producer), the feeds, the audit anchor and its reader, `sunlight produce`,
topic creation (admin) and the simulator feed. The clients are built from the settings and
their configuration inspected (a SCRAM handshake needs a broker with users: the embedded
Tansu cannot provision one; TLS itself is tested for real in test_tls.py)."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import pytest
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from sinks import audit_anchor
from sinks.audit_anchor import KafkaAnchor
from streams.cli import main
from streams.kafka_options import aiokafka_options, kafka_python_options
from streams.live.app import create_app
from streams.settings import load_settings
from streams.tools import embedded, producer

SYSTEM_CA = "/etc/ssl/certs/ca-certificates.crt"
ENV = {
    "SUNLIGHT_KAFKA_BOOTSTRAP": "kafka1.example.gov:9096",
    "SUNLIGHT_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "SUNLIGHT_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "SUNLIGHT_KAFKA_SASL_USERNAME": "sunlight",
    "SUNLIGHT_KAFKA_SASL_PASSWORD": "s3cret-from-env",
    "SUNLIGHT_KAFKA_SSL_CAFILE": SYSTEM_CA,
}
WANT = {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "sunlight", "sasl_plain_password": "s3cret-from-env"}


def _has_settings(opts: dict[str, Any]) -> None:
    for key, value in WANT.items():
        assert opts.get(key) == value, (key, opts.get(key))
    assert isinstance(opts.get("ssl_context"), ssl.SSLContext)
    assert opts["ssl_context"].verify_mode == ssl.CERT_REQUIRED


class Recorder:
    """Stands in for a client class: records the keyword arguments, then stops the caller."""

    calls: list[dict[str, Any]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        Recorder.calls.append(kwargs)
        raise _Stop


class _Stop(Exception):
    pass


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("SUNLIGHT_DATA_DIR", str(tmp_path))
    Recorder.calls = []
    return ENV


def test_option_builders(env: dict[str, str]) -> None:
    s = load_settings(environ=env)
    _has_settings(aiokafka_options(s))
    _has_settings(kafka_python_options(s))
    assert "s3cret" not in repr(s)


def test_faust_is_built_with_the_credentials(env: dict[str, str]) -> None:
    s = load_settings(environ=env)
    app = create_app(s)
    auth = dict(credentials_to_aiokafka_auth(app.conf.broker_credentials))
    _has_settings(auth)
    _has_settings(app.sunlight.kafka)  # type: ignore[attr-defined]  (the feeds' consumers)


def test_the_audit_anchor_and_its_reader(env: dict[str, str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    s = load_settings(environ=env)

    async def go() -> None:
        anchor = KafkaAnchor(s.kafka_bootstrap, s.topic("audit"), aiokafka_options(s))
        # the producer is made on first use (it needs the running loop)
        monkeypatch.setattr(audit_anchor, "AIOKafkaProducer", Recorder)
        with pytest.raises(_Stop):
            await anchor.start()
        _has_settings(Recorder.calls[-1])
        assert Recorder.calls[-1]["acks"] == "all"
        monkeypatch.setattr(audit_anchor, "AIOKafkaConsumer", Recorder)
        with pytest.raises(_Stop):
            await audit_anchor.read_anchors(s.kafka_bootstrap, s.topic("audit"),
                                            aiokafka_options(s))

    asyncio.run(go())
    _has_settings(Recorder.calls[-1])


def test_sunlight_produce(env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                          tmp_path: Path) -> None:
    monkeypatch.setattr(producer, "KafkaProducer", Recorder)
    src = tmp_path / "gps.jsonl"
    src.write_text("{}\n")
    with pytest.raises(_Stop):
        main(["produce", str(src)])
    _has_settings(Recorder.calls[-1])
    assert Recorder.calls[-1]["bootstrap_servers"] == "kafka1.example.gov:9096"


def test_topic_creation(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    import kafka

    monkeypatch.setattr(kafka, "KafkaAdminClient", Recorder)
    s = load_settings(environ=env)
    with pytest.raises(_Stop):
        embedded.create_topics(s.kafka_bootstrap, [s.topic("gps")], 2,
                               **kafka_python_options(s))
    _has_settings(Recorder.calls[-1])
    # and the worker creates its topics with them before it starts Faust
    with pytest.raises(_Stop):
        main(["worker"])
    _has_settings(Recorder.calls[-1])


def test_the_simulator_feed(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(producer, "KafkaProducer", Recorder)
    with pytest.raises(_Stop):
        main(["simulate", "--live", "kafka1.example.gov:9096", "--days", "1", "--vehicles",
              "2", "--units", "1", "--stations", "1", "--recipients", "2", "--cases", "1"])
    _has_settings(Recorder.calls[-1])
