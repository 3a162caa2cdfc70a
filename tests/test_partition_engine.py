"""A partition engine on its own (no broker): a record re-routed too often is dead-lettered,
never processed in the wrong partition; an event a detector fails on is dead-lettered once
and the partition carries on; its checkpoint metadata round-trips."""

from __future__ import annotations

import orjson
import pytest
from support import engine

from streams.live.checkpoint import Meta, Position
from streams.live.partition import MAX_HOPS, PartitionEngine
from streams.topics import ENGINE_TOPICS, partition_for

PARTITIONS = 4


def gps(vehicle: str, **extra: object) -> bytes:
    return orjson.dumps({"kind": "gps", "vehicle_id": vehicle, "ts": "2026-03-02T08:00:00+08:00",
                         "lat": 41.8, "lon": 123.4, **extra})


def other_than(p: int) -> str:
    return next(v for v in (f"V-{i}" for i in range(100)) if partition_for(v, PARTITIONS) != p)


def test_a_record_rerouted_too_often_goes_to_the_dlq_not_the_wrong_partition() -> None:
    pe = PartitionEngine(0, PARTITIONS, engine(), ENGINE_TOPICS)
    vehicle = other_than(0)
    out = pe.offer("routed", 7, gps(vehicle, _hops=MAX_HOPS))
    assert out.processed == 0 and not out.forwards
    (topic, part, offset, exc, raw) = out.rejects[0]
    assert (topic, part, offset) == ("routed", 0, 7)
    assert exc.reason == "_hops: too many re-routes"
    assert f"not at its partition ({partition_for(vehicle, PARTITIONS)}" in str(exc)
    assert pe.engine.states[0] == {}  # nothing of it reached state here
    fewer = pe.offer("routed", 8, gps(vehicle, _hops=MAX_HOPS - 1))
    assert [k for k, _e in fewer.forwards] == [vehicle] and not fewer.rejects


def test_poison_event_is_dead_lettered_once_and_the_partition_goes_on(
        monkeypatch: pytest.MonkeyPatch) -> None:
    eng = engine()
    pe = PartitionEngine(0, PARTITIONS, eng, ENGINE_TOPICS)
    vehicle = next(v for v in (f"V-{i}" for i in range(100)) if partition_for(v, 4) == 0)
    real = eng.detectors[0].on_event

    def fail(key, state, event, ctx):  # type: ignore[no-untyped-def]
        if event.get("lat") == 1.0:
            raise RuntimeError("boom")
        return real(key, state, event, ctx)

    monkeypatch.setattr(eng.detectors[0], "on_event", fail)
    bad = gps(vehicle, lat=1.0)
    first = pe.offer("gps", 3, bad)
    reasons = [(r[0], r[2], r[3].reason) for r in first.rejects]
    assert reasons == [("gps", 3, "record: engine error")]
    assert "RuntimeError: boom" in str(first.rejects[0][3])
    assert pe.new_poison == [("gps", 0, 3)]
    pe.folded.clear()  # a replay after a crash takes the record in again
    again = pe.offer("gps", 3, bad)
    assert again.rejects == []  # dead-lettered once
    good = pe.offer("gps", 4, gps(vehicle))
    assert good.processed == 1 and vehicle in eng.states[0]


def test_checkpoint_meta_round_trips() -> None:
    pe = PartitionEngine(2, PARTITIONS, engine(), ENGINE_TOPICS)
    pe.offer("gps", 41, gps("V-1"))
    meta = pe.checkpoint_meta(123, {"fuel/0": Position(5, "x")})
    back = Meta.from_bytes(meta.to_bytes())
    assert back.positions["gps"].offset == 42 and back.positions["fuel/0"].offset == 5
    assert back.positions["gps"].last == pe.last_fp["gps"]
    assert back.clock == pe.engine.clock() and back.partition == 2
    with pytest.raises(ValueError, match="format version 99"):
        Meta.from_bytes(meta.to_bytes().replace(b'"version":1', b'"version":99'))


def test_grants_taken_in_are_handed_on_for_publication_and_rejected_ones_are_not() -> None:
    project = next(f"PRJ-{i}" for i in range(100) if partition_for(f"PRJ-{i}", PARTITIONS) == 0)
    pe = PartitionEngine(0, PARTITIONS, engine(), ENGINE_TOPICS)
    grant = {"kind": "grant", "grant_id": "GR-1", "project_id": project,
             "org_id": "91210113BLAKLBKPEK", "amount_cny": 500.0,
             "ts": "2026-03-02T08:00:00+08:00", "program": "中央预算内"}
    out = pe.offer("projects", 1, orjson.dumps(grant))
    assert [g["grant_id"] for g in out.grants] == ["GR-1"] and out.gps == []
    assert out.grants[0]["program"] == "中央预算内"
    bad = pe.offer("projects", 2, orjson.dumps({**grant, "grant_id": "GR-2", "amount_cny": -1}))
    assert bad.grants == [] and len(bad.rejects) == 1
