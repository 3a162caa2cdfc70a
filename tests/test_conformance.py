"""One conformance suite run over every detector family (river's `check_estimator` in
spirit): deterministic, state survives a JSON round trip after every event, duplicates
and reordering within the allowed lateness change nothing, unknown kinds are ignored."""

from __future__ import annotations

import random
from typing import Any

import pytest
from funds_support import OTHER_ORG, SELLER, application, bank, followup, grant, invoice, tax
from support import (
    CONFIG,
    DEPOT,
    FAR_STATION,
    ZONE,
    card,
    death,
    engine,
    fuel,
    gps,
    payment,
    review,
    station,
    track,
    vehicle,
)
from typology_support import asset, place, rated_vehicle

from detectors import codec
from detectors.engine import Engine

FACTS = ("vehicle", "card", "station", "place")

UNTIL = "2026-11-01T00:00:00+08:00"


def vehicle_scenario() -> list[dict[str, Any]]:
    day = "2026-09-15"
    events = [vehicle("V1"), card("C1", "V1"), station("ST-FAR", *FAR_STATION)]
    events += track("V1", f"{day}T07:00:00+08:00", 240, 300, [DEPOT])
    events += [fuel("TX1", "C1", f"{day}T10:00:00+08:00", liters=70.0, fuel_type="0#")]
    events += track("V1", f"{day}T11:00:00+08:00", 240, 60, [DEPOT, (41.75, 123.30), DEPOT])
    events += [fuel("TX2", "C1", f"{day}T13:00:00+08:00", station_id="ST-FAR")]
    events += track("V1", f"{day}T22:20:00+08:00", 40, 60, [DEPOT, (41.80, 123.48)])
    events += [fuel("TX3", "C9", f"{day}T23:00:00+08:00", vehicle_id="V1")]
    events += track("V1", "2026-09-16T00:00:00+08:00", 120, 600, [(41.80, 123.48)])
    return events


def payee_scenario() -> list[dict[str, Any]]:
    return [
        payment("PAY-1", "P1", "2026-02-05T10:00:00+08:00", period="2026-02"),
        payment("PAY-2", "P1", "2026-03-05T10:00:00+08:00", period="2026-03"),
        payment("PAY-3", "P1", "2026-03-05T10:03:00+08:00", period="2026-03"),
        payment("PAY-4", "P2", "2026-03-05T10:04:00+08:00", period="2026-03"),
        death("P1", "2026-02-01", "2026-03-05T10:05:00+08:00"),
        payment("PAY-5", "P1", "2026-04-05T10:00:00+08:00", period="2026-04"),
    ]


def case_scenario() -> list[dict[str, Any]]:
    return [
        review("C1", "a", "enter", "2026-09-29T16:00:00+08:00", sla=3),
        review("C2", "b", "enter", "2026-09-07T10:00:00+08:00", sla=5),
        review("C2", "b", "suspend", "2026-09-09T10:00:00+08:00"),
        review("C2", "b", "resume", "2026-09-16T10:00:00+08:00"),
        review("C3", "f", "enter", "2026-10-09T10:00:00+08:00", sla=1),
        review("C3", "f", "complete", "2026-10-10T10:00:00+08:00"),
        review("C3", "f", "enter", "2026-10-12T04:40:51+08:00", sla=5),
        review("C2", "b", "complete", "2026-09-22T09:00:00+08:00"),
    ]


def org_scenario() -> list[dict[str, Any]]:
    title = "沈阳市冷链物流仓储中心建设项目"
    return [
        application("A1", "2026-03-02T10:00:00+08:00", title=title),
        application("A2", "2026-03-02T10:04:00+08:00", title=title + "。", department="科技局"),
        application("A3", "2026-03-02T10:07:00+08:00", title="浑南区集成电路封装测试示范工程"),
        application("A4", "2026-03-02T10:09:00+08:00", title="浑南区集成电路封装测试示范工程二期"),
        application("A5", "2026-03-02T10:12:00+08:00", title=title, org=SELLER),
        application("A6", "2027-03-01T10:00:00+08:00", title=title),
    ]


