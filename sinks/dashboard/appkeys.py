"""Typed keys for what the app and each request carry."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web
from redis.asyncio import Redis

if TYPE_CHECKING:
    from sinks.catalogue import Catalogue
    from sinks.dashboard.auth import Session, Sessions
    from sinks.dashboard.config import DashboardConfig
    from sinks.dashboard.index_query import AlertIndex
    from sinks.dashboard.live import LiveHub
    from sinks.dashboard.ratelimit import AttemptLimiter
    from sinks.dashboard.store import AlertStore

CONFIG: web.AppKey[DashboardConfig] = web.AppKey("config")
REDIS: web.AppKey[Redis] = web.AppKey("redis")
STORE: web.AppKey[AlertStore] = web.AppKey("store")
INDEX: web.AppKey[AlertIndex] = web.AppKey("index")
SESSIONS: web.AppKey[Sessions] = web.AppKey("sessions")
HUB: web.AppKey[LiveHub] = web.AppKey("hub")
LOGIN_LIMITER: web.AppKey[AttemptLimiter] = web.AppKey("login_limiter")
PUBLIC_LIMITER: web.AppKey[AttemptLimiter] = web.AppKey("public_limiter")
CATALOGUE: web.AppKey[Catalogue] = web.AppKey("catalogue")
# receipt, report JSON -> sent to Kafka `sunlight.reports` (absent without a broker)
REPORT_SINK: web.AppKey[Callable[[str, bytes], Awaitable[None]]] = web.AppKey("report_sink")
SESSION: web.RequestKey[Session] = web.RequestKey("session")
TOKEN: web.RequestKey[str] = web.RequestKey("token")
