"""The case desk: routes each new alert to an investigator or a queue with a disposition
deadline, writes recusals, and escalates cases past their deadline.

Time is the engine's clock, never the wall: workers publish each partition's watermark
to ``{prefix}engine:clock`` (sinks/live_hooks.py) and the desk escalates what is due by
the slowest of them. Every routing, recusal and escalation is an entry of the audit
ledger, written in the same transaction as the case fields and the indexes.

Deadline: ``working_days[severity]`` working days after the local day the alert was
raised, due at the end (24:00) of that working day; 0 means the end of the same day.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from detectors.base import alert_id as make_alert_id
from detectors.calendar import WorkCalendar
from sinks.alert_index import IndexKeys
from sinks.audit import ActionRejected, Anchor, AuditLedger
from sinks.cases.config import ESCALATION_DETECTOR, CasesConfig

log = logging.getLogger(__name__)
SYSTEM = "system:cases"
UNRESOLVED = ("open", "acknowledged")
AddAlerts = Callable[[list[dict[str, Any]]], Awaitable[Any]]


def iso_ms(ms: int, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(ms / 1000, zone).isoformat(timespec="milliseconds")


def deadline_ms(raised_at: str, severity: str, config: CasesConfig, calendar: WorkCalendar,
                zone: ZoneInfo) -> int:
    raised = datetime.fromisoformat(raised_at).astimezone(zone)
    due: date = calendar.add_working_days(raised.date(), config.deadline_days.get(severity, 5))
    end = datetime.combine(due + timedelta(days=1), time(0), tzinfo=zone)
    return int(end.timestamp() * 1000)


class CaseDesk:
    def __init__(self, redis: Redis, prefix: str, config: CasesConfig,
                 calendar: WorkCalendar, zone: str = "Asia/Shanghai",
                 add_alerts: AddAlerts | None = None, *, audit_key: bytes | None = None,
                 anchor: Anchor | None = None) -> None:
        self.redis = redis
        self.prefix = prefix
        self.config = config
        self.calendar = calendar
        self.zone = ZoneInfo(zone)
        self.keys = IndexKeys(prefix)
        self.ledger = AuditLedger(redis, prefix, zone, hmac_key=audit_key, anchor=anchor)
        self.add_alerts = add_alerts
        self.clock_key = f"{prefix}engine:clock"
        self.cases_channel = f"{prefix}alerts:cases"

    def hash_key(self, alert_id: str) -> str:
        return f"{self.prefix}alert:{alert_id}"

    async def clock_ms(self) -> int | None:
        """The engine's clock: the slowest partition watermark the workers published."""
        values = [int(float(v)) for v in await self.redis.hvals(self.clock_key)]
        return min(values) if values else None

    async def tick(self) -> tuple[int, int]:
        """Route what is new, then escalate what the engine's clock has made overdue."""
        routed = await self.route_new()
        now = await self.clock_ms()
        escalated = await self.escalate_due(now) if now is not None else 0
        return routed, escalated

    # --- routing ------------------------------------------------------------------------

    async def route_new(self, limit: int = 200) -> int:
        ids = await self.redis.zrange(self.keys.unrouted, 0, limit - 1)
        done = 0
        for raw in ids:
            alert_id = raw.decode() if isinstance(raw, bytes) else str(raw)
            try:
                if await self.route(alert_id):
                    done += 1
            except ActionRejected:
                await self.redis.zrem(self.keys.unrouted, alert_id)
        return done

    async def route(self, alert_id: str) -> bool:
        key = self.hash_key(alert_id)
        row: dict[str, Any] = {}

        async def guard(pipe: Pipeline) -> None:
            values = await pipe.hmget(key, ["alert", "routed", "status", "raised_ms"])
            row.update(zip(("alert", "routed", "status", "raised_ms"), values, strict=True))
            if row["alert"] is None or row["routed"]:
                raise ActionRejected("routed")

        alert: dict[str, Any] = {}
        plan: dict[str, Any] = {}

        def extra(pipe: Pipeline, entry: dict[str, Any]) -> None:
            score = int(row["raised_ms"] or 0)
            fields = {"routed": "1", "assignee": plan["investigator"], "queue": plan["queue"],
                      "deadline": plan["deadline"], "deadline_ms": plan["deadline_ms"]}
            pipe.hset(key, mapping=fields)
            if plan["investigator"]:
                pipe.zadd(self.keys.assignee(plan["investigator"]), {alert_id: score})
            else:
                pipe.zadd(self.keys.queue(plan["queue"]), {alert_id: score})
            if (row["status"] or "open") in UNRESOLVED and plan["deadline_ms"]:
                pipe.zadd(self.keys.deadline, {alert_id: plan["deadline_ms"]})
            pipe.zrem(self.keys.unrouted, alert_id)
            pipe.incr(self.keys.version)

        raw = await self.redis.hget(key, "alert")
        if raw is None:
            await self.redis.zrem(self.keys.unrouted, alert_id)
            return False
        alert.update(orjson.loads(raw))
        investigator, queue = self.config.route(alert)
        plan.update(investigator=investigator, queue=queue, deadline="", deadline_ms=0)
        if alert.get("detector") != ESCALATION_DETECTOR:
            try:
                ms = deadline_ms(str(alert.get("raised_at")), str(alert.get("severity")),
                                 self.config, self.calendar, self.zone)
                plan.update(deadline=iso_ms(ms, self.zone), deadline_ms=ms)
            except (ValueError, TypeError) as exc:
                log.warning("case desk: no deadline for %s: %s", alert_id, exc)
        owner = f"investigator {investigator}" if investigator else f"queue {queue}"
        note = f"assigned to {owner}" + (f"; deadline {plan['deadline']}"
                                         if plan["deadline"] else "")
        await self.ledger.append(who=SYSTEM, role="system", action="assign", alert_id=alert_id,
                                 note=note, watch=(key,), guard=guard, extra=extra)
        for r in self.config.recusals(alert):
            await self.ledger.append(
                who=SYSTEM, role="system", action="recuse", alert_id=alert_id,
                note=f"{r.user} recused: {'own unit' if r.reason == 'unit' else 'relative'} "
                     f"{r.detail}")
        await self._announce(alert_id, "assign", {"assignee": investigator, "queue": queue,
                                                  "deadline": plan["deadline"]})
        return True

    # --- escalation ---------------------------------------------------------------------

    async def escalate_due(self, now_ms: int, limit: int = 500) -> int:
        due = await self.redis.zrangebyscore(self.keys.deadline, "-inf", now_ms, start=0,
                                             num=limit)
        done = 0
        for raw in due:
            alert_id = raw.decode() if isinstance(raw, bytes) else str(raw)
            try:
                await self.escalate(alert_id, now_ms)
                done += 1
            except ActionRejected:
                await self.redis.zrem(self.keys.deadline, alert_id)
        return done

    async def escalate(self, alert_id: str, now_ms: int) -> dict[str, Any]:
        key = self.hash_key(alert_id)
        fields = ("alert", "status", "escalated", "deadline", "deadline_ms", "assignee", "queue",
                  "raised_ms")
        row: dict[str, Any] = {}

        async def guard(pipe: Pipeline) -> None:
            row.update(zip(fields, await pipe.hmget(key, list(fields)), strict=True))
            if row["alert"] is None or row["escalated"]:
                raise ActionRejected("escalated")
            if (row["status"] or "open") not in UNRESOLVED:
                raise ActionRejected("resolved")
            if int(row["deadline_ms"] or 0) > now_ms:
                raise ActionRejected("not_due")

        when = iso_ms(now_ms, self.zone)

        def extra(pipe: Pipeline, entry: dict[str, Any]) -> None:
            pipe.hset(key, mapping={"escalated": when})
            pipe.zrem(self.keys.deadline, alert_id)
            pipe.zadd(self.keys.overdue, {alert_id: int(row["raised_ms"] or 0)})
            pipe.incr(self.keys.version)

        await self.ledger.append(
            who=SYSTEM, role="system", action="escalate", alert_id=alert_id,
            note="", watch=(key,), guard=guard, extra=extra)
        # the ledger note is fixed before the guard reads the row; say it on the alert
        original = orjson.loads(row["alert"])
        notice = escalation_alert(original, row, when, self.config, self.zone)
        if self.add_alerts is not None:
            await self.add_alerts([notice])
        await self._announce(alert_id, "escalate", {"escalated": when,
                                                    "notice": notice["alert_id"]})
        return notice

    async def _announce(self, alert_id: str, action: str, extra: dict[str, Any]) -> None:
        status = await self.redis.hget(self.hash_key(alert_id), "status")
        change = {"alert_id": alert_id, "action": action, "who": SYSTEM,
                  "status": (status.decode() if isinstance(status, bytes) else status) or "open",
                  **extra}
        await self.redis.publish(self.cases_channel, orjson.dumps(change))


