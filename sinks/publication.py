"""Published grants for the public transparency page (阳光公示).

``publish_grant`` keeps what the public may see of a disbursed grant (project, enterprise,
department, programme and its catalogue class, amount, date; no person) in
``{prefix}public:grants`` (newest first, bounded), mapping its ``program`` through the
subsidy catalogue; a programme name the catalogue does not know is counted in
``{prefix}catalogue:unknown`` and published as it came, never dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from redis.asyncio import Redis

from sinks.catalogue import Catalogue

KEEP = 5000
PUBLIC_FIELDS = ("grant_id", "project_id", "title", "org_name", "department", "program",
                 "amount_cny", "ts", "district", "unit")


def public_grant(grant: Mapping[str, Any], catalogue: Catalogue) -> dict[str, Any]:
    out = {k: grant[k] for k in PUBLIC_FIELDS if grant.get(k) is not None}
    entry = catalogue.lookup(str(grant.get("program") or "")) if grant.get("program") else None
    if entry is not None:
        out.update(class_code=entry.class_code, class_name=entry.class_name,
                   class_name_en=entry.class_name_en, subclass_code=entry.code,
                   subclass_name=entry.name)
    else:
        out.update(class_code="", class_name="", class_name_en="")
    return out


async def publish_grant(redis: Redis, prefix: str, grant: Mapping[str, Any],
                        catalogue: Catalogue) -> dict[str, Any]:
    item = public_grant(grant, catalogue)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.lpush(f"{prefix}public:grants", orjson.dumps(item))
        pipe.ltrim(f"{prefix}public:grants", 0, KEEP - 1)
        program = str(grant.get("program") or "")
        if program and not item["class_code"]:
            pipe.hincrby(f"{prefix}catalogue:unknown", program, 1)
        await pipe.execute()
    return item
