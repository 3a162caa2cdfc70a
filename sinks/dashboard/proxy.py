"""Requests that came through a trusted TLS-terminating reverse proxy.

Only when the peer is listed in ``dashboard.trusted_proxies`` are its
``Forwarded`` (RFC 7239) or ``X-Forwarded-Proto`` / ``X-Forwarded-Host`` /
``X-Forwarded-For`` headers believed; the request is then seen with the
client's scheme, host and address, so the session cookie keeps ``Secure`` and
the Origin check compares the scheme the browser used. From any other peer
these headers are ignored (a client could send them to pose as HTTPS).
"""

from __future__ import annotations

from aiohttp import web

from sinks.dashboard import appkeys as K
from sinks.dashboard.auth import Handler

SCHEMES = frozenset({"http", "https"})


def _first(value: str | None) -> str:
    return (value or "").split(",")[0].strip()


def parse_forwarded(header: str) -> dict[str, str]:
    """The first element of a ``Forwarded`` header: ``for=..;proto=https;host=..``."""
    out: dict[str, str] = {}
    for pair in _first(header).split(";"):
        name, sep, value = pair.partition("=")
        if sep:
            out[name.strip().lower()] = value.strip().strip('"')
    return out


def forwarded_view(request: web.Request) -> dict[str, str]:
    """scheme/host/remote the proxy reports ({} when nothing usable is sent)."""
    fwd = parse_forwarded(request.headers.get("Forwarded", ""))
    scheme = fwd.get("proto") or _first(request.headers.get("X-Forwarded-Proto"))
    host = fwd.get("host") or _first(request.headers.get("X-Forwarded-Host"))
    remote = fwd.get("for") or _first(request.headers.get("X-Forwarded-For"))
    out: dict[str, str] = {}
    if scheme.lower() in SCHEMES:
        out["scheme"] = scheme.lower()
    if host and "/" not in host and " " not in host:
        out["host"] = host
    if remote:
        out["remote"] = remote.strip("[]")
    return out


@web.middleware
async def trusted_forwarding(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.app[K.CONFIG].trusts(request.remote):
        return await handler(request)
    view = forwarded_view(request)
    if not view:
        return await handler(request)
    return await handler(request.clone(**view))  # type: ignore[arg-type]
