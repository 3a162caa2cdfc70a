"""Every alert, not the newest 5,000: the Redis indexes written with each alert answer the
dashboard's pages, counts, ranking, chart and open queue exactly as a count over all
alerts does. Real Redis; alerts written by the worker's own store (Lua)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
import redis.asyncio as aioredis

from sinks.alert_index import IndexKeys
from sinks.dashboard.index_query import AlertIndex, Hidden
from sinks.dashboard.query import AlertFilter, summary
from sinks.dashboard.store import AlertStore, with_case
from sinks.redis_store import RedisAlertStore

pytestmark = pytest.mark.integration
ZONE = ZoneInfo("Asia/Shanghai")
N = 5_300
DETECTORS = ("refuel_without_trip", "off_hours_use", "payment_after_death", "tank_overfill")
SEVERITIES = ("low", "medium", "high", "critical")
UNITS = ("市交通局", "市民政局", "市水务局", "")
DISTRICTS = ("和平区", "沈河区", "铁西区")


def make_alerts(now: datetime) -> list[dict[str, Any]]:
    """N alerts, the oldest first, one every 3 minutes back from now."""
    out = []
    for i in range(N):
        raised = now - timedelta(minutes=3 * (N - i))
        out.append({
            "alert_id": f"{DETECTORS[i % 4]}:{i:06d}",
            "detector": DETECTORS[i % 4],
            "subject": f"S-{i}",
            "severity": SEVERITIES[(i // 4) % 4],
            "entity": {"kind": "vehicle" if i % 5 else "payee", "id": f"E{i % 97:04d}"},
            "event_ts": raised.isoformat(timespec="milliseconds"),
            "raised_at": raised.isoformat(timespec="milliseconds"),
            "title": f"告警 {i}",
            "details": {},
            "evidence": [],
            "unit": UNITS[i % 7 % 4],
            "district": DISTRICTS[i % 3],
            "rule": {"name": DETECTORS[i % 4], "version": "1"},
        })
    return out


async def everything(r: aioredis.Redis, prefix: str) -> list[dict[str, Any]]:
    """The reference: every alert hash, read one by one, newest first."""
    keys = [k async for k in r.scan_iter(f"{prefix}alert:*", count=1000)]
    async with r.pipeline(transaction=False) as pipe:
        for k in keys:
            pipe.hgetall(k)
        rows = await pipe.execute()
    alerts = [with_case(orjson.loads(row["alert"]), row) for row in rows]
    return sorted(alerts, key=lambda a: a["raised_at"], reverse=True)


def test_indexes_cover_every_alert(redis_url: str) -> None:
    prefix = f"ix{uuid.uuid4().hex[:8]}:"
    now = datetime.now(ZONE)
    alerts = make_alerts(now)

    async def go() -> None:
        writer = RedisAlertStore(redis_url, prefix=prefix)
        r = aioredis.Redis.from_url(redis_url, decode_responses=True)
        try:
            await writer.add_new(alerts)
            store = AlertStore(r, prefix, audit_key=b"test-only-audit-key")
            # the oldest alert stays open; act on the next 400 (every action moves indexes)
            for i, a in enumerate(alerts[1:401]):
                action = ("acknowledge", "propose", "dismiss")[i % 3]
                await store.act(a["alert_id"], action, "", who="inv", role="investigator")
                if action == "propose":
                    await store.act(a["alert_id"], "approve", "", who="inv2",
                                    role="investigator")
            await store.act(alerts[2]["alert_id"], "reopen", "", who="adm", role="admin")
            # the writer indexed in order, so it kept the catch-up cursor at the head
            last = await r.xrevrange(f"{prefix}alerts", count=1)
            assert await r.get(IndexKeys(prefix).cursor) == last[0][0]
            index = AlertIndex(r, prefix)
            await index.refresh()
            ref = await everything(r, prefix)
            assert len(ref) == N
            now_ms = int(now.timestamp() * 1000) + 1

            # the open queue, oldest first, starts at the oldest alert of all
            page = await index.page(AlertFilter(status="open"), now_ms, newest=False, limit=10)
            assert page.alerts[0]["alert_id"] == alerts[0]["alert_id"]
            assert page.matched == sum(1 for a in ref if a["status"] == "open")

            # counts, ranking and chart equal a count over all alerts
            for filt in (AlertFilter(), AlertFilter(detector="payment_after_death"),
                         AlertFilter(unit="市民政局", status="open,acknowledged"),
                         AlertFilter(district="铁西区", severity="critical")):
                chosen = [a for a in ref if filt.accepts(a, now_ms)]
                want = summary(chosen, now_ms)
                got = await index.summary(filt, now_ms)
                for k in ("total", "unresolved", "critical_open", "by_detector", "by_severity",
                          "by_status", "ranking", "chart", "last_hour"):
                    assert got[k] == want[k], (filt, k)
                assert got["total"] == len(chosen) > 0

            # a filtered page, paged through, is exactly the reference order
            filt = AlertFilter(detector="off_hours_use,tank_overfill", district="和平区")
            chosen = [a["alert_id"] for a in ref if filt.accepts(a, now_ms)]
            got_ids: list[str] = []
            for offset in range(0, len(chosen) + 100, 100):
                p = await index.page(filt, now_ms, offset=offset, limit=100)
                assert p.matched == len(chosen)
                got_ids += [a["alert_id"] for a in p.alerts]
            assert got_ids == chosen

            # a time window over an intersection, both ways round
            filt = AlertFilter(status="open", district="沈河区", since_hours=48)
            chosen = [a["alert_id"] for a in ref if filt.accepts(a, now_ms)]
            p = await index.page(filt, now_ms, limit=500)
            assert p.matched == len(chosen) > 0
            assert [a["alert_id"] for a in p.alerts] == chosen
            p = await index.page(filt, now_ms, newest=False, limit=500)
            assert [a["alert_id"] for a in p.alerts] == chosen[::-1]

            # the walk (no stored intersection) answers exactly as the reference and as the
            # stored intersection, across chunks, windows, unions, both orders and offsets;
            # small chunks and extreme thresholds force each of its ways (walk on and count
            # with ZINTERCARD / intersect the sparse result / walk the whole window)
            detectors = ",".join(DETECTORS)
            filters = (AlertFilter(unit="市民政局", district="铁西区", severity="high"),
                       AlertFilter(status="open", detector="tank_overfill"),
                       AlertFilter(detector=detectors, severity="low,medium,high,critical",
                                   status="open,acknowledged", unit="市水务局"),
                       AlertFilter(detector="off_hours_use,tank_overfill", severity="low,high"),
                       AlertFilter(unit="市交通局", since_hours=100, severity="low,high"),
                       AlertFilter(status="dismissed", district="沈河区"),
                       AlertFilter(unit="无此单位", district="沈河区"))
            ways = ((1000, 20_000), (7, 0), (7, 10**9))
            for (chunk, store_max), filt in ((w, f) for w in ways for f in filters):
                index.walk_chunk, index.store_max = chunk, store_max
                chosen = [a["alert_id"] for a in ref if filt.accepts(a, now_ms)]
                for newest in (True, False):
                    order = chosen if newest else chosen[::-1]
                    for offset in (0, 7, 300):
                        walk = await index.page(filt, now_ms, newest=newest, offset=offset,
                                                limit=50)
                        stored = await index.page(filt, now_ms, newest=newest, offset=offset,
                                                  limit=50, stored=True)
                        assert walk.matched == stored.matched == len(chosen), filt
                        ids = [a["alert_id"] for a in walk.alerts]
                        assert ids == [a["alert_id"] for a in stored.alerts], filt
                        assert ids == order[offset:offset + 50], (filt, newest, offset)

            # time window and text search
            filt = AlertFilter(since_hours=24, q="告警 52")
            chosen = [a["alert_id"] for a in ref if filt.accepts(a, now_ms)]
            p = await index.page(filt, now_ms)
            assert p.exact and p.matched == len(chosen) and \
                [a["alert_id"] for a in p.alerts] == chosen

            # what a recused reader may not see is gone from pages and counts alike
            hidden = Hidden(units=frozenset({"市交通局"}),
                            alert_ids=frozenset({alerts[0]["alert_id"], alerts[5]["alert_id"]}))
            visible = [a for a in ref if a["unit"] != "市交通局"
                       and a["alert_id"] not in hidden.alert_ids]
            got = await index.summary(AlertFilter(), now_ms, hidden=hidden)
            want = summary(visible, now_ms)
            for k in ("total", "by_status", "ranking", "chart", "last_hour"):
                assert got[k] == want[k], k
            p = await index.page(AlertFilter(status="open"), now_ms, newest=False,
                                 hidden=hidden)
            assert p.matched == sum(1 for a in visible if a["status"] == "open")
            assert alerts[0]["alert_id"] not in {a["alert_id"] for a in p.alerts}
        finally:
            await writer.close()
            await r.aclose()

    asyncio.run(go())


def test_alerts_written_without_the_script_are_indexed_by_the_catch_up(redis_url: str) -> None:
    prefix = f"ix{uuid.uuid4().hex[:8]}:"
    now = datetime.now(ZONE)
    alerts = make_alerts(now)[:50]

    async def go() -> None:
        r = aioredis.Redis.from_url(redis_url, decode_responses=True)
        try:
            for a in alerts:  # the contract's layout, by hand, with one already acknowledged
                data = orjson.dumps(a)
                status = "acknowledged" if a is alerts[3] else "open"
                await r.hset(f"{prefix}alert:{a['alert_id']}",
                             mapping={"alert": data, "status": status})
                await r.xadd(f"{prefix}alerts", {"alert": data})
            index = AlertIndex(r, prefix)
            now_ms = int(now.timestamp() * 1000) + 1
            assert (await index.page(AlertFilter(), now_ms)).matched == 0
            await index.refresh()
            await index.refresh()  # idempotent
            assert (await index.page(AlertFilter(), now_ms)).matched == 50
            s = await index.summary(AlertFilter(), now_ms)
            assert s["by_status"] == {"open": 49, "acknowledged": 1}
            keys = IndexKeys(prefix)
            assert await r.zcard(keys.entity("vehicle", "E0001")) == 1
            # once caught up, the writer moves the cursor with what it adds
            writer = RedisAlertStore(redis_url, prefix=prefix)
            await writer.add_new(make_alerts(now)[50:52])
            await writer.close()
            last = await r.xrevrange(f"{prefix}alerts", count=1)
            assert await r.get(keys.cursor) == last[0][0]
            assert (await index.page(AlertFilter(), now_ms)).matched == 52
        finally:
            await r.aclose()

    asyncio.run(go())
