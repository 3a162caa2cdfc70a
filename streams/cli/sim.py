"""Commands of the simulated city: `simulate` and `evaluate`."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from detectors.config import DEFAULT_CONFIG_DIR


def _simulate(args: argparse.Namespace) -> int:
    from streams.tools.simulator import SimConfig, write

    try:
        config = SimConfig(
            seed=args.seed, vehicles=args.vehicles, days=args.days, units=args.units,
            stations=args.stations, recipients=args.recipients, cases=args.cases,
            projects=args.projects,
            start=date.fromisoformat(args.start), fraud_rate=args.fraud_rate,
        )
    except ValueError as exc:
        print(f"sunlight simulate: {exc}", file=sys.stderr)
        return 2
    if args.live:
        from streams.kafka_options import kafka_python_options
        from streams.settings import load_settings
        from streams.tools.simulator.live import ending_today, feed

        config = ending_today(config)
        settings = load_settings(getattr(args, "config", None) or DEFAULT_CONFIG_DIR)
        prefix = settings.topic_prefix
        print(f"feeding {args.live}: {config.start} .. {config.days} days, "
              f"speed x{args.speed:g}", file=sys.stderr)
        sent = feed(config, args.live, args.speed, prefix, **kafka_python_options(settings))
        print(f"sent {sent:,} lines", file=sys.stderr)
        return 0
    if not args.out:
        print("sunlight simulate: --out DIR (or --live BOOTSTRAP) is required", file=sys.stderr)
        return 2
    try:
        data, truth, stream = write(config, Path(args.out))
    except ValueError as exc:
        print(f"sunlight simulate: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {data} ({len(stream.lines):,} lines) and {truth} "
          f"({len(stream.expected):,} expected alerts, {len(stream.lookalikes):,} look-alikes)",
          file=sys.stderr)
    if stream.skipped:
        print(f"not injected (no room in this city): {', '.join(stream.skipped)}",
              file=sys.stderr)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from streams.tools.evaluate import evaluate

    return evaluate(Path(args.alerts), Path(args.truth),
                    Path(args.json) if args.json else None)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    s = sub.add_parser("simulate", help="write a simulated city (or feed it live)")
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--vehicles", type=int, default=50)
    s.add_argument("--days", type=int, default=14)
    s.add_argument("--units", type=int, default=8)
    s.add_argument("--stations", type=int, default=20)
    s.add_argument("--recipients", type=int, default=300)
    s.add_argument("--cases", type=int, default=80)
    s.add_argument("--projects", type=int, default=40,
                   help="enterprises applying for project funds, one project each")
    s.add_argument("--start", default="2026-04-27", help="first day, YYYY-MM-DD")
    s.add_argument("--fraud-rate", type=float, default=0.1,
                   help="share of vehicles, payees and cases given a fraud pattern")
    s.add_argument("--out", help="write stream.jsonl.gz and truth.json here")
    s.add_argument("--live", metavar="BOOTSTRAP",
                   help="feed Kafka at HOST:PORT instead; the period ends today")
    s.add_argument("--speed", type=float, default=3600.0,
                   help="live: event-time speed-up factor (default 3600)")
    s.set_defaults(func=_simulate)

    e = sub.add_parser("evaluate", help="precision and recall of alerts against a truth file")
    e.add_argument("alerts", help="JSON Lines alerts (output of `sunlight replay`)")
    e.add_argument("truth", help="truth.json (or a city sample's expected.json)")
    e.add_argument("--json", help="also write the numbers here")
    e.set_defaults(func=_evaluate)
