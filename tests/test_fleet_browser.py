"""The live fleet map in Chromium: a running system (embedded Kafka and Redis, a real
worker) fed by the simulated city; the page draws the fleet over the registry's stations
and places, vehicles move without a reload, and a click opens the vehicle's track of the
day. Screenshots in zh and en."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis
from live_support import live_system, wait_for
from screenshots import artifacts_dir

from sinks.dashboard.app import bound_url, start_dashboard
from sinks.dashboard.config import DashboardConfig

playwright_api = pytest.importorskip("playwright.async_api")
CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = artifacts_dir()

pytestmark = [
    pytest.mark.integration,
]


async def page_scenario(base: str, sites: dict[str, set[str]]) -> None:
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = await browser.new_page(viewport={"width": 1600, "height": 900}, locale="zh-CN")
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(base + "/")
        await page.fill("#login-user", "investigator")
        await page.fill("#login-pass", "investigator")
        await page.click("#login-submit")
        await page.wait_for_selector("#live.on")
        await page.evaluate("window.__notReloaded = true")
        await page.wait_for_function("() => window.__fleet().vehicles >= 10", timeout=60_000)
        # the registry's stations and places are drawn on the canvas, with a legend entry
        await page.wait_for_function("() => window.__fleetSites().length > 0", timeout=30_000)
        drawn: list[Any] = await page.evaluate("window.__fleetSites()")
        by_kind: dict[str, set[str]] = {"station": set(), "place": set()}
        for kind, ident, x, y in drawn:
            by_kind[kind].add(ident)
            assert 0 <= x <= 1600 and 0 <= y <= 900
        assert by_kind == sites
        assert await page.get_attribute("#fleet", "data-stations") == str(len(sites["station"]))
        assert await page.get_attribute("#fleet", "data-places") == str(len(sites["place"]))
        assert await page.text_content('[data-i18n="lg_stations"]') == "加油站"
        assert await page.text_content('[data-i18n="lg_places"]') == "重点场所"
        first: list[Any] = await page.evaluate("window.__fleetSnapshot()")
        # vehicles move on the open page: some vehicle's position changes, no reload
        await page.wait_for_function(
            """(before) => {
                 const was = new Map(before.map((v) => [v[0], v]));
                 return window.__fleetSnapshot().filter((v) => {
                   const o = was.get(v[0]);
                   return o && v[1] > o[1] && (v[2] !== o[2] || v[3] !== o[3]);
                 }).length >= 3;
               }""", arg=first, timeout=90_000)
        assert await page.evaluate("window.__notReloaded === true")
        assert await page.evaluate("window.__fleet().fps") > 0
        # click a moving vehicle: its track of the day and its open alerts
        snap = await page.evaluate("window.__fleetSnapshot()")
        moving = [v for v in snap if v[4] in ("moving", "off_hours")] or snap
        vid = moving[0][0]
        x, y = await page.evaluate("(id) => window.__fleetPixel(id)", vid)
        await page.mouse.click(x, y)
        await page.wait_for_selector("#fleet-info:not(.hidden) #fleet-vehicle")
        picked = await page.text_content("#fleet-vehicle")
        assert picked in {v[0] for v in snap}
        track = await page.text_content("#fleet-track")
        assert track is not None and "当日轨迹" in track
        points = int(track.split(":")[1].split()[0])
        assert points >= 1
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "fleet_map_zh.png"))
        await page.click("#lang")
        await page.wait_for_function(
            "() => document.getElementById('tab-fleet').textContent === 'Live fleet'")
        assert await page.text_content('[data-i18n="lg_stations"]') == "Fuel stations"
        assert await page.text_content('[data-i18n="lg_places"]') == "Configured places"
        await page.mouse.click(x, y)
        await page.wait_for_function(
            "() => (document.getElementById('fleet-track') || {}).textContent?.startsWith('Track')")
        await page.screenshot(path=str(ARTIFACTS / "fleet_map_en.png"))
        await page.click("#lang")
        assert errors == []
        await browser.close()


@pytest.mark.timeout(400)
def test_fleet_moves_on_the_map_and_a_click_shows_the_track(tmp_path: Path) -> None:
    with live_system(tmp_path) as system:
        system.start_worker()
        # the simulated city's last day, ending today, at 1800x: `sunlight simulate --live`
        sim = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "simulate", "--live", system.bootstrap,
             "--seed", "3", "--vehicles", "24", "--days", "1", "--units", "4",
             "--stations", "6", "--recipients", "20", "--cases", "4", "--speed", "1800"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        try:
            r = redis.Redis.from_url(system.redis_server.url)
            assert wait_for(lambda: r.hlen("sunlight:fleet:pos") >= 10, 180), \
                system.log_tail()
            # --stations 6, and the typology scenarios' 16 places (two per category)
            assert wait_for(lambda: r.hlen("sunlight:fleet:sites") == 6 + 16, 30), \
                r.hkeys("sunlight:fleet:sites")
            sites: dict[str, set[str]] = {"station": set(), "place": set()}
            for key in r.hkeys("sunlight:fleet:sites"):
                kind, ident = key.decode().split(":", 1)
                sites[kind].add(ident)
            assert len(sites["station"]) == 6 and len(sites["place"]) == 16

            async def main() -> None:
                runner = await start_dashboard(system.redis_server.url, "sunlight:",
                                               "127.0.0.1", 0, DashboardConfig.load(),
                                               demo=True, audit_key=b"test-only-audit-key")
                try:
                    await asyncio.wait_for(page_scenario(bound_url(runner), sites), 200)
                finally:
                    await runner.cleanup()

            asyncio.run(main())
        finally:
            os.killpg(sim.pid, signal.SIGTERM)
            sim.wait(30)
