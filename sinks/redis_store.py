"""The Redis alert store: one stream entry, one case hash and one live message per alert id.

A Lua script checks and writes in one step, so redeliveries and concurrent workers never
double an alert; the same step indexes the alert (sinks/alert_index.py). While Redis is
unreachable the write is retried (sinks/retry.py: capped exponential backoff) and the
caller waits: it never runs ahead of what Redis has. The script makes a retried write
idempotent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from tenacity import RetryCallState

from sinks.alert_index import INDEX_LUA, SEP
from sinks.catalogue import Catalogue
from sinks.metrics import Metrics
from sinks.redis_client import async_redis
from sinks.retry import retrying
from sinks.stream_trim import trim_stream

log = logging.getLogger(__name__)

# KEYS[1] = stream, KEYS[1+i] = hash of alert i; ARGV[1] = updated_at, ARGV[2] = channel,
# ARGV[2+i] = JSON of alert i, ARGV[1+n+i] = its catalogue mapping (alert_index.py's
# index_alert). A new alert gets its hash, its indexes, its stream entry and its publish;
# returns the 1-based positions of the alerts still to be forwarded downstream (new ones,
# and old ones never marked `forwarded`).
_ADD_NEW_LUA = INDEX_LUA + """
local prefix = string.sub(KEYS[1], 1, -7)
local at_head = cursor_at_head(prefix, KEYS[1])
local n = #KEYS - 1
local out = {}
for i = 2, #KEYS do
  local alert = ARGV[i + 1]
  if redis.call('HSETNX', KEYS[i], 'alert', alert) == 1 then
    redis.call('HSET', KEYS[i], 'status', 'open', 'updated_at', ARGV[1], 'note', '')
    index_alert(prefix, KEYS[i], ARGV[n + i + 1])
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


def _check_id(alert: Mapping[str, Any]) -> str:
    alert_id = alert.get("alert_id")
    if not isinstance(alert_id, str) or not alert_id:
        raise ValueError(f"alert_id must be a non-empty string, got {alert_id!r}")
    return alert_id


def catalogue_mapping(alert: Mapping[str, Any], catalogue: Catalogue) -> str:
    """The subsidy catalogue's reading of an alert's ``details.program``, for the index:
    '' (none), 'K' + class + US + sub-class (known), 'U' + the name (unknown)."""
    details = alert.get("details")
    program = details.get("program") if isinstance(details, Mapping) else None
    if not isinstance(program, str) or not program:
        return ""
    entry = catalogue.lookup(program)
    if entry is None:
        return "U" + program
    return f"K{entry.class_code}{SEP}{entry.code}"


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
        tls_ca: str | None = None,
        maxlen: int | None = None,
        trim_every_s: float = 1.0,
        catalogue: Catalogue | None = None,
    ) -> None:
        """`maxlen`: trim the stream to about that many entries (never what a subscriber
        group has not acknowledged; `sinks.stream_trim`), at most every `trim_every_s`.
        `catalogue`: maps each alert's ``details.program`` on the way in (default: the
        shipped config/catalogue.yaml)."""
        self.catalogue = catalogue if catalogue is not None else Catalogue.load()
        # No client-side retries: `_retrying_call` owns retrying, in order.
        self._client = async_redis(
            url, tls_ca, retry=Retry(NoBackoff(), 0), socket_connect_timeout=2.0,
            socket_timeout=5.0,
        )
        self._add_new_script = self._client.register_script(_ADD_NEW_LUA)
        self.prefix = prefix
        self.stream_key = f"{prefix}alerts"
        self.channel = f"{prefix}alerts:live"
        self._metrics = metrics
        self._backoff = (backoff_min_s, backoff_max_s)
        self._pending = 0
        self.maxlen = maxlen
        self._trim_every_s = trim_every_s
        self._trimmed_at = float("-inf")
        self.trimmed = 0

    def hash_key(self, alert_id: str) -> str:
        return f"{self.prefix}alert:{alert_id}"

    @property
    def pending(self) -> int:
        """Alerts of the write in progress that Redis has not confirmed yet."""
        return self._pending

    async def ping(self) -> bool:
        """Setup check: raises if Redis cannot be reached."""
        return bool(await self._client.ping())

    async def add_new(self, alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Write alerts once per id and return those not yet forwarded downstream.

        It waits through an outage (retrying with backoff), so the
        caller is held back rather than running ahead of what Redis has: a worker that
        is killed then loses nothing it had not written.
        """
        out: list[dict[str, Any]] = []
        for alert in alerts:
            _check_id(alert)
        for start in range(0, len(alerts), BATCH):
            batch = alerts[start : start + BATCH]
            keys = [self.stream_key, *(self.hash_key(a["alert_id"]) for a in batch)]
            data = [orjson.dumps(a) for a in batch]
            mapped = [catalogue_mapping(a, self.catalogue) for a in batch]
            positions = await self._retrying_call(
                lambda keys=keys, data=data, mapped=mapped: self._add_new_script(
                    keys=keys, args=[_now_iso(), self.channel, *data, *mapped]
                ),
                len(batch),
            )
            out += [batch[int(i) - 1] for i in positions]
        await self.maybe_trim()
        return out

    async def maybe_trim(self) -> None:
        """Trim the stream when `maxlen` is set and the last trim is `trim_every_s` old.
        A failed trim is logged and tried again later: it never holds an alert back."""
        now = time.monotonic()
        if self.maxlen is None or now - self._trimmed_at < self._trim_every_s:
            return
        self._trimmed_at = now
        try:
            self.trimmed += await trim_stream(self._client, self.stream_key, self.maxlen)
        except _TRANSIENT as exc:
            log.warning("redis alert store: trimming %s failed (%r)", self.stream_key, exc)

    async def mark_forwarded(self, alert_ids: list[str]) -> None:
        async def mark() -> None:
            async with self._client.pipeline(transaction=False) as pipe:
                for alert_id in alert_ids:
                    pipe.hset(self.hash_key(alert_id), "forwarded", "1")
                await pipe.execute()

        await self._retrying_call(mark, len(alert_ids))

    async def _retrying_call(self, call: Any, size: int) -> Any:
        """`call()` until Redis takes it (sinks/retry.py policy, no end: the caller waits)."""
        min_s, max_s = self._backoff

        def before_sleep(state: RetryCallState) -> None:
            if self._metrics is not None:
                self._metrics.sink_retries.labels(sink=SINK).inc()
                self._metrics.sink_pending.labels(sink=SINK).set(size)
            exc = state.outcome.exception() if state.outcome is not None else None
            log.warning("redis alert store: write failed (%r); retrying in %.1f s", exc,
                        state.upcoming_sleep)

        self._pending = size
        async for attempt in retrying(retry_on=lambda e: isinstance(e, _TRANSIENT),
                                      min_s=min_s, max_s=max_s, before_sleep=before_sleep):
            with attempt:
                result = await call()
        self._pending = 0
        self._report_pending()
        return result

    async def close(self) -> None:
        await self._client.aclose()

    def _report_pending(self) -> None:
        if self._metrics is not None:
            self._metrics.sink_pending.labels(sink=SINK).set(self._pending)
