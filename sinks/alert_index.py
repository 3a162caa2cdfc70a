"""Indexes over every alert in Redis, written in the same Lua step that adds the alert.

Layout (prefix ``sunlight:``, all under ``sunlight:idx:``):

- ``idx:all`` and ``idx:{facet}:{value}`` for facet in status, detector, severity, unit,
  district: sorted sets of alert ids scored by ``raised_at`` (epoch ms), so any filter is
  a set intersection and any page a range, newest or oldest first;
- ``idx:entity:{kind}:{id}``: the alerts about one entity (citizen reports join on it);
- ``idx:cube``: a hash counting alerts per cell ``detector␟severity␟status␟unit␟district``,
  from which every count, the unit/district ranking and the filter options are summed;
- ``idx:hour:{hour_ms}``: the same cells per hour of ``raised_at`` (kept 26 h), for the
  24-hour chart;
- ``idx:unrouted``: alerts the case desk has not assigned yet (sinks/cases/desk.py);
- ``idx:assignee:{user}``, ``idx:queue:{name}``, ``idx:overdue``: case queues, and
  ``idx:deadline`` (unresolved cases scored by their deadline), kept by the case desk;
- ``idx:classes`` and ``idx:subclasses``: alerts per subsidy class and sub-class code of
  ``details.program``, mapped through the catalogue (sinks/catalogue.py) by the writer on
  the way in; ``idx:programs:unknown``: alerts per programme name the catalogue does not
  know (counted and shown, never dropped). The alert hash keeps its sub-class code in
  ``catalogue`` (empty for an unknown name);
- ``idx:programs``: alerts per raw ``details.program`` name, for alerts indexed without a
  mapping (written before the writer mapped them, or by the catch-up); the read side
  (``sinks/catalogue.py::Catalogue.by_class``) maps those on read and adds both;
- ``idx:version``: bumped on every change (cache key of intersections);
- ``idx:cursor``: the last ``alerts`` stream entry whose alert is indexed.

Each alert hash gains ``indexed`` (set once), ``raised_ms`` and ``facets``
(``detector␟severity␟unit␟district``), which a case action needs to move the alert between
status sets and cube cells in the same transaction as the status change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

SEP = "\x1f"
FACETS = ("status", "detector", "severity", "unit", "district")
HOUR_MS = 3_600_000
HOUR_KEEP_S = 26 * 3600

# Defines raised_ms(iso) and index_alert(prefix, hash_key): index one alert hash once.
# The alert id is the hash key's tail, so the index always names what HGET can read.
INDEX_LUA = r"""
local function raised_ms(iso)
  if type(iso) ~= 'string' then return 0 end
  local y, mo, d, h, mi, s, frac, tz = string.match(iso,
    '^(%d%d%d%d)-(%d%d)-(%d%d)[T ](%d%d):(%d%d):(%d%d)%.?(%d*)(.*)$')
  if not y then return 0 end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  if mo <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local doy = math.floor((153 * ((mo + 9) % 12) + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  local days = era * 146097 + doe - 719468
  local ms = (((days * 24 + tonumber(h)) * 60 + tonumber(mi)) * 60 + tonumber(s)) * 1000
  ms = ms + tonumber(string.sub(frac .. '000', 1, 3))
  local sign, th, tm = string.match(tz, '^([+-])(%d%d):?(%d%d)$')
  if sign then
    local off = (tonumber(th) * 60 + tonumber(tm)) * 60000
    if sign == '+' then ms = ms - off else ms = ms + off end
  end
  return ms
end

local function facet(v)
  if type(v) == 'string' then return v end
  if type(v) == 'number' then return tostring(v) end
  return ''
end

-- Whether every stream entry is indexed (the catch-up cursor names the last entry), so
-- that the writer may move the cursor along with what it adds and indexes itself.
local function cursor_at_head(prefix, stream)
  local cursor = redis.call('GET', prefix .. 'idx:cursor')
  local last = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)
  if #last == 0 then return true end
  return cursor == last[1][1]
end

-- mapped: nil (no mapping given: count the raw name in idx:programs), '' (no programme),
-- 'K' .. class .. US .. sub-class (a known programme), 'U' .. name (an unknown name).
local function index_alert(prefix, hkey, mapped)
  local alert = redis.call('HGET', hkey, 'alert')
  if not alert then return 0 end
  if redis.call('HSETNX', hkey, 'indexed', '1') == 0 then return 0 end
  local ok, a = pcall(cjson.decode, alert)
  if not ok or type(a) ~= 'table' then a = {} end
  local id = string.sub(hkey, #prefix + 7)
  local status = redis.call('HGET', hkey, 'status')
  if not status or status == '' then status = 'open' end
  local ms = raised_ms(a['raised_at'])
  local score = string.format('%.0f', ms)
  local det, sev = facet(a['detector']), facet(a['severity'])
  local unit, dist = facet(a['unit']), facet(a['district'])
  local I = prefix .. 'idx:'
  redis.call('HSET', hkey, 'raised_ms', score,
             'facets', det .. '\31' .. sev .. '\31' .. unit .. '\31' .. dist)
  redis.call('ZADD', I .. 'all', score, id)
  redis.call('ZADD', I .. 'status:' .. status, score, id)
  redis.call('ZADD', I .. 'detector:' .. det, score, id)
  redis.call('ZADD', I .. 'severity:' .. sev, score, id)
  redis.call('ZADD', I .. 'unit:' .. unit, score, id)
  redis.call('ZADD', I .. 'district:' .. dist, score, id)
  local e = a['entity']
  if type(e) == 'table' and type(e['kind']) == 'string' and e['id'] ~= nil then
    redis.call('ZADD', I .. 'entity:' .. e['kind'] .. ':' .. facet(e['id']), score, id)
  end
  if mapped == nil then
    local d = a['details']
    if type(d) == 'table' and type(d['program']) == 'string' and d['program'] ~= '' then
      redis.call('HINCRBY', I .. 'programs', d['program'], 1)
    end
  elseif string.sub(mapped, 1, 1) == 'K' then
    local cls, sub = string.match(mapped, '^K([^\31]*)\31(.*)$')
    redis.call('HINCRBY', I .. 'classes', cls, 1)
    redis.call('HINCRBY', I .. 'subclasses', sub, 1)
    redis.call('HSET', hkey, 'catalogue', sub)
  elseif string.sub(mapped, 1, 1) == 'U' then
    redis.call('HINCRBY', I .. 'programs:unknown', string.sub(mapped, 2), 1)
    redis.call('HSET', hkey, 'catalogue', '')
  end
  local cell = det .. '\31' .. sev .. '\31' .. status .. '\31' .. unit .. '\31' .. dist
  redis.call('HINCRBY', I .. 'cube', cell, 1)
  local hour = math.floor(ms / 3600000) * 3600000
  local hk = I .. 'hour:' .. string.format('%.0f', hour)
  redis.call('HINCRBY', hk, cell, 1)
  redis.call('EXPIREAT', hk, string.format('%.0f', hour / 1000 + 93600))
  redis.call('ZADD', I .. 'unrouted', score, id)
  redis.call('INCR', I .. 'version')
  return 1
end
"""

# KEYS = alert hashes; ARGV[1] = prefix, ARGV[2] = stream cursor to record (or '').
_CATCH_UP_LUA = INDEX_LUA + r"""
local n = 0
for i = 1, #KEYS do n = n + index_alert(ARGV[1], KEYS[i]) end
if ARGV[2] ~= '' then redis.call('SET', ARGV[1] .. 'idx:cursor', ARGV[2]) end
return n
"""


@dataclass(frozen=True)
class IndexKeys:
    prefix: str = "sunlight:"

    @property
    def base(self) -> str:
        return f"{self.prefix}idx:"

    @property
    def all(self) -> str:
        return f"{self.base}all"

    @property
    def cube(self) -> str:
        return f"{self.base}cube"

    @property
    def version(self) -> str:
        return f"{self.base}version"

    @property
    def cursor(self) -> str:
        return f"{self.base}cursor"

    def facet(self, name: str, value: str) -> str:
        return f"{self.base}{name}:{value}"

    def entity(self, kind: str, entity_id: str) -> str:
        return f"{self.base}entity:{kind}:{entity_id}"

    def hour(self, hour_ms: int) -> str:
        return f"{self.base}hour:{hour_ms}"

    @property
    def unrouted(self) -> str:
        return f"{self.base}unrouted"

    @property
    def deadline(self) -> str:
        return f"{self.base}deadline"

    @property
    def overdue(self) -> str:
        return f"{self.base}overdue"

    def assignee(self, user: str) -> str:
        return f"{self.base}assignee:{user}"

    def queue(self, name: str) -> str:
        return f"{self.base}queue:{name}"


@dataclass(frozen=True)
class Cell:
    detector: str
    severity: str
    status: str
    unit: str
    district: str

    @classmethod
    def parse(cls, raw: str) -> Cell:
        parts = raw.split(SEP)
        if len(parts) != 5:
            raise ValueError(f"index cell: expected 5 fields, got {raw!r}")
        return cls(*parts)

    def encode(self) -> str:
        return SEP.join((self.detector, self.severity, self.status, self.unit, self.district))

    def get(self, facet: str) -> str:
        value: str = getattr(self, facet)
        return value


def move_status(pipe: Pipeline, keys: IndexKeys, alert_id: str, row: Mapping[str, Any],
                old: str, new: str, now_ms: int) -> None:
    """Queue (inside the caller's MULTI) the index changes of one status change.

    ``row`` is the alert hash as read under WATCH; an alert not yet indexed is left to
    the catch-up, which indexes it with whatever status it then has.
    """
    if not row.get("indexed") or old == new:
        return
    raised = int(row.get("raised_ms") or 0)
    det, sev, unit, dist = (str(row.get("facets") or "").split(SEP) + ["", "", "", ""])[:4]
    before = Cell(det, sev, old, unit, dist).encode()
    after = Cell(det, sev, new, unit, dist).encode()
    pipe.zrem(keys.facet("status", old), alert_id)
    pipe.zadd(keys.facet("status", new), {alert_id: raised})
    pipe.hincrby(keys.cube, before, -1)
    pipe.hincrby(keys.cube, after, 1)
    hour = raised // HOUR_MS * HOUR_MS
    if hour // 1000 + HOUR_KEEP_S > now_ms // 1000:
        pipe.hincrby(keys.hour(hour), before, -1)
        pipe.hincrby(keys.hour(hour), after, 1)
        pipe.expireat(keys.hour(hour), hour // 1000 + HOUR_KEEP_S)
    pipe.incr(keys.version)


class IndexCatchUp:
    """Indexes alerts that reached the stream without the indexing script (written by an
    older version or by hand in the contract's layout), from a cursor in Redis."""

    def __init__(self, redis: Redis, prefix: str = "sunlight:", batch: int = 2000) -> None:
        self.redis = redis
        self.prefix = prefix
        self.keys = IndexKeys(prefix)
        self.stream = f"{prefix}alerts"
        self.batch = batch
        self._script = redis.register_script(_CATCH_UP_LUA)

    async def run(self, limit: int | None = None) -> int:
        """Index what the cursor has not reached; returns how many alerts were new to the
        index. ``limit`` bounds the stream entries read in this call."""
        indexed = read = 0
        while limit is None or read < limit:
            cursor = await self.redis.get(self.keys.cursor)
            start = f"({_text(cursor)}" if cursor else "-"
            entries = await self.redis.xrange(self.stream, min=start, count=self.batch)
            if not entries:
                break
            hashes: list[str] = []
            for _entry_id, fields in entries:
                alert_id = _alert_id(fields)
                if alert_id:
                    hashes.append(f"{self.prefix}alert:{alert_id}")
            last = _text(entries[-1][0])
            indexed += int(await self._script(keys=hashes, args=[self.prefix, last]))
            read += len(entries)
            if len(entries) < self.batch:
                break
        return indexed


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _alert_id(fields: Mapping[Any, Any]) -> str:
    raw = fields.get("alert", fields.get(b"alert"))
    if raw is None:
        return ""
    try:
        alert = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return ""
    alert_id = alert.get("alert_id") if isinstance(alert, dict) else None
    return alert_id if isinstance(alert_id, str) else ""
