"""Login, sessions (kept in Redis, so several dashboards share them) and CSRF.

The session cookie is HttpOnly and SameSite=Strict; Redis stores only the
SHA-256 of the token. Every state-changing request must carry the session's
CSRF token in ``X-CSRF-Token`` and, when the browser sends one, an Origin
equal to the page's own.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from redis.asyncio import Redis

from sinks.dashboard import appkeys as K
from sinks.dashboard.config import ACTING_ROLES, DashboardConfig
from sinks.dashboard.ratelimit import AttemptLimiter, bucket

COOKIE = "sunlight_session"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PUBLIC_API = frozenset({"/api/login"})
PUBLIC_PREFIX = "/api/public/"  # the transparency page and citizen reports: no login
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Session:
    user: str
    role: str
    display: str
    csrf: str

    @property
    def can_act(self) -> bool:
        return self.role in ACTING_ROLES

    @property
    def sees_personal_ids(self) -> bool:
        return self.role in ACTING_ROLES


class Sessions:
    def __init__(self, redis: Redis, prefix: str, ttl_s: int) -> None:
        self.redis = redis
        self.prefix = f"{prefix}dashboard:session:"
        self.ttl_s = ttl_s

    def _key(self, token: str) -> str:
        return self.prefix + token_id(token)

    async def create(self, user: str, role: str, display: str) -> tuple[str, Session]:
        token = secrets.token_urlsafe(32)
        session = Session(user, role, display, secrets.token_urlsafe(32))
        key = self._key(token)
        await self.redis.hset(key, mapping={"user": user, "role": role, "display": display,
                                            "csrf": session.csrf})
        await self.redis.expire(key, self.ttl_s)
        return token, session

    async def get(self, token: str) -> Session | None:
        row = await self.redis.hgetall(self._key(token))
        if not row:
            return None
        return Session(row["user"], row["role"], row.get("display", row["user"]), row["csrf"])

    async def drop(self, token: str) -> None:
        await self.redis.delete(self._key(token))


def token_id(token: str) -> str:
    """What Redis and the live streams know a session by (never the token itself)."""
    return hashlib.sha256(token.encode()).hexdigest()


def same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:  # not a browser, or a same-origin GET
        return True
    return origin == f"{request.scheme}://{request.host}"


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    resp = await handler(request)
    resp.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    )
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "no-referrer")
    resp.headers.setdefault("X-Frame-Options", "DENY")
    return resp


def json_error(status: int, code: str) -> web.Response:
    return web.json_response({"error": code}, status=status)


@web.middleware
async def require_session(request: web.Request, handler: Handler) -> web.StreamResponse:
    path = request.path
    if not path.startswith("/api/"):
        return await handler(request)
    if request.method not in SAFE_METHODS and not same_origin(request):
        return json_error(403, "bad_origin")
    if path in PUBLIC_API or path.startswith(PUBLIC_PREFIX):
        return await handler(request)
    token = request.cookies.get(COOKIE)
    sessions: Sessions = request.app[K.SESSIONS]
    session = await sessions.get(token) if token else None
    if session is None or token is None:
        return json_error(401, "login_required")
    user = request.app[K.CONFIG].users.get(session.user)
    if user is None or user.role != session.role:
        # The user was removed or given another role: the old session ends here.
        await sessions.drop(token)
        return json_error(401, "login_required")
    if request.method not in SAFE_METHODS:
        sent = request.headers.get("X-CSRF-Token", "")
        if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
            return json_error(403, "csrf")
    request[K.SESSION] = session
    request[K.TOKEN] = token
    return await handler(request)


def session_info(session: Session, config: DashboardConfig) -> dict[str, object]:
    return {"user": session.user, "role": session.role, "display": session.display,
            "csrf": session.csrf, "can_act": session.can_act, "zone": config.zone}


async def login(request: web.Request) -> web.Response:
    config: DashboardConfig = request.app[K.CONFIG]
    try:
        body = await request.json()
        name, password = str(body["user"]), str(body["password"])
    except (ValueError, KeyError, TypeError):
        return json_error(400, "bad_request")
    limits = config.login_limits
    parts = [bucket("user", name[:256]), bucket("addr", request.remote or "-")]
    limiter: AttemptLimiter = request.app[K.LOGIN_LIMITER]
    wait_s = await limiter.hit(parts, [limits.per_user, limits.per_address], limits.window_s)
    if wait_s:
        resp = json_error(429, "too_many_attempts")
        resp.headers["Retry-After"] = str(wait_s)
        return resp
    # scrypt takes tens of milliseconds of CPU: keep it off the event loop.
    user = await asyncio.get_running_loop().run_in_executor(
        None, config.authenticate, name, password)
    if user is None:
        return json_error(401, "bad_credentials")
    await limiter.forgive(parts)
    token, session = await request.app[K.SESSIONS].create(user.name, user.role, user.display)
    resp = web.json_response(session_info(session, config))
    resp.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/",
                    max_age=config.session_ttl_s, secure=request.secure)
    return resp


async def logout(request: web.Request) -> web.Response:
    await request.app[K.SESSIONS].drop(request[K.TOKEN])
    request.app[K.HUB].end_session(token_id(request[K.TOKEN]), "logged_out")
    resp = web.json_response({"ok": True})
    resp.del_cookie(COOKIE, path="/")
    return resp


async def me(request: web.Request) -> web.Response:
    return web.json_response(session_info(request[K.SESSION], request.app[K.CONFIG]))
