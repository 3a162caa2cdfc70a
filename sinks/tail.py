"""Consumer-group reader of the ``sunlight:alerts`` stream.

A subscriber reads with ``XREADGROUP`` and acknowledges an entry only after
it handled it, so a restart (same group and consumer) first re-reads what it
had been given but not acknowledged, then continues with new entries: each
alert is handled once in the normal case, at least once after a crash.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import ResponseError

log = logging.getLogger(__name__)

SEVERITIES = ("low", "medium", "high", "critical")
Handler = Callable[[dict[str, Any]], Awaitable[None]]


def severity_rank(severity: str) -> int:
    try:
        return SEVERITIES.index(severity)
    except ValueError:
        return -1


@dataclass(frozen=True)
class TailFilter:
    detectors: frozenset[str] = frozenset()
    min_severity: str = "low"

    def __post_init__(self) -> None:
        if self.min_severity not in SEVERITIES:
            raise ValueError(f"min_severity: {self.min_severity!r} is not one of {SEVERITIES}")

    def accepts(self, alert: dict[str, Any]) -> bool:
        if self.detectors and alert.get("detector") not in self.detectors:
            return False
        return severity_rank(str(alert.get("severity"))) >= severity_rank(self.min_severity)


class AlertTail:
    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = "sunlight:",
        group: str = "tail",
        consumer: str = "tail-1",
        filt: TailFilter | None = None,
        start_id: str = "0",
    ) -> None:
        self.redis = redis
        self.stream = f"{prefix}alerts"
        self.group = group
        self.consumer = consumer
        self.filt = filt or TailFilter()
        self.start_id = start_id
        self.handled = 0
        self.skipped = 0

    async def ensure_group(self) -> None:
        """Create the group (reading from ``start_id``) unless it exists."""
        try:
            await self.redis.xgroup_create(self.stream, self.group, id=self.start_id, mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run(
        self,
        handle: Handler,
        *,
        block_ms: int = 1000,
        count: int = 100,
        idle_exit_s: float | None = None,
        max_alerts: int | None = None,
    ) -> int:
        """Read, filter, handle and acknowledge until stopped.

        Returns the number handled. ``idle_exit_s`` stops after that long with
        nothing new, ``max_alerts`` after that many handled (both for scripts
        and tests); otherwise it runs until cancelled.
        """
        await self.ensure_group()
        if idle_exit_s is not None:
            block_ms = max(1, min(block_ms, int(idle_exit_s * 1000)))
        pending = True  # first drain what this consumer was given but never acked
        idle_ms = 0.0
        while max_alerts is None or self.handled < max_alerts:
            want = count if max_alerts is None else min(count, max_alerts - self.handled)
            last_id = "0" if pending else ">"
            reply = await self.redis.xreadgroup(
                self.group, self.consumer, {self.stream: last_id}, count=want,
                block=None if pending else block_ms,
            )
            entries = reply[0][1] if reply else []
            if pending and not entries:
                pending = False
                continue
            if not entries:
                idle_ms += block_ms
                if idle_exit_s is not None and idle_ms >= idle_exit_s * 1000:
                    break
                continue
            idle_ms = 0.0
            for entry_id, fields in entries:
                if max_alerts is not None and self.handled >= max_alerts:
                    break
                await self._one(entry_id, fields, handle)
        return self.handled

    async def _one(self, entry_id: str, fields: dict[str, str] | None, handle: Handler) -> None:
        if not fields or "alert" not in fields:
            # A pending entry trimmed from the stream comes back without fields.
            await self.redis.xack(self.stream, self.group, entry_id)
            return
        try:
            alert = orjson.loads(fields["alert"])
        except orjson.JSONDecodeError:
            log.warning("tail: entry %s holds no valid alert JSON; acknowledged", entry_id)
            await self.redis.xack(self.stream, self.group, entry_id)
            return
        if self.filt.accepts(alert):
            await handle(alert)
            self.handled += 1
        else:
            self.skipped += 1
        await self.redis.xack(self.stream, self.group, entry_id)
