"""The detector interface, its context, and the alert every detector raises.

A detector is a keyed state machine with timers (Flink's KeyedProcessFunction, bytewax's
StatefulLogic): given its JSON-compatible state for one key, an event and a `Context`
(the clock, the registry, the calendar), it returns the new state and emits alerts.
Timers live in the state; the engine asks `next_timer(state)` and calls `on_timer` once
the clock reaches it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from detectors.calendar import WorkCalendar
from detectors.config import EngineConfig
from detectors.events import Event
from detectors.registry import Registry
from detectors.timeutil import Zone

State = dict[str, Any]
Alert = dict[str, Any]


def alert_id(detector: str, subject: str) -> str:
    """A pure function of (detector, subject): the same everywhere, every time."""
    digest = hashlib.blake2b(f"{detector}\x1f{subject}".encode(), digest_size=8).hexdigest()
    return f"{detector}:{digest}"


@dataclass
class Context:
    config: EngineConfig
    zone: Zone
    calendar: WorkCalendar
    registry: Registry
    wall_ms: Callable[[], int]
    watermark_ms: int = 0
    alerts: list[Alert] = field(default_factory=list)

    def emit(
        self,
        detector: str,
        subject: str,
        *,
        entity: tuple[str, str],
        event_ts_ms: int,
        details: dict[str, Any],
        evidence: list[dict[str, Any]],
        unit: str | None = None,
        district: str | None = None,
    ) -> None:
        rule = self.config.rule(detector)
        if not rule.enabled:
            return
        self.alerts.append(
            {
                "alert_id": alert_id(detector, subject),
                "detector": detector,
                "subject": subject,
                "severity": rule.severity,
                "entity": {"kind": entity[0], "id": entity[1]},
                "event_ts": self.zone.iso(event_ts_ms),
                "raised_at": self.zone.iso(self.wall_ms()),
                "title": rule.title,
                "title_en": rule.title_en,
                "details": details,
                "evidence": evidence,
                "unit": unit,
                "district": district,
                "rule": {"name": rule.name, "version": rule.version},
            }
        )

    def evidence(self, kind: str, ident: str, ts_ms: int) -> dict[str, Any]:
        return {"kind": kind, "id": ident, "ts": self.zone.iso(ts_ms)}


class Detector(Protocol):
    """One detector family bound to one kind of key."""

    name: str
    kinds: frozenset[str]

    def key(self, event: Event, ctx: Context) -> str | None:
        """The state key this event belongs to, or None to ignore it."""

    def on_event(
        self, key: str, state: State | None, event: Event, ctx: Context
    ) -> State | None:
        """Fold one event into the key's state; None drops the state."""

    def on_timer(self, key: str, state: State, ctx: Context) -> State | None:
        """Make every decision due by `ctx.watermark_ms`."""

    def next_timer(self, state: State, ctx: Context) -> int | None:
        """The earliest instant at which `on_timer` has something to decide.

        A function of the state alone: the engine compares it before and after an event
        and leaves the timer be when it did not move."""