def project_scenario() -> list[dict[str, Any]]:
    return [
        grant("G1", "P1", "2026-06-01T10:00:00+08:00"),
        followup("F1", "P1", "report", "2026-06-01T10:05:00+08:00"),
        grant("G2", "P2", "2026-06-01T10:03:00+08:00"),
        followup("F2", "P2", "inspection", "2026-06-01T10:08:00+08:00"),
        invoice("26211000000000000009", "P2", "2026-06-01T10:09:00+08:00"),
        grant("G3", "P3", "2026-06-01T10:02:00+08:00"),
        followup("F3", "P3", "report", "2026-06-01T09:59:00+08:00"),
    ]


def invoice_scenario() -> list[dict[str, Any]]:
    one, two = "26211000000000000001", "2100103158-00000025"
    return [
        invoice(one, "P1", "2026-05-11T10:00:00+08:00", total=100.0),
        tax(one, "2026-05-11T10:03:00+08:00", total=100.0),
        invoice(one, "P2", "2026-05-11T10:04:00+08:00", total=100.0),
        tax(one, "2026-05-11T10:06:00+08:00", status="void"),
        bank("B1", one, "P1", "2026-05-11T10:07:00+08:00", amount=60.0),
        bank("B2", one, "P1", "2026-05-11T10:09:00+08:00", amount=60.0),
        bank("B3", one, "P1", "2026-05-11T10:12:00+08:00", amount=1.0),
        invoice(two, "P3", "2026-05-11T10:13:00+08:00"),
        bank("B4", two, "P3", "2026-05-11T10:15:00+08:00", payee=OTHER_ORG),
    ]


def typology_vehicle_scenario() -> list[dict[str, Any]]:
    """A stay at a scenic spot, a repeated refuel, a heavy month (refuel_repeat,
    restricted_place_stay, fuel_economy_anomaly), beside the vehicle family's own."""
    spot = (41.90, 123.50)
    events = [rated_vehicle("V2", tank=60.0, rated=9.0), card("C2", "V2"),
              place("PL1", *spot, radius_m=200.0)]
    events += track("V2", "2026-09-29T09:00:00+08:00", 60, 60, [DEPOT, spot])
    events += track("V2", "2026-09-29T10:01:00+08:00", 45, 60, [spot])
    events += [fuel("TR1", "C2", "2026-09-29T12:00:00+08:00", liters=40.0),
               fuel("TR2", "C2", "2026-09-29T13:00:00+08:00", liters=40.0),
               fuel("TR3", "C2", "2026-09-30T10:00:00+08:00", liters=30.0)]
    events += track("V2", "2026-09-30T09:00:00+08:00", 30, 120, [DEPOT])
    return events


def welfare_scenario() -> list[dict[str, Any]]:
    return [
        asset("Q1", "vehicle", "辽A1", "2026-02-01", "2026-01-10T09:00:00+08:00",
              end="2026-03-05"),
        payment("WP-1", "Q1", "2026-01-05T10:00:00+08:00"),
        payment("WP-2", "Q1", "2026-02-05T10:00:00+08:00"),
        payment("WP-3", "Q1", "2026-03-05T10:00:00+08:00"),
        payment("WP-4", "Q1", "2026-04-05T10:00:00+08:00"),
        payment("WP-5", "Q2", "2026-04-05T10:01:00+08:00"),
        payment("WP-6", "Q2", "2026-04-05T10:02:00+08:00", program="GL"),
        asset("Q2", "company", "9121", "2026-01-01", "2026-04-05T10:03:00+08:00"),
        payment("WP-7", "Q2", "2026-05-04T17:30:00Z"),
    ]


SCENARIOS = {"vehicle": vehicle_scenario, "payee": payee_scenario, "case": case_scenario,
             "org": org_scenario, "project": project_scenario, "invoice": invoice_scenario,
             "typology_vehicle": typology_vehicle_scenario, "welfare": welfare_scenario}


