"""Server-sent events fed by Redis pub/sub.

One subscription per dashboard process (not per browser) listens to
``alerts:live`` (new alerts) and ``alerts:cases`` (case changes) and fans
each message out to the open event streams; viewers get masked copies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from sinks.dashboard import appkeys as K
from sinks.dashboard.masking import mask_alert, mask_text
from sinks.dashboard.query import light
from sinks.dashboard.store import AlertStore, with_case

log = logging.getLogger(__name__)
HEARTBEAT_S = 15.0
QUEUE_SIZE = 1000


@dataclass(frozen=True)
class LiveEvent:
    kind: str  # "alert" | "case"
    full: dict[str, Any]
    masked: dict[str, Any]

    def encode(self, masked: bool) -> bytes:
        data = orjson.dumps(self.masked if masked else self.full)
        return b"event: " + self.kind.encode() + b"\ndata: " + data + b"\n\n"


class LiveHub:
    def __init__(self, redis: Redis, store: AlertStore) -> None:
        self.redis = redis
        self.store = store
        self.clients: set[asyncio.Queue[LiveEvent | None]] = set()
        self.ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.ready.wait(), 5.0)

    async def stop(self) -> None:
        for q in list(self.clients):
            q.put_nowait(None)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def subscribe(self) -> asyncio.Queue[LiveEvent | None]:
        q: asyncio.Queue[LiveEvent | None] = asyncio.Queue(QUEUE_SIZE)
        self.clients.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[LiveEvent | None]) -> None:
        self.clients.discard(q)

    async def _run(self) -> None:
        keys = self.store.keys
        delay = 0.5
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(keys.live, keys.cases)
                self.ready.set()
                delay = 0.5
                while True:
                    msg = await pubsub.get_message(timeout=1.0)
                    if msg is not None:
                        await self._dispatch(msg["channel"], msg["data"])
            except (RedisConnectionError, OSError) as exc:
                log.warning("live: Redis subscription lost (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def _dispatch(self, channel: str, data: str) -> None:
        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError:
            log.warning("live: message on %s is not JSON; skipped", channel)
            return
        if not isinstance(payload, dict):
            return
        if channel == self.store.keys.live:
            alert = light(with_case(payload, None))
            event = LiveEvent("alert", alert, mask_alert(alert))
        else:
            stored = await self.store.get(str(payload.get("alert_id")))
            masked = dict(payload)
            if stored is not None:
                masked["note"] = mask_text(str(payload.get("note", "")), stored)
            event = LiveEvent("case", payload, masked)
        for q in list(self.clients):
            if q.full():  # a stalled browser: drop it rather than grow without bound
                self.clients.discard(q)
                continue
            q.put_nowait(event)


async def events(request: web.Request) -> web.StreamResponse:
    hub: LiveHub = request.app[K.HUB]
    masked = not request[K.SESSION].sees_personal_ids
    resp = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no",
    })
    await resp.prepare(request)
    q = hub.subscribe()
    try:
        await resp.write(b"retry: 2000\nevent: hello\ndata: {}\n\n")
        while True:
            try:
                event = await asyncio.wait_for(q.get(), HEARTBEAT_S)
            except TimeoutError:
                await resp.write(b": ping\n\n")
                continue
            if event is None:
                break
            await resp.write(event.encode(masked))
    except ConnectionResetError:
        pass
    finally:
        hub.unsubscribe(q)
    return resp
