"""`PartitionEngine.fold` (a chunk of records in one loop) against the same records offered
and drained one at a time (`_fold_each`, the loop it replaced): the same output (alerts,
rejects with their reasons, forwards, counts, fixes), state, held events, clock and failed
records, over every kind of record a partition meets: one event, a batch, bad JSON, a bad
event, a batch too large, a record too large, an event of another partition, one re-routed
too often, a poison event, a record whose clock move fails and a redelivered one."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from support import engine

from detectors.events import MAX_BATCH
from streams.live.batch import _fold_each
from streams.live.engine import SOURCES
from streams.live.partition import MAX_HOPS, Outcome, PartitionEngine
from streams.topics import partition_for

PARTITIONS = 4
T0 = 1_789_000_000_000  # event time of the first fix
CREATED = 1_800_000_000_000  # CreateTime of the first record


def fix(vehicle: str, i: int, **extra: Any) -> dict[str, Any]:
    return {"kind": "gps", "vehicle_id": vehicle, "ts": T0 + i * 15_000,
            "lat": 41.8 + i / 1000, "lon": 123.4, **extra}


def vehicles(p: int, home: bool) -> list[str]:
    return [v for v in (f"V-{i}" for i in range(200))
            if (partition_for(v, PARTITIONS) == p) == home]


def chunk(p: int) -> list[SimpleNamespace]:
    mine, theirs = vehicles(p, True), vehicles(p, False)
    values: list[bytes] = []
    for i in range(40):
        values.append(orjson.dumps(fix(mine[i % 5], i)))
    values += [
        orjson.dumps(fix(theirs[0], 40)),  # forwarded to its partition
        orjson.dumps([fix(mine[0], 41), fix(mine[1], 41, lat=999.0), fix(theirs[1], 41)]),
        b"{not json",
        b"42",
        b"null",
        b"",
        orjson.dumps([{}] * (MAX_BATCH + 1)),
        b'{"pad": "' + b"x" * (1 << 20) + b'"}',
        orjson.dumps(fix(mine[2], 42, lat=1.0)),  # the detector fails on it (poison)
        orjson.dumps(fix(mine[3], 43, _hops=MAX_HOPS)),  # home: taken in
        orjson.dumps(fix(theirs[2], 43, _hops=MAX_HOPS)),  # re-routed too often
        orjson.dumps({"kind": "payment"}),
        orjson.dumps(fix(mine[4], 99)),  # its clock move fails
    ]
    for i in range(44, 70):
        values.append(orjson.dumps(fix(mine[i % 5], i)))
    # several records in one millisecond, as a busy producer stamps them
    return [SimpleNamespace(offset=100 + n, value=v, timestamp=CREATED + n // 3)
            for n, v in enumerate(values)]


def partition(p: int, monkeypatch: pytest.MonkeyPatch) -> PartitionEngine:
    ticks = iter(range(1_000_000))  # each wall reading a second later
    pe = PartitionEngine(p, PARTITIONS, engine(), SOURCES, max_wait_s=5.0,
                         wall=lambda: float(next(ticks)))
    pe.folded["gps"] = 99
    det = pe.engine.detectors[0]
    real = det.on_event

    def on_event(key, state, event, ctx):  # type: ignore[no-untyped-def]
        if event.get("lat") == 1.0:
            raise RuntimeError("boom")
        return real(key, state, event, ctx)

    monkeypatch.setattr(det, "on_event", on_event)
    see_ts = pe.engine.see_ts

    def failing_see_ts(ts: int) -> list[Any]:
        if ts == T0 + 99 * 15_000:
            raise RuntimeError("clock")
        return see_ts(ts)

    monkeypatch.setattr(pe.engine, "see_ts", failing_see_ts)
    return pe


def outcome(out: Outcome) -> dict[str, Any]:
    return {"alerts": out.alerts, "forwards": out.forwards, "kinds": out.kinds,
            "processed": out.processed, "gps": out.gps, "grants": out.grants,
            "rejects": [(t, q, o, str(e), e.reason, raw) for t, q, o, e, raw in out.rejects]}


def state(pe: PartitionEngine) -> dict[str, Any]:
    return {"clock": pe.engine.clock(), "states": pe.engine.states, "folded": pe.folded,
            "last_fp": pe.last_fp, "last_produced": pe.last_produced, "pending": pe.pending,
            "last_input": pe.last_input, "poisoned": pe.poisoned,
            "new_poison": pe.new_poison, "wall": pe.wall()}


@pytest.mark.parametrize("high", [None, 170, 140])  # unknown, behind then at the end, ahead
@pytest.mark.parametrize("others_behind", [False, True])
def test_a_chunk_folded_in_one_loop_is_each_record_offered_and_drained(
        monkeypatch: pytest.MonkeyPatch, high: int | None, others_behind: bool) -> None:
    p = 1
    records = chunk(p)
    at_end = float(CREATED + 5)  # the last poll, less the margin: behind the last records
    results = []
    for fold in ("each", "loop"):
        pe = partition(p, monkeypatch)
        out = Outcome()
        # the first records again after them: a redelivery, skipped
        chunk_ = records + records[-1:] + records[:3]
        if fold == "each":
            taken, failed = _fold_each(pe, "gps", chunk_, high, at_end, float("inf"),
                                       others_behind, out)
        else:
            done = pe.fold("gps", chunk_, high, at_end, float("inf"), others_behind, out)
            assert done is not None
            taken, failed = done
        results.append((outcome(out), state(pe), [r.offset for r in taken],
                        [r.offset for r in failed]))
    each, loop = results
    assert each[0]["processed"] > 60 and len(each[0]["rejects"]) >= 7 and each[0]["forwards"]
    assert any(pending for pending in each[1]["pending"].values()) or high == 140
    # the record whose clock move failed (none moves it when held past the end, behind)
    assert len(each[3]) == (0 if high == 140 and others_behind else 1), each[3]
    assert loop == each
