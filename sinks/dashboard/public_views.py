"""The public side, no login: the transparency page (阳光公示) and citizen reports (一键举报).

Transparency: published grants (sinks/publication.py) and alert statistics aggregated
per unit, district, rule and subsidy class, from the index counters: no personal id, no
open-case detail ever leaves here.

Reports: bounded input, a per-address rate limit, a receipt number; the report is kept
in Redis (joined to the alerts of the same entity through the entity index, where
investigators see it) and sent to Kafka ``sunlight.reports`` when a broker is configured.
Looking a receipt up says only the report's status, never anything about the case.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections import Counter
from typing import Any

import orjson
from aiohttp import web

from sinks.catalogue import Catalogue
from sinks.dashboard import appkeys as K
from sinks.dashboard.classes import alerts_by_class
from sinks.dashboard.index_query import cube_ranking
from sinks.dashboard.query import UNRESOLVED
from sinks.dashboard.ratelimit import AttemptLimiter, bucket
from sinks.publication import published

REPORT_KINDS = ("vehicle", "project", "grant", "program", "other")
ENTITY_ID = re.compile(r"^[0-9A-Za-z\u4e00-\u9fff·_\-./]{1,64}$")
RECEIPT = re.compile(r"^R[0-9A-Z]{12}$")
MAX_TEXT = 2000
MAX_CONTACT = 100
RECEIPT_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
GRANTS_SHOWN = 500
SEND_TIMEOUT_S = 10.0
log = logging.getLogger(__name__)


def error(status: int, code: str, reason: str = "") -> web.Response:
    return web.json_response({"error": code, "reason": reason}, status=status)


async def limited(request: web.Request, what: str, limit: int, window_s: int) -> int:
    limiter: AttemptLimiter = request.app[K.PUBLIC_LIMITER]
    return await limiter.hit([bucket(what, request.remote or "-")], [limit], window_s)


async def stats(request: web.Request) -> web.Response:
    index = request.app[K.INDEX]
    await index.refresh()
    cells = await index.cells(index.keys.cube)
    counts = Counter(cells)
    by_detector: Counter[str] = Counter()
    for c, n in counts.items():
        by_detector[c.detector] += n
    rows = {"unit": cube_ranking(counts, "unit", top=1000),
            "district": cube_ranking(counts, "district", top=1000)}
    catalogue: Catalogue = request.app[K.CATALOGUE]
    q = request.query.get("q", "").strip()[:100]
    grants = await published_grants(request, q)
    return web.json_response({
        "total": sum(counts.values()),
        "unresolved": sum(n for c, n in counts.items() if c.status in UNRESOLVED),
        "confirmed": sum(n for c, n in counts.items() if c.status == "confirmed"),
        "by_detector": dict(by_detector.most_common()),
        # aggregates only: names of units and districts, never a case or a person
        "units": [{k: r[k] for k in ("name", "open", "confirmed")} for r in rows["unit"]],
        "districts": [{k: r[k] for k in ("name", "open", "confirmed")}
                      for r in rows["district"]],
        "alerts_by_class": await alerts_by_class(request.app[K.REDIS], index.keys, catalogue),
        "grants": grants,
    })


async def published_grants(request: web.Request, q: str) -> dict[str, Any]:
    redis = request.app[K.REDIS]
    prefix = request.app[K.INDEX].prefix
    items = await published(redis, prefix, GRANTS_SHOWN)
    if q:
        items = [g for g in items if q.lower() in " ".join(
            str(g.get(k, "")) for k in ("title", "org_name", "department", "program",
                                        "class_name", "district")).lower()]
    unknown = await redis.hgetall(f"{prefix}catalogue:unknown")
    return {"items": items, "unknown_programs": {k: int(v) for k, v in unknown.items()}}


def make_receipt() -> str:
    stamp = time.strftime("%y%m%d")
    return "R" + stamp + "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(6))


async def submit_report(request: web.Request) -> web.Response:
    config = request.app[K.CONFIG]
    wait_s = await limited(request, "report", config.reports_per_window,
                           config.public_window_s)
    if wait_s:
        resp = error(429, "too_many_reports", f"try again in {wait_s} s")
        resp.headers["Retry-After"] = str(wait_s)
        return resp
    try:
        body = await request.json()
        if not isinstance(body, dict):
            raise ValueError
    except ValueError:
        return error(400, "bad_request", "body: not a JSON object")
    kind = str(body.get("kind", ""))
    entity_id = str(body.get("entity_id", "")).strip()
    text = str(body.get("text", "")).strip()
    contact = str(body.get("contact", "")).strip()
    if kind not in REPORT_KINDS:
        return error(400, "bad_kind", f"kind: {kind[:20]!r} is not one of {REPORT_KINDS}")
    if not ENTITY_ID.match(entity_id):
        return error(400, "bad_entity_id",
                     "entity_id: 1-64 letters, digits, Chinese characters or ·_-./")
    if not 5 <= len(text) <= MAX_TEXT:
        return error(400, "bad_text", f"text: {len(text)} characters is outside [5, {MAX_TEXT}]")
    if len(contact) > MAX_CONTACT:
        return error(400, "bad_contact", f"contact: longer than {MAX_CONTACT} characters")
    redis = request.app[K.REDIS]
    prefix = request.app[K.INDEX].prefix
    receipt = make_receipt()
    now_ms = int(time.time() * 1000)
    report = {"receipt": receipt, "kind": kind, "entity_id": entity_id, "text": text,
              "created_ms": now_ms, "status": "received"}
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(f"{prefix}report:{receipt}",
                  mapping={**{k: str(v) for k, v in report.items()}, "contact": contact})
        pipe.zadd(f"{prefix}reports:entity:{kind}:{entity_id}", {receipt: now_ms})
        pipe.zadd(f"{prefix}reports", {receipt: now_ms})
        await pipe.execute()
    send = request.app.get(K.REPORT_SINK)
    if send is not None:
        try:  # the report is kept in Redis already; Kafka is its copy for other systems
            await asyncio.wait_for(send(receipt, orjson.dumps(report)), SEND_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - any broker failure
            log.error("report %s: not sent to Kafka (%r); kept in Redis", receipt, exc)
            await redis.hset(f"{prefix}report:{receipt}", "kafka", "failed")
        else:
            await redis.hset(f"{prefix}report:{receipt}", "kafka", "sent")
    return web.json_response({"receipt": receipt, "status": "received"}, status=201)


async def report_status(request: web.Request) -> web.Response:
    config = request.app[K.CONFIG]
    if await limited(request, "lookup", config.lookups_per_window, config.public_window_s):
        return error(429, "too_many_lookups")
    receipt = request.match_info["receipt"].upper()
    if not RECEIPT.match(receipt):
        return error(404, "not_found")
    redis = request.app[K.REDIS]
    index = request.app[K.INDEX]
    row = await redis.hgetall(f"{index.prefix}report:{receipt}")
    if not row:
        return error(404, "not_found")
    return web.json_response({"receipt": receipt, "status": await joined_status(request, row),
                              "created_ms": int(row["created_ms"])})


async def joined_status(request: web.Request, row: dict[str, str]) -> str:
    """received | under_review (a case on the same entity is open) | closed (every case
    on it is decided)."""
    redis = request.app[K.REDIS]
    index = request.app[K.INDEX]
    ids = await redis.zrange(index.keys.entity(row["kind"], row["entity_id"]), 0, -1)
    if not ids:
        return "received"
    async with redis.pipeline(transaction=False) as pipe:
        for aid in ids:
            pipe.hget(f"{index.prefix}alert:{aid}", "status")
        statuses = await pipe.execute()
    return "under_review" if any((s or "open") in UNRESOLVED for s in statuses) else "closed"


async def reports_for(request: web.Request, entity: dict[str, Any],
                      with_text: bool) -> list[dict[str, Any]]:
    """Citizen reports about an alert's entity, for the case view."""
    if not entity.get("kind") or not entity.get("id"):
        return []
    redis = request.app[K.REDIS]
    prefix = request.app[K.INDEX].prefix
    receipts = await redis.zrevrange(
        f"{prefix}reports:entity:{entity['kind']}:{entity['id']}", 0, 49)
    out = []
    for receipt in receipts:
        row = await redis.hgetall(f"{prefix}report:{receipt}")
        if row:
            item = {"receipt": receipt, "created_ms": int(row["created_ms"]),
                    "kind": row["kind"]}
            if with_text:
                item["text"] = row["text"]
            out.append(item)
    return out
