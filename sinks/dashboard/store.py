"""What the dashboard reads from and writes to Redis (contract layout).

Reads: the ``alerts`` stream (newest first) and each ``alert:{id}`` hash for
its case fields. Writes: case actions, which change the hash and append to
the audit ledger in one transaction, then announce the change on the
``alerts:cases`` channel so every open dashboard updates.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from sinks.alert_index import IndexKeys, move_status
from sinks.audit import ActionRejected, AuditLedger

STATUSES = ("open", "acknowledged", "confirmed", "dismissed")
CASE_FIELDS = ["status", "updated_at", "note"]
# action -> (statuses it may start from, status it leads to, roles allowed)
TRANSITIONS: dict[str, tuple[frozenset[str], str, frozenset[str]]] = {
    "acknowledge": (frozenset({"open"}), "acknowledged", frozenset({"investigator", "admin"})),
    "confirm": (frozenset({"open", "acknowledged"}), "confirmed",
                frozenset({"investigator", "admin"})),
    "dismiss": (frozenset({"open", "acknowledged"}), "dismissed",
                frozenset({"investigator", "admin"})),
    "reopen": (frozenset({"acknowledged", "confirmed", "dismissed"}), "open",
               frozenset({"admin"})),
}
MAX_NOTE = 2000
INDEX_FIELDS = ["status", "alert", "indexed", "raised_ms", "facets"]


@dataclass(frozen=True)
class Keys:
    prefix: str = "sunlight:"

    @property
    def stream(self) -> str:
        return f"{self.prefix}alerts"

    @property
    def live(self) -> str:
        return f"{self.prefix}alerts:live"

    @property
    def cases(self) -> str:
        return f"{self.prefix}alerts:cases"

    @property
    def positions(self) -> str:
        return f"{self.prefix}vehicle:positions"

    def alert(self, alert_id: str) -> str:
        return f"{self.prefix}alert:{alert_id}"


def with_case(alert: dict[str, Any], case: dict[str, str] | None) -> dict[str, Any]:
    case = case or {}
    return {
        **alert,
        "status": case.get("status") or "open",
        "updated_at": case.get("updated_at") or "",
        "note": case.get("note") or "",
    }


class AlertStore:
    def __init__(self, redis: Redis, prefix: str = "sunlight:", zone: str = "Asia/Shanghai"):
        self.redis = redis
        self.keys = Keys(prefix)
        self.ledger = AuditLedger(redis, prefix, zone)
        self.index_keys = IndexKeys(prefix)

    async def recent(self, limit: int = 2000) -> list[dict[str, Any]]:
        """Newest alerts first, each with its case fields."""
        entries = await self.redis.xrevrange(self.keys.stream, count=limit)
        alerts: list[dict[str, Any]] = []
        seen: set[str] = set()
        for _id, fields in entries:
            try:
                alert = orjson.loads(fields.get("alert", ""))
            except orjson.JSONDecodeError:
                continue
            if not isinstance(alert, dict) or alert.get("alert_id") in seen:
                continue
            seen.add(str(alert.get("alert_id")))
            alerts.append(alert)
        async with self.redis.pipeline(transaction=False) as pipe:
            for a in alerts:
                pipe.hmget(self.keys.alert(str(a.get("alert_id"))), CASE_FIELDS)
            rows = await pipe.execute()
        return [
            with_case(a, dict(zip(CASE_FIELDS, row, strict=True)))
            for a, row in zip(alerts, rows, strict=True)
        ]

    async def get(self, alert_id: str) -> dict[str, Any] | None:
        row = await self.redis.hgetall(self.keys.alert(alert_id))
        if not row or "alert" not in row:
            return None
        return with_case(orjson.loads(row["alert"]), row)

    async def positions(self) -> dict[str, Any]:
        """Optional live positions a worker may keep: vehicle_id -> {ts, lat, lon}."""
        raw = await self.redis.hgetall(self.keys.positions)
        out = {}
        for vid, value in raw.items():
            try:
                out[vid] = orjson.loads(value)
            except orjson.JSONDecodeError:
                continue
        return out

    async def act(
        self, alert_id: str, action: str, note: str, *, who: str, role: str
    ) -> dict[str, Any]:
        """Apply a case action; raises ActionRejected (with a reason code)."""
        if action not in TRANSITIONS:
            raise ActionRejected("unknown_action")
        starts, target, roles = TRANSITIONS[action]
        if role not in roles:
            raise ActionRejected("forbidden")
        note = note.strip()[:MAX_NOTE]
        key = self.keys.alert(alert_id)

        row: dict[str, Any] = {}

        async def guard(pipe: Pipeline) -> None:
            values = await pipe.hmget(key, INDEX_FIELDS)
            row.clear()
            row.update(zip(INDEX_FIELDS, values, strict=True))
            if row["alert"] is None:
                raise ActionRejected("not_found")
            if (row["status"] or "open") not in starts:
                raise ActionRejected("bad_transition")

        now = self.ledger.now_iso()

        def extra(pipe: Pipeline, entry: dict[str, Any]) -> None:
            pipe.hset(key, mapping={"status": target, "updated_at": now, "note": note,
                                    "updated_by": who})
            move_status(pipe, self.index_keys, alert_id, row, row["status"] or "open", target,
                        int(time.time() * 1000))

        entry = await self.ledger.append(
            who=who, role=role, action=action, alert_id=alert_id, note=note,
            watch=(key,), guard=guard, extra=extra,
        )
        change = {"alert_id": alert_id, "status": target, "updated_at": now, "note": note,
                  "who": who, "action": action, "seq": entry["seq"]}
        await self.redis.publish(self.keys.cases, orjson.dumps(change))
        return change
