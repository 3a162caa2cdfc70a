"""The Redis alert store: one stream entry, one case hash and one live message per alert id.

A Lua script checks and writes in one step, so redeliveries and concurrent workers never
double an alert; the same step indexes the alert (sinks/alert_index.py). While Redis is
unreachable alerts wait in an in-order queue and are retried with capped exponential
backoff; the script makes a retried write idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from sinks.alert_index import INDEX_LUA
from sinks.metrics import Metrics

log = logging.getLogger(__name__)

# KEYS[1] = stream, KEYS[1+i] = hash of alert i; ARGV[1] = updated_at, ARGV[2] = channel,
# ARGV[2+i] = JSON of alert i. Returns how many alerts were new.
_ADD_ALERTS_LUA = INDEX_LUA + """
local prefix = string.sub(KEYS[1], 1, -7)
local at_head = cursor_at_head(prefix, KEYS[1])
local added = 0
for i = 2, #KEYS do
  local alert = ARGV[i + 1]
  if redis.call('HSETNX', KEYS[i], 'alert', alert) == 1 then
    redis.call('HSET', KEYS[i], 'status', 'open', 'updated_at', ARGV[1], 'note', '')
    index_alert(prefix, KEYS[i])
    local entry = redis.call('XADD', KEYS[1], '*', 'alert', alert)
    if at_head then redis.call('SET', prefix .. 'idx:cursor', entry) end
    redis.call('PUBLISH', ARGV[2], alert)
    added = added + 1
  end
