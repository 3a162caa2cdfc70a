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

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from orjson import JSONDecodeError

from detectors.engine import CHECKED_KINDS, CLOCK_KINDS, Engine
from detectors.events import MAX_BATCH, Event, Rejected, decode_record, parse_record, validate
from detectors.funds_events import FUNDS_KEY_FIELD
from detectors.gps_fast import gps_fast
from detectors.refuel import fuel_key
from streams.live.checkpoint import Meta, Position, fingerprint
from streams.topics import INPUT_TOPICS, max_bytes, partition_for

MAX_HOPS = 3
HOMES_KEPT = 1 << 18  # vehicles whose partition `fold` remembers (then it starts again)
_UNREAD = object()
log = logging.getLogger(__name__)


def horizon_from(high: int | None, at_end: float, folded: int, last_produced: int) -> float:
    """Complete up to the last poll when read to the end, else up to the last record."""
    if high is not None and folded + 1 >= high:
        return at_end
    # Records stamped in the same millisecond as the last one may still be unread.
    return float(last_produced) - 1


@dataclass
class Outcome:
    """What handling input produced: alerts, events to re-route, rejects for the DLQ."""

    alerts: list[dict[str, Any]] = field(default_factory=list)
    forwards: list[tuple[str, Event]] = field(default_factory=list)
    rejects: list[tuple[str, int, int, Rejected, bytes]] = field(default_factory=list)
    processed: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    gps: list[Event] = field(default_factory=list)  # applied fixes, for the fleet map
    grants: list[Event] = field(default_factory=list)  # taken in, for the public page

    def merge(self, other: Outcome) -> None:
        self.alerts += other.alerts
        self.gps += other.gps
        self.grants += other.grants
        self.forwards += other.forwards
        self.rejects += other.rejects
        self.processed += other.processed
        for k, n in other.kinds.items():
            self.kinds[k] = self.kinds.get(k, 0) + n


# kind -> the field naming the entity an event belongs to (else `<kind>_id`)
KEY_FIELD = {"gps": "vehicle_id", "payment": "payee_id", "review": "case_id",
             "death": "person_id", "asset": "person_id", **FUNDS_KEY_FIELD}


def entity_key(event: Event, engine: Engine) -> str:
    """The key that decides an event's partition: the entity it belongs to."""
    kind = event["kind"]
    if kind == "fuel":
        return fuel_key(event, engine.ctx)
    if kind == "invoice" and event.get("_route") == "project":
        project: str = event["project_id"]
        return project
    field_name = KEY_FIELD.get(kind) or f"{kind}_id"
    key: str = event[field_name]
    return key


def routes(event: Event, engine: Engine) -> list[tuple[str, Event]]:
    """(key, event) for each entity an event belongs to. An invoice upload belongs to its
    invoice and its project: one copy for each, marked `_route` so that only that key
    family takes it in (contract/funds.md)."""
    if event["kind"] != "invoice" or "_route" in event:
        return [(entity_key(event, engine), event)]
    copies = (dict(event, _route="invoice"), dict(event, _route="project"))
    return [(entity_key(copy, engine), copy) for copy in copies]


