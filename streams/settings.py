"""Worker settings: typed and frozen, read once from `config/sunlight.yaml` with
environment overrides named `SUNLIGHT_...` (the only place that reads the environment)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from detectors.config import DEFAULT_CONFIG_DIR

ENV = {
    "SUNLIGHT_KAFKA_BOOTSTRAP": "kafka_bootstrap",
    "SUNLIGHT_TOPIC_PREFIX": "topic_prefix",
    "SUNLIGHT_PARTITIONS": "partitions",
    "SUNLIGHT_REDIS_URL": "redis_url",
    "SUNLIGHT_REDIS_PREFIX": "redis_prefix",
    "SUNLIGHT_METRICS_HOST": "metrics_host",
    "SUNLIGHT_METRICS_PORT": "metrics_port",
    "SUNLIGHT_DASHBOARD_HOST": "dashboard_host",
    "SUNLIGHT_DASHBOARD_PORT": "dashboard_port",
    "SUNLIGHT_WORKER_PORT": "worker_port",
    "SUNLIGHT_APP_ID": "app_id",
    "SUNLIGHT_CLOCK_END": "clock_end",
    "SUNLIGHT_DATA_DIR": "data_dir",
    "SUNLIGHT_KAFKA_SECURITY_PROTOCOL": "kafka_security_protocol",
    "SUNLIGHT_KAFKA_SASL_MECHANISM": "kafka_sasl_mechanism",
    "SUNLIGHT_KAFKA_SASL_USERNAME": "kafka_sasl_username",
    "SUNLIGHT_KAFKA_SASL_PASSWORD": "kafka_sasl_password",
    "SUNLIGHT_KAFKA_SSL_CAFILE": "kafka_ssl_cafile",
    "SUNLIGHT_REDIS_TLS_CA": "redis_tls_ca",
    "SUNLIGHT_AUDIT_KEY": "audit_key",
    "SUNLIGHT_ALERTS_MAXLEN": "alerts_maxlen",
}


@dataclass(frozen=True)
class Settings:
    config_dir: Path = DEFAULT_CONFIG_DIR
    app_id: str = "sunlight"
    kafka_bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = "sunlight."
    partitions: int = 4
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "sunlight:"
    # `sunlight:alerts` is trimmed to about this many entries, never past what a subscriber
    # group has not acknowledged (sinks/stream_trim.py); alert hashes are kept.
    alerts_maxlen: int = 1_000_000
    # Loopback unless told otherwise: a container sets 0.0.0.0 (the image and compose do).
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9101
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = 8080
    worker_port: int = 6066
    clock_end: str | None = None  # backfills: the clock never passes this instant
    data_dir: str = "/tmp/sunlight"
    group_timeout_s: float = 6.0  # Tansu joins a group only after the rebalance timeout
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = None
    kafka_ssl_cafile: str | None = None
    redis_tls_ca: str | None = None  # CA of a rediss:// server
    audit_key: str | None = None  # HMAC key of the audit ledger (never stored in Redis)
    # SUNLIGHT_ENGINE_<KEY>=value overrides `engine.<key>` of sunlight.yaml
    engine_overrides: tuple[tuple[str, Any], ...] = ()

    def __repr__(self) -> str:  # never print a secret
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        shown["kafka_sasl_password"] = "***" if self.kafka_sasl_password else None
        shown["audit_key"] = "***" if self.audit_key else None
        shown["redis_url"] = _hide_password(self.redis_url)
        return "Settings(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"


def _hide_password(url: str) -> str:
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@")
    return url


def check_redis_url(url: str) -> str:
    scheme = urlparse(url).scheme
    if scheme not in ("redis", "rediss", "unix"):
        raise ValueError(f"redis url: scheme {scheme!r} is not redis, rediss or unix")
    return url


def config_dir_from_env(environ: Mapping[str, str] | None = None) -> Path:
    """`SUNLIGHT_CONFIG` (an operator's folder), else the configuration shipped in the package."""
    env = os.environ if environ is None else environ
    chosen = env.get("SUNLIGHT_CONFIG")
    return Path(chosen) if chosen else DEFAULT_CONFIG_DIR


def _coerce(name: str, value: Any) -> Any:
    kind = {f.name: f.type for f in fields(Settings)}[name]
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    if kind == "Path":
        return Path(value)
    return None if value in ("", None) else str(value)


def load_settings(
    config_dir: Path = DEFAULT_CONFIG_DIR, environ: Mapping[str, str] | None = None
) -> Settings:
    env = os.environ if environ is None else environ
    path = Path(config_dir) / "sunlight.yaml"
    doc: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}
    kafka, redis = doc.get("kafka") or {}, doc.get("redis") or {}
    values: dict[str, Any] = {"config_dir": Path(config_dir)}
    for src, key, name in (
        (kafka, "bootstrap", "kafka_bootstrap"),
        (kafka, "topic_prefix", "topic_prefix"),
        (kafka, "partitions", "partitions"),
        (redis, "url", "redis_url"),
        (redis, "prefix", "redis_prefix"),
    ):
        if key in src:
            values[name] = _coerce(name, src[key])
    for var, name in ENV.items():
        if var in env:
            values[name] = _coerce(name, env[var])
    values["engine_overrides"] = tuple(
        (var.removeprefix("SUNLIGHT_ENGINE_").lower(), yaml.safe_load(value))
        for var, value in sorted(env.items())
        if var.startswith("SUNLIGHT_ENGINE_")
    )
    settings = replace(Settings(), **values)
    check_redis_url(settings.redis_url)
    if settings.partitions < 1:
        raise ValueError(f"partitions: {settings.partitions} is below 1")
    return settings