end
return added
"""

# Like _ADD_ALERTS_LUA, but returns the 1-based positions of the alerts still to be
# forwarded downstream (new ones, and old ones never marked `forwarded`).
_ADD_NEW_LUA = INDEX_LUA + """
local prefix = string.sub(KEYS[1], 1, -7)
local at_head = cursor_at_head(prefix, KEYS[1])
local out = {}
for i = 2, #KEYS do
  local alert = ARGV[i + 1]
  if redis.call('HSETNX', KEYS[i], 'alert', alert) == 1 then
    redis.call('HSET', KEYS[i], 'status', 'open', 'updated_at', ARGV[1], 'note', '')
    index_alert(prefix, KEYS[i])
    local entry = redis.call('XADD', KEYS[1], '*', 'alert', alert)
    if at_head then redis.call('SET', prefix .. 'idx:cursor', entry) end
    redis.call('PUBLISH', ARGV[2], alert)
    out[#out + 1] = i - 1
  elseif redis.call('HEXISTS', KEYS[i], 'forwarded') == 0 then
    out[#out + 1] = i - 1
  end
end
return out
"""

# Any Redis error is retried: a failed write never drops an alert or lets a later one pass.
_TRANSIENT = (RedisError, OSError)
SINK = "redis"
BATCH = 256
BACKOFF_MIN_S = 0.1
BACKOFF_MAX_S = 5.0


def _encode(alert: Mapping[str, Any]) -> tuple[str, bytes]:
    alert_id = alert.get("alert_id")
    if not isinstance(alert_id, str) or not alert_id:
        raise ValueError(f"alert_id must be a non-empty string, got {alert_id!r}")
    return alert_id, orjson.dumps(alert)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class RedisAlertStore:
    """Adds alerts to Redis exactly once per `alert_id`, in order, surviving outages."""

    def __init__(
        self,
        url: str,
        prefix: str = "sunlight:",
        metrics: Metrics | None = None,
        backoff_min_s: float = BACKOFF_MIN_S,
        backoff_max_s: float = BACKOFF_MAX_S,
    ) -> None:
        # No client-side retries: the queue below owns retrying, in order.
        self._client = aioredis.Redis.from_url(
            url, retry=Retry(NoBackoff(), 0), socket_connect_timeout=2.0, socket_timeout=5.0
        )
        self._script = self._client.register_script(_ADD_ALERTS_LUA)
        self._add_new_script = self._client.register_script(_ADD_NEW_LUA)
        self.prefix = prefix
        self.stream_key = f"{prefix}alerts"
        self.channel = f"{prefix}alerts:live"
        self._metrics = metrics
        self._backoff = (backoff_min_s, backoff_max_s)
        self._queue: deque[tuple[str, bytes]] = deque()
        self._lock = asyncio.Lock()
        self._retry_task: asyncio.Task[None] | None = None

    def hash_key(self, alert_id: str) -> str:
        return f"{self.prefix}alert:{alert_id}"

    @property
    def pending(self) -> int:
        """Alerts accepted but not yet confirmed written."""
        return len(self._queue)

    async def ping(self) -> bool:
        """Setup check: raises if Redis cannot be reached."""
        return bool(await self._client.ping())

    async def add_many(self, alerts: Iterable[Mapping[str, Any]]) -> int:
        """Queue alerts and write what can be written now; returns how many were new.

        During an outage this returns at once (0) and a background task keeps retrying;
        `flush()` waits for it.
        """
        # Encode the whole batch first: a bad alert must not leave half a batch queued.
        self._queue.extend([_encode(alert) for alert in alerts])
        self._report_pending()
        if self._retrying:
            return 0
        try:
            return await self._drain()
        except _TRANSIENT as exc:
            self._start_retry(exc)
            return 0

    async def add_new(self, alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Write alerts once per id and return those not yet forwarded downstream.

        Unlike `add_many` this waits through an outage (retrying with backoff), so the
        caller is held back rather than running ahead of what Redis has: a worker that
        is killed then loses nothing it had not written.
        """
        out: list[dict[str, Any]] = []
        for start in range(0, len(alerts), BATCH):
            batch = alerts[start : start + BATCH]
            keys = [self.stream_key, *(self.hash_key(a["alert_id"]) for a in batch)]
            data = [orjson.dumps(a) for a in batch]
            positions = await self._retrying_call(
                lambda keys=keys, data=data: self._add_new_script(
                    keys=keys, args=[_now_iso(), self.channel, *data]
                ),
                len(batch),
            )
            out += [batch[int(i) - 1] for i in positions]
        return out

    async def mark_forwarded(self, alert_ids: list[str]) -> None:
        async def mark() -> None:
            async with self._client.pipeline(transaction=False) as pipe:
                for alert_id in alert_ids:
                    pipe.hset(self.hash_key(alert_id), "forwarded", "1")
                await pipe.execute()

        await self._retrying_call(mark, len(alert_ids))

    async def _retrying_call(self, call: Any, size: int) -> Any:
        delay, cap = self._backoff
        while True:
            try:
                result = await call()
            except _TRANSIENT as exc:
                if self._metrics is not None:
                    self._metrics.sink_retries.labels(sink=SINK).inc()
                    self._metrics.sink_pending.labels(sink=SINK).set(size)
                log.warning("redis alert store: write failed (%r); retrying in %.1f s",
                            exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, cap)
                continue
            if self._metrics is not None:
                self._metrics.sink_pending.labels(sink=SINK).set(0)
            return result

    async def flush(self) -> None:
        """Wait until every queued alert is written (retrying through an outage)."""
        task = self._retry_task
        if task is not None and not task.done():
            await asyncio.shield(task)
        if self._queue:
            await self._drain()

    async def close(self, timeout_s: float = 5.0) -> None:
        """Flush for up to `timeout_s`, then stop retrying and close the connection."""
        with contextlib.suppress(TimeoutError, *_TRANSIENT):
            await asyncio.wait_for(self.flush(), timeout_s)
        if self._retry_task is not None:
            self._retry_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retry_task
        if self._queue:
            log.error("redis alert store closed with %d alerts unwritten", len(self._queue))
        await self._client.aclose()

    @property
    def _retrying(self) -> bool:
        return self._retry_task is not None and not self._retry_task.done()

    async def _drain(self) -> int:
        added = 0
        async with self._lock:
            while self._queue:
                batch = [self._queue[i] for i in range(min(BATCH, len(self._queue)))]
                keys = [self.stream_key, *(self.hash_key(alert_id) for alert_id, _ in batch)]
                args = [_now_iso(), self.channel, *(data for _, data in batch)]
                added += int(await self._script(keys=keys, args=args))
                for _ in batch:
                    self._queue.popleft()
                self._report_pending()
        return added

    def _start_retry(self, exc: BaseException) -> None:
        if self._retrying:
            return
        log.warning("redis alert store: write failed (%r); %d alerts pending", exc, self.pending)
        self._retry_task = asyncio.get_running_loop().create_task(self._retry_loop())

    async def _retry_loop(self) -> None:
        delay, cap = self._backoff
        attempts = 0
        while True:
            await asyncio.sleep(delay)
            attempts += 1
            if self._metrics is not None:
                self._metrics.sink_retries.labels(sink=SINK).inc()
            try:
                await self._drain()
            except _TRANSIENT:
                delay = min(delay * 2, cap)
                continue
            log.info("redis alert store: recovered after %d retries", attempts)
            return

    def _report_pending(self) -> None:
        if self._metrics is not None:
            self._metrics.sink_pending.labels(sink=SINK).set(len(self._queue))
