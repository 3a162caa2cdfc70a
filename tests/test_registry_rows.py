"""The registry in a checkpoint: a row for each fact changed since the last one (not the
whole registry each time), written with the feed's positions in one transaction, and
restored whole; a registry written whole by an earlier build still restores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from support import ZONE, card, station, vehicle

from detectors.registry import Registry
from streams.live.checkpoint import FORMAT_VERSION, LocalStore, restore_registry

T1, T2 = "2026-01-01T00:00:00+08:00", "2026-02-01T00:00:00+08:00"


def positions_entry(offset: int, whole: Registry | None = None) -> dict[str, bytes]:
    doc: dict[str, object] = {"version": FORMAT_VERSION,
                              "positions": {"0": {"offset": offset, "last": None}}}
    if whole is not None:
        doc["registry"] = whole.snapshot()
    return {"registry": orjson.dumps(doc)}


def rows(registry: Registry) -> list[tuple[str, str, bytes]]:
    return [(k, i, orjson.dumps(v)) for k, i, v in registry.take_changed()]


def test_only_the_changed_facts_are_taken() -> None:
    registry = Registry()
    for event in (vehicle("V-1"), vehicle("V-2"), card("C-1", "V-1"), station("S-1", 41, 123)):
        registry.apply(event)
    first = registry.take_changed()
    assert {(k, i) for k, i, _v in first} == {("vehicle", "V-1"), ("vehicle", "V-2"),
                                             ("card", "C-1"), ("station", "S-1")}
    assert registry.take_changed() == []
    registry.apply(card("C-1", "V-2", ts=T2))  # a new version of one card
    assert registry.take_changed() == [("card", "C-1", registry.facts["card"]["C-1"])]
    assert [v[1]["vehicle_id"] for v in registry.facts["card"]["C-1"]] == ["V-1", "V-2"]


def test_rows_restore_the_whole_registry(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "state.sqlite")
    registry = Registry()
    for event in (vehicle("V-1"), card("C-1", "V-1"), card("C-2", "V-1")):
        registry.apply(event)
    store.write([], positions_entry(3), rows(registry))
    registry.apply(card("C-1", "V-9", status="revoked", ts=T2))
    second = rows(registry)
    assert [(k, i) for k, i, _v in second] == [("card", "C-1")]
    store.write([], positions_entry(4), second)
    found = restore_registry(store)
    assert found is not None
    restored, positions = found
    assert restored.facts == orjson.loads(orjson.dumps(registry.facts))
    assert positions == {"0": {"offset": 4, "last": None}}
    assert restored.changed == set()  # nothing to write again
    assert restored.bound_vehicle("C-1", ZONE.parse(T2)) is None
    assert restored.bound_vehicle("C-2", ZONE.parse(T2)) == "V-1"


def test_a_failed_write_keeps_nothing(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "state.sqlite")
    registry = Registry()
    registry.apply(card("C-1", "V-1"))
    registry.apply(card("C-2", "V-1"))

    def failing() -> Iterator[tuple[str, str, bytes]]:
        yield from rows(registry)[:1]
        raise RuntimeError("cut short")

    with pytest.raises(RuntimeError, match="cut short"):
        store.write([], positions_entry(1), failing())
    assert restore_registry(store) is None  # the positions were not kept either
    assert store.registry_rows() == []


def test_a_registry_written_whole_by_an_earlier_build_restores(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "state.sqlite")
    registry = Registry()
    for event in (vehicle("V-1"), card("C-1", "V-1", ts=T1)):
        registry.apply(event)
    store.write([], positions_entry(7, whole=registry))
    found = restore_registry(store)
    assert found is not None
    restored, positions = found
    assert restored.facts == orjson.loads(orjson.dumps(registry.facts))
    assert positions["0"]["offset"] == 7
    # every fact is marked changed, so the next checkpoint writes the rows
    assert restored.changed == {("vehicle", "V-1"), ("card", "C-1")}
    store.write([], positions_entry(8), rows(restored))
    again = restore_registry(store)
    assert again is not None and again[0].facts == restored.facts


def test_applying_a_fact_again_changes_nothing() -> None:
    """A checkpoint encodes its rows after the cut, so a row may hold a fact the feed
    applies again from the checkpoint's positions: applying must be idempotent."""
    events = [vehicle("V-1"), card("C-1", "V-1"), card("C-1", "V-2", ts=T2),
              card("C-1", "V-3", ts=T2), station("S-1", 41, 123)]  # a correction at T2
    once = Registry()
    for event in events:
        once.apply(event)
    twice = Registry.from_rows(orjson.loads(orjson.dumps(once.take_changed())))
    for event in events[2:]:
        twice.apply(event)
    assert twice.facts == orjson.loads(orjson.dumps(once.facts))
    assert twice.bound_vehicle("C-1", ZONE.parse(T2)) == "V-3"
