"""The live fleet map's API: every vehicle's latest position (sinks/fleet.py) with whether
an alert is open on it, the registry's stations and places (sinks/fleet_sites.py), and one
vehicle's track of the day with its open alerts."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from aiohttp import web

from sinks.dashboard import appkeys as K
from sinks.dashboard.auth import Session
from sinks.dashboard.masking import mask_alert
from sinks.dashboard.query import UNRESOLVED, light

DAY = re.compile(r"^\d{8}$")


async def open_alert_ids(request: web.Request, vehicle_ids: list[str]) -> dict[str, list[str]]:
    """vehicle id -> ids of its unresolved alerts (through the entity index)."""
    index = request.app[K.INDEX]
    redis = request.app[K.REDIS]
    async with redis.pipeline(transaction=False) as pipe:
        for vid in vehicle_ids:
            pipe.zrange(index.keys.entity("vehicle", vid), 0, -1)
        per_vehicle = await pipe.execute()
    pairs = [(vid, aid) for vid, ids in zip(vehicle_ids, per_vehicle, strict=True) for aid in ids]
    if not pairs:
        return {}
    async with redis.pipeline(transaction=False) as pipe:
        for _vid, aid in pairs:
            pipe.hget(f"{index.prefix}alert:{aid}", "status")
        statuses = await pipe.execute()
    out: dict[str, list[str]] = {}
    for (vid, aid), status in zip(pairs, statuses, strict=True):
        if (status or "open") in UNRESOLVED:
            out.setdefault(vid, []).append(aid)
    return out


async def fleet(request: web.Request) -> web.Response:
    redis = request.app[K.REDIS]
    prefix = request.app[K.INDEX].prefix
    raw = await redis.hgetall(f"{prefix}fleet:pos")
    vehicles = []
    for value in raw.values():
        try:
            vehicles.append(orjson.loads(value))
        except orjson.JSONDecodeError:
            continue
    alerting = await open_alert_ids(request, [v["id"] for v in vehicles])
    for v in vehicles:
        v["alerts"] = len(alerting.get(v["id"], []))
    sites = []
    for value in (await redis.hgetall(f"{prefix}fleet:sites")).values():
        try:
            sites.append(orjson.loads(value))
        except orjson.JSONDecodeError:
            continue
    sites.sort(key=lambda s: (str(s.get("kind")), str(s.get("id"))))
    return web.Response(body=orjson.dumps({"vehicles": vehicles, "sites": sites}),
                        content_type="application/json")


async def vehicle(request: web.Request) -> web.Response:
    redis = request.app[K.REDIS]
    session: Session = request[K.SESSION]
    prefix = request.app[K.INDEX].prefix
    vid = request.match_info["vehicle_id"][:100]
    pos_raw = await redis.hget(f"{prefix}fleet:pos", vid)
    pos = orjson.loads(pos_raw) if pos_raw else None
    day = request.query.get("day", "")
    if not DAY.match(day):
        zone = ZoneInfo(request.app[K.CONFIG].zone)
        ts = pos["ts"] if pos else int(datetime.now(zone).timestamp() * 1000)
        day = datetime.fromtimestamp(ts / 1000, zone).strftime("%Y%m%d")
    track = [orjson.loads(p) for p in await redis.lrange(f"{prefix}fleet:track:{vid}:{day}",
                                                         0, -1)]
    ids = (await open_alert_ids(request, [vid])).get(vid, [])
    store = request.app[K.STORE]
    alerts: list[dict[str, Any]] = []
    for a in await request.app[K.INDEX].rows(ids):
        if store.cases.recused(session.user, a):
            continue
        a = light(a)
        alerts.append(a if session.sees_personal_ids else mask_alert(a))
    alerts.sort(key=lambda a: str(a.get("raised_at")), reverse=True)
    return web.json_response({"vehicle": pos, "day": day, "track": track, "alerts": alerts})