def in_arrival_order(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Activity events sorted by ts (registry facts first): a well-behaved stream."""
    facts = [e for e in events if e["kind"] in FACTS]
    rest = [e for e in events if e not in facts]
    return facts + sorted(rest, key=lambda e: e["ts_ms"])


def replay(events: list[dict[str, Any]], eng: Engine | None = None) -> list[dict[str, Any]]:
    eng = eng or engine()
    alerts = []
    for e in events:
        alerts += eng.process(dict(e))
    alerts += eng.advance_to(ZONE.parse(UNTIL))
    return alerts


def identity(alerts: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted(
        (a["alert_id"], a["subject"], a["severity"], a["event_ts"], a["entity"]["id"])
        for a in alerts
    )


@pytest.fixture(params=sorted(SCENARIOS))
def scenario(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return in_arrival_order(SCENARIOS[request.param]())


def test_scenario_raises_something(scenario: list[dict[str, Any]]) -> None:
    assert len(replay(scenario)) >= 3  # otherwise the properties below prove nothing


def test_typology_scenarios_raise_each_typology() -> None:
    vehicle_alerts = replay(in_arrival_order(typology_vehicle_scenario()))
    assert {a["detector"] for a in vehicle_alerts} >= {
        "refuel_repeat", "restricted_place_stay", "fuel_economy_anomaly"}
    welfare_alerts = replay(in_arrival_order(welfare_scenario()))
    assert sorted(a["subject"] for a in welfare_alerts if a["detector"] == "welfare_ineligible"
                  ) == ["WP-2", "WP-3", "WP-5", "WP-7"]


def test_deterministic(scenario: list[dict[str, Any]]) -> None:
    assert replay(scenario) == replay(scenario)


def test_alert_ids_are_unique(scenario: list[dict[str, Any]]) -> None:
    ids = [a["alert_id"] for a in replay(scenario)]
    assert len(ids) == len(set(ids))


def test_state_survives_a_json_round_trip_after_every_event(
    scenario: list[dict[str, Any]],
) -> None:
    expected = replay(scenario)
    eng = engine()
    alerts = []
    for e in scenario:
        alerts += eng.process(dict(e))
        snap = codec.loads(codec.dumps(eng.snapshot()))
        eng = engine()
        eng.restore(snap)
    alerts += eng.advance_to(ZONE.parse(UNTIL))
    assert alerts == expected


@pytest.mark.parametrize("seed", range(5))
def test_duplicates_change_nothing(scenario: list[dict[str, Any]], seed: int) -> None:
    rng = random.Random(seed)
    doubled: list[dict[str, Any]] = []
    for e in scenario:
        doubled.append(e)
        if rng.random() < 0.5:
            doubled.append(dict(e))
    # and a few redelivered a little later, still within the allowed lateness
    for e in rng.sample(scenario, k=min(5, len(scenario))):
        i = doubled.index(e)
        doubled.insert(min(len(doubled), i + 2), dict(e))
    assert identity(replay(doubled)) == identity(replay(scenario))


@pytest.mark.parametrize("seed", range(8))
def test_reordering_within_the_lateness_changes_nothing(
    scenario: list[dict[str, Any]], seed: int
) -> None:
    rng = random.Random(seed)
    lateness = CONFIG.lateness_ms
    facts = [e for e in scenario if e["kind"] in FACTS]
    rest = [e for e in scenario if e not in facts]
    # Sorting by ts + U[0, lateness) guarantees every event arrives before the clock
    # (greatest ts seen - lateness) has passed it.
    shuffled = sorted(rest, key=lambda e: e["ts_ms"] + rng.random() * (lateness - 1))
    assert identity(replay(facts + shuffled)) == identity(replay(scenario))


def test_unknown_kinds_are_ignored(scenario: list[dict[str, Any]]) -> None:
    eng = engine()
    alerts = []
    for i, e in enumerate(scenario):
        alerts += eng.process(dict(e))
        if i % 3 == 0:
            before = codec.dumps(eng.snapshot())
            alien = {"kind": "teleport", "ts_ms": e["ts_ms"] + 10**9, "x": 1}
            assert eng.process(alien) == []
            assert codec.dumps(eng.snapshot()) == before
    alerts += eng.advance_to(ZONE.parse(UNTIL))
    assert alerts == replay(scenario)


def test_gps_of_other_vehicles_does_not_leak() -> None:
    base = in_arrival_order(vehicle_scenario())
    noise = [gps(f"N{i}", e["ts"], 41.0 + i / 100, 123.0) for i, e in enumerate(base[3:40])]
    mixed = in_arrival_order(base + noise)
    assert identity(replay(mixed)) == identity(replay(base))
