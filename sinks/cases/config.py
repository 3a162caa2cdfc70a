"""Case handling settings (config/cases.yaml): routing rules, deadlines, recusal registry."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_CASES = Path(__file__).resolve().parents[2] / "config" / "cases.yaml"
SEVERITIES = ("low", "medium", "high", "critical")
MATCH_KEYS = ("unit", "district", "detector")
ESCALATION_DETECTOR = "case_overdue"


@dataclass(frozen=True)
class Rule:
    match: Mapping[str, frozenset[str]]
    investigator: str = ""
    queue: str = ""

    def matches(self, alert: Mapping[str, Any]) -> bool:
        return all(str(alert.get(k) or "") in want for k, want in self.match.items())


@dataclass(frozen=True)
class Staff:
    unit: str = ""
    relatives: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Recusal:
    user: str
    reason: str  # "unit" | "relative"
    detail: str


@dataclass(frozen=True)
class CasesConfig:
    deadline_days: Mapping[str, int] = field(
        default_factory=lambda: {"critical": 1, "high": 3, "medium": 5, "low": 10})
    reassign_roles: frozenset[str] = frozenset({"admin"})
    supervisor_role: str = "admin"
    escalation_queue: str = "督办"
    escalation_severity: str = "high"
    rules: tuple[Rule, ...] = ()
    staff: Mapping[str, Staff] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | str | None = None) -> CasesConfig:
        with open(path or DEFAULT_CASES, encoding="utf-8") as fh:
            return cls.from_mapping(yaml.safe_load(fh) or {})

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> CasesConfig:
        days = dict((raw.get("deadlines") or {}).get("working_days") or {})
        for sev in SEVERITIES:
            n = days.get(sev)
            if not isinstance(n, int) or n < 0:
                raise ValueError(f"deadlines.working_days.{sev}: {n!r} is not a whole number "
                                 "of working days >= 0")
        rules = []
        for i, spec in enumerate(raw.get("rules") or []):
            match = {}
            for k, v in (spec.get("match") or {}).items():
                if k not in MATCH_KEYS:
                    raise ValueError(f"rules[{i}].match.{k}: not one of {MATCH_KEYS}")
                match[k] = frozenset(str(x) for x in (v if isinstance(v, list) else [v]))
            assign = spec.get("assign") or {}
            inv, queue = str(assign.get("investigator") or ""), str(assign.get("queue") or "")
            if bool(inv) == bool(queue):
                raise ValueError(f"rules[{i}].assign: give exactly one of investigator, queue; "
                                 f"got {assign!r}")
            rules.append(Rule(match, inv, queue))
        if not rules or rules[-1].match or not rules[-1].queue:
            raise ValueError("rules: the last rule must match everything (match: {}) and "
                             "assign a queue, so every alert has an owner")
        staff = {
            str(user): Staff(str(s.get("unit") or ""),
                             frozenset(str(r) for r in s.get("relatives") or []))
            for user, s in (raw.get("staff") or {}).items()
        }
        roles = raw.get("roles") or {}
        esc = raw.get("escalation") or {}
        severity = str(esc.get("severity", "high"))
        if severity not in SEVERITIES:
            raise ValueError(f"escalation.severity: {severity!r} is not one of {SEVERITIES}")
        return cls(
            deadline_days=days,
            reassign_roles=frozenset(str(r) for r in roles.get("reassign") or ["admin"]),
            supervisor_role=str(roles.get("supervisor", "admin")),
            escalation_queue=str(esc.get("queue", "督办")),
            escalation_severity=severity,
            rules=tuple(rules),
            staff=staff,
        )

    def recusals(self, alert: Mapping[str, Any]) -> list[Recusal]:
        """Everyone in the staff registry who may not see this alert, and why."""
        ids = person_ids(alert)
        out = []
        for user, s in self.staff.items():
            if s.unit and str(alert.get("unit") or "") == s.unit:
                out.append(Recusal(user, "unit", s.unit))
            elif ids & s.relatives:
                out.append(Recusal(user, "relative", sorted(ids & s.relatives)[0]))
        return out

    def recused(self, user: str, alert: Mapping[str, Any]) -> bool:
        return any(r.user == user for r in self.recusals(alert))

    def route(self, alert: Mapping[str, Any]) -> tuple[str, str]:
        """(investigator, queue) for a new alert: the first matching rule; a recused
        investigator gives way to the catch-all queue."""
        fallback = self.rules[-1].queue
        for rule in self.rules:
            if rule.matches(alert):
                if rule.investigator and self.recused(rule.investigator, alert):
                    return "", fallback
                return rule.investigator, rule.queue
        return "", fallback


def person_ids(alert: Mapping[str, Any]) -> set[str]:
    """Person ids an alert is about (entity, details, person-like evidence)."""
    from sinks.dashboard.masking import personal_ids

    return personal_ids(dict(alert))
