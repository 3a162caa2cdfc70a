"""Hash-chained audit ledger of case actions, kept in Redis.

Layout (prefix ``sunlight:``):
- ``sunlight:audit``: a list, one JSON entry per case action, oldest first.
- ``sunlight:audit:head``: a hash {seq, hash} naming the last entry, so that
  deleting the newest entry is caught too.

Each entry carries ``seq`` (1, 2, ...), ``prev`` (the previous entry's hash,
64 zeros for the first) and ``hash`` = SHA-256 of the entry's canonical JSON
without ``hash``. Editing, deleting or reordering any entry breaks the chain
at that entry, and ``verify`` names it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError

GENESIS = "0" * 64
ENTRY_FIELDS = ("seq", "ts", "who", "role", "action", "alert_id", "note", "prev")

Guard = Callable[[Pipeline], Awaitable[None]]
Extra = Callable[[Pipeline, dict[str, Any]], None]


def entry_hash(entry: Mapping[str, Any]) -> str:
    """SHA-256 over the entry's fields except ``hash``, keys sorted."""
    body = {k: entry.get(k) for k in ENTRY_FIELDS}
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True)
class Problem:
    """The first place where the chain breaks."""

    position: int  # 1-based position in the list (0 when about the head record)
    seq: int | None
    reason: str

    def __str__(self) -> str:
        where = f"entry #{self.position}" if self.position else "ledger head"
        seq = f" (seq {self.seq})" if self.seq is not None else ""
        return f"{where}{seq}: {self.reason}"


@dataclass(frozen=True)
class VerifyResult:
    entries: int
    problem: Problem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


class ActionRejected(Exception):
    """A guard refused the action (for example a wrong status transition)."""


class AuditLedger:
    def __init__(self, redis: Redis, prefix: str = "sunlight:", zone: str = "Asia/Shanghai"):
        self.redis = redis
        self.key = f"{prefix}audit"
        self.head_key = f"{prefix}audit:head"
        self.zone = ZoneInfo(zone)

    def now_iso(self) -> str:
        return datetime.now(self.zone).isoformat(timespec="milliseconds")

    async def append(
        self,
        *,
        who: str,
        role: str,
        action: str,
        alert_id: str,
        note: str = "",
        watch: tuple[str, ...] = (),
        guard: Guard | None = None,
        extra: Extra | None = None,
    ) -> dict[str, Any]:
        """Append one entry atomically, with optional writes in the same MULTI.

        ``guard`` runs after WATCH (on the ledger and ``watch`` keys) and may
        raise ``ActionRejected``; ``extra`` queues further commands (such as
        the alert hash update) in the transaction, so the case change and its
        audit entry land together or not at all.
        """
        while True:
            async with self.redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(self.head_key, *watch)
                    if guard is not None:
                        await guard(pipe)
                    head = await pipe.hgetall(self.head_key)
                    seq = int(head.get("seq", 0)) + 1
                    entry: dict[str, Any] = {
                        "seq": seq,
                        "ts": self.now_iso(),
                        "who": who,
                        "role": role,
                        "action": action,
                        "alert_id": alert_id,
                        "note": note,
                        "prev": head.get("hash", GENESIS),
                    }
                    entry["hash"] = entry_hash(entry)
                    pipe.multi()
                    pipe.rpush(self.key, orjson.dumps(entry))
                    pipe.hset(self.head_key, mapping={"seq": seq, "hash": entry["hash"]})
                    if extra is not None:
                        extra(pipe, entry)
                    await pipe.execute()
                    return entry
                except WatchError:
                    continue

    async def entries(self, start: int = 0, end: int = -1) -> list[dict[str, Any]]:
        raw = await self.redis.lrange(self.key, start, end)
        return [orjson.loads(x) for x in raw]

    async def for_alert(self, alert_id: str, limit: int = 2000) -> list[dict[str, Any]]:
        """Entries about one alert among the last ``limit`` entries."""
        return [e for e in await self.entries(-limit, -1) if e.get("alert_id") == alert_id]

    async def verify(self, batch: int = 1000) -> VerifyResult:
        prev = GENESIS
        position = 0
        length = await self.redis.llen(self.key)
        while position < length:
            raw = await self.redis.lrange(self.key, position, position + batch - 1)
            if not raw:
                break
            for item in raw:
                position += 1
                problem = check_entry(item, position, prev)
                if problem is not None:
                    return VerifyResult(position - 1, problem)
                prev = orjson.loads(item)["hash"]
        head = await self.redis.hgetall(self.head_key)
        head_seq, head_hash = int(head.get("seq", 0)), head.get("hash", GENESIS)
        if head_seq != position or head_hash != prev:
            reason = (
                f"head names seq {head_seq} but the list ends at seq {position}: "
                "the newest entries were deleted or the head was edited"
            )
            return VerifyResult(position, Problem(0, head_seq, reason))
        return VerifyResult(position, None)


def check_entry(item: str | bytes, position: int, prev: str) -> Problem | None:
    try:
        entry = orjson.loads(item)
    except orjson.JSONDecodeError:
        return Problem(position, None, "not valid JSON: edited")
    if not isinstance(entry, dict):
        return Problem(position, None, "not a JSON object: edited")
    seq = entry.get("seq")
    seq_int = seq if isinstance(seq, int) else None
    if entry.get("hash") != entry_hash(entry):
        return Problem(position, seq_int, "hash does not match its content: edited")
    if seq != position:
        reason = (
            f"expected seq {position}, found {seq!r}: "
            f"entry {position} was deleted or the entries were reordered"
        )
        return Problem(position, seq_int, reason)
    if entry.get("prev") != prev:
        return Problem(position, seq_int, "prev does not match the entry before: reordered")
    return None
