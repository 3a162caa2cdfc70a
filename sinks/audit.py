"""Keyed, hash-chained audit ledger of case actions, kept in Redis and anchored outside it.

Layout (prefix ``sunlight:``):
- ``sunlight:audit``: a list, one JSON entry per case action, oldest first.
- ``sunlight:audit:head``: a hash {seq, hash} naming the last entry, so that
  deleting the newest entry is caught too.

Each entry carries ``v`` (format 2), ``seq`` (1, 2, ...), ``prev`` (the previous entry's
hash, 64 zeros for the first) and ``hash`` = HMAC-SHA256, under a key that is never in Redis
(``SUNLIGHT_AUDIT_KEY``), of the entry's canonical JSON without ``hash``. Someone who can
write Redis but does not hold the key cannot forge a hash, so rewriting the chain and its
head breaks it. Every entry's (seq, hash) is also appended to a Kafka topic (the anchor,
``sunlight.audit``) once Redis has it; ``verify`` checks the chain, the keyed hashes and
that each entry is the one anchored for its seq, and names the first entry that is not.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError

GENESIS = "0" * 64
FORMAT = 2  # 1 was an unkeyed SHA-256 chain: refused
ENTRY_FIELDS = ("v", "seq", "ts", "who", "role", "action", "alert_id", "note", "prev")
log = logging.getLogger(__name__)

Guard = Callable[[Pipeline], Awaitable[None]]
Extra = Callable[[Pipeline, dict[str, Any]], None]


class AuditKeyMissing(RuntimeError):
    """No HMAC key: the ledger refuses to write or verify unkeyed entries."""

    def __init__(self) -> None:
        super().__init__("the audit ledger needs an HMAC key: set SUNLIGHT_AUDIT_KEY "
                         "(e.g. `openssl rand -hex 32`, in .env; never in Redis)")


class Anchor(Protocol):
    """Where each new head goes, outside Redis (a Kafka topic in production)."""

    async def publish(self, seq: int, digest: str) -> None: ...


def entry_hash(entry: Mapping[str, Any], key: bytes) -> str:
    """HMAC-SHA256 under `key` over the entry's fields except ``hash``, keys sorted."""
    body = {k: entry.get(k) for k in ENTRY_FIELDS}
    message = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    return hmac.new(key, message, hashlib.sha256).hexdigest()


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
    def __init__(self, redis: Redis, prefix: str = "sunlight:", zone: str = "Asia/Shanghai",
                 *, hmac_key: bytes | None = None, anchor: Anchor | None = None):
        self.redis = redis
        self.key = f"{prefix}audit"
        self.head_key = f"{prefix}audit:head"
        self.zone = ZoneInfo(zone)
        self.hmac_key = hmac_key
        self.anchor = anchor
        self.unanchored = 0  # entries whose anchor could not be written (verify names them)

    def _key(self) -> bytes:
        if not self.hmac_key:
            raise AuditKeyMissing()
        return self.hmac_key

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
        key = self._key()
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
                        "v": FORMAT,
                        "seq": seq,
                        "ts": self.now_iso(),
                        "who": who,
                        "role": role,
                        "action": action,
                        "alert_id": alert_id,
                        "note": note,
                        "prev": head.get("hash", GENESIS),
                    }
                    entry["hash"] = entry_hash(entry, key)
                    pipe.multi()
                    pipe.rpush(self.key, orjson.dumps(entry))
                    pipe.hset(self.head_key, mapping={"seq": seq, "hash": entry["hash"]})
                    if extra is not None:
                        extra(pipe, entry)
                    await pipe.execute()
                except WatchError:
                    continue
            await self._anchor(entry)
            return entry

    async def _anchor(self, entry: dict[str, Any]) -> None:
        """After Redis has the entry: an anchor that fails is counted and logged, and
        `verify` names the entry as not anchored (the case action itself stands)."""
        if self.anchor is None:
            return
        try:
            await self.anchor.publish(int(entry["seq"]), str(entry["hash"]))
        except Exception:
            self.unanchored += 1
            log.exception("audit: could not anchor entry seq %s", entry["seq"])

    async def entries(self, start: int = 0, end: int = -1) -> list[dict[str, Any]]:
        raw = await self.redis.lrange(self.key, start, end)
        return [orjson.loads(x) for x in raw]

    async def for_alert(self, alert_id: str, limit: int = 2000) -> list[dict[str, Any]]:
        """Entries about one alert among the last ``limit`` entries."""
        return [e for e in await self.entries(-limit, -1) if e.get("alert_id") == alert_id]

    async def verify(self, anchors: Mapping[int, str] | None = None,
                     batch: int = 1000) -> VerifyResult:
        """The chain, each keyed hash, and (given `anchors`, seq -> hash read from outside
        Redis) that each entry is the one anchored for its seq and none is missing."""
        key = self._key()
        prev = GENESIS
        position = 0
        length = await self.redis.llen(self.key)
        while position < length:
            raw = await self.redis.lrange(self.key, position, position + batch - 1)
            if not raw:
                break
            for item in raw:
                position += 1
                problem = check_entry(item, position, prev, key)
                if problem is None and anchors is not None:
                    problem = check_anchor(orjson.loads(item), position, anchors)
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
        if anchors and max(anchors) > position:
            reason = (f"the anchor names seq {max(anchors)} but the ledger ends at seq "
                      f"{position}: the newest entries were deleted")
            return VerifyResult(position, Problem(0, max(anchors), reason))
        return VerifyResult(position, None)


def check_anchor(
    entry: dict[str, Any], position: int, anchors: Mapping[int, str]
) -> Problem | None:
    anchored = anchors.get(position)
    if anchored is None:
        return Problem(position, position, "not anchored outside Redis")
    if not hmac.compare_digest(str(entry.get("hash")), anchored):
        return Problem(position, position, "differs from the anchored hash: rewritten")
    return None


def check_entry(item: str | bytes, position: int, prev: str, key: bytes) -> Problem | None:
    try:
        entry = orjson.loads(item)
    except orjson.JSONDecodeError:
        return Problem(position, None, "not valid JSON: edited")
    if not isinstance(entry, dict):
        return Problem(position, None, "not a JSON object: edited")
    seq = entry.get("seq")
    seq_int = seq if isinstance(seq, int) else None
    if entry.get("v") != FORMAT:
        return Problem(position, seq_int, f"format {entry.get('v')!r} is not {FORMAT} (keyed)")
    if not hmac.compare_digest(str(entry.get("hash")), entry_hash(entry, key)):
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
