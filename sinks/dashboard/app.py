"""The aiohttp application and ``start_dashboard`` for ``sunlight up``."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from sinks.audit import Anchor
from sinks.catalogue import Catalogue
from sinks.dashboard import appkeys as K
from sinks.dashboard import auth, fleet_views, live, proxy, public_views, views
from sinks.dashboard.config import DashboardConfig, refuse_shipped_passwords
from sinks.dashboard.index_query import AlertIndex
from sinks.dashboard.ratelimit import AttemptLimiter
from sinks.dashboard.store import AlertStore
from sinks.redis_client import async_redis

STATIC = Path(__file__).resolve().parent / "static"
log = logging.getLogger("sinks.dashboard")


class PathOnlyAccessLogger(AbstractAccessLogger):
    """Logs method, path and status, never the query string (filters may hold ids)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info("%s %s %s %.3fs", request.method, request.path, response.status, time)


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


async def public_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "public.html", headers={"Cache-Control": "no-cache"})


def create_app(
    redis_url: str,
    prefix: str = "sunlight:",
    config: DashboardConfig | None = None,
    report_sink: Callable[[str, bytes], Awaitable[None]] | None = None,
    *,
    audit_key: bytes | None = None,
    anchor: Anchor | None = None,
    redis_tls_ca: str | None = None,
) -> web.Application:
    """`audit_key` keys the audit ledger (HMAC); `anchor` receives each new ledger head;
    `redis_tls_ca` verifies a rediss:// server."""
    config = config or DashboardConfig.load()
    app = web.Application(middlewares=[proxy.trusted_forwarding, auth.security_headers,
                                       auth.require_session],
                          client_max_size=64 * 1024)
    app[K.CONFIG] = config
    app[K.CATALOGUE] = Catalogue.load()
    if report_sink is not None:
        app[K.REPORT_SINK] = report_sink

    async def on_startup(app: web.Application) -> None:
        redis = async_redis(redis_url, redis_tls_ca, decode_responses=True)
        app[K.REDIS] = redis
        app[K.STORE] = AlertStore(redis, prefix, config.zone, audit_key=audit_key,
                                  anchor=anchor)
        app[K.INDEX] = AlertIndex(redis, prefix)
        app[K.SESSIONS] = auth.Sessions(redis, prefix, config.session_ttl_s)
        app[K.LOGIN_LIMITER] = AttemptLimiter(redis, f"{prefix}dashboard:login:")
        app[K.PUBLIC_LIMITER] = AttemptLimiter(redis, f"{prefix}public:limit:")
        app[K.HUB] = live.LiveHub(redis, app[K.STORE])
        await app[K.HUB].start()

    async def on_shutdown(app: web.Application) -> None:
        await app[K.HUB].stop()

    async def on_cleanup(app: web.Application) -> None:
        await app[K.REDIS].aclose()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
    app.router.add_get("/", index)
    app.router.add_get("/public", public_page)
    app.router.add_get("/api/public/stats", public_views.stats)
    app.router.add_post("/api/public/reports", public_views.submit_report)
    app.router.add_get("/api/public/reports/{receipt}", public_views.report_status)
    app.router.add_get("/healthz", views.healthz)
    app.router.add_post("/api/login", auth.login)
    app.router.add_post("/api/logout", auth.logout)
    app.router.add_get("/api/me", auth.me)
    app.router.add_get("/api/alerts", views.list_alerts)
    app.router.add_get("/api/stats", views.stats)
    app.router.add_get("/api/map", views.map_view)
    app.router.add_get("/api/audit", views.audit_tail)
    app.router.add_get("/api/events", live.events)
    app.router.add_get("/api/fleet", fleet_views.fleet)
    app.router.add_get("/api/fleet/{vehicle_id}", fleet_views.vehicle)
    app.router.add_get("/api/alerts/{alert_id}", views.alert_detail)
    app.router.add_post("/api/alerts/{alert_id}/action", views.act)
    app.router.add_static("/static/", STATIC, append_version=False)
    return app


async def start_dashboard(
    redis_url: str,
    prefix: str = "sunlight:",
    host: str = "127.0.0.1",
    port: int = 8080,
    config: DashboardConfig | None = None,
    *,
    audit_key: bytes | None = None,
    anchor: Anchor | None = None,
    redis_tls_ca: str | None = None,
    demo: bool = False,
    report_sink: Callable[[str, bytes], Awaitable[None]] | None = None,
) -> web.AppRunner:
    """Start serving; the caller keeps the runner and awaits ``runner.cleanup()``.

    Raises ConfigError when a login still has a shipped password, unless ``demo``.
    """
    config = config or DashboardConfig.load()
    refuse_shipped_passwords(config, demo)
    app = create_app(redis_url, prefix, config, report_sink, audit_key=audit_key,
                     anchor=anchor, redis_tls_ca=redis_tls_ca)
    runner = web.AppRunner(app, access_log_class=PathOnlyAccessLogger,
                           shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner


def bound_url(runner: web.AppRunner) -> str:
    """The ``http://host:port`` the runner listens on (useful with port 0)."""
    for address in runner.addresses:
        host, port = address[0], address[1]
        return f"http://{host}:{port}"
    raise RuntimeError("dashboard runner has no listening site")
