"""Every Redis client of Sunlight is made here, so a `rediss://` URL always verifies the server
against the configured CA (`SUNLIGHT_REDIS_TLS_CA`; the system's CAs when unset)."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis


def redis_options(url: str, tls_ca: str | None = None) -> dict[str, Any]:
    """Keyword arguments for `Redis.from_url`: TLS verification for a rediss:// URL."""
    if not url.startswith("rediss://"):
        return {}
    opts: dict[str, Any] = {"ssl_cert_reqs": "required"}
    if tls_ca:
        opts["ssl_ca_certs"] = tls_ca
    return opts


def async_redis(url: str, tls_ca: str | None = None, **kwargs: Any) -> Redis:
    return Redis.from_url(url, **redis_options(url, tls_ca), **kwargs)
