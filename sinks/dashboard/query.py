"""Filters, counts, the time chart, the unit ranking and the map layers.

All of it works on the recent alerts the store returns (newest first).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sinks.dashboard.masking import mask_alert

SEVERITY_WEIGHT = {"low": 1, "medium": 3, "high": 6, "critical": 10}
UNRESOLVED = frozenset({"open", "acknowledged"})
HOUR_MS = 3_600_000


def parse_ms(iso: Any) -> int | None:
    try:
        return int(datetime.fromisoformat(str(iso)).timestamp() * 1000)
    except (ValueError, TypeError):
        return None


@dataclass(frozen=True)
class AlertFilter:
    detector: str = ""
    severity: str = ""
    district: str = ""
    unit: str = ""
    status: str = ""
    since_hours: float = 0.0
    q: str = ""
    # a case queue: "overdue", "mine", "assignee:USER" or "queue:NAME"
    queue: str = ""

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> AlertFilter:
        try:
            since = float(query.get("since_hours") or 0)
        except ValueError:
            since = 0.0
        return cls(
            detector=query.get("detector", ""),
            severity=query.get("severity", ""),
            district=query.get("district", ""),
            unit=query.get("unit", ""),
            status=query.get("status", ""),
            since_hours=max(0.0, since),
            q=query.get("q", "").strip().lower()[:200],
            queue=query.get("queue", "")[:200],
        )

    def accepts(self, a: Mapping[str, Any], now_ms: int, masked: bool = False) -> bool:
        """``masked``: the reader sees personal ids masked, so the text search matches
        only what they see (a raw id must not be recoverable through the count)."""
        checks = (
            ("detector", self.detector), ("severity", self.severity),
            ("district", self.district), ("unit", self.unit), ("status", self.status),
        )
        for field, want in checks:
            if want and str(a.get(field, "")) not in want.split(","):
                return False
        if self.since_hours:
            raised = parse_ms(a.get("raised_at"))
            if raised is None or raised < now_ms - self.since_hours * HOUR_MS:
                return False
        if self.q:
            if masked:
                a = mask_alert(dict(a))
            hay = " ".join(str(a.get(k, "")) for k in ("alert_id", "subject", "title", "title_en"))
            hay += " " + str((a.get("entity") or {}).get("id", ""))
            if self.q not in hay.lower():
                return False
        return True


def summary(alerts: list[dict[str, Any]], now_ms: int, hours: int = 24) -> dict[str, Any]:
    """Counts, the hourly chart by severity and the unit/district ranking."""
    by_detector = Counter(str(a.get("detector")) for a in alerts)
    by_severity = Counter(str(a.get("severity")) for a in alerts)
    by_status = Counter(str(a.get("status")) for a in alerts)
    end = (now_ms // HOUR_MS + 1) * HOUR_MS
    start = end - hours * HOUR_MS
    buckets: list[dict[str, Any]] = [
        {"start_ms": start + i * HOUR_MS, "low": 0, "medium": 0, "high": 0, "critical": 0}
        for i in range(hours)
    ]
    last_hour = 0
    for a in alerts:
        raised = parse_ms(a.get("raised_at"))
        if raised is None or not start <= raised < end:
            continue
        sev = str(a.get("severity"))
        if sev in SEVERITY_WEIGHT:
            buckets[(raised - start) // HOUR_MS][sev] += 1
        if raised >= now_ms - HOUR_MS:
            last_hour += 1
    return {
        "total": len(alerts),
        "unresolved": sum(1 for a in alerts if a.get("status") in UNRESOLVED),
        "critical_open": sum(
            1 for a in alerts if a.get("status") in UNRESOLVED and a.get("severity") == "critical"
        ),
        "last_hour": last_hour,
        "by_detector": dict(by_detector.most_common()),
        "by_severity": dict(by_severity),
        "by_status": dict(by_status),
        "chart": buckets,
        "ranking": {"unit": ranking(alerts, "unit"), "district": ranking(alerts, "district")},
        "options": {
            k: sorted({str(a.get(k)) for a in alerts if a.get(k)})
            for k in ("detector", "district", "unit")
        },
    }


def ranking(alerts: Iterable[Mapping[str, Any]], field: str, top: int = 10) -> list[dict[str, Any]]:
    """Units (or districts) by severity-weighted unresolved alerts, worst first."""
    rows: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"score": 0, "open": 0, "critical": 0, "high": 0, "confirmed": 0}
    )
    for a in alerts:
        name = str(a.get(field) or "—")
        row = rows[name]
        if a.get("status") in UNRESOLVED:
            row["score"] += SEVERITY_WEIGHT.get(str(a.get("severity")), 1)
            row["open"] += 1
            if a.get("severity") in ("critical", "high"):
                row[str(a.get("severity"))] += 1
        elif a.get("status") == "confirmed":
            row["confirmed"] += 1
    ordered = sorted(rows.items(), key=lambda kv: (-kv[1]["score"], kv[0]))
    return [{"name": name, **row} for name, row in ordered[:top]]


def location(a: Mapping[str, Any]) -> tuple[float, float] | None:
    d = a.get("details") or {}
    for key in ("nearest_fix", "station"):
        p = d.get(key)
        if isinstance(p, dict) and p.get("lat") is not None:
            return float(p["lat"]), float(p["lon"])
    track = d.get("track") or []
    if track:
        return float(track[-1][1]), float(track[-1][2])
    return None


def map_layers(alerts: list[dict[str, Any]], positions: Mapping[str, Any]) -> dict[str, Any]:
    """Vehicles' last positions, stations, places and alert markers for the SVG map."""
    vehicles: dict[str, dict[str, Any]] = {}
    stations: dict[str, dict[str, Any]] = {}
    places: dict[str, dict[str, Any]] = {}
    markers = []
    for a in alerts:
        d = a.get("details") or {}
        vid = d.get("vehicle_id")
        track = d.get("track") or []
        if vid and track:
            ts, lat, lon = track[-1][0], track[-1][1], track[-1][2]
            if vid not in vehicles or vehicles[vid]["ts_ms"] < ts:
                vehicles[vid] = {"id": vid, "ts_ms": ts, "lat": lat, "lon": lon}
        st = d.get("station")
        if isinstance(st, dict) and st.get("lat") is not None:
            stations[str(st.get("id"))] = {"id": st.get("id"), "lat": st["lat"], "lon": st["lon"]}
        pl = d.get("place")
        if isinstance(pl, dict) and pl.get("lat") is not None:
            places[str(pl.get("id"))] = {k: pl.get(k) for k in
                                         ("id", "name", "category", "lat", "lon", "radius_m")}
        loc = location(a)
        if loc is not None:
            markers.append({"alert_id": a.get("alert_id"), "severity": a.get("severity"),
                            "status": a.get("status"), "detector": a.get("detector"),
                            "lat": loc[0], "lon": loc[1]})
    for vid, p in positions.items():
        ts = parse_ms(p.get("ts")) if not isinstance(p.get("ts"), int) else p.get("ts")
        if isinstance(p, dict) and p.get("lat") is not None:
            vehicles[vid] = {"id": vid, "ts_ms": ts, "lat": p["lat"], "lon": p["lon"]}
    return {"vehicles": list(vehicles.values()), "stations": list(stations.values()),
            "places": list(places.values()), "markers": markers}


def light(a: dict[str, Any]) -> dict[str, Any]:
    """The alert without its (possibly long) track, for lists and live events."""
    d = a.get("details")
    if isinstance(d, dict) and "track" in d:
        a = {**a, "details": {k: v for k, v in d.items() if k != "track"}}
    return a
