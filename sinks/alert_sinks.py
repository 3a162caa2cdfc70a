"""Where a worker's alerts go: Redis first (it keeps each alert id once), then the Kafka
alerts topic for those not forwarded yet, then a mark in Redis that they were.

One background task writes them, in the order they were raised, everything handed over
since its last write in one go (one Lua call, one batch of sends, one mark). Whoever
raises alerts (a feed, the group's agent, the ticker) hands them over and goes on: a
Redis or broker round trip no longer holds the next fuel batch back (at 250 fills a
second the feed spent all its time waiting on them, and alerts came seconds late).

Nothing is lost for it:
- `flush` waits until everything handed over before the call is written; a checkpoint
  calls it before it records its positions, so input is never marked done before the
  alerts it raised are in Redis and on the broker;
- a write that fails is retried (with backoff) until it succeeds, never skipped: Redis
  keeps an id once and `add_new` hands back what was not forwarded, so a retry neither
  doubles an alert nor misses one;
- a backlog of `max_pending` alerts holds the raisers back (an outage fills memory no
  further).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import orjson

log = logging.getLogger(__name__)

Alert = dict[str, Any]
# Sends a record and returns an awaitable that completes when the broker acknowledged it.
Send = Callable[[str, bytes, bytes], Awaitable[Any]]


class Store(Protocol):
    async def add_new(self, alerts: list[Alert]) -> list[Alert]: ...

    async def mark_forwarded(self, alert_ids: list[str]) -> None: ...


class Gauge(Protocol):
    def set(self, value: float) -> None: ...


class AlertSinks:
    def __init__(self, store: Store, send: Send, topic: str, max_pending: int = 20_000,
                 backlog: Gauge | None = None) -> None:
        self.store = store
        self.send = send
        self.topic = topic
        self.max_pending = max_pending
        self.backlog = backlog
        self._queue: list[Alert] = []
        self._handed = 0  # alerts handed over so far
        self._written = 0  # of which written
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        return self._handed - self._written

    async def add(self, alerts: list[Alert]) -> None:
        """Hand alerts over to be written (in this order, after those handed earlier)."""
        if not alerts:
            return
        while self.pending >= self.max_pending:
            self._room.clear()
            await self._room.wait()
        self._ensure_running()
        self._queue += alerts
        self._handed += len(alerts)
        self._wake.set()
        if self.backlog is not None:
            self.backlog.set(self.pending)

    async def write(self, alerts: list[Alert]) -> None:
        """Hand alerts over and wait until they are written (for a caller that tells
        others about them next, as the case desk announces an escalation)."""
        await self.add(alerts)
        await self.flush()

    async def flush(self) -> None:
        """Wait until every alert handed over before this call is written."""
        target = self._handed
        if self._written >= target:
            return
        self._ensure_running()
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((target, done))
        await done

    async def stop(self) -> None:
        await self.flush()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch, self._queue = self._queue, []
                await self._write_until_done(batch)
                self._written += len(batch)
                if self.backlog is not None:
                    self.backlog.set(self.pending)
                self._room.set()
                still = []
                for target, done in self._waiters:
                    if target <= self._written:
                        if not done.done():
                            done.set_result(None)
                    else:
                        still.append((target, done))
                self._waiters = still

    async def _write_until_done(self, alerts: list[Alert]) -> None:
        delay = 0.1
        while True:
            try:
                await self._write(alerts)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("writing %d alerts failed; trying again in %.1f s",
                              len(alerts), delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _write(self, alerts: list[Alert]) -> None:
        new = await self.store.add_new(alerts)
        if not new:
            return
        acks = [await self.send(self.topic, alert["alert_id"].encode(), orjson.dumps(alert))
                for alert in new]
        await asyncio.gather(*acks)  # marked forwarded only once the broker has them
        await self.store.mark_forwarded([a["alert_id"] for a in new])
