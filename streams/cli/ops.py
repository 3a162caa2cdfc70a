"""Operator subcommands: ``dashboard``, ``audit verify``, ``alerts tail``, ``forward``.

``register(sub)`` adds them to the main ``sunlight`` parser; each sets
``func`` to a callable taking the parsed namespace and returning an exit code.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from detectors.config import DEFAULT_CONFIG_DIR

if TYPE_CHECKING:  # redis (and its asyncio), pydantic: only for the commands that use them
    from redis.asyncio import Redis

    from streams.settings import Settings


def _run(coro: Any) -> Any:
    import asyncio  # on use: `sunlight replay` needs none of it

    return asyncio.run(coro)


async def _forever() -> None:
    import asyncio

    await asyncio.Event().wait()


def settings(args: argparse.Namespace) -> Settings:
    """The one settings object (config folder + SUNLIGHT_* environment), with --redis and
    --prefix taking precedence."""
    from streams.settings import check_redis_url, load_settings

    s = load_settings(getattr(args, "config", None) or DEFAULT_CONFIG_DIR)
    return s.with_(redis_url=check_redis_url(args.redis or s.redis_url),
                   redis_prefix=getattr(args, "prefix", None) or s.redis_prefix)


def redis_client(s: Settings) -> Redis:
    from sinks.redis_client import async_redis

    return async_redis(s.redis_url, s.redis_tls_ca, decode_responses=True)


def dashboard_config_path(args: argparse.Namespace) -> str | None:
    """--dashboard-config, else dashboard.yaml of the --config folder when it has one."""
    if args.dashboard_config:
        return str(args.dashboard_config)
    folder = getattr(args, "config", None)
    if folder is not None and (Path(folder) / "dashboard.yaml").exists():
        return str(Path(folder) / "dashboard.yaml")
    return None


def dashboard_bind(args: argparse.Namespace) -> tuple[str, int]:
    """--host/--port, else SUNLIGHT_DASHBOARD_HOST/PORT: loopback unless told otherwise."""
    from streams.settings import load_settings

    worker = load_settings(getattr(args, "config", None) or DEFAULT_CONFIG_DIR)
    return args.host or worker.dashboard_host, args.port or worker.dashboard_port


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--redis", default=None, help="Redis URL (env SUNLIGHT_REDIS_URL)")
    p.add_argument("--prefix", default=None, help="key prefix (env SUNLIGHT_REDIS_PREFIX)")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("dashboard", help="serve the control-room dashboard")
    _common(p)
    p.add_argument("--host", default=None,
                   help="bind address (env SUNLIGHT_DASHBOARD_HOST; default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None,
                   help="port (env SUNLIGHT_DASHBOARD_PORT; default 8080)")
    p.add_argument("--dashboard-config", default=None,
                   help="dashboard.yaml: users, forwarders (default: dashboard.yaml of --config)")
    p.add_argument("--demo", action="store_true",
                   help="accept the shipped demo logins (as `sunlight demo` does)")
    p.set_defaults(func=cmd_dashboard)

    audit = sub.add_parser("audit", help="audit ledger of case actions")
    audit_sub = audit.add_subparsers(dest="audit_cmd", required=True)
    p = audit_sub.add_parser("verify", help="check the hash chain")
    _common(p)
    p.set_defaults(func=cmd_audit_verify)

    alerts = sub.add_parser("alerts", help="alert subscribers")
    alerts_sub = alerts.add_subparsers(dest="alerts_cmd", required=True)
    p = alerts_sub.add_parser("tail", help="print alerts as JSON lines (consumer group)")
    _common(p)
    p.add_argument("--group", default="tail")
    p.add_argument("--consumer", default="tail-1")
    p.add_argument("--detector", action="append", default=[], help="repeatable")
    p.add_argument("--min-severity", default="low",
                   choices=["low", "medium", "high", "critical"])
    p.add_argument("--from-start", action="store_true",
                   help="a new group starts at the first alert (default: new alerts only)")
    p.add_argument("--idle-exit", type=float, default=None, metavar="SECONDS")
    p.add_argument("--max", type=int, default=None, dest="max_alerts")
    p.set_defaults(func=cmd_alerts_tail)

    p = sub.add_parser("forward", help="forward alerts to Alertmanager / webhooks")
    _common(p)
    p.add_argument("--dashboard-config", default=None,
                   help="dashboard.yaml with the forwarders section")
    p.add_argument("--group", default="forwarders")
    p.add_argument("--consumer", default="forwarder-1")
    p.add_argument("--idle-exit", type=float, default=None, metavar="SECONDS")
    p.set_defaults(func=cmd_forward)


def cmd_dashboard(args: argparse.Namespace) -> int:
    from sinks.audit import AuditKeyMissing
    from sinks.audit_anchor import KafkaAnchor
    from sinks.dashboard.app import bound_url, start_dashboard
    from sinks.dashboard.config import ConfigError, DashboardConfig, refuse_shipped_passwords
    from sinks.dashboard.report_sink import KafkaReportSink
    from streams.kafka_options import aiokafka_options

    s = settings(args)
    problems: list[str] = []  # every reason to refuse, not just the first
    try:
        config = DashboardConfig.load(dashboard_config_path(args))
        refuse_shipped_passwords(config, args.demo)
    except ConfigError as exc:
        problems.append(str(exc))
    if not s.audit_key:
        problems.append(str(AuditKeyMissing()))
    if problems:
        for problem in problems:
            print(f"sunlight dashboard: {problem}", file=sys.stderr)
        return 2
    host, port = dashboard_bind(args)
    sink = KafkaReportSink(s.kafka_bootstrap, s.topic("reports"), **aiokafka_options(s))

    async def run() -> None:
        anchor = KafkaAnchor(s.kafka_bootstrap, s.topic("audit"), aiokafka_options(s))
        runner = await start_dashboard(s.redis_url, s.redis_prefix, host, port, config,
                                       audit_key=(s.secret("audit_key") or "").encode(),
                                       anchor=anchor, redis_tls_ca=s.redis_tls_ca,
                                       demo=args.demo, report_sink=sink)
        print(f"dashboard: {bound_url(runner)}", flush=True)
        try:
            await _forever()
        finally:
            await runner.cleanup()
            await anchor.stop()
            await sink.close()

    with contextlib.suppress(KeyboardInterrupt):
        _run(run())
    return 0


async def audit_verify(s: Settings, out: Any = sys.stdout) -> int:
    """The chain, the HMAC of every entry (SUNLIGHT_AUDIT_KEY) and the anchors in Kafka."""
    from sinks.audit import AuditKeyMissing, AuditLedger
    from sinks.audit_anchor import read_anchors
    from streams.kafka_options import aiokafka_options

    if not s.audit_key:
        print(f"audit ledger: {AuditKeyMissing()}", file=out)
        return 2
    try:
        anchors = await read_anchors(s.kafka_bootstrap, s.topic("audit"), aiokafka_options(s))
    except Exception as exc:  # reported: verify fails
        print(f"audit ledger: cannot read the anchors from {s.topic('audit')} at "
              f"{s.kafka_bootstrap}: {exc!r}", file=out)
        return 2
    redis = redis_client(s)
    try:
        ledger = AuditLedger(redis, s.redis_prefix, hmac_key=(s.secret("audit_key") or "").encode())
        result = await ledger.verify(anchors)
    finally:
        await redis.aclose()
    if result.ok:
        print(f"audit ledger OK: {result.entries} entries, chain, keys and anchors intact",
              file=out)
        return 0
    print(f"audit ledger BROKEN at {result.problem} "
          f"({result.entries} entries before it are intact)", file=out)
    return 1


def cmd_audit_verify(args: argparse.Namespace) -> int:
    return _run(audit_verify(settings(args)))


async def alerts_tail(args: argparse.Namespace, out: Any = sys.stdout) -> int:
    from sinks.tail import AlertTail, TailFilter

    s = settings(args)
    redis = redis_client(s)
    tail = AlertTail(
        redis, prefix=s.redis_prefix, group=args.group, consumer=args.consumer,
        filt=TailFilter(frozenset(args.detector), args.min_severity),
        start_id="0" if args.from_start else "$",
    )

    async def handle(alert: dict[str, Any]) -> None:
        out.write(orjson.dumps(alert).decode() + "\n")
        out.flush()

    try:
        await tail.run(handle, idle_exit_s=args.idle_exit, max_alerts=args.max_alerts)
    finally:
        await redis.aclose()
    return 0


def cmd_alerts_tail(args: argparse.Namespace) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        return _run(alerts_tail(args))
    return 130


async def forward(args: argparse.Namespace) -> int:
    from sinks.dashboard.config import DashboardConfig
    from sinks.forwarders import build_forwarders, run_forwarding
    from sinks.tail import AlertTail

    s = settings(args)
    config = DashboardConfig.load(dashboard_config_path(args))
    forwarders = build_forwarders(config.forwarders, config.public_url)
    if not forwarders:
        print("forward: no forwarder is enabled in the config", file=sys.stderr)
        return 2
    redis = redis_client(s)
    tail = AlertTail(redis, prefix=s.redis_prefix, group=args.group, consumer=args.consumer)
    try:
        await run_forwarding(tail, forwarders, idle_exit_s=args.idle_exit)
    finally:
        await redis.aclose()
    return 0


def cmd_forward(args: argparse.Namespace) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        return _run(forward(args))
    return 130
