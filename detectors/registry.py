"""Time-versioned reference facts: vehicles, fuel cards, stations, places.

Every fact is an upsert effective from its `ts`; a lookup asks for the fact as it was at
an instant (a card binding as it was at the transaction). The registry is JSON-compatible
so it can be snapshotted with the rest of the state.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections.abc import Iterable
from typing import Any

from detectors.events import Event
from detectors.places import PlaceIndex

Record = dict[str, Any]
# Only these fields of each kind are kept.
_FIELDS: dict[str, tuple[str, ...]] = {
    "vehicle": ("unit", "tank_liters", "fuel_type", "district", "exempt_off_hours",
                "rated_l_per_100km"),
    "card": ("vehicle_id", "status", "unit"),
    "station": ("lat", "lon", "name"),
    "place": ("name", "category", "lat", "lon", "radius_m"),
}
_ID = {"vehicle": "vehicle_id", "card": "card_id", "station": "station_id",
       "place": "place_id"}


class Registry:
    def __init__(self) -> None:
        # kind -> id -> sorted list of [ts_ms, record]
        self.facts: dict[str, dict[str, list[list[Any]]]] = {k: {} for k in _FIELDS}
        self._index: PlaceIndex | None = None
        self._indexed: object = None  # the place facts the index was built from
        # (kind, id) of the facts changed since `take_changed`: a checkpoint writes those
        self.changed: set[tuple[str, str]] = set()

    def apply(self, event: Event) -> bool:
        """Record a vehicle, card or station fact; False for other kinds."""
        kind = event["kind"]
        fields = _FIELDS.get(kind)
        if fields is None:
            return False
        record = {f: event[f] for f in fields if event.get(f) is not None}
        ident = event[_ID[kind]]
        versions = self.facts[kind].setdefault(ident, [])
        self.changed.add((kind, ident))
        ts = event["ts_ms"]
        if kind == "place" and self._index is not None and self._indexed is self.facts["place"]:
            self._index.add(event["place_id"], record)
        for version in versions:
            if version[0] == ts:  # a repeat or a correction of the same version
                version[1] = record
                return True
        insort(versions, [ts, record], key=lambda v: v[0])
        return True

    def place_index(self, cell_m: float) -> PlaceIndex:
        """The grid over every place version, kept up to date as places arrive (rebuilt
        when the facts were replaced, e.g. by a restore)."""
        places = self.facts.setdefault("place", {})
        index = self._index
        if index is None or self._indexed is not places or index.cell_m != cell_m:
            index = PlaceIndex(cell_m)
            for place_id, versions in places.items():
                for _ts, record in versions:
                    index.add(place_id, record)
            self._index, self._indexed = index, places
        return index

    def place_versions(self, place_id: str) -> list[list[Any]]:
        return self.facts["place"][place_id]

    def _at(self, kind: str, ident: str, ts_ms: int, fallback_earliest: bool) -> Record | None:
        versions = self.facts[kind].get(ident)
        if not versions:
            return None
        i = bisect_right(versions, ts_ms, key=lambda v: v[0])
        if i == 0:
            return versions[0][1] if fallback_earliest else None
        record: Record = versions[i - 1][1]
        return record

    def vehicle_at(self, vehicle_id: str, ts_ms: int) -> Record | None:
        """A vehicle as at `ts_ms`; before its first record, its first record.

        A vehicle's tank and fuel type do not begin with its registration record, so a
        transaction that predates the record is still checked against it.
        """
        return self._at("vehicle", vehicle_id, ts_ms, fallback_earliest=True)

    def station_at(self, station_id: str, ts_ms: int) -> Record | None:
        return self._at("station", station_id, ts_ms, fallback_earliest=True)

    def card_at(self, card_id: str, ts_ms: int) -> Record | None:
        """The card's binding in force at `ts_ms` (strictly: no binding before its ts)."""
        return self._at("card", card_id, ts_ms, fallback_earliest=False)

    def bound_vehicle(self, card_id: str, ts_ms: int) -> str | None:
        """The vehicle an active binding ties the card to at `ts_ms`, else None."""
        record = self.card_at(card_id, ts_ms)
        if record is None or record.get("status", "active") != "active":
            return None
        vehicle: str = record["vehicle_id"]
        return vehicle

    def snapshot(self) -> dict[str, Any]:
        return {"facts": self.facts}

    def take_changed(self) -> list[tuple[str, str, list[list[Any]]]]:
        """The facts changed since the last call, each (kind, id, its versions); the
        caller gives back the ones it could not store (`changed.update`)."""
        changed, self.changed = self.changed, set()
        return [(kind, ident, self.facts[kind][ident]) for kind, ident in changed]

    def mark_all_changed(self) -> None:
        self.changed = {(kind, ident) for kind, by_id in self.facts.items() for ident in by_id}

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, str, list[list[Any]]]]) -> Registry:
        """A registry from its facts one identity at a time, as `take_changed` gives them."""
        reg = cls()
        for kind, ident, versions in rows:
            reg.facts.setdefault(kind, {})[ident] = versions
        return reg

    @classmethod
    def restore(cls, snap: dict[str, Any]) -> Registry:
        reg = cls()
        for kind, by_id in snap.get("facts", {}).items():
            reg.facts[kind] = by_id
        return reg
