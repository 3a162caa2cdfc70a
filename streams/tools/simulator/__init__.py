"""The simulated city: official vehicles with GPS and fuel cards, welfare payments and
deaths, approval cases, project funds; every detector's fraud pattern injected with its
ground truth, and look-alikes that must not alert. Seeded: the same settings give the same bytes."""

from __future__ import annotations

import random
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

from detectors.calendar import WorkCalendar, load_calendar
from detectors.config import DEFAULT_CONFIG_DIR
from streams.tools.simulator import frauds, typologies
from streams.tools.simulator.approvals import Approvals
from streams.tools.simulator.city import SimConfig, build_city, date_ms
from streams.tools.simulator.fleet import Fleet, registry
from streams.tools.simulator.funds import FUNDS_FRAUDS, FUNDS_LOOKALIKES, Funds
from streams.tools.simulator.welfare import Welfare
from streams.tools.simulator.writer import Stream, write_jsonl_gz, write_truth

__all__ = ["SimConfig", "simulate", "write"]


def simulate(config: SimConfig, calendar: WorkCalendar | None = None) -> Stream:
    """Generate the whole city in memory: lines with arrival times, and the truth."""
    if config.days < 1 or config.vehicles < 0 or config.units < 1 or config.stations < 1:
        raise ValueError("days, units and stations must be at least 1")
    cal = calendar or load_calendar(DEFAULT_CONFIG_DIR / "calendar.yaml")
    rng = random.Random(config.seed)
    city = build_city(config, rng)
    out = Stream()
    registry(city, out, config.history_ms)
    workdays = [cal.is_workday(config.start + timedelta(days=d)) for d in range(config.days)]
    rate = config.fraud_rate
    v_plan, skipped = frauds.plan_vehicles(
        random.Random(rng.getrandbits(64)), [v.exempt for v in city.vehicles], workdays, rate
    )
    p_plan, p_skipped = frauds.plan_entities(
        random.Random(rng.getrandbits(64)), frauds.PAYEE_FRAUDS, frauds.PAYEE_LOOKALIKES,
        config.recipients, rate,
    )
    c_plan, c_skipped = frauds.plan_entities(
        random.Random(rng.getrandbits(64)), frauds.CASE_FRAUDS, frauds.CASE_LOOKALIKES,
        config.cases, rate,
    )
    f_rng = random.Random(rng.getrandbits(64))
    f_plan, f_skipped = frauds.plan_entities(f_rng, FUNDS_FRAUDS, FUNDS_LOOKALIKES,
                                             config.projects, rate)
    out.skipped = skipped + p_skipped + c_skipped + f_skipped
    Fleet(city, random.Random(rng.getrandbits(64)), out, v_plan, workdays).run()
    typo_rng = random.Random(rng.getrandbits(64))
    found = typologies.places(city, typo_rng, out, config.history_ms)
    typologies.Scripted(city, typo_rng, out, workdays, found, 0).run()
    Welfare(city, random.Random(rng.getrandbits(64)), out, cal, p_plan).run()
    Approvals(city, random.Random(rng.getrandbits(64)), out, cal, c_plan).run()
    Funds(city, f_rng, out, cal, f_plan, config.projects).run()
    return out


def params(config: SimConfig) -> dict[str, Any]:
    values = asdict(config)
    values["start"] = config.start.isoformat()
    return values


def write(config: SimConfig, out_dir: Path) -> tuple[Path, Path, Stream]:
    """Write `stream.jsonl.gz` and `truth.json` into out_dir."""
    stream = simulate(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    data, truth = out_dir / "stream.jsonl.gz", out_dir / "truth.json"
    write_jsonl_gz(data, stream.ordered())
    write_truth(truth, stream.truth_doc(config.until_ms, params(config)))
    return data, truth, stream


def period_start_ms(config: SimConfig) -> int:
    return date_ms(config.start)
