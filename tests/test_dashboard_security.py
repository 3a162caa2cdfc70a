"""Dashboard security (issue 11): search sees only what the role may see, shipped logins
refused outside the demo, login rate limits, scrypt off the event loop, a clear error for
a config without users, event streams that end with their session or when dropped, and
trusted reverse proxies. Real Redis (the session's embedded server)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
import redis
import yaml
from aiohttp.test_utils import TestClient, TestServer
from alert_fixtures import sample_alerts

from sinks.dashboard.app import create_app, start_dashboard
from sinks.dashboard.config import (
    ConfigError,
    DashboardConfig,
    User,
    hash_password,
    refuse_shipped_passwords,
)
from sinks.dashboard.live import LiveHub
from sinks.dashboard.masking import mask_id

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[1]
NOW = datetime.now(ZoneInfo("Asia/Shanghai"))
ALERTS = sorted(sample_alerts(NOW), key=lambda a: a["raised_at"])
# A payee the engine raised an alert about (the city sample), its id and its masked form.
PAYEE = next(a["entity"]["id"] for a in ALERTS if a["entity"]["kind"] == "payee")
MASKED = mask_id(PAYEE)
PASSWORDS = {"viewer": "v-Secret-1", "investigator": "i-Secret-2", "admin": "a-Secret-3"}
_HASHES = {name: hash_password(pw) for name, pw in PASSWORDS.items()}


def config(**dashboard: Any) -> DashboardConfig:
    users = {name: {"role": name, "password_hash": _HASHES[name]} for name in PASSWORDS}
    return DashboardConfig.from_mapping({"users": users, "dashboard": dashboard})


@pytest.fixture
def prefix(redis_url: str) -> str:
    """A fresh key prefix holding the sample alerts, as the contract lays them out."""
    p = f"sec{uuid.uuid4().hex[:8]}:"
    client = redis.Redis.from_url(redis_url)
    for a in ALERTS:
        data = orjson.dumps(a)
        client.hset(f"{p}alert:{a['alert_id']}", mapping={"alert": data, "status": "open"})
        client.xadd(f"{p}alerts", {"alert": data})
    return p


Scenario = Callable[[TestClient], Awaitable[None]]


def run(url: str, prefix: str, scenario: Scenario, cfg: DashboardConfig | None = None) -> None:
    async def go() -> None:
        app = create_app(url, prefix, cfg or config(), audit_key=b"test-only-audit-key")
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            await scenario(client)

    asyncio.run(go())


async def login(client: TestClient, user: str, **headers: str) -> dict[str, Any]:
    resp = await client.post("/api/login", json={"user": user, "password": PASSWORDS[user]},
                             headers=headers)
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


# --- search -------------------------------------------------------------------------


def test_viewer_search_cannot_recover_a_masked_id(redis_url: str, prefix: str) -> None:
    async def scenario(client: TestClient) -> None:
        await login(client, "viewer")
        for q in (PAYEE, PAYEE[:-1]):  # the id, and the id up to the digits the mask hides
            body = await (await client.get("/api/alerts", params={"q": q})).json()
            assert body["matched"] == 0, q
            stats = await (await client.get("/api/stats", params={"q": q})).json()
            assert stats["total"] == 0, q
        # what the viewer sees can be searched
        body = await (await client.get("/api/alerts", params={"q": MASKED})).json()
        assert body["matched"] >= 1
        await client.post("/api/logout", headers={"X-CSRF-Token": ""})
        await login(client, "investigator")
        body = await (await client.get("/api/alerts", params={"q": PAYEE})).json()
        assert body["matched"] >= 1

    run(redis_url, prefix, scenario)


# --- shipped passwords --------------------------------------------------------------


def test_shipped_passwords_are_refused_outside_the_demo(redis_url: str, tmp_path: Path) -> None:
    shipped = DashboardConfig.load()
    assert sorted(shipped.shipped_logins()) == ["admin", "investigator", "investigator2",
                                                "viewer"]
    with pytest.raises(ConfigError, match=r"users viewer, investigator, investigator2, admin: "
                                          r"still have the "
                                          r"shipped demo password.*sunlight demo.*"
                                          r"python -m sinks.dashboard.config"):
        refuse_shipped_passwords(shipped, demo=False)
    refuse_shipped_passwords(shipped, demo=True)
    refuse_shipped_passwords(config(), demo=False)  # own passwords: fine
    # a user whose password is their own name counts as shipped too
    own = DashboardConfig.from_mapping({"users": {"zhang": {
        "role": "viewer", "password_hash": hash_password("zhang")}}})
    assert own.shipped_logins() == ["zhang"]

    async def start() -> None:
        with pytest.raises(ConfigError):
            await start_dashboard(redis_url, "x:", "127.0.0.1", 0, shipped)

    asyncio.run(start())
    # the command a deployment runs refuses to start, saying how to set a password
    proc = subprocess.run(
        [sys.executable, "-m", "streams.cli", "dashboard", "--port", "0", "--redis", redis_url],
        capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "shipped demo password" in proc.stderr and "password_hash" in proc.stderr


# --- logins ---------------------------------------------------------------------------


def test_logins_are_rate_limited_per_user_and_per_address(redis_url: str, prefix: str) -> None:
    cfg = config(login_limits={"per_user": 3, "per_address": 7, "window_s": 60})

    async def scenario(client: TestClient) -> None:
        async def attempt(user: str, password: str) -> int:
            resp = await client.post("/api/login", json={"user": user, "password": password})
            return resp.status

        assert [await attempt("viewer", "wrong") for _ in range(3)] == [401] * 3
        resp = await client.post("/api/login", json={"user": "viewer", "password": "wrong"})
        assert resp.status == 429 and 1 <= int(resp.headers["Retry-After"]) <= 60
        # the right password is refused too while the user is locked
        assert await attempt("viewer", PASSWORDS["viewer"]) == 429
        # refused attempts count against the address (5 so far); a success does not;
        # other users are still allowed until the address limit
        assert await attempt("investigator", PASSWORDS["investigator"]) == 200
        assert [await attempt("admin", "wrong") for _ in range(2)] == [401, 401]  # 6, 7
        assert await attempt("admin", PASSWORDS["admin"]) == 429  # the address is locked

    run(redis_url, prefix, scenario, cfg)


def test_password_check_runs_off_the_event_loop(redis_url: str, prefix: str) -> None:
    threads: list[int] = []

    class Recording(DashboardConfig):
        def authenticate(self, name: str, password: str) -> User | None:
            threads.append(threading.get_ident())
            return super().authenticate(name, password)

    base = config()
    cfg = Recording(users=base.users)
    loop_thread: list[int] = []

    async def scenario(client: TestClient) -> None:
        loop_thread.append(threading.get_ident())
        await login(client, "viewer")

    run(redis_url, prefix, scenario, cfg)
    assert threads and loop_thread and threads[0] != loop_thread[0]


def test_a_config_without_users_is_a_clear_error(tmp_path: Path) -> None:
    for raw in ({}, {"users": {}}, {"users": None, "dashboard": {"zone": "UTC"}}):
        with pytest.raises(ConfigError, match=r"users: no users configured.*password_hash"):
            DashboardConfig.from_mapping(raw)
    path = tmp_path / "dashboard.yaml"
    path.write_text(yaml.safe_dump({"dashboard": {"zone": "UTC"}}))
    with pytest.raises(ConfigError, match="no users configured"):
        DashboardConfig.load(path)
    # an unknown user is checked against a fixed hash, not the config's first user
    assert config().authenticate("nobody", "x") is None


# --- event streams --------------------------------------------------------------------


async def next_frame(resp: Any, timeout: float = 5.0) -> tuple[str, dict[str, Any]] | None:
    """The next SSE event (kind, data), skipping pings; None when the stream ended."""
    buf = b""

    async def loop() -> tuple[str, dict[str, Any]] | None:
        nonlocal buf
        while True:
            while b"\n\n" in buf:
                frame, buf = buf.split(b"\n\n", 1)
                fields = dict(line.split(b": ", 1) for line in frame.split(b"\n")
                              if b": " in line and not line.startswith(b":"))
                if b"event" in fields:
                    return fields[b"event"].decode(), orjson.loads(fields.get(b"data", b"{}"))
            chunk = await resp.content.readany()
            if not chunk:
                return None
            buf += chunk

    return await asyncio.wait_for(loop(), timeout)


async def until_end(resp: Any, timeout: float = 5.0) -> str:
    """Read until the stream ends; returns the reason of its `bye` event."""
    reason = ""
    while (frame := await next_frame(resp, timeout)) is not None:
        if frame[0] == "bye":
            reason = str(frame[1]["reason"])
    return reason


def test_event_stream_ends_at_logout(redis_url: str, prefix: str) -> None:
    async def scenario(client: TestClient) -> None:
        me = await login(client, "viewer")
        resp = await client.get("/api/events")
        assert await next_frame(resp) == ("hello", {})
        out = await client.post("/api/logout", headers={"X-CSRF-Token": me["csrf"]})
        assert out.status == 200
        assert await until_end(resp) == "logged_out"

    run(redis_url, prefix, scenario, config(sse_recheck_s=30))


def test_event_stream_ends_when_the_session_expires_or_the_role_changes(
        redis_url: str, prefix: str) -> None:
    raw = redis.Redis.from_url(redis_url, decode_responses=True)

    def session_keys() -> list[str]:
        return list(raw.scan_iter(f"{prefix}dashboard:session:*"))

    async def scenario(client: TestClient) -> None:
        await login(client, "viewer")
        resp = await client.get("/api/events")
        assert await next_frame(resp) == ("hello", {})
        (key,) = session_keys()
        raw.delete(key)  # what expiry does
        assert await until_end(resp) == "session_ended"
        assert (await client.get("/api/events")).status == 401

        await login(client, "viewer")
        resp = await client.get("/api/events")
        assert await next_frame(resp) == ("hello", {})
        (key,) = session_keys()
        raw.hset(key, "role", "investigator")
        assert await until_end(resp) == "role_changed"
        # the changed session does not let anyone in either
        assert (await client.get("/api/alerts")).status == 401

    run(redis_url, prefix, scenario, config(sse_recheck_s=0.2))


def test_hub_dispatch_closes_a_full_stream(redis_url: str, prefix: str) -> None:
    """Through the real dispatch path: a stream whose queue fills ends with `dropped`."""
    from sinks.dashboard.store import AlertStore

    async def go() -> None:
        r = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        hub = LiveHub(r, AlertStore(r, prefix, audit_key=b"test-only-audit-key"), queue_size=2)
        stalled = hub.subscribe("a")
        for i in range(3):
            await hub._dispatch(f"{prefix}alerts:live", orjson.dumps({**ALERTS[0],
                                                                     "alert_id": f"x:{i}"}))
        assert stalled.ended == "dropped" and stalled not in hub.clients
        assert await asyncio.wait_for(stalled.queue.get(), 1) is None
        await r.aclose()

    asyncio.run(go())


# --- reverse proxy ---------------------------------------------------------------------


def test_trusted_proxy_headers_keep_the_cookie_secure_and_the_origin_right(
        redis_url: str, prefix: str) -> None:
    fid = ALERTS[-1]["alert_id"]

    async def through_proxy(client: TestClient) -> None:
        resp = await client.post("/api/login", json={"user": "investigator",
                                                      "password": PASSWORDS["investigator"]},
                                 headers={"X-Forwarded-Proto": "https",
                                          "X-Forwarded-Host": "sunlight.example.gov"})
        assert resp.status == 200
        cookie = resp.headers["Set-Cookie"]
        assert "Secure" in cookie
        me = await resp.json()
        # the test client speaks http, so it keeps no Secure cookie: send it as a browser
        # behind the proxy would
        jar = f"sunlight_session={resp.cookies['sunlight_session'].value}"
        ok = await client.post(f"/api/alerts/{fid}/action",
                               json={"action": "acknowledge", "note": "n"},
                               headers={"X-CSRF-Token": me["csrf"], "Cookie": jar,
                                        "Origin": "https://sunlight.example.gov",
                                        "Forwarded": "for=10.0.0.9;proto=https;"
                                                     "host=sunlight.example.gov"})
        assert ok.status == 200, await ok.text()
        # the page's http origin is not the https page's origin
        bad = await client.post(f"/api/alerts/{fid}/action", json={"action": "dismiss"},
                                headers={"X-CSRF-Token": me["csrf"], "Cookie": jar,
                                         "Origin": "http://sunlight.example.gov",
                                         "X-Forwarded-Proto": "https",
                                         "X-Forwarded-Host": "sunlight.example.gov"})
        assert bad.status == 403

    run(redis_url, prefix, through_proxy, config(trusted_proxies=["127.0.0.1/32"]))

    async def untrusted(client: TestClient) -> None:
        resp = await client.post("/api/login", json={"user": "investigator",
                                                      "password": PASSWORDS["investigator"]},
                                 headers={"X-Forwarded-Proto": "https"})
        assert resp.status == 200 and "Secure" not in resp.headers["Set-Cookie"]
        me = await resp.json()
        spoof = await client.post(f"/api/alerts/{fid}/action", json={"action": "dismiss"},
                                  headers={"X-CSRF-Token": me["csrf"],
                                           "Origin": "https://evil.example",
                                           "X-Forwarded-Proto": "https",
                                           "X-Forwarded-Host": "evil.example"})
        assert spoof.status == 403

    run(redis_url, prefix, untrusted, config())
    with pytest.raises(ConfigError, match=r"dashboard.trusted_proxies\[0\]: 'nope'"):
        config(trusted_proxies=["nope"])
