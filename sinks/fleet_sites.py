"""Stations and configured places for the live fleet map.

Every worker holds the whole registry (a broadcast of reference facts). Once a tick the
live hooks ask ``SitePublisher.flush`` to publish the newest version of each ``station``
and ``place`` (contract: events.md, typologies.md) into ``{prefix}fleet:sites``: a hash,
``{kind}:{id}`` -> ``{"kind", "id", "name", "lat", "lon"}`` plus ``category`` and
``radius_m`` for a place. It is rewritten whole (in one transaction) only when the
registry's stations or places changed; a site without coordinates is left out.
"""

from __future__ import annotations

from typing import Any

import orjson
from redis.asyncio import Redis

from detectors.registry import Registry

KINDS = ("station", "place")
MAX_SITES = 50_000


def sites(registry: Registry) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for kind in KINDS:
        for ident, versions in registry.facts.get(kind, {}).items():
            if not versions or len(out) >= MAX_SITES:
                continue
            record: dict[str, Any] = versions[-1][1]
            lat, lon = record.get("lat"), record.get("lon")
            if not isinstance(lat, int | float) or not isinstance(lon, int | float):
                continue
            site: dict[str, Any] = {"kind": kind, "id": ident, "name": record.get("name", ""),
                                    "lat": lat, "lon": lon}
            if kind == "place":
                site.update(category=record.get("category", ""),
                            radius_m=record.get("radius_m"))
            out[f"{kind}:{ident}"] = orjson.dumps(site)
    return out


def fingerprint(registry: Registry) -> tuple[int, ...]:
    """Changes whenever a station or place version is added or the facts are replaced."""
    out: list[int] = []
    for kind in KINDS:
        by_id = registry.facts.get(kind, {})
        out += [id(by_id), len(by_id), sum(len(v) for v in by_id.values())]
    return tuple(out)


class SitePublisher:
    def __init__(self, redis: Redis, prefix: str, registry: Registry) -> None:
        self.redis = redis
        self.key = f"{prefix}fleet:sites"
        self.registry = registry
        self._published: tuple[int, ...] | None = None

    async def flush(self) -> None:
        mark = fingerprint(self.registry)
        if mark == self._published:
            return
        found = sites(self.registry)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.key)
            if found:
                pipe.hset(self.key, mapping=found)  # type: ignore[arg-type]
            await pipe.execute()
        self._published = mark
