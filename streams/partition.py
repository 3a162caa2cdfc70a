"""One partition's engine in a live worker.

A partition of the engine topics (gps, payments, reviews, routed) plus the partition's
share of the broadcast topics (fuel, deaths) is one engine with one clock. Kafka delivers
these sources independently, so a source read a little ahead could drag the clock past
events another source has not delivered yet (producing two months of history in three
seconds makes that gap days of event time).

So events change state as soon as they arrive (on-arrival alerts go out at once), but the
clock only follows events *produced* (record CreateTime) before the moment up to which
every source is known complete: a source read to its end is complete up to its last poll
(less a margin for records still on their way), else up to the CreateTime of its last
record. An event held longer than `max_wait_s` counts anyway once every source has been
read to its end (a producer with a fast clock cannot stall the engine).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from detectors.engine import CLOCK_KINDS, Engine
from detectors.events import Event, Rejected, decode_record
from detectors.refuel import fuel_key
from streams.topics import INPUT_TOPICS, max_bytes, partition_for

MAX_HOPS = 3


@dataclass
class Outcome:
    """What handling input produced: alerts, events to re-route, rejects for the DLQ."""

    alerts: list[dict[str, Any]] = field(default_factory=list)
    forwards: list[tuple[str, Event]] = field(default_factory=list)
    rejects: list[tuple[str, int, int, Rejected, bytes]] = field(default_factory=list)
    processed: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    gps: list[Event] = field(default_factory=list)  # applied fixes, for the fleet map

    def merge(self, other: Outcome) -> None:
        self.alerts += other.alerts
        self.gps += other.gps
        self.forwards += other.forwards
        self.rejects += other.rejects
        self.processed += other.processed
        for k, n in other.kinds.items():
            self.kinds[k] = self.kinds.get(k, 0) + n


def entity_key(event: Event, engine: Engine) -> str:
    """The key that decides an event's partition: the entity it belongs to."""
    kind = event["kind"]
    if kind == "fuel":
        return fuel_key(event, engine.ctx)
    field_name = {"gps": "vehicle_id", "payment": "payee_id", "review": "case_id",
                  "death": "person_id"}.get(kind, f"{kind}_id")
    key: str = event[field_name]
    return key


class PartitionEngine:
    def __init__(
        self,
        partition: int,
        partitions: int,
        engine: Engine,
        sources: tuple[str, ...],
        max_wait_s: float = 5.0,
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        self.partition = partition
        self.partitions = partitions
        self.engine = engine
        self.sources = sources
        self.max_wait_s = max_wait_s
        self.wall = wall
        self.folded: dict[str, int] = {}  # topic -> last offset taken in
        self.last_produced: dict[str, int] = {}  # topic -> CreateTime of its last record
        # source -> (produced_ms, ts_ms, wall arrival) of events not yet behind the clock
        self.pending: dict[str, deque[tuple[int, int, float]]] = {s: deque() for s in sources}
        self.last_input = wall()

    def seen(self, topic: str, offset: int) -> bool:
        """True for a record already taken in (a redelivery after a rebuild)."""
        return offset <= self.folded.get(topic, -1)

    def offer(self, topic: str, offset: int, raw: bytes, produced_ms: int = 0) -> Outcome:
        """Decode one record of `topic` (short name) and apply its events."""
        out = Outcome()
        self.folded[topic] = max(offset, self.folded.get(topic, -1))
        self.last_produced[topic] = max(produced_ms, self.last_produced.get(topic, 0))
        default_kind, allowed = INPUT_TOPICS.get(topic, (None, None))
        mine: list[Event] = []
        for item in decode_record(raw, self.engine.zone, default_kind, allowed,
                                  max_bytes(topic)):
            if isinstance(item, Rejected):
                out.rejects.append((topic, self.partition, offset, item, raw))
                continue
            try:
                self.engine.check(item)
            except Rejected as exc:
                out.rejects.append((topic, self.partition, offset, exc, raw))
                continue
            key = entity_key(item, self.engine)
            if partition_for(key, self.partitions) != self.partition and (
                item.get("_hops", 0) < MAX_HOPS
            ):
                item["_hops"] = item.get("_hops", 0) + 1
                out.forwards.append((key, item))
                continue
            mine.append(item)
        out.merge(self.offer_events(topic, mine, produced_ms))
        return out

    def offer_events(self, source: str, events: list[Event], produced_ms: int = 0) -> Outcome:
        """Apply decoded events that belong here; the clock waits for `drain`."""
        out = Outcome()
        now = self.last_input = self.wall()
        pending = self.pending[source]
        engine = self.engine
        for event in events:
            kind = event["kind"]
            out.kinds[kind] = out.kinds.get(kind, 0) + 1
            out.processed += 1
            out.alerts += engine.process(event, advance=False)
            if kind == "gps":
                out.gps.append(event)
            if kind in CLOCK_KINDS:
                pending.append((produced_ms, event["ts_ms"], now))
        return out

    def drain(
        self,
        complete_until: Callable[[str], float],
        behind: Callable[[str], bool] = lambda _s: False,
        force: bool = False,
    ) -> Outcome:
        """Move the clock over every event that all sources are complete up to.

        An event held longer than `max_wait_s` counts anyway, but only while no source
        is behind (has records on the broker not yet read): a slow reader must hold the
        clock back however long it takes.
        """
        out = Outcome()
        horizon = float("inf") if force else min(complete_until(s) for s in self.sources)
        stale = -1.0 if any(behind(s) for s in self.sources) else self.wall() - self.max_wait_s
        newest: int | None = None
        for pending in self.pending.values():
            while pending and (pending[0][0] <= horizon or pending[0][2] <= stale):
                ts = pending.popleft()[1]
                if newest is None or ts > newest:
                    newest = ts
        if newest is not None:
            out.alerts += self.engine.see_ts(newest)
        return out

    def idle_for(self) -> float:
        return self.wall() - self.last_input

    def holding(self) -> bool:
        return any(self.pending.values())
