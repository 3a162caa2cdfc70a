"""Alerts per subsidy class, for the control room and the public page.

The writer maps each alert's programme on the way in (``idx:classes``,
``idx:programs:unknown``; sinks/alert_index.py); alerts indexed before it did (or by the
catch-up) are counted per raw name in ``idx:programs`` and mapped here, on read.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from sinks.alert_index import IndexKeys
from sinks.catalogue import Catalogue


async def alerts_by_class(redis: Redis, keys: IndexKeys, catalogue: Catalogue) -> dict[str, Any]:
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(f"{keys.base}classes")
        pipe.hgetall(f"{keys.base}programs:unknown")
        pipe.hgetall(f"{keys.base}programs")
        mapped, unknown, legacy = await pipe.execute()
    return catalogue.by_class(((k, int(v)) for k, v in legacy.items()),
                              mapped={k: int(v) for k, v in mapped.items()},
                              unknown_names={k: int(v) for k, v in unknown.items()})
