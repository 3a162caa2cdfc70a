"""Cases: routing rules, deadlines in working days on the engine's calendar, escalation when
the engine's clock passes a deadline, four eyes, recusal, re-assignment, and every step in
the hash-chained ledger. Real Redis; alerts written by the worker's store."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from detectors.base import alert_id as make_alert_id
from detectors.calendar import load_calendar
from sinks.audit import AuditLedger
from sinks.cases.config import CasesConfig
from sinks.cases.desk import CaseDesk
from sinks.dashboard.app import create_app
from sinks.dashboard.config import DashboardConfig
from sinks.live_hooks import publish_clock
from sinks.redis_store import RedisAlertStore

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[1]
CALENDAR = load_calendar(ROOT / "config" / "calendar.yaml")
CASES = CasesConfig.load(ROOT / "config" / "cases.yaml")
RELATIVE = "P00123457"


def alert(n: int, detector: str, severity: str, unit: str, raised: str,
          entity: tuple[str, str] = ("vehicle", "V-1")) -> dict[str, Any]:
    subject = f"S-{n}"
    return {"alert_id": make_alert_id(detector, subject), "detector": detector,
            "subject": subject, "severity": severity,
            "entity": {"kind": entity[0], "id": entity[1]}, "event_ts": raised,
            "raised_at": raised, "title": f"告警{n}", "details": {}, "evidence": [],
            "unit": unit, "district": "和平区", "rule": {"name": detector, "version": "1"}}


# Thursday before the 2026 May Day holiday (1-5 May off; 9 May a make-up Saturday)
TRAFFIC = alert(1, "refuel_without_trip", "high", "市交通局", "2026-04-30T10:00:00.000+08:00")
WELFARE = alert(2, "payment_after_death", "critical", "市民政局",
                "2026-05-08T15:00:00.000+08:00", ("payee", RELATIVE))
OTHER = alert(3, "tank_overfill", "low", "市水务局", "2026-04-30T11:00:00.000+08:00")
RELATIVE_ELSEWHERE = alert(4, "duplicate_payment", "medium", "市人社局",
                           "2026-04-30T12:00:00.000+08:00", ("payee", RELATIVE))
ALERTS = [TRAFFIC, WELFARE, OTHER, RELATIVE_ELSEWHERE]


def ms(iso: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(iso).timestamp() * 1000)


async def setup(redis_url: str) -> tuple[str, aioredis.Redis, RedisAlertStore, CaseDesk]:
    prefix = f"case{uuid.uuid4().hex[:8]}:"
    r = aioredis.Redis.from_url(redis_url, decode_responses=True)
    writer = RedisAlertStore(redis_url, prefix=prefix)
    await writer.add_new(ALERTS)
    desk = CaseDesk(r, prefix, CASES, CALENDAR, add_alerts=writer.add_new,
                    audit_key=b"test-only-audit-key")
    return prefix, r, writer, desk


def test_routing_deadlines_recusal_and_escalation_by_the_engine_clock(redis_url: str) -> None:
    async def go() -> None:
        prefix, r, writer, desk = await setup(redis_url)
        try:
            assert await desk.tick() == (4, 0)  # no engine clock yet: nothing escalates
            assert await desk.tick() == (0, 0)  # routed once
            case = {a["subject"]: await r.hgetall(f"{prefix}alert:{a['alert_id']}")
                    for a in ALERTS}
            assert (case["S-1"]["assignee"], case["S-1"]["queue"]) == ("investigator", "")
            assert (case["S-2"]["assignee"], case["S-2"]["queue"]) == ("", "民政核查组")
            assert (case["S-3"]["assignee"], case["S-3"]["queue"]) == ("", "综合核查组")
            # high, raised Thu 30 Apr: 3 working days after it are 6, 7, 8 May (1-5 off)
            assert case["S-1"]["deadline"] == "2026-05-09T00:00:00.000+08:00"
            # critical, raised Fri 8 May: 1 working day = Sat 9 May, a make-up workday
            assert case["S-2"]["deadline"] == "2026-05-10T00:00:00.000+08:00"
            # low: 10 working days after 30 Apr -> 6..9 May (4), 11..15 (9), 18 May (10)
            assert case["S-3"]["deadline"] == "2026-05-19T00:00:00.000+08:00"

            # the engine's clock: the slowest partition decides
            await publish_clock(r, prefix, {0: ms("2026-05-09T00:00:00.000+08:00"),
                                            1: ms("2026-05-08T23:59:59.999+08:00")})
            assert await desk.tick() == (0, 0)
            await publish_clock(r, prefix, {1: ms("2026-05-09T00:00:00.000+08:00")})
            await publish_clock(r, prefix, {1: ms("2026-05-01T00:00:00.000+08:00")})  # no back
            routed, escalated = await desk.tick()
            assert escalated == 1
            row = await r.hgetall(f"{prefix}alert:{TRAFFIC['alert_id']}")
            assert row["escalated"] == "2026-05-09T00:00:00.000+08:00"
            assert await r.zrange(f"{prefix}idx:overdue", 0, -1) == [TRAFFIC["alert_id"]]
            # the supervisor is told through the alert paths: a case_overdue alert in the
            # stream (and pub/sub, Kafka via the worker's sinks), routed to the 督办 queue
            notice_id = make_alert_id("case_overdue", TRAFFIC["alert_id"])
            notice = orjson.loads(await r.hget(f"{prefix}alert:{notice_id}", "alert"))
            assert notice["details"]["notify_role"] == "admin"
            assert notice["details"]["assignee"] == "investigator"
            stream = [orjson.loads(f["alert"]) for _id, f in await r.xrange(f"{prefix}alerts")]
            assert [a["alert_id"] for a in stream][-1] == notice_id
            assert await desk.tick() == (1, 0)  # the notice is routed, nothing doubles
            assert await r.hget(f"{prefix}alert:{notice_id}", "queue") == "督办"
            assert not await r.hget(f"{prefix}alert:{notice_id}", "deadline")

            # a case disposed of in time never escalates
            from sinks.dashboard.store import AlertStore

            store = AlertStore(r, prefix, cases=CASES, audit_key=b"test-only-audit-key")
            await store.act(WELFARE["alert_id"], "dismiss", "已核实", who="investigator",
                            role="investigator")
            await publish_clock(r, prefix, {0: ms("2026-06-01T00:00:00.000+08:00"),
                                            1: ms("2026-06-01T00:00:00.000+08:00")})
            assert (await desk.tick())[1] == 2  # S-3 and S-4, not the dismissed S-2
            assert not await r.hget(f"{prefix}alert:{WELFARE['alert_id']}", "escalated")

            ledger = AuditLedger(r, prefix, hmac_key=b"test-only-audit-key")
            entries = await ledger.entries()
            recusals = [(e["alert_id"], e["note"]) for e in entries if e["action"] == "recuse"]
            assert (WELFARE["alert_id"], "investigator2 recused: own unit 市民政局") in recusals
            assert (RELATIVE_ELSEWHERE["alert_id"],
                    f"investigator2 recused: relative {RELATIVE}") in recusals
            assert [e["action"] for e in entries if e["alert_id"] == TRAFFIC["alert_id"]] == [
                "assign", "escalate"]
            assert (await ledger.verify()).ok
        finally:
            await writer.close()
            await r.aclose()

    asyncio.run(go())


Scenario = Callable[[TestClient], Awaitable[None]]


async def login(client: TestClient, user: str) -> str:
    resp = await client.post("/api/login", json={"user": user, "password": user})
    assert resp.status == 200
    csrf: str = (await resp.json())["csrf"]
    return csrf


async def act(client: TestClient, csrf: str, alert_id: str, action: str,
              **extra: str) -> tuple[int, dict[str, Any]]:
    resp = await client.post(f"/api/alerts/{alert_id}/action",
                             json={"action": action, "note": "n", **extra},
                             headers={"X-CSRF-Token": csrf})
    return resp.status, await resp.json()


def test_four_eyes_recusal_reassign_and_queues_in_the_dashboard(redis_url: str) -> None:
    async def go() -> None:
        prefix, r, writer, desk = await setup(redis_url)
        await desk.tick()
        await publish_clock(r, prefix, {0: ms("2026-05-09T00:00:00.000+08:00")})
        await desk.tick()
        app = create_app(redis_url, prefix, DashboardConfig.load(),
                         audit_key=b"test-only-audit-key")
        try:
            async with TestClient(TestServer(app, host="127.0.0.1")) as client:
                # the recused investigator sees neither their unit's nor a relative's alerts
                csrf = await login(client, "investigator2")
                body = await (await client.get("/api/alerts")).json()
                seen = {a["alert_id"] for a in body["alerts"]}
                assert WELFARE["alert_id"] not in seen
                assert RELATIVE_ELSEWHERE["alert_id"] not in seen
                assert TRAFFIC["alert_id"] in seen
                stats = await (await client.get("/api/stats")).json()
                assert stats["total"] == body["matched"] == len(seen)
                for hidden in (WELFARE, RELATIVE_ELSEWHERE):
                    assert (await client.get(f"/api/alerts/{hidden['alert_id']}")).status == 404
                    assert (await act(client, csrf, hidden["alert_id"], "acknowledge"))[0] == 403
                # four eyes: investigator proposes, cannot approve; investigator2 approves
                csrf1 = await login(client, "investigator")
                mine = await (await client.get("/api/alerts?queue=mine")).json()
                assert [a["alert_id"] for a in mine["alerts"]] == [TRAFFIC["alert_id"]]
                overdue = await (await client.get("/api/alerts?queue=overdue")).json()
                assert [a["alert_id"] for a in overdue["alerts"]] == [TRAFFIC["alert_id"]]
                assert overdue["alerts"][0]["case"]["escalated"]
                assert (await act(client, csrf1, OTHER["alert_id"], "propose"))[0] == 200
                assert (await act(client, csrf1, OTHER["alert_id"], "approve"))[0] == 403
                # re-assign takes the admin role, and never to a recused investigator
                status, _ = await act(client, csrf1, OTHER["alert_id"], "reassign",
                                      to="user:investigator2")
                assert status == 403
                csrf_admin = await login(client, "admin")
                status, body = await act(client, csrf_admin, WELFARE["alert_id"], "reassign",
                                         to="user:investigator2")
                assert status == 409 and body["error"] == "target_recused"
                status, _ = await act(client, csrf_admin, OTHER["alert_id"], "reassign",
                                      to="user:investigator2")
                assert status == 200
                csrf2 = await login(client, "investigator2")
                mine = await (await client.get("/api/alerts?queue=mine")).json()
                assert [a["alert_id"] for a in mine["alerts"]] == [OTHER["alert_id"]]
                detail = await (await client.get(f"/api/alerts/{OTHER['alert_id']}")).json()
                assert "approve" in detail["actions"]
                status, change = await act(client, csrf2, OTHER["alert_id"], "approve")
                assert status == 200 and change["status"] == "confirmed"
                # confirmed cases leave the deadline queue
                assert await r.zscore(f"{prefix}idx:deadline", OTHER["alert_id"]) is None
            assert (await AuditLedger(r, prefix, hmac_key=b"test-only-audit-key").verify()).ok
        finally:
            await writer.close()
            await r.aclose()

    asyncio.run(go())
