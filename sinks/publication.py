"""Published grants for the public transparency page (阳光公示).

The live worker hands every ``grant`` event its engine takes in to a ``GrantPublisher``
(sinks/live_hooks.py), which writes, once a tick, what the public may see of each disbursed
grant (project, enterprise name, department, programme and its catalogue class, amount,
date, unit, district; never an id of a person or an enterprise's credit code):

- ``{prefix}public:grant``: a hash, grant id -> the published JSON;
- ``{prefix}public:grants``: a sorted set of grant ids by disbursement time (``ts``),
  bounded to ``KEEP`` (the oldest leave both keys).

A grant is published once per ``grant_id`` (a redelivery changes nothing and is not
counted again). Its ``program`` is mapped through the subsidy catalogue on the way in; a
programme name the catalogue does not know is counted in ``{prefix}catalogue:unknown``
and published as it came, never dropped. A grant without ``program`` is classified by its
``department`` where the catalogue lists that department as an alias (the funds channels
are the catalogue's project-funds sub-classes), else left unclassified and not counted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import orjson
from redis.asyncio import Redis

from sinks.catalogue import Catalogue

KEEP = 5000
MAX_PENDING = 100_000
PUBLIC_FIELDS = ("grant_id", "project_id", "title", "org_name", "department", "program",
                 "amount_cny", "ts", "district", "unit")
log = logging.getLogger(__name__)

# KEYS: the items hash, the order zset, the unknown-name counter. ARGV: KEEP, then per
# grant (id, score ms, JSON, unknown programme name or ''). Returns how many were new.
_PUBLISH_LUA = """
local keep, new = tonumber(ARGV[1]), 0
for i = 2, #ARGV, 4 do
  if redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 2]) == 1 then
    redis.call('ZADD', KEYS[2], ARGV[i + 1], ARGV[i])
    if ARGV[i + 3] ~= '' then redis.call('HINCRBY', KEYS[3], ARGV[i + 3], 1) end
    new = new + 1
  end
end
local over = redis.call('ZCARD', KEYS[2]) - keep
if over > 0 then
  local old = redis.call('ZRANGE', KEYS[2], 0, over - 1)
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, over - 1)
  redis.call('HDEL', KEYS[1], unpack(old))
end
return new
"""


def public_grant(grant: Mapping[str, Any], catalogue: Catalogue) -> dict[str, Any]:
    out = {k: grant[k] for k in PUBLIC_FIELDS if grant.get(k) is not None}
    program, department = grant.get("program"), grant.get("department")
    if program:
        entry = catalogue.lookup(str(program))
    else:  # no programme: the department it came through, where the catalogue names it
        entry = catalogue.lookup(str(department)) if department else None
    if entry is not None:
        out.update(class_code=entry.class_code, class_name=entry.class_name,
                   class_name_en=entry.class_name_en, subclass_code=entry.code,
                   subclass_name=entry.name)
    else:
        out.update(class_code="", class_name="", class_name_en="")
    return out


def grant_ms(grant: Mapping[str, Any]) -> int:
    ts = grant.get("ts_ms")
    if isinstance(ts, int):
        return ts
    try:
        return int(datetime.fromisoformat(str(grant.get("ts"))).timestamp() * 1000)
    except ValueError:
        return 0


def grant_keys(prefix: str) -> list[str]:
    return [f"{prefix}public:grant", f"{prefix}public:grants", f"{prefix}catalogue:unknown"]


async def publish_grants(redis: Redis, prefix: str, grants: Iterable[Mapping[str, Any]],
                         catalogue: Catalogue) -> int:
    """Publish grants (once per ``grant_id``); returns how many were new."""
    args: list[Any] = [KEEP]
    for grant in grants:
        item = public_grant(grant, catalogue)
        program = str(grant.get("program") or "")
        unknown = program if program and not item["class_code"] else ""
        args += [str(grant["grant_id"]), grant_ms(grant), orjson.dumps(item), unknown]
    if len(args) == 1:
        return 0
    new = await redis.eval(_PUBLISH_LUA, 3, *grant_keys(prefix), *args)
    return int(new)


async def publish_grant(redis: Redis, prefix: str, grant: Mapping[str, Any],
                        catalogue: Catalogue) -> dict[str, Any]:
    await publish_grants(redis, prefix, [grant], catalogue)
    return public_grant(grant, catalogue)


async def published(redis: Redis, prefix: str, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` published grants, newest first."""
    ids = await redis.zrevrange(f"{prefix}public:grants", 0, limit - 1)
    if not ids:
        return []
    raw = await redis.hmget(f"{prefix}public:grant", ids)
    return [orjson.loads(x) for x in raw if x is not None]


class GrantPublisher:
    """Queues the grants the engine took in; ``flush`` publishes them (called once a tick
    by the live hooks). Bounded: past ``MAX_PENDING`` queued grants (a long Redis outage)
    the newest are refused and counted in ``dropped``."""

    def __init__(self, redis: Redis, prefix: str, catalogue: Catalogue,
                 batch: int = 500) -> None:
        self.redis = redis
        self.prefix = prefix
        self.catalogue = catalogue
        self.batch = batch
        self.pending: list[Mapping[str, Any]] = []
        self.published = 0
        self.dropped = 0

    def offer(self, grants: Iterable[Mapping[str, Any]]) -> None:
        for g in grants:
            if len(self.pending) >= MAX_PENDING:
                self.dropped += 1
                if self.dropped == 1:
                    log.error("grant publication: %d grants queued; refusing more until "
                              "Redis takes them", MAX_PENDING)
                continue
            self.pending.append(g)

    async def flush(self) -> None:
        while self.pending:
            chunk = self.pending[: self.batch]
            self.published += await publish_grants(self.redis, self.prefix, chunk,
                                                   self.catalogue)
            del self.pending[: len(chunk)]
