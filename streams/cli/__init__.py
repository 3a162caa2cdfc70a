"""The `sunlight` command: `replay` here, and each command group registered from its room
(`live`: worker, produce, up, demo, bench; `sim`: simulate, evaluate; `ops`: dashboard,
audit, alerts, forward)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from streams.cli import live, ops, sim
from streams.settings_env import config_dir_from_env


def _replay(args: argparse.Namespace) -> int:
    from detectors.config import load_config
    from detectors.timeutil import Zone
    from streams.batch.replay import replay_files
    from streams.settings_env import engine_overrides

    paths = [Path(p) for p in args.inputs]
    for p in paths:
        if not p.exists():
            print(f"sunlight replay: {p}: no such file", file=sys.stderr)
            return 2
    out = open(args.out, "wb") if args.out else sys.stdout.buffer  # noqa: SIM115
    dlq = open(args.dlq, "wb") if args.dlq else None  # noqa: SIM115
    try:
        # Only the engine's settings: replay reads no Kafka or Redis setting.
        config = load_config(args.config, dict(engine_overrides()))
        if args.workers > 1:
            from streams.batch.parallel import replay_parallel

            until_ms = Zone(config.zone).parse(args.until) if args.until is not None else None
            stats = replay_parallel(paths, out, args.workers, config, args.config, until_ms, dlq)
        else:
            stats = replay_files(paths, out, until=args.until, dlq=dlq,
                                 config_dir=args.config, config=config)
    except ValueError as exc:
        print(f"sunlight replay: {exc}", file=sys.stderr)
        return 2
    finally:
        out.flush()
        if args.out:
            out.close()
        if dlq is not None:
            dlq.close()
    print(stats.summary(), file=sys.stderr)
    return 0


def _positive(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n} is not a positive number of workers")
    return n


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sunlight", description="Sunlight: real-time supervision of public money and assets."
    )
    parser.add_argument(
        "--config", type=Path, default=config_dir_from_env(),
        help="configuration folder (env SUNLIGHT_CONFIG; default: the one shipped in the package)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    rp = sub.add_parser("replay", help="run the detectors over JSON Lines files")
    rp.add_argument("inputs", nargs="+", help=".jsonl or .jsonl.gz files")
    rp.add_argument("--out", help="write alerts here (default: stdout)")
    rp.add_argument("--until", help="end of the clock (default: the greatest ts)")
    rp.add_argument("--dlq", help="write rejected lines with their reasons here")
    rp.add_argument("--workers", type=_positive, default=1,
                    help="processes, the input sharded by key as live partitions it "
                         "(default 1); the same alerts in the same order")
    rp.set_defaults(func=_replay)

    live.register(sub)
    sim.register(sub)
    ops.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result

