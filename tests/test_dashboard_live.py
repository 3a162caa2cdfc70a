"""End to end: a fuel transaction produced into Kafka reaches the open dashboard page
within 2 s, without a reload (Kafka → worker → Redis → pub/sub → SSE → browser)."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from pathlib import Path

import playwright.async_api as playwright_api  # a dev dependency: this test never skips
import pytest
from kafka import KafkaProducer
from live_support import live_system, wait_for
from screenshots import artifacts_dir

from sinks.dashboard.app import bound_url, start_dashboard
from sinks.dashboard.config import DashboardConfig

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = artifacts_dir()

pytestmark = [pytest.mark.integration]  # no Chromium: the browser fails to launch, no skip


def send(producer: KafkaProducer, topic: str, key: str, event: dict[str, object]) -> None:
    producer.send(topic, key=key.encode(), value=json.dumps(event).encode())
    producer.flush()


def metrics(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            return str(r.read().decode())
    except OSError:
        return ""


@pytest.mark.timeout(180)
def test_alert_produced_into_kafka_appears_on_the_open_page(tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    with live_system(tmp_path) as system:
        worker = system.start_worker()
        port = worker.metrics_port  # type: ignore[attr-defined]
        producer = KafkaProducer(bootstrap_servers=system.bootstrap)
        send(producer, "sunlight.registry", "KV-1", {
            "kind": "vehicle", "vehicle_id": "KV-1", "unit": "市交通局", "tank_liters": 55,
            "fuel_type": "gasoline", "district": "和平区", "ts": "2026-01-01T00:00:00+08:00"})
        send(producer, "sunlight.registry", "KC-1", {
            "kind": "card", "card_id": "KC-1", "vehicle_id": "KV-1",
            "ts": "2026-01-01T00:00:00+08:00"})
        now_ms = int(time.time() * 1000)
        send(producer, "sunlight.gps", "KV-1", {
            "vehicle_id": "KV-1", "ts": now_ms - 60_000, "lat": 41.80, "lon": 123.40})
        assert wait_for(lambda: 'sunlight_events_total{kind="gps"} 1.0' in metrics(port), 90), (
            system.log_tail())

        async def scenario() -> float:
            runner = await start_dashboard(system.redis_server.url, "sunlight:", "127.0.0.1",
                                           0, DashboardConfig.load(),
                                           audit_key=b"test-only-audit-key", demo=True)
            try:
                async with playwright_api.async_playwright() as p:
                    browser = await p.chromium.launch(
                        executable_path=str(CHROMIUM),
                        args=["--no-sandbox", "--disable-gpu",
                              "--disable-background-networking"])
                    page = await browser.new_page(viewport={"width": 1600, "height": 900})
                    await page.goto(bound_url(runner) + "/")
                    await page.fill("#login-user", "investigator")
                    await page.fill("#login-pass", "investigator")
                    await page.click("#login-submit")
                    await page.wait_for_selector("#live.on")
                    await page.evaluate("window.__notReloaded = true")
                    started = time.monotonic()
                    send(producer, "sunlight.fuel", "KC-1", {
                        "txn_id": "TXN-KAFKA-1", "card_id": "KC-1", "ts": int(time.time() * 1000),
                        "liters": 90.0, "amount_cny": 690.0, "station_id": "ST-9",
                        "vehicle_id": "KV-1", "fuel_type": "92"})
                    await page.wait_for_selector('#feed-body tr:has-text("TXN-KAFKA-1")',
                                                 timeout=2000)
                    took = time.monotonic() - started
                    assert await page.evaluate("window.__notReloaded === true")
                    await page.screenshot(path=str(ARTIFACTS / "dashboard_from_kafka.png"))
                    await browser.close()
                    return took
            finally:
                await runner.cleanup()

        took = asyncio.run(scenario())
        producer.close()
        assert took < 2.0
        (alert,) = [a for a in system.alerts() if a["subject"] == "TXN-KAFKA-1"]
        assert alert["detector"] == "tank_overfill"
