"""The engine: routes decoded events to keyed detector state, keeps the event-time
clock, fires per-key timers, and returns the alerts. No I/O: replay and the live workers
drive the same engine.

The clock is the greatest activity `ts` seen, less the allowed lateness; registry facts
(effective-from times) do not move it. `advance_to` moves it explicitly (the end of a
replay, or the wall clock while input is idle).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from detectors.applications import ApplicationDetector
from detectors.base import Alert, Context, Detector, State
from detectors.calendar import WorkCalendar
from detectors.config import EngineConfig
from detectors.events import Event, Rejected
from detectors.invoices import InvoiceDetector
from detectors.payments import PayeeDetector
from detectors.projects import ProjectDetector
from detectors.registry import Registry
from detectors.reviews import ReviewDetector, node_sla
from detectors.timeutil import Zone
from detectors.vehicle import VehicleDetector

SNAPSHOT_VERSION = 2  # 2: vehicle tracks packed (detectors.track), serialised by codec
CLOCK_KINDS = frozenset({"gps", "fuel", "payment", "review"})  # activity moves the clock
# Project funds: all six kinds are activity (contract/funds.md).
CLOCK_KINDS |= {"application", "grant", "followup", "invoice", "tax_invoice", "bank_payment"}
# Reference facts that go to the registry, not to a detector.
_REGISTRY_APPLIED = frozenset({"vehicle", "card", "station", "place"})
# The kinds `Engine.check` has rules for (replay's GPS fast path skips the call).
CHECKED_KINDS = frozenset({"review"})


def default_detectors() -> list[Detector]:
    return [VehicleDetector(), PayeeDetector(), ReviewDetector(),
            ApplicationDetector(), ProjectDetector(), InvoiceDetector()]


Row = tuple[str, str, bytes | None]  # (detector, key, encoded state or None when dropped)


@dataclass
class Cut:
    """A checkpoint taken lazily: the keys still to encode, and the rows encoded so far."""

    encode: Callable[[State], bytes]
    pending: list[set[str]]
    rows: list[Row] = field(default_factory=list)


class Engine:
    def __init__(
        self,
        config: EngineConfig,
        calendar: WorkCalendar,
        wall_ms: Callable[[], int],
        detectors: Iterable[Detector] | None = None,
        registry: Registry | None = None,
    ) -> None:
        self.config = config
        self.zone = Zone(config.zone)
        # A live worker shares one registry (a broadcast of reference facts) among its
        # partitions; replay gives each engine its own.
        self.registry = registry if registry is not None else Registry()
        self.ctx = Context(config, self.zone, calendar, self.registry, wall_ms)
        self.detectors = list(detectors) if detectors is not None else default_detectors()
        self.by_kind: dict[str, list[int]] = {}
        for i, det in enumerate(self.detectors):
            for kind in det.kinds:
                self.by_kind.setdefault(kind, []).append(i)
        self.states: list[dict[str, State]] = [{} for _ in self.detectors]
        # kind -> (index, detector, its states) of the detectors it goes to, built once
        self.routes: dict[str, list[tuple[int, Detector, dict[str, State]]]] = {
            kind: [(i, self.detectors[i], self.states[i]) for i in indexes]
            for kind, indexes in self.by_kind.items()
        }
        self.scheduled: list[dict[str, int]] = [{} for _ in self.detectors]
        # Keys changed since the last `begin_cut` (a checkpoint writes only these, as Kafka
        # Streams' record cache flushes one record per dirty key per commit).
        self.dirty: list[set[str]] = [set() for _ in self.detectors]
        self.cut: Cut | None = None  # a checkpoint under way (see `begin_cut`)
        self.heap: list[tuple[int, int, str]] = []
        self.max_ts: int | None = None
        self.watermark_ms: int = 0
        self.clock_end: int | None = None  # replay's --until: the clock never passes it
        # A shard of a parallel replay keeps only its keys of the events every shard sees
        # (None: every key is ours), and logs each timer it fires to order its alerts.
        self.owns: Callable[[str], bool] | None = None
        self.fire_log: list[tuple[int, int, str, int]] | None = None

    # --- input -----------------------------------------------------------------------

    def check(self, event: Event) -> None:
        """Rules that need configuration, beyond the decoder's (kinds in CHECKED_KINDS)."""
        if (
            event["kind"] == "review"
            and event["action"] == "enter"
            and node_sla(event.get("sla_working_days"), event["node"], self.ctx) is None
        ):
            raise Rejected(
                "sla_working_days",
                "required",
                f"is required on enter (no default for node {event['node']!r})",
            )

    def process(self, event: Event, advance: bool = True) -> list[Alert]:
        """Fold one decoded event in; return the alerts it and the clock raise.

        With `advance=False` the event changes state (and raises its on-arrival alerts)
        but leaves the clock alone: a live worker moves the clock with `see_ts` only once
        every source is known complete up to the event.
        """
        ctx = self.ctx
        kind = event["kind"]
        if kind in _REGISTRY_APPLIED:
            self.registry.apply(event)
            return self._drain()
        if advance and kind in CLOCK_KINDS:
            ts = event["ts_ms"]
            max_ts = self.max_ts
            if max_ts is None or ts > max_ts:
                self._see(ts)
        owns = self.owns
        for i, det, states in self.routes.get(kind, ()):
            key = det.key(event, ctx)
            if key is None or (owns is not None and not owns(key)):
                continue
            if self.cut is not None:
                self._save(i, key)
            old = states.get(key)
            due_was = None if old is None else det.next_timer(old, ctx)
            new = det.on_event(key, old, event, ctx)
            # The common case: the state changed in place and its timer did not move, so
            # the stored state and the scheduled timer (always next_timer of the state)
            # are current already; the key is still changed for the next checkpoint.
            if new is None or new is not old or det.next_timer(new, ctx) != due_was:
                self._store(i, key, new)
            else:
                self.dirty[i].add(key)
        if advance:
            heap = self.heap
            if heap and heap[0][0] <= self.watermark_ms:
                self._fire_timers()
        alerts = ctx.alerts
        if alerts:
            ctx.alerts = []
        return alerts

    def see_ts(self, ts_ms: int) -> list[Alert]:
        """Move the clock as an activity event of this ts would, and fire what is due."""
        self._see(ts_ms)
        self._fire_timers()
        return self._drain()

    def _see(self, ts_ms: int) -> None:
        if self.max_ts is None or ts_ms > self.max_ts:
            self.max_ts = ts_ms
            ms = ts_ms - self.config.lateness_ms
            if ms > self.watermark_ms and (self.clock_end is None or ms <= self.clock_end):
                self.watermark_ms = ms  # _set_watermark's common case, inline
                self.ctx.watermark_ms = ms
            else:
                self._set_watermark(ms)

    def advance_to(self, watermark_ms: int) -> list[Alert]:
        """Move the clock forward (never back) and make every decision due by then."""
        self._set_watermark(watermark_ms)
        self._fire_timers()
        return self._drain()

    # --- clock and timers --------------------------------------------------------------

    def _set_watermark(self, ms: int) -> None:
        if self.clock_end is not None and ms > self.clock_end:
            ms = self.clock_end
        if ms > self.watermark_ms:
            self.watermark_ms = ms
            self.ctx.watermark_ms = ms

    def _store(self, i: int, key: str, state: State | None, dirty: bool = True) -> None:
        det = self.detectors[i]
        if dirty:
            self.dirty[i].add(key)
        if state is None:
            self.states[i].pop(key, None)
            self.scheduled[i].pop(key, None)
            return
        self.states[i][key] = state
        due = det.next_timer(state, self.ctx)
        sched = self.scheduled[i]
        if due is None:
            sched.pop(key, None)
        elif sched.get(key) != due:
            sched[key] = due
            heapq.heappush(self.heap, (due, i, key))

    def _fire_timers(self) -> None:
        heap, wm = self.heap, self.watermark_ms
        while heap and heap[0][0] <= wm:
            due, i, key = heapq.heappop(heap)
            if self.scheduled[i].get(key) != due:
                continue  # superseded
            del self.scheduled[i][key]
            state = self.states[i].get(key)
            if state is None:
                continue
            if self.fire_log is not None:
                self.fire_log.append((due, i, key, len(self.ctx.alerts)))
            if self.cut is not None:
                self._save(i, key)
            self._store(i, key, self.detectors[i].on_timer(key, state, self.ctx))

    def _drain(self) -> list[Alert]:
        alerts = self.ctx.alerts
        if not alerts:
            return alerts
        self.ctx.alerts = []
        return alerts

    # --- snapshots -----------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Everything needed to carry on after a restart; `codec.dumps` serialises it
        (plain JSON but for the packed GPS tracks) and `codec.loads` reads it back."""
        return {
            "version": SNAPSHOT_VERSION,
            "max_ts": self.max_ts,
            "watermark_ms": self.watermark_ms,
            "registry": self.registry.snapshot(),
            "states": {det.name: self.states[i] for i, det in enumerate(self.detectors)},
        }

    def begin_cut(self, encode: Callable[[State], bytes]) -> None:
        """Begin a checkpoint of every key changed since the last one, as it is now,
        without serialising it now (copy on write): `cut_some` encodes its keys a few at
        a time, and a key is encoded just before anything changes it. Keys changed from
        now on belong to the next checkpoint."""
        if self.cut is not None:
            raise RuntimeError("a checkpoint is under way already")
        self.cut = Cut(encode, self.dirty)
        self.dirty = [set() for _ in self.detectors]

    def cut_some(self, limit: int) -> bool:
        """Encode up to `limit` more keys of the cut; True once all are."""
        cut = self.cut
        if cut is None:
            return True
        for i, pending in enumerate(cut.pending):
            while pending:
                if limit <= 0:
                    return False
                self._encode(cut, i, pending.pop())  # pop: O(1), unlike next(iter(...))
                limit -= 1
        return True

    def end_cut(self) -> list[Row]:
        """The cut's rows, every key of it encoded; the cut is over."""
        while not self.cut_some(1 << 30):
            pass
        cut, self.cut = self.cut, None
        return [] if cut is None else cut.rows

    def abandon_cut(self) -> None:
        """Give the cut up: its keys count as changed again, for the next checkpoint."""
        cut, self.cut = self.cut, None
        if cut is None:
            return
        index = {det.name: i for i, det in enumerate(self.detectors)}
        for i, pending in enumerate(cut.pending):
            self.dirty[i] |= pending
        for name, key, _value in cut.rows:
            self.dirty[index[name]].add(key)

    def _save(self, i: int, key: str) -> None:
        """Before key `key` of detector `i` changes: encode it into the cut if the cut
        still needs it."""
        cut = self.cut
        if cut is None or key not in cut.pending[i]:
            return
        cut.pending[i].discard(key)
        self._encode(cut, i, key)

    def _encode(self, cut: Cut, i: int, key: str) -> None:
        state = self.states[i].get(key)
        cut.rows.append((self.detectors[i].name, key,
                         None if state is None else cut.encode(state)))

    def mark_all_dirty(self) -> None:
        for i, states in enumerate(self.states):
            self.dirty[i] = set(states)

    def load_state(self, detector: str, key: str, state: State) -> None:
        """Put one key's state back (a restore); its timer is scheduled, nothing is dirty."""
        for i, det in enumerate(self.detectors):
            if det.name == detector:
                self._store(i, key, state, dirty=False)
                return
        raise ValueError(f"state of unknown detector {detector!r}")

    def clock(self) -> dict[str, int | None]:
        return {"max_ts": self.max_ts, "watermark_ms": self.watermark_ms}

    def set_clock(self, clock: dict[str, Any]) -> None:
        self.max_ts = clock.get("max_ts")
        self._set_watermark(int(clock.get("watermark_ms") or 0))

    def restore(self, snap: dict[str, Any]) -> None:
        if snap.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"snapshot version {snap.get('version')!r} is not supported")
        self.max_ts = snap["max_ts"]
        self.watermark_ms = 0
        self._set_watermark(snap["watermark_ms"])
        self.registry.facts = Registry.restore(snap["registry"]).facts
        self.heap.clear()
        for i, det in enumerate(self.detectors):
            kept = list(snap["states"].get(det.name, {}).items())  # may be our own dict
            self.states[i].clear()  # in place: the routes hold these dicts
            self.scheduled[i].clear()
            self.dirty[i] = set()
            for key, state in kept:
                self._store(i, key, state, dirty=False)