def belongs(event: Event, engine: Engine, partition: int, partitions: int) -> list[Event]:
    """The copies of an event that partition `partition` takes in (rebuild)."""
    return [
        copy for key, copy in routes(event, engine)
        if partition_for(key, partitions) == partition
    ]


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
        self._last_fp: dict[str, str] = {}  # topic -> fingerprint of its last record taken in
        # topic -> (CreateTime, value) of its last record, until its fingerprint is asked for
        self._last_record: dict[str, tuple[int, bytes]] = {}
        # "fuel/3" -> the first offset of that broadcast partition this engine takes in
        self.broadcast_from: dict[str, int] = {}
        # (topic, its partition, offset) of poison records dead-lettered already
        self.poisoned: set[tuple[str, int, int]] = set()
        self.full_checkpoint = False  # the next checkpoint writes every key, not the changes
        self.stale_keys: set[tuple[str, str]] = set()  # tombstones the next full one writes
        self.new_poison: list[tuple[str, int, int]] = []  # to be made durable at once
        self._homes: dict[str, int] = {}  # vehicle -> its partition (`fold`'s GPS fixes)

    @property
    def last_fp(self) -> dict[str, str]:
        """topic -> fingerprint of its last record taken in (made when asked: a checkpoint
        needs only the last one, not one a record)."""
        if self._last_record:
            for topic, (produced_ms, raw) in self._last_record.items():
                self._last_fp[topic] = fingerprint(produced_ms, raw)
            self._last_record.clear()
        return self._last_fp

    def takes(self, topic: str, partition: int, offset: int) -> bool:
        """Whether a broadcast record is new to this engine (not covered by its checkpoint)."""
        return offset >= self.broadcast_from.get(f"{topic}/{partition}", 0)

    def checkpoint_meta(self, epoch_ms: int, broadcast: dict[str, Position]) -> Meta:
        positions = {t: Position(off + 1, self.last_fp.get(t)) for t, off in self.folded.items()}
        positions.update(broadcast)
        return Meta(
            partition=self.partition,
            epoch_ms=epoch_ms,
            positions=positions,
            clock=self.engine.clock(),
            pending={s: [[q[0], q[1]] for q in d] for s, d in self.pending.items() if d},
            last_produced=dict(self.last_produced),
            poisoned=[list(m) for m in sorted(self.poisoned)],
        )

    def load_meta(self, meta: Meta) -> None:
        """The clock, held events and poison list of a checkpoint (positions are checked
        against the broker by the caller)."""
        self.engine.set_clock(meta.clock)
        now = self.wall()
        for source, held in meta.pending.items():
            if source in self.pending:
                self.pending[source].extend((int(a), int(b), now) for a, b in held)
        self.last_produced.update(meta.last_produced)
        self.poisoned.update((str(t), int(q), int(o)) for t, q, o in meta.poisoned)

    def seen(self, topic: str, offset: int) -> bool:
        """True for a record already taken in (a redelivery after a rebuild)."""
        return offset <= self.folded.get(topic, -1)

    def offer(self, topic: str, offset: int, raw: bytes, produced_ms: int = 0,
              out: Outcome | None = None) -> Outcome:
        """Decode one record of `topic` (short name) and apply its events (adding what
        they produce to `out` when given)."""
        if out is None:
            out = Outcome()
        if offset > self.folded.get(topic, -1):
            self.folded[topic] = offset
            self._last_record[topic] = (produced_ms, raw)
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
            mine += self._route(item, topic, offset, raw, out)
        self.offer_events(topic, mine, produced_ms, (topic, self.partition, offset, raw), out)
        return out

    def _route(self, item: Event, topic: str, offset: int, raw: bytes,
               out: Outcome) -> list[Event]:
        """The copies of a decoded event that belong here; the others are forwarded to
        their partitions (or rejected after MAX_HOPS re-routes)."""
        mine = []
        for key, copy in routes(item, self.engine):
            home = partition_for(key, self.partitions)
            if home == self.partition:
                mine.append(copy)
            elif copy.get("_hops", 0) >= MAX_HOPS:  # never processed in the wrong place
                out.rejects.append((topic, self.partition, offset, Rejected(
                    "_hops", "too many re-routes",
                    f"re-routed {copy['_hops']} times and still not at its partition "
                    f"({home} for key {key!r}, here {self.partition}); not processed"),
                    raw))
            else:
                copy["_hops"] = copy.get("_hops", 0) + 1
                out.forwards.append((key, copy))
        return mine

    def offer_events(self, source: str, events: list[Event], produced_ms: int = 0,
                     origin: tuple[str, int, int, bytes] | None = None,
                     out: Outcome | None = None) -> Outcome:
        """Apply decoded events that belong here; the clock waits for `drain`.

        An event a detector fails on is a poison record: its record goes to the DLQ once
        (`origin` names it; `poisoned` remembers it through restarts) and the partition
        carries on with the next event.
        """
        if out is None:
            out = Outcome()
        now = self.last_input = self.wall()
        pending = self.pending[source]
        engine = self.engine
        for event in events:
            kind = event["kind"]
            try:
                alerts = engine.process(event, advance=False)
            except Exception as exc:  # one failing event never stops the partition
                self._poisoned(exc, kind, origin or (source, -1, -1, b""), out)
                continue
            if event.get("_route") != "project":  # an upload's second copy is not counted
                out.kinds[kind] = out.kinds.get(kind, 0) + 1
                out.processed += 1
            out.alerts += alerts
            if kind == "gps":
                out.gps.append(event)
            elif kind == "grant":
                out.grants.append(event)
            if kind in CLOCK_KINDS:
                pending.append((produced_ms, event["ts_ms"], now))
        return out

    def _poisoned(self, exc: Exception, kind: str, origin: tuple[str, int, int, bytes],
                  out: Outcome) -> None:
        """An event the engine failed on: its record to the DLQ, once."""
        log.exception("partition %d: the engine failed on a %s event", self.partition, kind)
        topic, part, offset, raw = origin
        mark = (topic, part, offset)
        if mark not in self.poisoned:
            self.poisoned.add(mark)
            self.new_poison.append(mark)
            out.rejects.append((topic, part, offset, Rejected(
                "record", "engine error",
                f"the engine failed on it ({type(exc).__name__}: {exc})"), raw))

    def fold(self, topic: str, records: list[Any], high: int | None, at_end: float,
             others_until: float, others_behind: bool,
             out: Outcome) -> tuple[list[Any], list[Any]] | None:
        """`offer` then `drain_to` for each record of one partition of `topic` in turn,
        records already taken in skipped; returns the records taken in and those that
        failed (the same state, alerts and clock as a record at a time), or None for a
        topic that is not one of this engine's sources (the caller goes record by record).

        The horizon is the other sources' (`others_until`, `others_behind`: nothing else
        runs meanwhile, so they stand still) and this topic's own, from its highwater
        `high` and its horizon when read to the end (`at_end`): see `horizon_from`. What
        does not depend on the record is looked up once, and a record of one event
        (how GPS gateways publish) goes through no generator, list or method per record.
        """
        pending = self.pending.get(topic)
        if pending is None:
            return None
        engine = self.engine
        process, check, zone = engine.process, engine.check, engine.zone
        loads = orjson.loads
        default_kind, allowed = INPUT_TOPICS.get(topic, (None, None))
        # the fast path of a GPS fix where the topic carries GPS (the engine checks none)
        gps = (gps_fast if (allowed is None or "gps" in allowed)
               and "gps" not in CHECKED_KINDS else None)
        limit = max_bytes(topic)
        part, parts = self.partition, self.partitions
        wall, max_wait = self.wall, self.max_wait_s
        homes = self._homes
        folded = self.folded
        done = folded.get(topic, -1)
        produced = self.last_produced.get(topic, 0)
        last = first = done
        alerts_out, gps_out, grants_out, kinds = out.alerts, out.gps, out.grants, out.kinds
        rejects = out.rejects
        processed = 0
        now = self.last_input
        taken: list[Any] = []
        failed: list[Any] = []
        try:
            for record in records:
                offset = record.offset
                if offset <= done:  # taken in already (a redelivery after a rebuild)
                    continue
                taken.append(record)
                raw = record.value or b""
                created = record.timestamp
                try:
                    done = offset
                    last, last_raw, last_created = offset, raw, created
                    if created > produced:
                        produced = created
                    now = wall()
                    # decode: one object is validated at once; a batch of them each
                    obj: Any = _UNREAD
                    if len(raw) <= limit:
                        try:
                            obj = loads(raw)
                        except JSONDecodeError:
                            obj = _UNREAD
                    if obj is _UNREAD:  # too large, or not JSON: the decoder's reason
                        try:
                            obj = parse_record(raw, limit)
                        except Rejected as exc:
                            rejects.append((topic, part, offset, exc, raw))
                    if obj is _UNREAD:
                        items: list[Any] = []
                    elif obj.__class__ is dict:
                        fast = None if gps is None else gps(obj, zone, default_kind)
                        if fast is not None:  # a plain GPS fix, decoded in one call
                            items = [fast]
                        else:
                            try:
                                items = [validate(obj, zone, default_kind, allowed)]
                            except Rejected as exc:
                                items = [exc]
                    elif obj.__class__ is list and len(obj) <= MAX_BATCH:
                        items = []
                        for one in obj:
                            try:
                                items.append(validate(one, zone, default_kind, allowed))
                            except Rejected as exc:
                                items.append(exc)
                    else:  # the decoder's own words for what is not an event
                        items = list(decode_record(raw, zone, default_kind, allowed, limit))
                    mine: list[Event] = []
                    for item in items:
                        if isinstance(item, Rejected):
                            rejects.append((topic, part, offset, item, raw))
                            continue
                        try:
                            check(item)
                        except Rejected as exc:
                            rejects.append((topic, part, offset, exc, raw))
                            continue
                        if item["kind"] == "gps":
                            vehicle = item["vehicle_id"]
                            home = homes.get(vehicle)
                            if home is None:
                                if len(homes) >= HOMES_KEPT:
                                    homes.clear()
                                home = homes[vehicle] = partition_for(vehicle, parts)
                        else:
                            home = -1
                        if home == part:
                            mine.append(item)
                        else:
                            mine += self._route(item, topic, offset, raw, out)
                    # offer_events
                    for event in mine:
                        kind = event["kind"]
                        try:
                            alerts = process(event, advance=False)
                        except Exception as exc:
                            self._poisoned(exc, kind, (topic, part, offset, raw), out)
                            continue
                        if kind != "invoice" or event.get("_route") != "project":
                            kinds[kind] = kinds.get(kind, 0) + 1
                            processed += 1
                        if alerts:
                            alerts_out += alerts
                        if kind == "gps":
                            gps_out.append(event)
                        elif kind == "grant":
                            grants_out.append(event)
                        if kind in CLOCK_KINDS:
                            pending.append((created, event["ts_ms"], now))
                    # drain_to with this topic's horizon as of this record
                    behind = others_behind or high is None or done + 1 < high
                    self.drain_to(min(others_until, horizon_from(high, at_end, done, produced)),
                                  -1.0 if behind else wall() - max_wait, out)
                except Exception:  # one bad record never stops the loop
                    log.exception("engine: %s[%d]@%d failed", topic, part, offset)
                    failed.append(record)
        finally:
            if last > first:
                folded[topic] = last
                self._last_record[topic] = (last_created, last_raw)
                self.last_produced[topic] = produced
                self.last_input = now
            out.processed += processed
        return taken, failed

    def drain(
        self,
        complete_until: Callable[[str], float],
        behind: Callable[[str], bool] = lambda _s: False,
        force: bool = False,
        out: Outcome | None = None,
    ) -> Outcome:
        """Move the clock over every event that all sources are complete up to.

        An event held longer than `max_wait_s` counts anyway, but only while no source
        is behind (has records on the broker not yet read): a slow reader must hold the
        clock back however long it takes.
        """
        horizon = float("inf") if force else min(map(complete_until, self.sources))
        stale = -1.0 if any(map(behind, self.sources)) else self.wall() - self.max_wait_s
        return self.drain_to(horizon, stale, out)

    def drain_to(self, horizon: float, stale: float, out: Outcome | None = None) -> Outcome:
        """`drain` with its horizon (produced up to) and staleness (arrived up to, wall
        clock) worked out already."""
        if out is None:
            out = Outcome()
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
