"""Cases and the public side in Chromium.

An alert is assigned by the rules, escalates when the engine's clock passes its deadline
(the clock is moved the way workers move it, never by sleeping), is proposed by one
investigator and approved by another, and stays invisible to a recused one; a citizen's
report sent from the public page (no login) appears on the matching case; the public page
shows no personal id. Screenshots in zh and en.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis.asyncio as aioredis
from screenshots import artifacts_dir

from detectors.base import alert_id as make_alert_id
from detectors.calendar import load_calendar
from sinks.cases.config import CasesConfig
from sinks.cases.desk import CaseDesk
from sinks.catalogue import Catalogue
from sinks.dashboard.app import bound_url, start_dashboard
from sinks.dashboard.config import DashboardConfig
from sinks.live_hooks import publish_clock
from sinks.publication import GrantPublisher
from sinks.redis_store import RedisAlertStore

playwright_api = pytest.importorskip("playwright.async_api")
CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = artifacts_dir()
ZONE = ZoneInfo("Asia/Shanghai")
PAYEE = "P00123457"
PERSONAL_ID = re.compile(r"P\d{8}")
GRANT_ORG = "91210113BLAKLBKPEK"
GRANT = {"kind": "grant", "grant_id": "GR-00042", "project_id": "PRJ-00042", "org_id": GRANT_ORG,
         "amount_cny": 3_000_000.0, "ts": "2026-04-20T09:30:00+08:00", "department": "发改委投资处",
         "program": "中央预算内", "district": "和平区"}

pytestmark = [
    pytest.mark.integration,
]


def make(n: int, detector: str, severity: str, unit: str, raised: datetime,
         entity: tuple[str, str], title: str, details: dict[str, Any]) -> dict[str, Any]:
    subject = f"SUBJ-{n}"
    iso = raised.isoformat(timespec="milliseconds")
    return {"alert_id": make_alert_id(detector, subject), "detector": detector,
            "subject": subject, "severity": severity,
            "entity": {"kind": entity[0], "id": entity[1]}, "event_ts": iso, "raised_at": iso,
            "title": title, "title_en": f"{detector} {n}", "details": details,
            "evidence": [], "unit": unit, "district": "和平区",
            "rule": {"name": detector, "version": "1"}}


async def login(page: Any, base: str, user: str) -> None:
    await page.goto(base + "/")
    await page.wait_for_selector("#login-user")
    await page.fill("#login-user", user)
    await page.fill("#login-pass", user)
    await page.click("#login-submit")
    await page.wait_for_selector("#live.on")


async def logout(page: Any) -> None:
    if await page.locator("#detail:not(.hidden)").count():
        await page.click("#detail-close")
    await page.click("#logout")
    await page.wait_for_selector("#login-form")


async def open_alert(page: Any, alert_id: str) -> None:
    await page.click(f'#feed-body tr[data-alert-id="{alert_id}"]')
    await page.wait_for_selector(f'#detail-body:has-text("{alert_id}")')


async def scenario(base: str, r: aioredis.Redis, prefix: str, desk: CaseDesk,
                   traffic: dict[str, Any], welfare: dict[str, Any]) -> None:
    tid, wid = traffic["alert_id"], welfare["alert_id"]
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = await browser.new_page(viewport={"width": 1600, "height": 900}, locale="zh-CN")
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))

        # 1. A citizen reports the vehicle from the public page, no login.
        await page.goto(base + "/public")
        await page.wait_for_selector("#pub-units tbody tr")
        await page.select_option("#report-kind", "vehicle")
        await page.fill("#report-entity", traffic["entity"]["id"])
        await page.fill("#report-text", "周六晚上这辆公车停在饭店门口")
        await page.click("#report-submit")
        await page.wait_for_selector("#report-receipt[data-receipt]")
        receipt = await page.get_attribute("#report-receipt", "data-receipt")
        assert receipt and receipt.startswith("R")
        await page.click("#lookup-submit")
        await page.wait_for_selector('#lookup-status[data-status="under_review"]')
        html = await page.content()
        assert PERSONAL_ID.search(html) is None and PAYEE not in html
        # the grant the worker published: its project, department, class and amount
        row = page.locator("#pub-grants tbody tr")
        assert await row.count() == 1
        cells = await row.first.locator("td").all_text_contents()
        assert cells == ["2026-04-20", "PRJ-00042", "", "发改委投资处", "产业发展与项目资金类",
                         "3,000,000"]
        assert GRANT_ORG not in html
        assert await page.locator("#pub-units tbody tr").count() == 2
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "public_report_zh.png"), full_page=True)
        await page.click("#pub-lang")
        await page.wait_for_function(
            "() => document.querySelector('#report-submit').textContent === 'Submit'")
        assert PERSONAL_ID.search(await page.content()) is None
        await page.screenshot(path=str(ARTIFACTS / "public_report_en.png"), full_page=True)
        await page.click("#pub-lang")

        # 2. The assigned investigator sees the case, its deadline and the citizen report.
        await login(page, base, "investigator")
        await page.select_option("#f-queue", "mine")
        await page.wait_for_function(
            "() => document.querySelectorAll('#feed-body tr').length === 1")
        assert await page.locator(f'#feed-body tr[data-alert-id="{tid}"]').count() == 1
        await open_alert(page, tid)
        assert await page.text_content("#case-assignee") == "investigator"
        assert "2026" in (await page.text_content("#case-deadline") or "")
        await page.wait_for_selector(f'#reports li[data-receipt="{receipt}"]')

        # 3. The engine's clock passes the deadline: the case escalates, live.
        await publish_clock(r, prefix, {0: int(datetime(2026, 5, 9, 0, 0, 1, tzinfo=ZONE)
                                               .timestamp() * 1000)})
        assert (await desk.tick())[1] == 1
        await page.wait_for_selector("#case-escalated")
        await page.click("#detail-close")
        await page.select_option("#f-queue", "overdue")
        await page.wait_for_selector(f'#feed-body tr[data-alert-id="{tid}"]')

        # 4. Four eyes: investigator proposes and cannot approve.
        await open_alert(page, tid)
        await page.fill("#note-input", "轨迹与加油记录不符，提请确认")
        await page.click("#act-propose")
        await page.wait_for_selector("#case-proposed_by")
        assert await page.locator("#act-approve").count() == 0
        await page.screenshot(path=str(ARTIFACTS / "case_proposed_zh.png"))
        await logout(page)

        # 5. investigator2 is recused from 市民政局 and the relative: never sees the other
        # alert; approves the traffic case.
        await login(page, base, "investigator2")
        await page.wait_for_selector(f'#feed-body tr[data-alert-id="{tid}"]')
        assert await page.locator(f'#feed-body tr[data-alert-id="{wid}"]').count() == 0
        status = await page.evaluate(f"fetch('/api/alerts/{wid}').then(r => r.status)")
        assert status == 404
        await open_alert(page, tid)
        await page.fill("#note-input", "复核同意")
        await page.click("#act-approve")
        await page.wait_for_selector('#detail-title .status[data-status="confirmed"]')
        assert await page.text_content("#case-approved_by") == "investigator2"
        assert await page.text_content("#case-proposed_by") == "investigator"
        await page.screenshot(path=str(ARTIFACTS / "case_approved_zh.png"))
        # the drawer covers the header's switch: press it as a keyboard user would
        await page.evaluate("document.getElementById('lang').click()")
        await page.wait_for_selector('#detail-title .status:has-text("Confirmed")')
        await page.screenshot(path=str(ARTIFACTS / "case_approved_en.png"))
        await page.evaluate("document.getElementById('lang').click()")
        assert errors == []
        await browser.close()


@pytest.mark.timeout(300)
def test_case_lifecycle_and_public_report_in_browser(redis_url: str) -> None:
    prefix = f"cb{uuid.uuid4().hex[:8]}:"
    raised = datetime(2026, 4, 30, 10, 0, tzinfo=ZONE)
    traffic = make(1, "refuel_without_trip", "high", "市交通局", raised,
                   ("vehicle", "LN-A-0117"), "加油卡消费时车辆无行驶轨迹",
                   {"vehicle_id": "LN-A-0117", "path_km": 0.0})
    # critical, raised Fri 8 May: due at the end of Sat 9 May (a make-up working day)
    welfare = make(2, "payment_after_death", "critical", "市民政局",
                   datetime(2026, 5, 8, 15, 0, tzinfo=ZONE),
                   ("payee", PAYEE), f"死亡后仍发放 {PAYEE}",
                   {"payee_id": PAYEE, "program": "高龄津贴"})

    async def main() -> None:
        r = aioredis.Redis.from_url(redis_url, decode_responses=True)
        writer = RedisAlertStore(redis_url, prefix=prefix)
        await writer.add_new([traffic, welfare])
        desk = CaseDesk(r, prefix, CasesConfig.load(ROOT / "config" / "cases.yaml"),
                        load_calendar(ROOT / "config" / "calendar.yaml"),
                        add_alerts=writer.add_new, audit_key=b"test-only-audit-key")
        assert await desk.tick() == (2, 0)
        grants = GrantPublisher(r, prefix, Catalogue.load())
        grants.offer([GRANT])
        await grants.flush()
        runner = await start_dashboard(redis_url, prefix, "127.0.0.1", 0,
                                       DashboardConfig.load(), demo=True,
                                       audit_key=b"test-only-audit-key")
        try:
            await asyncio.wait_for(scenario(bound_url(runner), r, prefix, desk, traffic,
                                            welfare), 200)
        finally:
            await runner.cleanup()
            await writer.close()
            await r.aclose()

    asyncio.run(main())
