"""JSON API of the dashboard. Every response passes through ``for_session``,
which masks personal ids for viewers."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from sinks.audit import ActionRejected
from sinks.dashboard import appkeys as K
from sinks.dashboard.auth import Session
from sinks.dashboard.classes import alerts_by_class
from sinks.dashboard.index_query import AlertIndex, Hidden
from sinks.dashboard.masking import PERSONAL_ENTITY_KINDS, mask_alert, mask_text
from sinks.dashboard.public_views import reports_for
from sinks.dashboard.query import AlertFilter, light, map_layers
from sinks.dashboard.store import AlertStore

PAGE = 200  # the feed's page; `limit` may ask for up to PAGE_MAX
PAGE_MAX = 500
MAP_ALERTS = 500
REJECTION_STATUS = {"forbidden": 403, "not_found": 404, "bad_transition": 409,
                    "unknown_action": 400, "recused": 403, "four_eyes": 403,
                    "already_proposed": 409, "no_proposal": 409, "bad_target": 400,
                    "target_recused": 409}


def for_session(alert: dict[str, Any], session: Session) -> dict[str, Any]:
    return alert if session.sees_personal_ids else mask_alert(alert)


async def hidden_for(request: web.Request) -> Hidden:
    """What the session's user may not see: recusal from their own unit's alerts and
    from alerts about a declared relative (config/cases.yaml, staff)."""
    store: AlertStore = request.app[K.STORE]
    staff = store.cases.staff.get(request[K.SESSION].user)
    if staff is None:
        return Hidden()
    keys = request.app[K.INDEX].keys
    ids: set[str] = set()
    for person in sorted(staff.relatives):
        for kind in PERSONAL_ENTITY_KINDS:
            ids.update(await store.redis.zrange(keys.entity(kind, person), 0, -1))
    return Hidden(frozenset({staff.unit} - {""}), frozenset(ids))


def now_ms() -> int:
    return int(time.time() * 1000)


def _int(query: Mapping[str, str], name: str, default: int, top: int) -> int:
    try:
        return max(0, min(top, int(query.get(name) or default)))
    except ValueError:
        return default


async def list_alerts(request: web.Request) -> web.Response:
    """A page of every alert that passes the filter: ``order=newest|oldest``,
    ``offset``, ``limit`` (default 200, at most 500)."""
    index: AlertIndex = request.app[K.INDEX]
    session: Session = request[K.SESSION]
    filt = AlertFilter.from_query(request.query)
    ts = now_ms()
    await index.refresh()
    offset = _int(request.query, "offset", 0, 10**9)
    limit = _int(request.query, "limit", PAGE, PAGE_MAX)
    page = await index.page(filt, ts, newest=request.query.get("order") != "oldest",
                            offset=offset, limit=limit,
                            masked=not session.sees_personal_ids,
                            hidden=await hidden_for(request), user=session.user)
    return web.json_response({
        "alerts": [for_session(light(a), session) for a in page.alerts],
        "matched": page.matched, "exact": page.exact, "offset": offset, "limit": limit,
        "now_ms": ts})


async def stats(request: web.Request) -> web.Response:
    index: AlertIndex = request.app[K.INDEX]
    masked = not request[K.SESSION].sees_personal_ids
    filt = AlertFilter.from_query(request.query)
    ts = now_ms()
    await index.refresh()
    out = await index.summary(filt, ts, masked, await hidden_for(request),
                              user=request[K.SESSION].user)
    # alerts per subsidy class (all alerts; unknown programme names listed, not dropped)
    out["by_class"] = await alerts_by_class(request.app[K.REDIS], index.keys,
                                            request.app[K.CATALOGUE])
    return web.json_response({**out, "now_ms": ts})


async def map_view(request: web.Request) -> web.Response:
    store: AlertStore = request.app[K.STORE]
    index: AlertIndex = request.app[K.INDEX]
    session: Session = request[K.SESSION]
    filt = AlertFilter.from_query(request.query)
    ts = now_ms()
    await index.refresh()
    page = await index.page(filt, ts, limit=MAP_ALERTS, masked=not session.sees_personal_ids,
                            hidden=await hidden_for(request), user=session.user)
    vehicles = sorted({str(v) for a in page.alerts
                       if (v := (a.get("details") or {}).get("vehicle_id"))})
    return web.json_response(map_layers(page.alerts, await store.positions(vehicles)))


async def alert_detail(request: web.Request) -> web.Response:
    store: AlertStore = request.app[K.STORE]
    session: Session = request[K.SESSION]
    alert = await store.get(request.match_info["alert_id"])
    if alert is None or store.cases.recused(session.user, alert):
        # a recused investigator does not learn that the alert exists
        return web.json_response({"error": "not_found"}, status=404)
    history = await store.ledger.for_alert(alert["alert_id"])
    if not session.sees_personal_ids:
        history = [{**h, "note": mask_text(str(h.get("note", "")), alert)} for h in history]
    actions = store.actions(alert, session.user, session.role) if session.can_act else []
    reports = await reports_for(request, alert.get("entity") or {},
                                with_text=session.sees_personal_ids)
    return web.json_response({"alert": for_session(alert, session), "history": history,
                              "actions": actions, "reports": reports,
                              "assignable": sorted(request.app[K.CONFIG].users)
                              if "reassign" in actions else []})


async def act(request: web.Request) -> web.Response:
    store: AlertStore = request.app[K.STORE]
    session: Session = request[K.SESSION]
    if not session.can_act:
        return web.json_response({"error": "forbidden"}, status=403)
    try:
        body = await request.json()
        action, note = str(body["action"]), str(body.get("note", ""))
        to = str(body.get("to", ""))[:200]
    except (ValueError, KeyError, TypeError):
        return web.json_response({"error": "bad_request"}, status=400)
    try:
        change = await store.act(request.match_info["alert_id"], action, note,
                                 who=session.user, role=session.role, to=to)
    except ActionRejected as exc:
        code = str(exc)
        return web.json_response({"error": code}, status=REJECTION_STATUS.get(code, 400))
    return web.json_response(change)


async def audit_tail(request: web.Request) -> web.Response:
    store: AlertStore = request.app[K.STORE]
    session: Session = request[K.SESSION]
    if not session.can_act:
        return web.json_response({"error": "forbidden"}, status=403)
    entries = await store.ledger.entries(-200, -1)
    return web.json_response({"entries": entries[::-1]})


async def healthz(request: web.Request) -> web.Response:
    await request.app[K.REDIS].ping()
    return web.json_response({"ok": True})
