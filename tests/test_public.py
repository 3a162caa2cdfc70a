"""The public side without login: citizen reports (bounded, rate-limited, receipt, status,
joined to the case of the same entity, sent to Kafka `sunlight.reports`), the transparency
statistics (aggregates only) and the subsidy catalogue. Real Redis and Kafka."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest
import redis.asyncio as aioredis
import yaml
from aiohttp.test_utils import TestClient, TestServer
from kafka import KafkaConsumer

from sinks.alert_index import IndexCatchUp
from sinks.catalogue import Catalogue
from sinks.dashboard.app import create_app
from sinks.dashboard.config import DashboardConfig
from sinks.dashboard.report_sink import KafkaReportSink
from sinks.publication import publish_grant
from sinks.redis_store import RedisAlertStore
from streams.tools.embedded import create_topics

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[1]
ZONE = ZoneInfo("Asia/Shanghai")
PAYEE = "P00123457"


def alerts() -> list[dict[str, object]]:
    raised = datetime.now(ZONE).isoformat(timespec="milliseconds")
    base = {"event_ts": raised, "raised_at": raised, "evidence": [], "district": "和平区",
            "rule": {"name": "x", "version": "1"}}
    return [
        {**base, "alert_id": "tank_overfill:a1", "detector": "tank_overfill", "subject": "T-1",
         "severity": "high", "entity": {"kind": "vehicle", "id": "LN-A-0311"},
         "title": "加油量超油箱容量", "details": {}, "unit": "市水务局"},
        {**base, "alert_id": "payment_after_death:a2", "detector": "payment_after_death",
         "subject": "PAY-1", "severity": "critical", "entity": {"kind": "payee", "id": PAYEE},
         "title": f"死亡后仍发放 {PAYEE}", "details": {"payee_id": PAYEE, "program": "高龄补贴"},
         "unit": "市民政局"},
        {**base, "alert_id": "duplicate_payment:a3", "detector": "duplicate_payment",
         "subject": "PAY-2", "severity": "high", "entity": {"kind": "payee", "id": "P00988121"},
         "title": "重复发放", "details": {"payee_id": "P00988121", "program": "DB"},
         "unit": "市民政局"},
        {**base, "alert_id": "duplicate_payment:a4", "detector": "duplicate_payment",
         "subject": "PAY-3", "severity": "high", "entity": {"kind": "payee", "id": "P00000001"},
         "title": "重复发放", "details": {"payee_id": "P00000001", "program": "某某慰问金"},
         "unit": "市民政局"},
    ]


def test_catalogue_maps_codes_names_and_aliases() -> None:
    cat = Catalogue.load()
    assert len(cat.classes) == 14
    assert cat.lookup("DB").code == cat.lookup("城乡居民最低生活保障金").code == "0101"  # type: ignore[union-attr]
    assert cat.lookup(" 高龄 补贴").class_name == "社会福利类"  # type: ignore[union-attr]
    assert cat.lookup("某某慰问金") is None
    got = cat.by_class([("DB", 3), ("GL", 2), ("某某慰问金", 1)])
    counts = {c["code"]: c["count"] for c in got["classes"]}
    assert counts["01"] == 3 and counts["02"] == 2 and sum(counts.values()) == 5
    assert got["unknown"] == {"某某慰问金": 1}
    with pytest.raises(ValueError, match=r"classes\[0\].subclasses\[0\].code: '9901' does not"):
        Catalogue.from_mapping({"version": 1, "classes": [
            {"code": "01", "name": "x", "subclasses": [{"code": "9901", "name": "y"}]}]})


def test_reports_receipts_joins_kafka_and_the_public_statistics(
        redis_url: str, kafka_bootstrap: str) -> None:
    prefix = f"pub{uuid.uuid4().hex[:8]}:"
    topic = f"t{uuid.uuid4().hex[:6]}.reports"
    create_topics(kafka_bootstrap, [topic], 1)
    raw = yaml.safe_load((ROOT / "config" / "dashboard.yaml").read_text(encoding="utf-8"))
    cfg = DashboardConfig.from_mapping({**raw, "public": {"reports_per_window": 3}})

    async def go() -> None:
        r = aioredis.Redis.from_url(redis_url, decode_responses=True)
        writer = RedisAlertStore(redis_url, prefix=prefix)
        await writer.add_new(alerts())
        await writer.close()
        cat = Catalogue.load()
        await publish_grant(r, prefix, {"grant_id": "G-1", "project_id": "PRJ-7",
                                        "title": "冷链物流中心", "org_name": "远航有限公司",
                                        "org_id": "91210113BLAKLBKPEK",
                                        "department": "发改委投资处", "program": "中央预算内",
                                        "amount_cny": 1200000.0, "ts": "2026-03-01"}, cat)
        await publish_grant(r, prefix, {"grant_id": "G-2", "project_id": "PRJ-8",
                                        "title": "某某项目", "program": "未知专项",
                                        "amount_cny": 5.0, "ts": "2026-03-02"}, cat)
        sink = KafkaReportSink(kafka_bootstrap, topic)
        app = create_app(redis_url, prefix, cfg, report_sink=sink, audit_key=b"test-only-audit-key")
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            # no login needed
            resp = await client.post("/api/public/reports", json={
                "kind": "vehicle", "entity_id": "LN-A-0311",
                "text": "这辆车周末停在小区门口", "contact": "138xxxx"})
            assert resp.status == 201
            receipt = (await resp.json())["receipt"]
            assert len(receipt) == 13 and receipt.startswith("R")
            # bounded input, with a reason naming the field
            bad = await client.post("/api/public/reports", json={
                "kind": "vehicle", "entity_id": "x" * 65, "text": "问题问题问题"})
            assert bad.status == 400 and (await bad.json())["reason"].startswith("entity_id:")
            bad = await client.post("/api/public/reports", json={
                "kind": "vehicle", "entity_id": "LN-1", "text": "x" * 2001})
            assert bad.status == 400 and "text: 2001 characters" in (await bad.json())["reason"]
            # per-address limit (3 a window; two bad ones counted too)
            over = await client.post("/api/public/reports", json={
                "kind": "vehicle", "entity_id": "LN-1", "text": "第四次提交"})
            assert over.status == 429 and int(over.headers["Retry-After"]) > 0
            # status by receipt: joined to the open case of the same vehicle; nothing else
            status = await (await client.get(f"/api/public/reports/{receipt}")).json()
            assert status == {"receipt": receipt, "status": "under_review",
                              "created_ms": status["created_ms"]}
            assert (await client.get("/api/public/reports/R000000000000")).status == 404
            # investigators see the report on the case
            await client.post("/api/login", json={"user": "investigator",
                                                   "password": "investigator"})
            dash = await (await client.get("/api/stats")).json()
            assert dash["by_class"]["unknown"] == {"某某慰问金": 1}
            detail = await (await client.get("/api/alerts/tank_overfill:a1")).json()
            assert [x["receipt"] for x in detail["reports"]] == [receipt]
            assert detail["reports"][0]["text"] == "这辆车周末停在小区门口"
            await client.post("/api/logout", headers={"X-CSRF-Token": ""})
            # public statistics: aggregates, classes, unknown names, grants; no person id
            stats_text = await (await client.get("/api/public/stats")).text()
            assert PAYEE not in stats_text and "P00988121" not in stats_text
            assert "138xxxx" not in stats_text
            stats = orjson.loads(stats_text)
            assert stats["total"] == 4
            assert {u["name"]: u["open"] for u in stats["units"]} == {"市民政局": 3, "市水务局": 1}
            classes = {c["code"]: c["count"] for c in stats["alerts_by_class"]["classes"]}
            assert classes["01"] == 1 and classes["02"] == 1
            assert stats["alerts_by_class"]["unknown"] == {"某某慰问金": 1}
            grants = stats["grants"]
            assert [g["class_name"] for g in grants["items"]] == ["", "产业发展与项目资金类"]
            assert grants["unknown_programs"] == {"未知专项": 1}
            assert all("org_id" not in g for g in grants["items"])
            found = await (await client.get("/api/public/stats?q=冷链")).json()
            assert [g["grant_id"] for g in found["grants"]["items"]] == ["G-1"]
        await sink.close()
        await r.aclose()

    asyncio.run(go())
    consumer = KafkaConsumer(topic, bootstrap_servers=kafka_bootstrap,
                             auto_offset_reset="earliest", consumer_timeout_ms=5000)
    records = list(consumer)
    consumer.close()
    assert len(records) == 1
    sent = orjson.loads(records[0].value)
    assert sent["kind"] == "vehicle" and sent["entity_id"] == "LN-A-0311"
    assert "contact" not in sent and records[0].key.decode() == sent["receipt"]


def test_programmes_are_mapped_on_the_way_in_and_older_alerts_still_count(
        redis_url: str) -> None:
    """The writer maps ``details.program`` with its catalogue when the alert is written; an
    alert indexed before that (by the catch-up, raw name) is mapped on read; both add up,
    and an unknown name is counted and shown, never dropped."""
    prefix = f"cat{uuid.uuid4().hex[:8]}:"
    writer_cat = Catalogue.from_mapping({"version": 1, "classes": [
        {"code": "01", "name": "社会救助类", "subclasses": [
            {"code": "0101", "name": "城乡居民最低生活保障金", "aliases": ["DB", "旧低保名"]}]},
        {"code": "02", "name": "社会福利类", "subclasses": [
            {"code": "0201", "name": "高龄津贴", "aliases": ["GL"]}]}]})
    old, new = alerts(), alerts()
    for a in old:
        a["alert_id"] = f"old-{a['alert_id']}"
    old = old[1:3]  # programmes 高龄补贴 and DB, indexed before the writer mapped them

    async def go() -> None:
        r = aioredis.Redis.from_url(redis_url, decode_responses=True)
        for a in old:  # written in the contract's layout by an older version
            data = orjson.dumps(a)
            await r.hset(f"{prefix}alert:{a['alert_id']}", mapping={"alert": data,
                                                                   "status": "open"})
            await r.xadd(f"{prefix}alerts", {"alert": data})
        await IndexCatchUp(r, prefix).run()
        new[1]["details"]["program"] = "旧低保名"  # a legacy name the writer's catalogue knows
        writer = RedisAlertStore(redis_url, prefix=prefix, catalogue=writer_cat)
        await writer.add_new(new)
        await writer.close()
        base = f"{prefix}idx:"
        assert await r.hgetall(f"{base}classes") == {"01": "2"}
        assert await r.hgetall(f"{base}subclasses") == {"0101": "2"}
        assert await r.hgetall(f"{base}programs:unknown") == {"某某慰问金": "1"}
        assert await r.hgetall(f"{base}programs") == {"高龄补贴": "1", "DB": "1"}  # older only
        assert await r.hget(f"{prefix}alert:{new[1]['alert_id']}", "catalogue") == "0101"
        assert await r.hget(f"{prefix}alert:{new[3]['alert_id']}", "catalogue") == ""
        assert not await r.hexists(f"{prefix}alert:{new[0]['alert_id']}", "catalogue")
        cfg = DashboardConfig.load()
        app = create_app(redis_url, prefix, cfg, audit_key=b"test-only-audit-key")
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            stats = await (await client.get("/api/public/stats")).json()
            got = stats["alerts_by_class"]
            classes = {c["code"]: c["count"] for c in got["classes"]}
            # the dashboard's catalogue does not know 旧低保名: mapped when written, it counts
            assert classes["01"] == 3 and classes["02"] == 1 and sum(classes.values()) == 4
            assert got["unknown"] == {"某某慰问金": 1}
            await client.post("/api/login", json={"user": "investigator",
                                                   "password": "investigator"})
            dash = await (await client.get("/api/stats")).json()
            assert dash["by_class"] == got
        await r.aclose()

    asyncio.run(go())
