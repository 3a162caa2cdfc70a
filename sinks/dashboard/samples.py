"""Example alerts of every detector, shaped as the contract says (tests, screenshots)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

ZONE = ZoneInfo("Asia/Shanghai")
SEVERITY = {
    "refuel_without_trip": "high",
    "refuel_location_mismatch": "high",
    "refuel_unverifiable": "low",
    "tank_overfill": "high",
    "fuel_type_mismatch": "medium",
    "card_vehicle_mismatch": "high",
    "off_hours_use": "medium",
    "payment_after_death": "critical",
    "duplicate_payment": "high",
    "review_overdue": "medium",
}
TITLES = {
    "refuel_without_trip": (
        "加油卡消费时车辆无行驶轨迹",
        "Fuel card used while the vehicle did not move",
    ),
    "refuel_location_mismatch": (
        "加油时车辆不在加油站附近",
        "Vehicle was not at the station when refuelled",
    ),
    "refuel_unverifiable": ("加油时段GPS数据缺失，无法核验", "GPS gap: refuel cannot be verified"),
    "tank_overfill": ("单次加油量超过油箱容量", "Refuel exceeds the tank capacity"),
    "fuel_type_mismatch": ("所加油品与车辆不符", "Fuel type does not match the vehicle"),
    "card_vehicle_mismatch": ("油卡与车辆绑定不符", "Fuel card not bound to this vehicle"),
    "off_hours_use": ("公车非工作时间行驶", "Official car driven off hours"),
    "payment_after_death": ("死亡人员仍在领取补贴", "Subsidy paid after the payee's death"),
    "duplicate_payment": ("同一期补贴重复发放", "Subsidy paid twice for one period"),
    "review_overdue": ("审批环节超过法定时限", "Approval step past its legal deadline"),
}


def iso(dt: datetime) -> str:
    return dt.isoformat(timespec="milliseconds")


def make_alert(detector: str, subject: str, raised: datetime, **over: Any) -> dict[str, Any]:
    digest = hashlib.sha256(f"{detector}\x00{subject}".encode()).hexdigest()[:16]
    title, title_en = TITLES[detector]
    alert: dict[str, Any] = {
        "alert_id": f"{detector}:{digest}",
        "detector": detector,
        "subject": subject,
        "severity": SEVERITY[detector],
        "entity": {"kind": "vehicle", "id": "LN-A-0042"},
        "event_ts": iso(raised - timedelta(hours=1)),
        "raised_at": iso(raised),
        "title": title,
        "title_en": title_en,
        "details": {},
        "evidence": [],
        "unit": "市发改委",
        "district": "沈河区",
        "rule": {"name": detector, "version": "1"},
    }
    alert.update(over)
    return alert


def _track(t0: datetime, points: list[tuple[float, float]], step_min: int = 5) -> list[list[Any]]:
    return [
        [int((t0 + timedelta(minutes=i * step_min)).timestamp() * 1000), lat, lon]
        for i, (lat, lon) in enumerate(points)
    ]


def sample_alerts(now: datetime | None = None) -> list[dict[str, Any]]:
    now = (now or datetime.now(ZONE)).astimezone(ZONE).replace(microsecond=0)
    t = now - timedelta(hours=3)
    win = [iso(t - timedelta(minutes=120)), iso(t + timedelta(minutes=60))]
    still = _track(
        t - timedelta(minutes=120), [(41.7968 + 0.00005 * (i % 3), 123.4510) for i in range(37)]
    )
    moving = _track(
        t - timedelta(minutes=120), [(41.76 + 0.0016 * i, 123.40 + 0.0021 * i) for i in range(37)]
    )
    gap_track = _track(t - timedelta(minutes=120), [(41.83, 123.47)] * 6, 5)
    station = {"id": "ST-017", "lat": 41.8012, "lon": 123.4585}
    fuel_ev = lambda txn: [{"kind": "fuel", "id": txn, "ts": iso(t)}]  # noqa: E731
    out = [
        make_alert(
            "refuel_without_trip",
            "TXN-000183",
            now - timedelta(minutes=50),
            event_ts=iso(t),
            evidence=fuel_ev("TXN-000183"),
            details={
                "vehicle_id": "LN-A-0042",
                "window": win,
                "path_km": 0.03,
                "gaps": [],
                "station": station,
                "nearest_fix": None,
                "track": still,
            },
        ),
        make_alert(
            "refuel_location_mismatch",
            "TXN-000207",
            now - timedelta(minutes=35),
            event_ts=iso(t),
            evidence=fuel_ev("TXN-000207"),
            entity={"kind": "vehicle", "id": "LN-A-0117"},
            unit="市交通局",
            district="和平区",
            details={
                "vehicle_id": "LN-A-0117",
                "window": win,
                "path_km": 11.8,
                "gaps": [],
                "station": {"id": "ST-044", "lat": 41.832, "lon": 123.428},
                "track": moving,
                "nearest_fix": {
                    "ts": iso(t),
                    "lat": moving[24][1],
                    "lon": moving[24][2],
                    "distance_km": 4.21,
                },
            },
        ),
        make_alert(
            "refuel_unverifiable",
            "TXN-000231",
            now - timedelta(minutes=20),
            event_ts=iso(t),
            evidence=fuel_ev("TXN-000231"),
            entity={"kind": "vehicle", "id": "LN-A-0203"},
            unit="市城管局",
            district="大东区",
            details={
                "vehicle_id": "LN-A-0203",
                "window": win,
                "path_km": 0.0,
                "gaps": [[iso(t - timedelta(minutes=95)), iso(t + timedelta(minutes=60))]],
                "station": None,
                "nearest_fix": None,
                "track": gap_track,
            },
        ),
        make_alert(
            "off_hours_use",
            f"LN-A-0042/{(now - timedelta(days=1)).date()}",
            now - timedelta(hours=5),
            details={
                "vehicle_id": "LN-A-0042",
                "date": str((now - timedelta(days=1)).date()),
                "off_hours_km": 37.5,
                "track": _track(
                    (now - timedelta(days=1)).replace(hour=22, minute=10),
                    [(41.80 + 0.004 * i, 123.43 - 0.003 * i) for i in range(20)],
                ),
            },
        ),
        make_alert(
            "payment_after_death",
            "PAY-2026-0031877",
            now - timedelta(hours=2),
            entity={"kind": "payee", "id": "P00123457"},
            unit="市民政局",
            district="皇姑区",
            evidence=[
                {"kind": "payment", "id": "PAY-2026-0031877", "ts": iso(t)},
                {"kind": "death", "id": "P00123457", "ts": "2025-10-12T00:00:00+08:00"},
            ],
            details={
                "payee_id": "P00123457",
                "date_of_death": "2025-10-12",
                "payment_date": str(t.date()),
                "days_after_death": (t.date() - datetime(2025, 10, 12).date()).days,
                "program": "高龄津贴",
                "period": "2026-02",
                "amount_cny": 300.0,
                "death_recorded": "2026-01-20",
            },
        ),
        make_alert(
            "duplicate_payment",
            "PAY-2026-0032001",
            now - timedelta(hours=7),
            entity={"kind": "payee", "id": "P00988121"},
            unit="市民政局",
            district="铁西区",
            details={
                "payee_id": "P00988121",
                "program": "低保",
                "period": "2026-02",
                "other_payment_id": "PAY-2026-0030100",
                "other_ts": iso(t - timedelta(days=9)),
                "amount_cny": 780.0,
            },
        ),
        make_alert(
            "review_overdue",
            "CASE-7781/复核",
            now - timedelta(hours=10),
            entity={"kind": "case", "id": "CASE-7781"},
            unit="市市场监管局",
            district="浑南区",
            details={
                "case_id": "CASE-7781",
                "node": "复核",
                "entry": 1,
                "sla_working_days": 5,
                "entered": "2026-04-29T09:30:00+08:00",
                "deadline": "2026-05-12T00:00:00+08:00",
                "timeline": [
                    {"action": "enter", "ts": "2026-04-29T09:30:00+08:00"},
                    {"action": "suspend", "ts": "2026-05-06T10:00:00+08:00"},
                    {"action": "resume", "ts": "2026-05-07T09:00:00+08:00"},
                ],
                "skipped_days": [
                    "2026-05-01",
                    "2026-05-02",
                    "2026-05-03",
                    "2026-05-04",
                    "2026-05-05",
                    "2026-05-10",
                ],
            },
        ),
        make_alert(
            "tank_overfill",
            "TXN-000260",
            now - timedelta(hours=12),
            entity={"kind": "vehicle", "id": "LN-A-0311"},
            unit="市水务局",
            district="于洪区",
            details={"liters": 92.0, "tank_liters": 60.0, "ratio": 1.533},
        ),
        make_alert(
            "fuel_type_mismatch",
            "TXN-000275",
            now - timedelta(hours=15),
            entity={"kind": "vehicle", "id": "LN-A-0090"},
            district="沈北新区",
            details={
                "fuel_type": "0#柴油",
                "fuel_family": "diesel",
                "vehicle_fuel_type": "gasoline",
            },
        ),
        make_alert(
            "card_vehicle_mismatch",
            "TXN-000288",
            now - timedelta(hours=20),
            entity={"kind": "card", "id": "CARD-55120"},
            unit="市交通局",
            district="和平区",
            details={
                "card_id": "CARD-55120",
                "bound_vehicle": "LN-A-0117",
                "plate_keyed": "辽A·9K771",
                "binding_status": "active",
            },
        ),
    ]
    return out
