"""Settings: one typed, frozen object (pydantic-settings), read once from `sunlight.yaml` with
environment overrides named `SUNLIGHT_<FIELD>` (this module and `settings_env`, its light
part, are the only ones that read them).
Secrets are `SecretStr`: they never show in a repr, a log line or an error message."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from detectors.config import DEFAULT_CONFIG_DIR
from streams.settings_env import ENV_PREFIX, config_dir_from_env, engine_overrides

__all__ = ["ENV_PREFIX", "Settings", "check_redis_url", "config_dir_from_env", "load_settings"]


class Settings(BaseSettings):
    """Every setting of a worker, the dashboard and the operator commands."""

    model_config = SettingsConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    config_dir: Path = DEFAULT_CONFIG_DIR
    app_id: str = "sunlight"
    kafka_bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = "sunlight."
    partitions: int = Field(4, ge=1)
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "sunlight:"
    redis_tls_ca: str | None = None  # CA of a rediss:// server
    # `sunlight:alerts` is trimmed to about this many entries, never past what a subscriber
    # group has not acknowledged (sinks/stream_trim.py); alert hashes are kept.
    alerts_maxlen: int = Field(1_000_000, ge=1)
    # Loopback unless told otherwise: a container sets 0.0.0.0 (the image and compose do).
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9101
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = 8080
    worker_port: int = 6066
    clock_end: str | None = None  # backfills: the clock never passes this instant
    log_level: str = "WARNING"  # a worker's log (`worker -v` is INFO)
    data_dir: str = "/tmp/sunlight"
    state_dir: str | None = None  # checkpoints; default: <data_dir>/state
    checkpoint_interval_s: float = Field(10.0, gt=0)
    # Also to the compacted changelog topic `<prefix>state`, for a takeover without the
    # disk (another worker, or this one on a new machine); see README, "How state is kept".
    checkpoint_kafka: bool = True
    # How long the group's fetch may wait on the broker when it has nothing new. Kafka
    # answers as soon as a record arrives; the embedded broker (Tansu) holds a fetch for
    # the whole wait, so this bounds how late a quiet partition's record is seen (Faust
    # fixes 1,500 ms). The broadcast feeds (registry, fuel, invoices) wait
    # `FEED_FETCH_WAIT_MS` (25 ms: on-arrival alerts).
    fetch_max_wait_ms: int = Field(100, ge=1, le=1500)
    # A fuel transaction is checked against the registry as the broker had it when the
    # transaction arrived, or this long after its CreateTime if that is later: a fact
    # stamped just before the transaction by another producer, sent at the same moment,
    # still counts (see README, "fuel is broadcast").
    registry_grace_ms: int = Field(20, ge=0, le=60_000)
    group_timeout_s: float = 6.0  # Tansu joins a group only after the rebalance timeout
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = None
    audit_key: SecretStr | None = None  # HMAC key of the audit ledger (never stored in Redis)
    # SUNLIGHT_ENGINE_<KEY>=value overrides `engine.<key>` of sunlight.yaml
    engine_overrides: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Only what `load_settings` passes in: building a Settings never reads os.environ
        # behind the caller's back (tests pass their own environment).
        return (init_settings,)

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, url: str) -> str:
        return check_redis_url(url)

    @field_validator("kafka_security_protocol")
    @classmethod
    def _protocol(cls, value: str) -> str:
        allowed = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
        if value not in allowed:
            raise ValueError(f"kafka security protocol: {value!r} is not one of {allowed}")
        return value

    def __repr_args__(self) -> Any:  # the Redis URL may carry a password
        for name, value in super().__repr_args__():
            yield name, (_hide_password(value) if name == "redis_url" else value)

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    @property
    def state_path(self) -> Path:
        """Where this app's checkpoints live."""
        base = Path(self.state_dir) if self.state_dir else Path(self.data_dir) / "state"
        return base / self.app_id

    def secret(self, name: str) -> str | None:
        """The plain value of a SecretStr field (for the one client that needs it)."""
        value = getattr(self, name)
        return value.get_secret_value() if isinstance(value, SecretStr) else value

    def with_(self, **changes: Any) -> Settings:
        """A copy with `changes`, validated like the original."""
        return type(self).model_validate({**self.model_dump(), **changes})


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


def load_settings(
    config_dir: Path = DEFAULT_CONFIG_DIR, environ: Mapping[str, str] | None = None
) -> Settings:
    """`sunlight.yaml` (sections kafka, redis), then `SUNLIGHT_<FIELD>` from `environ`
    (default: the process environment); pydantic checks and converts every value."""
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
            values[name] = src[key]
    for name in Settings.model_fields:
        var = ENV_PREFIX + name.upper()
        if name not in ("config_dir", "engine_overrides", "group_timeout_s") and var in env:
            values[name] = env[var] if env[var] != "" else None
    values["engine_overrides"] = engine_overrides(env)
    values = {k: v for k, v in values.items() if v is not None or k in _OPTIONAL}
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        raise ValueError(_reasons(exc, values)) from None


def _reasons(exc: ValidationError, values: Mapping[str, Any]) -> str:
    """One line per bad setting, naming it and (unless secret) the value given."""
    out = []
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        shown = "" if name in _SECRETS or name not in values else f", got {values[name]!r}"
        out.append(f"{name}: {message}{shown}")
    return "; ".join(out)


_SECRETS = frozenset({"kafka_sasl_password", "audit_key", "redis_url"})
_OPTIONAL = frozenset(
    name for name, field in Settings.model_fields.items() if field.default is None
)
