"""Typed, frozen configuration of the detection engine, loaded once from `config/`.

`config/sunlight.yaml` holds the engine settings (zone, clock, GPS window); each detector
has its own `config/detectors/<name>.yaml` (severity, titles, the real case it comes from,
and every number of its rule). Nothing here reads the environment: callers pass overrides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from detectors.timeutil import MINUTE_MS

DETECTORS = (
    "refuel_without_trip",
    "refuel_location_mismatch",
    "refuel_unverifiable",
    "tank_overfill",
    "fuel_type_mismatch",
    "card_vehicle_mismatch",
    "off_hours_use",
    "payment_after_death",
    "duplicate_payment",
    "review_overdue",
    # project funds (contract/funds.md)
    "duplicate_application",
    "funds_idle",
    "inspection_overdue",
    "invoice_unverified",
    "invoice_mismatch",
    "invoice_reused",
    "invoice_unpaid",
    "payment_invoice_mismatch",
    "refuel_repeat",
    "restricted_place_stay",
    "fuel_economy_anomaly",
    "welfare_ineligible",
)
SEVERITIES = ("low", "medium", "high", "critical")


def _default_config_dir() -> Path:
    """The configuration shipped with the package (`config/`, installed as `sunlight_config`)."""
    try:
        from importlib.resources import files

        return Path(str(files("sunlight_config")))
    except ModuleNotFoundError:  # a source tree that was never installed
        return Path(__file__).resolve().parent.parent / "config"


DEFAULT_CONFIG_DIR = _default_config_dir()


@dataclass(frozen=True)
class Rule:
    name: str
    version: str
    severity: str
    title: str
    title_en: str
    case: str = ""
    enabled: bool = True
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def num(self, key: str) -> float:
        value = self.params.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{self.name}.params.{key}: expected a number, got {value!r}")
        return float(value)

    def names(self, key: str) -> frozenset[str]:
        """A list setting of names (categories, programmes, asset kinds)."""
        value = self.params.get(key)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{self.name}.params.{key}: expected a list of names, got {value!r}")
        return frozenset(value)


@dataclass(frozen=True)
class EngineConfig:
    zone: str = "Asia/Shanghai"
    lateness_ms: int = 10 * MINUTE_MS
    idle_advance_ms: int = 60_000
    jitter_km: float = 0.05
    fuel_before_ms: int = 120 * MINUTE_MS
    fuel_after_ms: int = 60 * MINUTE_MS
    fuel_gap_ms: int = 45 * MINUTE_MS
    fuel_grace_ms: int = 120 * MINUTE_MS
    track_retention_ms: int = 6 * 60 * MINUTE_MS
    rules: Mapping[str, Rule] = field(default_factory=lambda: MappingProxyType({}))

    def rule(self, name: str) -> Rule:
        return self.rules[name]

    def enabled(self, name: str) -> bool:
        rule = self.rules.get(name)
        return rule is not None and rule.enabled


def _rule_from(data: Mapping[str, Any], source: str) -> Rule:
    for key in ("name", "version", "severity", "title", "title_en"):
        if key not in data:
            raise ValueError(f"{source}: {key} is required")
    severity = str(data["severity"])
    if severity not in SEVERITIES:
        raise ValueError(f"{source}: severity {severity!r} is not one of {SEVERITIES}")
    params = data.get("params") or {}
    if not isinstance(params, dict):
        raise ValueError(f"{source}: params must be a mapping, got {params!r}")
    return Rule(
        name=str(data["name"]),
        version=str(data["version"]),
        severity=severity,
        title=str(data["title"]),
        title_en=str(data["title_en"]),
        case=str(data.get("case", "")).strip(),
        enabled=bool(data.get("enabled", True)),
        params=MappingProxyType(dict(params)),
    )


def _minutes(data: Mapping[str, Any], key: str, default_ms: int) -> int:
    value = data.get(key)
    if value is None:
        return default_ms
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"sunlight.yaml: {key} must be a non-negative number, got {value!r}")
    return int(value * MINUTE_MS)


def load_config(
    config_dir: str | Path = DEFAULT_CONFIG_DIR, overrides: Mapping[str, Any] | None = None
) -> EngineConfig:
    """Read `sunlight.yaml` (section `engine`) and every `detectors/*.yaml`."""
    root = Path(config_dir)
    main_file = root / "sunlight.yaml"
    doc: dict[str, Any] = {}
    if main_file.exists():
        doc = yaml.safe_load(main_file.read_text(encoding="utf-8")) or {}
    eng: dict[str, Any] = dict(doc.get("engine") or {})
    eng.update(overrides or {})
    rules: dict[str, Rule] = {}
    for path in sorted((root / "detectors").glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        rule = _rule_from(data, path.name)
        rules[rule.name] = rule
    missing = [name for name in DETECTORS if name not in rules]
    if missing:
        raise ValueError(f"{root / 'detectors'}: no rule file for {', '.join(missing)}")
    base = EngineConfig()
    return replace(
        base,
        zone=str(eng.get("zone", base.zone)),
        lateness_ms=_minutes(eng, "allowed_lateness_min", base.lateness_ms),
        idle_advance_ms=int(float(eng.get("idle_advance_s", 60)) * 1000),
        jitter_km=float(eng.get("gps_jitter_m", 50)) / 1000,
        fuel_before_ms=_minutes(eng, "fuel_window_before_min", base.fuel_before_ms),
        fuel_after_ms=_minutes(eng, "fuel_window_after_min", base.fuel_after_ms),
        fuel_gap_ms=_minutes(eng, "fuel_gap_min", base.fuel_gap_ms),
        fuel_grace_ms=_minutes(eng, "fuel_late_grace_min", base.fuel_grace_ms),
        track_retention_ms=_minutes(eng, "track_retention_min", base.track_retention_ms),
        rules=MappingProxyType(rules),
    )
