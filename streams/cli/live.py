"""Commands of the live system: worker, produce, up, demo."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pydantic loads only for the commands that read the settings
    from streams.settings import Settings


def _settings(args: argparse.Namespace) -> Settings:
    from streams.settings import load_settings

    return load_settings(args.config)


def _worker(args: argparse.Namespace) -> int:
    from streams.kafka_options import aiokafka_options, kafka_python_options
    from streams.live.app import create_app
    from streams.live.membership import leave_previous, member_path
    from streams.live.worker import Worker
    from streams.tools.embedded import create_topics
    from streams.topics import ALL_TOPICS, topic_configs

    settings = _settings(args)
    create_topics(settings.kafka_bootstrap, [settings.topic(t) for t in ALL_TOPICS],
                  settings.partitions, topic_configs(settings.topic_prefix),
                  **kafka_python_options(settings))
    level = "INFO" if args.verbose else settings.log_level.upper()
    logging.basicConfig(level=level)
    # a worker killed before this one leaves the group now, not when its session expires
    # (on a loop of its own: asyncio.run would leave none for Faust's worker)
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(leave_previous(
            settings.kafka_bootstrap, settings.app_id,
            member_path(settings.data_dir, settings.app_id), **aiokafka_options(settings)))
    finally:
        loop.close()
    app = create_app(settings)
    Worker(app, loglevel=level, quiet=True).execute_from_commandline()
    return 0


def _produce(args: argparse.Namespace) -> int:
    from streams.kafka_options import kafka_python_options
    from streams.tools.producer import produce

    settings = _settings(args)
    sent = produce([Path(p) for p in args.inputs], args.broker or settings.kafka_bootstrap,
                   settings.topic_prefix, speed=args.speed, rate=args.rate, batch=args.batch,
                   **kafka_python_options(settings))
    print(f"sent {sent:,} lines", file=sys.stderr)
    return 0


def _up(args: argparse.Namespace, feed_files: list[Path] | None = None,
        simulate: bool = False) -> int:

    from streams.tools.runtime import run_up

    settings = _settings(args)
    settings = settings.with_(
        metrics_port=args.metrics_port or settings.metrics_port,
        dashboard_port=args.dashboard_port or settings.dashboard_port,
    )
    feed = None
    if feed_files:
        def feed(s: Settings) -> None:
            from streams.tools.producer import produce

            produce(feed_files, s.kafka_bootstrap, s.topic_prefix, rate=args.rate)
    elif simulate:
        def feed(s: Settings) -> None:
            from streams.tools.simulator import SimConfig
            from streams.tools.simulator.live import ending_today
            from streams.tools.simulator.live import feed as sim_feed

            config = ending_today(SimConfig(seed=args.seed))
            sim_feed(config, s.kafka_bootstrap, speed=args.speed, topic_prefix=s.topic_prefix)

    demo = simulate or bool(feed_files) or getattr(args, "demo", False)
    return run_up(settings, feed, kafka_port=args.kafka_port, redis_port=args.redis_port,
                  demo=demo)


def _demo(args: argparse.Namespace) -> int:
    """`up` plus the simulated city (its last two weeks, ending today, at --speed), or
    replay files given on the command line."""
    files = [Path(p) for p in args.inputs]
    for f in files:
        if not f.exists():
            print(f"sunlight demo: {f}: no such file", file=sys.stderr)
            return 2
    return _up(args, files or None, simulate=not files)


def _bench(args: argparse.Namespace) -> int:
    from streams.tools.bench.suite import SECTIONS, main

    only = tuple(args.only.split(",")) if args.only else SECTIONS
    unknown = set(only) - set(SECTIONS)
    if unknown:
        print(f"sunlight bench: --only: {', '.join(sorted(unknown))} is not one of "
              f"{', '.join(SECTIONS)}", file=sys.stderr)
        return 2
    return main(Path(args.out) if args.out else None, quick=args.quick, only=only)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    b = sub.add_parser("bench", help="measure throughput and latency beside references")
    b.add_argument("--out", help="write the results as JSON here")
    b.add_argument("--quick", action="store_true", help="smaller inputs")
    b.add_argument("--only", help="comma-separated sections: replay, workers, places, "
                   "funds, memory, scaling, live, latency, live1 (one event a record: "
                   "throughput and tank_overfill latency beside references), recovery, "
                   "checkpoints "
                   "(default: all)")
    b.set_defaults(func=_bench)

    w = sub.add_parser("worker", help="run one Faust worker against Kafka and Redis")
    w.add_argument("-v", "--verbose", action="store_true")
    w.set_defaults(func=_worker)

    p = sub.add_parser("produce", help="send replay files to the topics")
    p.add_argument("inputs", nargs="+")
    p.add_argument("--broker", help="HOST:PORT (default: the configured bootstrap)")
    pace = p.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=float, help="event-time speed-up factor")
    pace.add_argument("--rate", type=float, help="events per second")
    p.add_argument("--batch", type=int, default=1, help="events per record (batch envelopes)")
    p.set_defaults(func=_produce)

    for name, func, text in (("up", _up, "run the whole system on this machine"),
                             ("demo", _demo, "`up` plus the simulated city feeding it")):
        u = sub.add_parser(name, help=text)
        u.add_argument("--kafka-port", type=int, default=9092)
        u.add_argument("--redis-port", type=int, default=6379)
        u.add_argument("--metrics-port", type=int, default=None)
        u.add_argument("--dashboard-port", type=int, default=None)
        if name == "up":
            u.add_argument("--demo", action="store_true",
                           help="accept the shipped demo logins of config/dashboard.yaml")
        if name == "demo":
            u.add_argument("inputs", nargs="*",
                           help="replay files to feed (default: the simulated city)")
            u.add_argument("--rate", type=float, default=5000.0,
                           help="events per second, for replay files")
            u.add_argument("--speed", type=float, default=3600.0,
                           help="simulated city: event time per wall second")
            u.add_argument("--seed", type=int, default=1, help="simulated city: seed")
        u.set_defaults(func=func)
