"""Alerts for the dashboard, tail and forwarder tests: the ones the engine actually raises on the
city sample (one replay per test session), never hand-made look-alikes."""

from __future__ import annotations

import copy
import io
import json
from datetime import datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from paths import CITY_SAMPLE

from detectors.base import alert_id
from streams.batch.replay import replay_files

ZONE = ZoneInfo("Asia/Shanghai")
# How long before `now` each detector's sample was raised (a day of activity, newest first).
RAISED_AGO = {
    "refuel_without_trip": timedelta(minutes=50),
    "refuel_location_mismatch": timedelta(minutes=35),
    "refuel_unverifiable": timedelta(minutes=20),
    "off_hours_use": timedelta(hours=5),
    "payment_after_death": timedelta(hours=2),
    "duplicate_payment": timedelta(hours=7),
    "review_overdue": timedelta(hours=10),
    "tank_overfill": timedelta(hours=12),
    "fuel_type_mismatch": timedelta(hours=15),
    "card_vehicle_mismatch": timedelta(hours=20),
}


def iso(dt: datetime) -> str:
    return dt.isoformat(timespec="milliseconds")


@cache
def engine_alerts() -> tuple[dict[str, Any], ...]:
    """Every alert of `sunlight replay` over the city sample, sorted by id."""
    expected = json.loads((CITY_SAMPLE / "expected.json").read_text())
    out = io.BytesIO()
    replay_files([CITY_SAMPLE / "stream.jsonl.gz"], out, until=expected["until"])
    alerts = [json.loads(line) for line in out.getvalue().splitlines()]
    # The sample's own alerts, and those of the detectors added after it was made.
    later = json.loads((CITY_SAMPLE / "expected-typologies.json").read_text())
    assert len(alerts) == len(expected["expected"]) + len(later["expected"])
    return tuple(sorted(alerts, key=lambda a: str(a["alert_id"])))


def first_of(detector: str) -> dict[str, Any]:
    return copy.deepcopy(next(a for a in engine_alerts() if a["detector"] == detector))


def sample_alerts(now: datetime | None = None) -> list[dict[str, Any]]:
    """One real alert of every detector, raised within the last day before `now`."""
    now = (now or datetime.now(ZONE)).astimezone(ZONE)
    out = []
    for detector, ago in RAISED_AGO.items():
        alert = first_of(detector)
        alert["raised_at"] = iso(now - ago)
        out.append(alert)
    return out


def make_alert(detector: str, subject: str, raised: datetime, **over: Any) -> dict[str, Any]:
    """The engine's alert with this subject if the sample raised one, else the first alert of
    `detector` given that subject (and the id the engine gives it: `detectors.base.alert_id`)."""
    found = [a for a in engine_alerts() if a["detector"] == detector and a["subject"] == subject]
    alert = copy.deepcopy(found[0]) if found else first_of(detector)
    alert.update(subject=subject, alert_id=alert_id(detector, subject), raised_at=iso(raised))
    alert.update(over)
    return alert
