"""Control-room benchmarks: the alert indexes at 200,000 alerts, and the fleet map's path.

``python -m streams.tools.bench.control [--alerts N] [--vehicles N ...] [--page-fps]``

- index: N alerts written through the worker's own store (Lua: alert + indexes in one
  step), then filtered pages (the walk, and in the same run the stored intersection as
  the reference, cached and after a write) and summaries timed (p50/p99) over mixed
  filters;
- fleet: positions for V vehicles offered, flushed to Redis (positions, tracks, one live
  message per batch) and relayed by a running dashboard over SSE to a reading client:
  positions per second end to end; with ``--page-fps`` Chromium draws the fleet at 2,706
  vehicles updated every second and reports its frame rate.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import statistics
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ZONE = ZoneInfo("Asia/Shanghai")
DETECTORS = ("refuel_without_trip", "off_hours_use", "payment_after_death", "tank_overfill",
             "duplicate_payment", "review_overdue", "card_vehicle_mismatch")
UNITS = [f"单位{i:02d}" for i in range(40)]
DISTRICTS = ["和平区", "沈河区", "铁西区", "皇姑区", "大东区", "浑南区", "于洪区", "沈北新区"]


def alerts(n: int, seed: int = 1) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    now = datetime.now(ZONE)
    out = []
    for i in range(n):
        raised = (now - timedelta(seconds=(n - i) * 30)).isoformat(timespec="milliseconds")
        det = rng.choice(DETECTORS)
        out.append({"alert_id": f"{det}:{i:08x}", "detector": det, "subject": f"S{i}",
                    "severity": rng.choice(("low", "medium", "high", "critical")),
                    "entity": {"kind": "vehicle", "id": f"V{rng.randrange(20000):05d}"},
                    "event_ts": raised, "raised_at": raised, "title": f"告警{i}",
                    "details": {}, "evidence": [], "unit": rng.choice(UNITS),
                    "district": rng.choice(DISTRICTS), "rule": {"name": det, "version": "1"}})
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def bench_index(url: str, n: int) -> dict[str, Any]:
    import redis.asyncio as aioredis

    from sinks.dashboard.index_query import AlertIndex
    from sinks.dashboard.query import AlertFilter
    from sinks.redis_store import RedisAlertStore

    prefix = "bench:"
    data = alerts(n)
    store = RedisAlertStore(url, prefix=prefix)
    started = time.perf_counter()
    for i in range(0, n, 5000):
        await store.add_new(data[i:i + 5000])
    write_s = time.perf_counter() - started
    await store.close()
    r = aioredis.Redis.from_url(url, decode_responses=True)
    index = AlertIndex(r, prefix)
    await index.refresh()
    rng = random.Random(2)
    now_ms = int(time.time() * 1000) + 1
    filters = []
    for _ in range(200):
        filters.append(rng.choice([
            AlertFilter(status="open"),
            AlertFilter(status="open", detector=rng.choice(DETECTORS)),
            AlertFilter(unit=rng.choice(UNITS), district=rng.choice(DISTRICTS)),
            AlertFilter(detector=rng.choice(DETECTORS), severity="critical,high",
                        district=rng.choice(DISTRICTS)),
            AlertFilter(detector=rng.choice(DETECTORS), since_hours=24),
        ]))
    # The same 200 pages four ways, in this order: the stored intersection as before the
    # walk (reference; its intersections cached per index version) and the walk (the
    # dashboard's way now; its dense counts cached per index version), then both again
    # with the version bumped before each page (a live system writes between requests,
    # so nothing cached per version survives).
    timings: dict[str, list[float]] = {"stored": [], "walk": [], "stored_after_write": [],
                                       "walk_after_write": []}
    for mode, times in timings.items():
        for i, f in enumerate(filters):
            if mode.endswith("_after_write"):
                await r.incr(index.keys.version)
            t0 = time.perf_counter()
            await index.page(f, now_ms, offset=(i % 5) * 100, limit=100, newest=i % 2 == 0,
                             stored=mode.startswith("stored"))
            times.append((time.perf_counter() - t0) * 1000)
    page_ms = timings["walk"]
    summary_ms = []
    for f in filters[:50]:
        if f.since_hours:
            continue
        t0 = time.perf_counter()
        await index.summary(f, now_ms)
        summary_ms.append((time.perf_counter() - t0) * 1000)
    oldest = await index.page(AlertFilter(status="open"), now_ms, newest=False, limit=1)
    await r.aclose()
    return {"alerts": n, "write_s": round(write_s, 1),
            "write_per_s": round(n / write_s), "page_p50_ms": round(pct(page_ms, 0.5), 1),
            "page_p99_ms": round(pct(page_ms, 0.99), 1),
            "page_max_ms": round(max(page_ms), 1),
            **{f"{mode}_page_{q}_ms": round(pct(times, v), 1)
               for mode, times in timings.items() if mode != "walk"
               for q, v in (("p50", 0.5), ("p99", 0.99))},
            "summary_p50_ms": round(pct(summary_ms, 0.5), 1),
            "summary_p99_ms": round(pct(summary_ms, 0.99), 1),
            "oldest_open_is_first": oldest.alerts[0]["alert_id"] == data[0]["alert_id"]}


async def bench_fleet(url: str, vehicles: int, rounds: int = 5) -> dict[str, Any]:
    """Worker -> Redis -> dashboard SSE -> client: positions delivered per second."""
    import aiohttp
    import redis.asyncio as aioredis

    from sinks.dashboard.app import bound_url, start_dashboard
    from sinks.dashboard.config import DashboardConfig
    from sinks.fleet import FleetPublisher, FleetSettings

    prefix = f"fb{vehicles}:"
    r = aioredis.Redis.from_url(url, decode_responses=True)
    pub = FleetPublisher(r, prefix, settings=FleetSettings(min_interval_ms=1000,
                                                           max_vehicles=max(vehicles, 1)))
    runner = await start_dashboard(url, prefix, "127.0.0.1", 0, DashboardConfig.load(),
                                   demo=True)
    base = bound_url(runner)
    received = 0
    got_all = asyncio.Event()
    target = vehicles * rounds
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await http.post(f"{base}/api/login", json={"user": "viewer", "password": "viewer"})

        async def read() -> None:
            nonlocal received
            async with http.get(f"{base}/api/events") as resp:
                buf = b""
                async for chunk in resp.content.iter_any():
                    buf += chunk
                    while b"\n\n" in buf:
                        frame, buf = buf.split(b"\n\n", 1)
                        if frame.startswith(b"event: fleet\n"):
                            data = frame.split(b"\ndata: ", 1)[1]
                            received += len(json.loads(data)["v"])
                            if received >= target:
                                got_all.set()
                                return

        reader = asyncio.create_task(read())
        await asyncio.sleep(0.5)
        t0 = time.perf_counter()
        flush_ms = []
        ts = int(time.time() * 1000)
        for k in range(rounds):
            ts += 1000
            pub.offer({"vehicle_id": f"V{i:06d}", "ts_ms": ts, "lat": 41.7 + (i % 300) / 1000,
                       "lon": 123.3 + (i // 300) / 1000 + k / 10000} for i in range(vehicles))
            f0 = time.perf_counter()
            await pub.flush()
            flush_ms.append((time.perf_counter() - f0) * 1000)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(got_all.wait(), 120)
        elapsed = time.perf_counter() - t0
        reader.cancel()
    await runner.cleanup()
    await r.aclose()
    return {"vehicles": vehicles, "rounds": rounds, "delivered": received,
            "positions_per_s": round(received / elapsed),
            "flush_p50_ms": round(statistics.median(flush_ms), 1),
            "flush_max_ms": round(max(flush_ms), 1)}


async def bench_page_fps(url: str, vehicles: int = 2706, seconds: float = 10.0) -> dict[str, Any]:
    import redis.asyncio as aioredis
    from playwright.async_api import async_playwright

    from sinks.dashboard.app import bound_url, start_dashboard
    from sinks.dashboard.config import DashboardConfig
    from sinks.fleet import FleetPublisher, FleetSettings

    prefix = "fps:"
    r = aioredis.Redis.from_url(url, decode_responses=True)
    pub = FleetPublisher(r, prefix, settings=FleetSettings(min_interval_ms=1000))
    ts = int(time.time() * 1000)

    def offer(k: int) -> None:
        pub.offer({"vehicle_id": f"V{i:05d}", "ts_ms": ts + k * 1000,
                   "lat": 41.7 + (i % 60) / 300 + k / 5000, "lon": 123.2 + (i // 60) / 200}
                  for i in range(vehicles))

    offer(0)
    await pub.flush()
    runner = await start_dashboard(url, prefix, "127.0.0.1", 0, DashboardConfig.load(),
                                   demo=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = await browser.new_page(viewport={"width": 1600, "height": 900})
        await page.goto(bound_url(runner) + "/")
        await page.fill("#login-user", "viewer")
        await page.fill("#login-pass", "viewer")
        await page.click("#login-submit")
        await page.wait_for_function(f"() => window.__fleet().vehicles >= {vehicles}")
        samples = []
        for k in range(1, int(seconds) + 1):
            offer(k)
            await pub.flush()
            await asyncio.sleep(1.0)
            samples.append(await page.evaluate("window.__fleet().fps"))
        await browser.close()
    await runner.cleanup()
    await r.aclose()
    return {"vehicles": vehicles, "updates_per_s": vehicles,
            "page_fps_median": statistics.median(samples), "page_fps_min": min(samples)}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from streams.tools.embedded import EmbeddedRedis

    out: dict[str, Any] = {}
    with EmbeddedRedis() as server:
        if args.alerts:
            out["index"] = await bench_index(server.url, args.alerts)
            print(json.dumps(out["index"]), flush=True)
        out["fleet"] = []
        for v in args.vehicles:
            out["fleet"].append(await bench_fleet(server.url, v))
            print(json.dumps(out["fleet"][-1]), flush=True)
        if args.page_fps:
            out["page"] = await bench_page_fps(server.url)
            print(json.dumps(out["page"]), flush=True)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--alerts", type=int, default=200_000)
    p.add_argument("--vehicles", type=int, nargs="*", default=[2706, 100_000])
    p.add_argument("--page-fps", action="store_true")
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    result = asyncio.run(run(args))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
