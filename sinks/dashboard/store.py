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
from sinks.audit import ActionRejected, Anchor, AuditLedger
from sinks.cases.config import CasesConfig

STATUSES = ("open", "acknowledged", "confirmed", "dismissed")
# Case-management fields of the alert hash (sinks/cases/desk.py and the actions below).
CASE_EXTRA = ["assignee", "queue", "deadline", "escalated", "proposed_by", "proposal_note",
              "approved_by"]
CASE_FIELDS = ["status", "updated_at", "note", *CASE_EXTRA]
INVESTIGATORS = frozenset({"investigator", "admin"})
UNRESOLVED = frozenset({"open", "acknowledged"})
# action -> (statuses it may start from, status it leads to (None: unchanged), roles allowed)
TRANSITIONS: dict[str, tuple[frozenset[str], str | None, frozenset[str]]] = {
    "acknowledge": (frozenset({"open"}), "acknowledged", INVESTIGATORS),
    # four eyes: one investigator proposes to confirm, another approves
    "propose": (UNRESOLVED, None, INVESTIGATORS),
    "approve": (UNRESOLVED, "confirmed", INVESTIGATORS),
    "dismiss": (UNRESOLVED, "dismissed", INVESTIGATORS),
    "reopen": (frozenset({"acknowledged", "confirmed", "dismissed"}), "open",
               frozenset({"admin"})),
    "reassign": (UNRESOLVED, None, frozenset()),  # roles: cases.yaml roles.reassign
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
    def fleet(self) -> str:
        return f"{self.prefix}fleet:live"

    @property
    def positions(self) -> str:
        return f"{self.prefix}fleet:pos"  # written by the workers (sinks/fleet.py)

    def alert(self, alert_id: str) -> str:
        return f"{self.prefix}alert:{alert_id}"


def with_case(alert: dict[str, Any], case: dict[str, str] | None) -> dict[str, Any]:
    case = case or {}
    out = {
        **alert,
        "status": case.get("status") or "open",
        "updated_at": case.get("updated_at") or "",
        "note": case.get("note") or "",
    }
    if any(case.get(k) for k in CASE_EXTRA):
        out["case"] = {k: case.get(k) or "" for k in CASE_EXTRA}
    return out


class AlertStore:
    def __init__(self, redis: Redis, prefix: str = "sunlight:", zone: str = "Asia/Shanghai",
                 cases: CasesConfig | None = None, *, audit_key: bytes | None = None,
                 anchor: Anchor | None = None):
        self.redis = redis
        self.cases = cases or CasesConfig.load()
        self.keys = Keys(prefix)
        self.ledger = AuditLedger(redis, prefix, zone, hmac_key=audit_key, anchor=anchor)
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

    async def positions(self, vehicle_ids: list[str] | None = None) -> dict[str, Any]:
        """Live positions the workers publish: vehicle_id -> {ts, lat, lon, state}; only
        the given vehicles when named (the whole fleet is the fleet map's, not this)."""
        if vehicle_ids is None:
            raw = await self.redis.hgetall(self.keys.positions)
        elif vehicle_ids:
            values = await self.redis.hmget(self.keys.positions, vehicle_ids)
            raw = {v: x for v, x in zip(vehicle_ids, values, strict=True) if x is not None}
        else:
            raw = {}
        out = {}
        for vid, value in raw.items():
            try:
                out[vid] = orjson.loads(value)
            except orjson.JSONDecodeError:
                continue
        return out

    def actions(self, alert: dict[str, Any], who: str, role: str) -> list[str]:
        """The actions this user may take on this alert now."""
        if self.cases.recused(who, alert):
            return []
        status = alert.get("status") or "open"
        case = alert.get("case") or {}
        out = []
        for name, (starts, _to, roles) in TRANSITIONS.items():
            allowed = self.cases.reassign_roles if name == "reassign" else roles
            if role not in allowed or status not in starts:
                continue
            if name == "propose" and case.get("proposed_by"):
                continue
            if name == "approve" and case.get("proposed_by") in ("", None, who):
                continue
            out.append(name)
        return out

    async def act(
        self, alert_id: str, action: str, note: str, *, who: str, role: str, to: str = ""
    ) -> dict[str, Any]:
        """Apply a case action; raises ActionRejected (with a reason code).

        ``confirm`` is ``propose`` when nobody has proposed yet, else ``approve``.
        """
        key = self.keys.alert(alert_id)
        if action == "confirm":
            action = "approve" if await self.redis.hget(key, "proposed_by") else "propose"
        if action not in TRANSITIONS:
            raise ActionRejected("unknown_action")
        starts, target, roles = TRANSITIONS[action]
        if action == "reassign":
            roles = self.cases.reassign_roles
        if role not in roles:
            raise ActionRejected("forbidden")
        note = note.strip()[:MAX_NOTE]
        row: dict[str, Any] = {}
        fields = [*INDEX_FIELDS, "proposed_by", "routed", "assignee", "queue", "deadline_ms",
                  "escalated"]

        async def guard(pipe: Pipeline) -> None:
            values = await pipe.hmget(key, fields)
            row.clear()
            row.update(zip(fields, values, strict=True))
            if row["alert"] is None:
                raise ActionRejected("not_found")
            alert = orjson.loads(row["alert"])
            if self.cases.recused(who, alert):
                raise ActionRejected("recused")
            if (row["status"] or "open") not in starts:
                raise ActionRejected("bad_transition")
            proposer = row["proposed_by"] or ""
            if action == "propose" and proposer:
                raise ActionRejected("already_proposed")
            if action == "approve" and not proposer:
                raise ActionRejected("no_proposal")
            if action == "approve" and proposer == who:
                raise ActionRejected("four_eyes")
            if action == "reassign":
                check_target(to, alert)

        def check_target(target_spec: str, alert: dict[str, Any]) -> None:
            kind, _, name = target_spec.partition(":")
            if kind not in ("user", "queue") or not name:
                raise ActionRejected("bad_target")
            if kind == "user" and self.cases.recused(name, alert):
                raise ActionRejected("target_recused")

        now = self.ledger.now_iso()
        status_after: list[str] = []

        def extra(pipe: Pipeline, entry: dict[str, Any]) -> None:
            old = row["status"] or "open"
            new = target or old
            status_after.append(new)
            mapping = {"status": new, "updated_at": now, "note": note, "updated_by": who}
            if action == "propose":
                mapping.update(proposed_by=who, proposal_note=note)
            if action == "approve":
                mapping["approved_by"] = who
            if action == "reopen":
                mapping.update(proposed_by="", proposal_note="", approved_by="")
            if action == "reassign":
                self._reassign(pipe, alert_id, row, to, mapping)
            pipe.hset(key, mapping=mapping)
            move_status(pipe, self.index_keys, alert_id, row, old, new, int(time.time() * 1000))
            deadline = int(row["deadline_ms"] or 0)
            if new not in UNRESOLVED:
                pipe.zrem(self.index_keys.deadline, alert_id)
            elif old not in UNRESOLVED and deadline and not row["escalated"]:
                pipe.zadd(self.index_keys.deadline, {alert_id: deadline})

        label = f"{action} → {to}" if action == "reassign" else action
        entry = await self.ledger.append(
            who=who, role=role, action=action, alert_id=alert_id,
            note=note if action != "reassign" else f"{to}: {note}".strip(": "),
            watch=(key,), guard=guard, extra=extra,
        )
        change = {"alert_id": alert_id, "status": status_after[0], "updated_at": now,
                  "note": note, "who": who, "action": action, "label": label,
                  "seq": entry["seq"]}
        await self.redis.publish(self.keys.cases, orjson.dumps(change))
        return change

    def _reassign(self, pipe: Pipeline, alert_id: str, row: dict[str, Any], to: str,
                  mapping: dict[str, str]) -> None:
        score = int(row["raised_ms"] or 0)
        if row["assignee"]:
            pipe.zrem(self.index_keys.assignee(row["assignee"]), alert_id)
        if row["queue"]:
            pipe.zrem(self.index_keys.queue(row["queue"]), alert_id)
        kind, _, name = to.partition(":")
        if kind == "user":
            mapping.update(assignee=name, queue="")
            pipe.zadd(self.index_keys.assignee(name), {alert_id: score})
        else:
            mapping.update(assignee="", queue=name)
            pipe.zadd(self.index_keys.queue(name), {alert_id: score})
        pipe.incr(self.index_keys.version)
