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
from sinks.dashboard.auth import Session, token_id
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
    about: dict[str, Any] | None = None  # the alert it is about (recusal is checked on it)
    raw: bytes | None = None  # the whole frame, when it is the same for every reader

    def encode(self, masked: bool) -> bytes:
        if self.raw is not None:
            return self.raw
        data = orjson.dumps(self.masked if masked else self.full)
        return b"event: " + self.kind.encode() + b"\ndata: " + data + b"\n\n"


class Client:
    """One open event stream: its queue, and why it was ended (if it was)."""

    def __init__(self, session_id: str, size: int) -> None:
        self.session_id = session_id
        self.queue: asyncio.Queue[LiveEvent | None] = asyncio.Queue(size)
        self.ended: str = ""

    def end(self, reason: str) -> None:
        """Wake the stream and make it close (it sends `reason`, then ends)."""
        if self.ended:
            return
        self.ended = reason
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)


class LiveHub:
    def __init__(self, redis: Redis, store: AlertStore, queue_size: int = QUEUE_SIZE) -> None:
        self.redis = redis
        self.store = store
        self.queue_size = queue_size
        self.clients: set[Client] = set()
        self.ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.ready.wait(), 5.0)

    async def stop(self) -> None:
        for client in list(self.clients):
            client.end("shutdown")
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def subscribe(self, session_id: str = "") -> Client:
        client = Client(session_id, self.queue_size)
        self.clients.add(client)
        return client

    def unsubscribe(self, client: Client) -> None:
        self.clients.discard(client)

    def end_session(self, session_id: str, reason: str) -> None:
        """Close every stream of one session here (logout); other processes notice it
        when they re-check the session."""
        for client in list(self.clients):
            if client.session_id == session_id:
                client.end(reason)

    async def _run(self) -> None:
        keys = self.store.keys
        delay = 0.5
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(keys.live, keys.cases, keys.fleet)
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
        if channel == self.store.keys.fleet:
            # positions carry no personal data and are relayed as they came (no re-parse)
            body = data.encode() if isinstance(data, str) else data
            if body.startswith(b"["):
                self._fan_out(LiveEvent("fleet", {}, {}, None,
                                        b'event: fleet\ndata: {"v":' + body + b"}\n\n"))
            return
        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError:
            log.warning("live: message on %s is not JSON; skipped", channel)
            return
        if not isinstance(payload, dict):
            return
        if channel == self.store.keys.live:
            alert = light(with_case(payload, None))
            event = LiveEvent("alert", alert, mask_alert(alert), alert)
        else:
            stored = await self.store.get(str(payload.get("alert_id")))
            masked = dict(payload)
            if stored is not None:
                masked["note"] = mask_text(str(payload.get("note", "")), stored)
            event = LiveEvent("case", payload, masked, stored)
        self._fan_out(event)

    def _fan_out(self, event: LiveEvent) -> None:
        for client in list(self.clients):
            if client.ended:
                continue
            if client.queue.full():
                # A stalled browser: close its stream rather than grow without bound; the
                # page reconnects and reloads what it missed.
                client.end("dropped")
                self.clients.discard(client)
                continue
            client.queue.put_nowait(event)


async def still_valid(request: web.Request, session: Session) -> str:
    """'' while the stream's session holds with the same role, else why it ended."""
    current = await request.app[K.SESSIONS].get(request[K.TOKEN])
    if current is None:
        return "session_ended"
    user = request.app[K.CONFIG].users.get(current.user)
    if current.role != session.role or user is None or user.role != session.role:
        await request.app[K.SESSIONS].drop(request[K.TOKEN])
        return "role_changed"
    return ""


async def events(request: web.Request) -> web.StreamResponse:
    hub: LiveHub = request.app[K.HUB]
    session: Session = request[K.SESSION]
    masked = not session.sees_personal_ids
    recheck_s = request.app[K.CONFIG].sse_recheck_s
    cases = request.app[K.STORE].cases
    resp = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no",
    })
    await resp.prepare(request)
    client = hub.subscribe(token_id(request[K.TOKEN]))
    loop = asyncio.get_running_loop()
    try:
        await resp.write(b"retry: 2000\nevent: hello\ndata: {}\n\n")
        next_ping = next_check = loop.time()
        next_ping += HEARTBEAT_S
        next_check += recheck_s
        while True:
            wait = max(0.0, min(next_ping, next_check) - loop.time())
            try:
                event = await asyncio.wait_for(client.queue.get(), wait)
            except TimeoutError:
                event = None if client.ended else LiveEvent("", {}, {})
            now = loop.time()
            if not client.ended and now >= next_check:
                reason = await still_valid(request, session)
                if reason:
                    client.end(reason)
                next_check = now + recheck_s
            if client.ended:
                data = orjson.dumps({"reason": client.ended})
                await resp.write(b"event: bye\ndata: " + data + b"\n\n")
                break
            if event is not None and event.kind:
                if event.about is None or not cases.recused(session.user, event.about):
                    await resp.write(event.encode(masked))
            elif now >= next_ping:
                await resp.write(b": ping\n\n")
            if now >= next_ping:
                next_ping = now + HEARTBEAT_S
    except ConnectionResetError:
        pass
    finally:
        hub.unsubscribe(client)
    return resp
