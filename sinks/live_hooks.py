"""What a live worker tells Redis besides alerts: its partitions' clocks (which drive the
case desk's deadlines), its vehicles' latest positions and the registry's stations and
places (the fleet map), and the grants it took in (the public page).

The live engine calls ``on_gps`` with the GPS events it applied, ``on_grants`` with the
grant events it took in and ``on_tick`` once a second with each partition's watermark;
none ever raises into the engine.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from redis.asyncio import Redis

from sinks.cases.desk import CaseDesk
from sinks.fleet import FleetPublisher
from sinks.fleet_sites import SitePublisher
from sinks.publication import GrantPublisher

log = logging.getLogger(__name__)


async def publish_clock(redis: Redis, prefix: str, watermarks: Mapping[int, int]) -> None:
    """Each partition's watermark (epoch ms) into ``{prefix}engine:clock``; the case desk
    reads the slowest. A clock only moves forward (a rebuilt partition may start behind)."""
    if not watermarks:
        return
    key = f"{prefix}engine:clock"
    async with redis.pipeline(transaction=False) as pipe:
        for p in watermarks:
            pipe.hget(key, str(p))
        current = await pipe.execute()
    ahead = {str(p): int(ms) for (p, ms), cur in zip(watermarks.items(), current, strict=True)
             if ms > 0 and (cur is None or int(float(cur)) < ms)}
    if ahead:
        await redis.hset(key, mapping=ahead)


class LiveHooks:
    """Runs beside the engine: ``on_tick`` never waits on Redis. One pass at a time
    publishes the clocks, flushes positions and runs the case desk; a failing pass is
    logged once per outage (with its cause) and retried on the next tick."""

    def __init__(self, redis: Redis, prefix: str, desk: CaseDesk | None,
                 fleet: FleetPublisher | None, grants: GrantPublisher | None = None,
                 sites: SitePublisher | None = None) -> None:
        self.redis = redis
        self.prefix = prefix
        self.desk = desk
        self.fleet = fleet
        self.grants = grants
        self.sites = sites
        self.failures = 0  # passes that failed since the last one that succeeded
        self._marks: dict[int, int] = {}
        self._task: asyncio.Task[None] | None = None

    def on_gps(self, events: Iterable[Mapping[str, Any]]) -> None:
        if self.fleet is not None:
            self.fleet.offer(events)

    def on_grants(self, events: Iterable[Mapping[str, Any]]) -> None:
        if self.grants is not None:
            self.grants.offer(events)

    async def on_tick(self, watermarks: Mapping[int, int]) -> None:
        self._marks.update(watermarks)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._pass())

    async def _pass(self) -> None:
        marks, self._marks = self._marks, {}
        try:
            await publish_clock(self.redis, self.prefix, marks)
            if self.fleet is not None:
                await self.fleet.flush()
            if self.sites is not None:
                await self.sites.flush()
            if self.grants is not None:
                await self.grants.flush()
            if self.desk is not None:
                await self.desk.tick()
        except Exception as exc:  # a hook must never stop the engine
            for p, ms in marks.items():  # keep the clocks for the next pass
                self._marks.setdefault(p, ms)
            self.failures += 1
            if self.failures == 1:
                log.warning("live hooks: pass failed (%r); retrying every tick", exc)
            return
        if self.failures:
            log.info("live hooks: recovered after %d failed passes", self.failures)
            self.failures = 0

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.redis.aclose()


def build_live_hooks(settings: Any, calendar: Any, zone: str, sinks: Any,
                     registry: Any = None) -> LiveHooks:
    """The worker's hooks: the case desk (config/cases.yaml beside the engine's config,
    escalation alerts through the worker's own alert sinks), the fleet publisher, the
    stations and places of ``registry`` (the worker's shared registry) and the grant
    publisher (config/catalogue.yaml beside the engine's config, else the shipped one)."""
    from pathlib import Path

    from sinks.audit_anchor import KafkaAnchor
    from sinks.cases.config import CasesConfig
    from sinks.catalogue import Catalogue
    from sinks.redis_client import async_redis
    from streams.kafka_options import aiokafka_options

    redis = async_redis(settings.redis_url, settings.redis_tls_ca, decode_responses=True,
                        socket_connect_timeout=2.0, socket_timeout=5.0)
    prefix = settings.redis_prefix
    cases_path = Path(settings.config_dir) / "cases.yaml"
    desk = None
    key = settings.secret("audit_key")
    if cases_path.exists() and not key:
        # Routing and escalation are case actions, written to the keyed audit ledger.
        log.warning("case desk off: SUNLIGHT_AUDIT_KEY is not set (the audit ledger needs "
                    "it); alerts are not routed or escalated by this worker")
    elif cases_path.exists():
        anchor = KafkaAnchor(settings.kafka_bootstrap, settings.topic("audit"),
                             aiokafka_options(settings))
        desk = CaseDesk(redis, prefix, CasesConfig.load(cases_path), calendar, zone,
                        add_alerts=sinks.write, audit_key=key.encode(), anchor=anchor)
    fleet = FleetPublisher(redis, prefix, calendar, zone)
    catalogue = Catalogue.for_config(settings.config_dir)
    sites = SitePublisher(redis, prefix, registry) if registry is not None else None
    return LiveHooks(redis, prefix, desk, fleet, GrantPublisher(redis, prefix, catalogue),
                     sites)
