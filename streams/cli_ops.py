"""Operator subcommands: ``dashboard``, ``audit verify``, ``alerts tail``, ``forward``.

``register(sub)`` adds them to the main ``sunlight`` parser; each sets
``func`` to a callable taking the parsed namespace and returning an exit code.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:  # redis (and its asyncio) load only for the commands that use it
    from redis.asyncio import Redis

def _run(coro: Any) -> Any:
    import asyncio  # on use: `sunlight replay` needs none of it

    return asyncio.run(coro)


async def _forever() -> None:
    import asyncio

    await asyncio.Event().wait()


DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_PREFIX = "sunlight:"
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


@dataclass(frozen=True)
class RedisSettings:
    url: str = DEFAULT_REDIS_URL
    prefix: str = DEFAULT_PREFIX

    @classmethod
    def from_env(
        cls, env: Mapping[str, str], url: str | None = None, prefix: str | None = None
    ) -> RedisSettings:
        chosen = url or env.get("SUNLIGHT_REDIS_URL") or DEFAULT_REDIS_URL
        if not chosen.startswith(REDIS_SCHEMES):
            raise ValueError(f"redis URL: {chosen!r} does not start with one of {REDIS_SCHEMES}")
        return cls(chosen, prefix or env.get("SUNLIGHT_REDIS_PREFIX") or DEFAULT_PREFIX)

    def client(self) -> Redis:
        from redis.asyncio import Redis

        return Redis.from_url(self.url, decode_responses=True)


def settings(args: argparse.Namespace) -> RedisSettings:
    return RedisSettings.from_env(os.environ, args.redis, getattr(args, "prefix", None))


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--redis", default=None, help="Redis URL (env SUNLIGHT_REDIS_URL)")
    p.add_argument("--prefix", default=None, help="key prefix (env SUNLIGHT_REDIS_PREFIX)")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("dashboard", help="serve the control-room dashboard")
    _common(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--dashboard-config", default=None,
                   help="dashboard.yaml: users, forwarders (default config/dashboard.yaml)")
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
    from sinks.dashboard.app import bound_url, start_dashboard
    from sinks.dashboard.config import DashboardConfig

    s = settings(args)
    config = DashboardConfig.load(args.dashboard_config)

    async def run() -> None:
        runner = await start_dashboard(s.url, s.prefix, args.host, args.port, config)
        print(f"dashboard: {bound_url(runner)}", flush=True)
        try:
            await _forever()
        finally:
            await runner.cleanup()

    with contextlib.suppress(KeyboardInterrupt):
        _run(run())
    return 0


async def audit_verify(s: RedisSettings, out: Any = sys.stdout) -> int:
    from sinks.audit import AuditLedger

    redis = s.client()
    try:
        result = await AuditLedger(redis, s.prefix).verify()
    finally:
        await redis.aclose()
    if result.ok:
        print(f"audit ledger OK: {result.entries} entries, chain intact", file=out)
        return 0
    print(f"audit ledger BROKEN at {result.problem} "
          f"({result.entries} entries before it are intact)", file=out)
    return 1


def cmd_audit_verify(args: argparse.Namespace) -> int:
    return _run(audit_verify(settings(args)))


async def alerts_tail(args: argparse.Namespace, out: Any = sys.stdout) -> int:
    from sinks.tail import AlertTail, TailFilter

    s = settings(args)
    redis = s.client()
    tail = AlertTail(
        redis, prefix=s.prefix, group=args.group, consumer=args.consumer,
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
    config = DashboardConfig.load(args.dashboard_config)
    forwarders = build_forwarders(config.forwarders, config.public_url)
    if not forwarders:
        print("forward: no forwarder is enabled in the config", file=sys.stderr)
        return 2
    redis = s.client()
    tail = AlertTail(redis, prefix=s.prefix, group=args.group, consumer=args.consumer)
    try:
        await run_forwarding(tail, forwarders, idle_exit_s=args.idle_exit)
    finally:
        await redis.aclose()
    return 0


def cmd_forward(args: argparse.Namespace) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        return _run(forward(args))
    return 130
