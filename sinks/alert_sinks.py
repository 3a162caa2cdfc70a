"""Where a worker's alerts go: Redis first (it keeps each alert id once), then the Kafka
alerts topic for those not forwarded yet, then a mark in Redis that they were.

One background task writes them, in the order they were raised, everything handed over
since its last write in one go (one Lua call, one batch of sends, one mark); the next
batch goes to Redis while the broker still acknowledges the one before (a batch's acks
and mark are awaited by a task chained to the previous batch's). Whoever
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
        # Each batch goes to Redis and its sends are issued here, in order; its acks and
        # mark are awaited by a task of its own, chained to the batch before it, so the
        # next batch reaches Redis without waiting on this one's broker round trip. A step
        # that fails here is retried here, so Redis keeps the order raised in any case.
        previous: asyncio.Task[None] | None = None
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch, self._queue = self._queue, []
                sent = await self._hand_over(batch)
                if sent is None:
                    await self._write_until_done(batch)
                previous = loop.create_task(self._complete(batch, sent, previous))

    async def _hand_over(self, alerts: list[Alert]) -> tuple[list[Alert], list[Any]] | None:
        """Redis, then the sends of what it had not forwarded: (those alerts, their acks),
        or None if a step failed."""
        try:
            return await self._send_new(alerts)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("writing %d alerts failed; trying again", len(alerts))
            return None

    async def _send_new(self, alerts: list[Alert]) -> tuple[list[Alert], list[Any]]:
        """Redis, then the sends of what it had not forwarded: (those alerts, their acks)."""
        new = await self.store.add_new(alerts)
        acks = [await self.send(self.topic, alert["alert_id"].encode(), orjson.dumps(alert))
                for alert in new]
        return new, acks

    async def _complete(self, alerts: list[Alert], sent: tuple[list[Alert], list[Any]] | None,
                        previous: asyncio.Task[None] | None) -> None:
        """Wait for a batch's acks and mark it forwarded (`sent` None: written already);
        once the batch before it is done, count it written and release whoever waits for
        it. If an ack or the mark failed, the batch is written again, after the batch
        before it, until that succeeds: Redis keeps each id once, and hands back for
        sending only what was not marked forwarded."""
        done = sent is None
        if sent is not None:
            new, acks = sent
            results = await asyncio.gather(*acks, return_exceptions=True)
            failed = [r for r in results if isinstance(r, BaseException)]
            if failed:
                log.error("%d of %d alert sends failed (%s); sending them again",
                          len(failed), len(acks), failed[0])
            else:
                try:
                    if new:  # marked forwarded only once the broker has them
                        await self.store.mark_forwarded([a["alert_id"] for a in new])
                    done = True
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("marking %d alerts forwarded failed", len(new))
        if previous is not None:
            await previous
        if not done:
            await self._write_until_done(alerts)
        self._written += len(alerts)
        if self.backlog is not None:
            self.backlog.set(self.pending)
        self._room.set()
        still = []
        for target, waiter in self._waiters:
            if target <= self._written:
                if not waiter.done():
                    waiter.set_result(None)
            else:
                still.append((target, waiter))
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
        new, acks = await self._send_new(alerts)
        if not new:
            return
        await asyncio.gather(*acks)  # marked forwarded only once the broker has them
        await self.store.mark_forwarded([a["alert_id"] for a in new])
