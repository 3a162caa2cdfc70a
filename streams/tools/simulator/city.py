"""The city: its settings, time helpers, and the entities (units, depots, stations,
vehicles, cards, welfare recipients). Everything is drawn from one seeded generator."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from math import cos, radians

from detectors.geo import distance_km

OFFSET_MS = 8 * 3_600_000  # Asia/Shanghai: +08:00 all year (no DST since 1991)
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
_EPOCH = date(1970, 1, 1).toordinal()
M_PER_DEG = 111_195.0
CENTER = (41.8057, 123.4315)  # Shenyang
CITY_RADIUS_M = 9_000.0

UNIT_NAMES = [
    "市发改委", "市财政局", "市教育局", "市卫健委", "市交通局", "市公安局", "市城管局",
    "市民政局", "市住建局", "市水务局", "市农业农村局", "市生态环境局",
]
DISTRICTS = ["沈河区", "和平区", "大东区", "皇姑区", "铁西区", "浑南区", "于洪区", "沈北新区"]
Point = tuple[float, float]


@dataclass(frozen=True)
class SimConfig:
    seed: int = 1
    vehicles: int = 50
    days: int = 14
    units: int = 8
    stations: int = 20
    recipients: int = 300
    cases: int = 80
    projects: int = 40  # enterprises, each with an application and a funded project
    start: date = date(2026, 4, 27)
    fraud_rate: float = 0.1
    history_days: int = 90  # payments and approval cases also run this long before `start`

    @property
    def start_ms(self) -> int:
        return date_ms(self.start)

    @property
    def until_ms(self) -> int:
        return date_ms(self.start + timedelta(days=self.days))

    @property
    def history_ms(self) -> int:
        return date_ms(self.start - timedelta(days=self.history_days))


def date_ms(d: date) -> int:
    """The instant of local midnight starting date `d`."""
    return (d.toordinal() - _EPOCH) * DAY_MS - OFFSET_MS


def local_date(ms: int) -> date:
    return date.fromordinal((ms + OFFSET_MS) // DAY_MS + _EPOCH)


_DAY_TEXT: dict[int, str] = {}


def iso(ms: int) -> str:
    """`2026-03-02T08:15:00+08:00` (whole seconds)."""
    local = ms + OFFSET_MS
    day, rem = divmod(local, DAY_MS)
    text = _DAY_TEXT.get(day)
    if text is None:
        text = _DAY_TEXT[day] = date.fromordinal(day + _EPOCH).isoformat()
    secs = rem // 1000
    h, rest = divmod(secs, 3600)
    m, s = divmod(rest, 60)
    return f"{text}T{h:02d}:{m:02d}:{s:02d}+08:00"


def move(p: Point, east_m: float, north_m: float) -> Point:
    lat = p[0] + north_m / M_PER_DEG
    lon = p[1] + east_m / (M_PER_DEG * cos(radians(p[0])))
    return (lat, lon)


def km(a: Point, b: Point) -> float:
    return distance_km(a[0], a[1], b[0], b[1])


def random_point(rng: random.Random, around: Point = CENTER,
                 radius_m: float = CITY_RADIUS_M) -> Point:
    while True:
        x, y = rng.uniform(-radius_m, radius_m), rng.uniform(-radius_m, radius_m)
        if x * x + y * y <= radius_m * radius_m:
            return move(around, x, y)


@dataclass
class Unit:
    name: str
    district: str
    depot: Point


@dataclass
class Station:
    station_id: str
    point: Point
    name: str


@dataclass
class Vehicle:
    vehicle_id: str
    unit: Unit
    home: Point  # its parking place at the depot
    tank: float
    fuel_type: str  # gasoline | diesel
    exempt: bool
    card_id: str
    per_km: float  # litres per km
    level: float  # litres in the tank


@dataclass
class Recipient:
    payee_id: str
    district: str
    programs: list[str]


@dataclass
class City:
    config: SimConfig
    units: list[Unit]
    stations: list[Station]
    vehicles: list[Vehicle]
    recipients: list[Recipient]
    extra_cards: dict[str, int] = field(default_factory=dict)  # vehicle -> cards issued

    def near_stations(self, p: Point, min_km: float = 2.0, k: int = 3) -> list[Station]:
        """The k stations nearest to p among those at least min_km away."""
        far = [s for s in self.stations if km(p, s.point) >= min_km]
        far.sort(key=lambda s: km(p, s.point))
        return far[:k] or sorted(self.stations, key=lambda s: -km(p, s.point))[:1]


PROGRAMS = {"DB": 780.0, "TK": 1100.0, "GL": 200.0, "CJ": 150.0}  # monthly amount


def build_city(config: SimConfig, rng: random.Random) -> City:
    units = []
    for i in range(config.units):
        name = UNIT_NAMES[i] if i < len(UNIT_NAMES) else f"单位{i:02d}"
        units.append(Unit(name, DISTRICTS[i % len(DISTRICTS)],
                          random_point(rng, radius_m=5_000.0)))
    stations = [
        Station(f"ST-{i:03d}", random_point(rng), f"加油站{i:03d}")
        for i in range(config.stations)
    ]
    n_exempt = max(1, round(config.vehicles * 0.1))
    vehicles = []
    for i in range(config.vehicles):
        unit = units[i % len(units)]
        diesel = rng.random() < 0.2
        tank = float(rng.choice([75, 80]) if diesel else rng.choice([50, 55, 60, 65]))
        vid = f"LN-A-{i:04d}"
        vehicles.append(Vehicle(
            vehicle_id=vid,
            unit=unit,
            home=move(unit.depot, rng.uniform(-40, 40), rng.uniform(-40, 40)),
            tank=tank,
            fuel_type="diesel" if diesel else "gasoline",
            exempt=i >= config.vehicles - n_exempt,
            card_id=f"CARD-{i:05d}",
            per_km=rng.uniform(0.08, 0.13),
            level=tank * rng.uniform(0.25, 0.95),
        ))
    recipients = []
    names = list(PROGRAMS)
    for i in range(config.recipients):
        k = 1 if rng.random() < 0.7 else 2
        recipients.append(Recipient(f"P{i:06d}", rng.choice(DISTRICTS),
                                    sorted(rng.sample(names, k))))
    return City(config, units, stations, vehicles, recipients)