def escalation_alert(original: dict[str, Any], row: dict[str, Any], when: str,
                     config: CasesConfig, zone: ZoneInfo) -> dict[str, Any]:
    """The alert that tells the supervisor a case is overdue (one per case)."""
    orig_id = str(original.get("alert_id"))
    return {
        "alert_id": make_alert_id(ESCALATION_DETECTOR, orig_id),
        "detector": ESCALATION_DETECTOR,
        "subject": orig_id,
        "severity": config.escalation_severity,
        "entity": {"kind": "case", "id": orig_id},
        "event_ts": row.get("deadline") or when,
        "raised_at": datetime.now(zone).isoformat(timespec="milliseconds"),
        "title": f"案件逾期未处置：{original.get('title', orig_id)}",
        "title_en": f"Case overdue: {original.get('title_en') or orig_id}",
        "details": {
            "alert_id": orig_id,
            "detector": original.get("detector"),
            "deadline": row.get("deadline"),
            "escalated_at": when,
            "assignee": row.get("assignee") or "",
            "queue": row.get("queue") or "",
            "notify_role": config.supervisor_role,
        },
        "evidence": [{"kind": "alert", "id": orig_id, "ts": original.get("raised_at")}],
        "unit": original.get("unit"),
        "district": original.get("district"),
        "rule": {"name": ESCALATION_DETECTOR, "version": "1"},
    }
