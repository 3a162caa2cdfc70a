"""A checkpoint holds only the keys changed since the last one (`Engine.begin_cut`): a
restore from those rows must carry on exactly as an engine that never stopped.

Every sample is replayed twice: once straight through, and once checkpointed every few
hundred events into a store of encoded rows and restored into a fresh engine from that
store alone. Any state change a detector makes without it being marked dirty (in place,
timer unmoved) is lost in the second run and shows as a missing or different alert.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from paths import CITY_SAMPLE, FUNDS_SAMPLE, TYPOLOGY_SAMPLE

from detectors.config import load_config
from detectors.engine import Engine, Row
from detectors.registry import Registry
from streams.batch.replay import DEFAULT_CONFIG_DIR, Replay
from streams.live import state_codec

CONFIG = load_config(DEFAULT_CONFIG_DIR)


def identity(alert: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in alert.items() if k != "raised_at"}


def straight(sample: Path, until_ms: int) -> list[dict[str, Any]]:
    replay = Replay(CONFIG)
    engine = replay.engine
    engine.clock_end = until_ms
    alerts = []
    for event in replay.read(sample / "stream.jsonl.gz"):
        alerts += engine.process(event)
    alerts += engine.advance_to(until_ms)
    return [identity(a) for a in alerts]


def stored(store: dict[tuple[str, str], bytes], rows: list[Row]) -> None:
    """A checkpoint's rows into the store (a tombstone deletes)."""
    for detector, key, value in rows:
        if value is None:
            store.pop((detector, key), None)
        else:
            store[(detector, key)] = value


def restored(store: dict[tuple[str, str], bytes], clock: dict[str, Any],
             registry: dict[str, Any], until_ms: int) -> Engine:
    """A fresh engine from a checkpoint's rows, clock and registry alone."""
    fresh = Replay(CONFIG).engine
    fresh.clock_end = until_ms
    for (detector, key), raw in store.items():
        fresh.load_state(detector, key, state_codec.decode(raw))
    fresh.set_clock(clock)
    fresh.registry.facts = Registry.restore(registry).facts
    return fresh


def checkpointed(sample: Path, until_ms: int, every: int
                 ) -> tuple[list[dict[str, Any]], int]:
    store: dict[tuple[str, str], bytes] = {}
    replay = Replay(CONFIG)
    engine = replay.engine
    engine.clock_end = until_ms
    alerts, restores = [], 0
    for n, event in enumerate(Replay(CONFIG).read(sample / "stream.jsonl.gz"), 1):
        alerts += engine.process(event)
        if n % every:
            continue
        engine.begin_cut(state_codec.encode)  # taken whole at once
        stored(store, engine.end_cut())
        engine = restored(store, json.loads(json.dumps(engine.clock())),
                          json.loads(json.dumps(engine.registry.snapshot())), until_ms)
        restores += 1
    alerts += engine.advance_to(until_ms)
    return [identity(a) for a in alerts], restores


def assert_same(want: list[dict[str, Any]], got: list[dict[str, Any]], after: str) -> None:
    missing = [a for a in want if a not in got]
    extra = [a for a in got if a not in want]
    assert not missing and not extra, (
        f"{len(missing)} missing, {len(extra)} extra after {after}: "
        f"{[(a['detector'], a['subject']) for a in missing[:5]]} "
        f"{[(a['detector'], a['subject']) for a in extra[:5]]}")


# events between checkpoints (primes: the cuts fall everywhere)
@pytest.mark.parametrize(("sample", "every"),
                         [(CITY_SAMPLE, 397), (FUNDS_SAMPLE, 13), (TYPOLOGY_SAMPLE, 293)],
                         ids=["city", "funds", "typology"])
def test_restoring_from_changed_keys_gives_the_same_alerts(sample: Path, every: int) -> None:
    expected = json.loads((sample / "expected.json").read_text())
    until_ms = Replay(CONFIG).zone.parse(expected["until"])
    want = straight(sample, until_ms)
    got, restores = checkpointed(sample, until_ms, every)
    assert restores >= 10
    assert len(want) >= len(expected["expected"])
    assert_same(want, got, "restores from changed keys")


def lazily_checkpointed(sample: Path, until_ms: int, every: int, lag: int
                        ) -> tuple[list[dict[str, Any]], int]:
    """As `checkpointed`, but each checkpoint is a lazy cut (`Engine.begin_cut`): the
    engine goes on with `lag` more events, a few keys encoded between them, before the
    cut's rows are stored; the restored engine then takes those events again. A key that
    changed after the cut but was stored as it is later (not as it was at the cut) counts
    its events twice, and shows as alerts that differ from the first time."""
    store: dict[tuple[str, str], bytes] = {}
    engine = Replay(CONFIG).engine
    engine.clock_end = until_ms
    alerts: list[dict[str, Any]] = []
    restores = 0
    after: list[dict[str, Any]] = []  # events since the cut
    raised_after: list[dict[str, Any]] = []  # and what they raised
    at_cut: tuple[dict[str, Any], Any] | None = None  # clock and registry at the cut
    for n, event in enumerate(Replay(CONFIG).read(sample / "stream.jsonl.gz"), 1):
        raised = [identity(a) for a in engine.process(event)]
        alerts += raised
        if at_cut is not None:
            after.append(event)
            raised_after += raised
            engine.cut_some(2)
            if len(after) < lag:
                continue
            stored(store, engine.end_cut())
            fresh = restored(store, *at_cut, until_ms)
            again = [identity(a) for e in after for a in fresh.process(e)]
            assert again == raised_after, (n, again[:3], raised_after[:3])
            engine, restores, at_cut, after, raised_after = fresh, restores + 1, None, [], []
        elif n % every == 0:
            at_cut = (json.loads(json.dumps(engine.clock())),
                      json.loads(json.dumps(engine.registry.snapshot())))
            engine.begin_cut(state_codec.encode)
    if at_cut is not None:
        engine.end_cut()
    alerts += [identity(a) for a in engine.advance_to(until_ms)]
    return alerts, restores


@pytest.mark.parametrize(("sample", "every", "lag"),
                         [(CITY_SAMPLE, 397, 61), (FUNDS_SAMPLE, 13, 5),
                          (TYPOLOGY_SAMPLE, 293, 47)],
                         ids=["city", "funds", "typology"])
def test_a_lazy_cut_stores_each_key_as_it_was_at_the_cut(sample: Path, every: int,
                                                         lag: int) -> None:
    expected = json.loads((sample / "expected.json").read_text())
    until_ms = Replay(CONFIG).zone.parse(expected["until"])
    want = straight(sample, until_ms)
    got, restores = lazily_checkpointed(sample, until_ms, every, lag)
    assert restores >= 10
    assert_same(want, got, "restores from lazy cuts")


def test_an_abandoned_cut_leaves_its_keys_for_the_next_checkpoint() -> None:
    replay = Replay(CONFIG)
    engine = replay.engine
    events = list(replay.read(CITY_SAMPLE / "stream.jsonl.gz"))[:500]
    for event in events[:250]:
        engine.process(event)
    engine.begin_cut(state_codec.encode)
    engine.cut_some(3)
    keys = {(d, k) for d, k, _v in engine.cut.rows} | {  # type: ignore[union-attr]
        (engine.detectors[i].name, k) for i, ks in enumerate(engine.cut.pending)  # type: ignore[union-attr]
        for k in ks}
    assert keys
    engine.abandon_cut()
    assert engine.cut is None
    assert {(engine.detectors[i].name, k) for i, ks in enumerate(engine.dirty)
            for k in ks} == keys
