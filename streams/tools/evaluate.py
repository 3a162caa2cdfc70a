"""`sunlight evaluate ALERTS TRUTH`: precision and recall per detector.

ALERTS is the JSON Lines output of `sunlight replay`; TRUTH a `truth.json` of the
simulator (or any file of that shape: `{"expected": [{"detector", "subject", "note"}]}`).
An alert matches a truth entry with the same (detector, subject). A detector with
neither alerts nor expected entries scores 1.0 on both.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

DETECTORS = [
    "refuel_without_trip", "refuel_location_mismatch", "refuel_unverifiable",
    "tank_overfill", "fuel_type_mismatch", "card_vehicle_mismatch", "off_hours_use",
    "payment_after_death", "duplicate_payment", "review_overdue",
    "refuel_repeat", "restricted_place_stay", "fuel_economy_anomaly", "welfare_ineligible",
    "duplicate_application", "funds_idle", "inspection_overdue", "invoice_unverified",
    "invoice_mismatch", "invoice_reused", "invoice_unpaid", "payment_invoice_mismatch",
]
Key = tuple[str, str]


@dataclass
class Row:
    detector: str
    expected: int
    alerts: int
    matched: int

    @property
    def precision(self) -> float:
        return self.matched / self.alerts if self.alerts else float(self.expected == 0)

    @property
    def recall(self) -> float:
        return self.matched / self.expected if self.expected else 1.0


@dataclass
class Report:
    rows: list[Row]
    misses: list[dict[str, Any]] = field(default_factory=list)
    false_alerts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def perfect(self) -> bool:
        return all(r.precision == 1.0 and r.recall == 1.0 for r in self.rows)

    def as_dict(self) -> dict[str, Any]:
        return {
            "perfect": self.perfect,
            "detectors": {
                r.detector: {"expected": r.expected, "alerts": r.alerts, "matched": r.matched,
                             "precision": r.precision, "recall": r.recall}
                for r in self.rows
            },
            "misses": self.misses,
            "false_alerts": self.false_alerts,
        }


def load_alerts(path: Path) -> dict[Key, dict[str, Any]]:
    """(detector, subject) -> the alert (one per key: alert ids are unique per key)."""
    found: dict[Key, dict[str, Any]] = {}
    with path.open("rb") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                alert = orjson.loads(line)
                found.setdefault((alert["detector"], alert["subject"]), alert)
            except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{n}: not an alert ({exc})") from None
    return found


def load_truth(path: Path) -> dict[Key, dict[str, Any]]:
    doc = orjson.loads(path.read_bytes())
    entries = doc.get("expected") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f"{path}: no 'expected' list")
    return {(e["detector"], e["subject"]): e for e in entries}


def score(alerts: dict[Key, dict[str, Any]], truth: dict[Key, dict[str, Any]]) -> Report:
    seen = {k[0] for k in alerts} | {k[0] for k in truth}
    names = DETECTORS + sorted(seen - set(DETECTORS))
    rows = []
    for name in names:
        a = {k for k in alerts if k[0] == name}
        t = {k for k in truth if k[0] == name}
        rows.append(Row(name, len(t), len(a), len(a & t)))
    misses = [dict(truth[k]) for k in sorted(truth.keys() - alerts.keys())]
    false_alerts = []
    for k in sorted(alerts.keys() - truth.keys()):
        alert = alerts[k]
        false_alerts.append({
            "detector": k[0], "subject": k[1], "event_ts": alert.get("event_ts"),
            "entity": alert.get("entity"), "title": alert.get("title"),
        })
    return Report(rows, misses, false_alerts)


def render(report: Report) -> str:
    head = f"{'detector':<26} {'expected':>8} {'alerts':>7} {'matched':>7} {'precision':>9} " \
           f"{'recall':>7}"
    lines = [head, "-" * len(head)]
    for r in report.rows:
        lines.append(f"{r.detector:<26} {r.expected:>8} {r.alerts:>7} {r.matched:>7} "
                     f"{r.precision:>9.3f} {r.recall:>7.3f}")
    total_e = sum(r.expected for r in report.rows)
    total_a = sum(r.alerts for r in report.rows)
    total_m = sum(r.matched for r in report.rows)
    lines.append("-" * len(head))
    lines.append(f"{'all':<26} {total_e:>8} {total_a:>7} {total_m:>7}")
    lines.append(f"misses: {len(report.misses)}")
    for m in report.misses:
        lines.append(f"  {m['detector']:<26} {m['subject']}  {m.get('note', '')}")
    lines.append(f"false alerts: {len(report.false_alerts)}")
    for fa in report.false_alerts:
        lines.append(f"  {fa['detector']:<26} {fa['subject']}  {fa.get('event_ts') or ''}")
    return "\n".join(lines)


def evaluate(alerts_path: Path, truth_path: Path, json_out: Path | None = None) -> int:
    """Print the report; 0 when precision and recall are 1.0 for every detector."""
    try:
        report = score(load_alerts(alerts_path), load_truth(truth_path))
    except (OSError, ValueError, KeyError) as exc:
        print(f"sunlight evaluate: {exc}", file=sys.stderr)
        return 2
    print(render(report))
    if json_out is not None:
        json_out.write_bytes(orjson.dumps(report.as_dict(), option=orjson.OPT_INDENT_2) + b"\n")
    return 0 if report.perfect else 1
