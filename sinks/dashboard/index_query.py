"""Queries over every alert through the Redis indexes (sinks/alert_index.py).

A filter on status, detector, severity, unit and district is an intersection of sorted
sets (a union within a facet of several values). A page without text search or recusals
is one Lua call that walks the smallest single-valued set in score order, checks the
others' membership (ZMSCORE) a chunk at a time and stops once the page is full; it counts
with ZINTERCARD (no time window) or by the same walk (a time window), so nothing is
materialised and a write (which changes the index version) costs it nothing. Otherwise
(recusals, text search, summaries) the intersection is stored (cached per index version),
an investigator's recusals are subtracted from it, and a page is a score range of the
result, newest or oldest first; counts, ranking, options and the chart are sums over the
cube's cells. Only the text search (and a time window
with a search) reads alerts one by one, newest first, up to ``SCAN_LIMIT`` of them, and
says so (``exact: false``) when it stopped there.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from redis.asyncio import Redis

from sinks.alert_index import FACETS, HOUR_MS, Cell, IndexCatchUp, IndexKeys
from sinks.dashboard.query import SEVERITY_WEIGHT, UNRESOLVED, AlertFilter, summary
from sinks.dashboard.store import CASE_FIELDS, with_case

SCAN_LIMIT = 20_000
WALK_CHUNK = 1000  # members a page's walk checks per step
STORE_MAX = 20_000  # a result expected smaller than this is intersected, not walked
CHUNK = 500
TMP_TTL_S = 30
ROW_FIELDS = ["alert", *CASE_FIELDS]


@dataclass(frozen=True)
class Hidden:
    """What one reader may not see: alerts of these units and these alert ids."""

    units: frozenset[str] = frozenset()
    alert_ids: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.units or self.alert_ids)


@dataclass
class Page:
    alerts: list[dict[str, Any]]
    matched: int
    exact: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


def _values(want: str) -> list[str]:
    return [v for v in want.split(",") if v] if want else []


class AlertIndex:
    def __init__(self, redis: Redis, prefix: str = "sunlight:") -> None:
        self.redis = redis
        self.keys = IndexKeys(prefix)
        self.prefix = prefix
        self.catch_up = IndexCatchUp(redis, prefix)
        self._rollup = redis.register_script(_ROLLUP_LUA)
        self._refresh_lock = asyncio.Lock()
        fields = ", ".join(f"'{f}'" for f in ROW_FIELDS)
        self._page_script = redis.register_script(_PAGE_LUA.replace("ROW_FIELDS", fields))
        self._walk_script = redis.register_script(_WALK_LUA.replace("ROW_FIELDS", fields))
        self.walk_chunk = WALK_CHUNK
        self.store_max = STORE_MAX

    async def refresh(self) -> None:
        """Index anything that reached the stream without being indexed (one pass at a
        time per dashboard; the writers keep the cursor at the head when they can)."""
        async with self._refresh_lock:
            await self.catch_up.run()

    # --- candidate sets ---------------------------------------------------------------

    async def _tmp(self, kind: str, spec: object) -> tuple[str, bool]:
        version = await self.redis.get(self.keys.version) or "0"
        digest = hashlib.sha1(orjson.dumps([version, spec]), usedforsecurity=False)
        key = f"{self.keys.base}tmp:{kind}:{digest.hexdigest()}"
        return key, bool(await self.redis.exists(key))

    def queue_key(self, queue: str, user: str) -> str:
        kind, _, name = queue.partition(":")
        if queue == "overdue":
            return self.keys.overdue
        if queue == "mine":
            return self.keys.assignee(user)
        if kind == "assignee":
            return self.keys.assignee(name)
        if kind == "queue":
            return self.keys.queue(name)
        return f"{self.keys.base}none"  # an unknown queue holds nothing

    async def candidates(self, filt: AlertFilter, hidden: Hidden = Hidden(),
                         user: str = "") -> str:
        """A sorted set holding exactly the alerts the filter's facets and `hidden` allow."""
        sets: list[str] = [self.queue_key(filt.queue, user)] if filt.queue else []
        for name in FACETS:
            values = _values(getattr(filt, name))
            if len(values) == 1:
                sets.append(self.keys.facet(name, values[0]))
            elif values:
                key, ready = await self._tmp("union", [name, sorted(values)])
                if not ready:
                    members = [self.keys.facet(name, v) for v in values]
                    async with self.redis.pipeline(transaction=True) as pipe:
                        pipe.zunionstore(key, members, aggregate="MIN")
                        pipe.expire(key, TMP_TTL_S)
                        await pipe.execute()
                sets.append(key)
        if not sets:
            base = self.keys.all
        elif len(sets) == 1:
            base = sets[0]
        else:
            base, ready = await self._tmp("inter", sets)
            if not ready:
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.zinterstore(base, sets, aggregate="MIN")
                    pipe.expire(base, TMP_TTL_S)
                    await pipe.execute()
        if not hidden:
            return base
        key, ready = await self._tmp("visible", [base, sorted(hidden.units),
                                                 sorted(hidden.alert_ids)])
        if not ready:
            ids_key = key + ":ids"
            async with self.redis.pipeline(transaction=True) as pipe:
                if hidden.alert_ids:
                    pipe.zadd(ids_key, dict.fromkeys(hidden.alert_ids, 0))
                    pipe.expire(ids_key, TMP_TTL_S)
                minus = [self.keys.facet("unit", u) for u in sorted(hidden.units)]
                if hidden.alert_ids:
                    minus.append(ids_key)
                pipe.zdiffstore(key, [base, *minus])
                pipe.expire(key, TMP_TTL_S)
                await pipe.execute()
        return key

    # --- pages ------------------------------------------------------------------------

    async def rows(self, ids: Iterable[str]) -> list[dict[str, Any]]:
        ids = list(ids)
        async with self.redis.pipeline(transaction=False) as pipe:
            for alert_id in ids:
                pipe.hmget(f"{self.prefix}alert:{alert_id}", ROW_FIELDS)
            raw = await pipe.execute()
        out = []
        for values in raw:
            row = dict(zip(ROW_FIELDS, values, strict=True))
            if not row["alert"]:
                continue
            try:
                alert = orjson.loads(row["alert"])
            except orjson.JSONDecodeError:
                continue
            if isinstance(alert, dict):
                out.append(with_case(alert, row))
        return out

    async def _range(self, key: str, lo: float, newest: bool, offset: int,
                     count: int) -> list[str]:
        if newest:
            got = await self.redis.zrevrangebyscore(key, "+inf", lo, start=offset, num=count)
        else:
            got = await self.redis.zrangebyscore(key, lo, "+inf", start=offset, num=count)
        return [g.decode() if isinstance(g, bytes) else str(g) for g in got]

    async def page(self, filt: AlertFilter, now_ms: int, *, newest: bool = True,
                   offset: int = 0, limit: int = 500, masked: bool = False,
                   hidden: Hidden = Hidden(), user: str = "", stored: bool = False) -> Page:
        """A page of the filter's alerts and how many match. ``stored``: intersect into a
        stored set first (the way before the walk; the benchmark's reference)."""
        lo = now_ms - filt.since_hours * HOUR_MS if filt.since_hours else float("-inf")
        if not filt.q and not hidden and not stored:
            groups = self._groups(filt, user)
            args: list[Any] = [self.prefix, "-inf" if lo == float("-inf") else int(lo),
                               1 if newest else 0, offset, limit, self.walk_chunk,
                               self.store_max]
            for group in groups:
                args += [len(group), *group]
            got = await self._walk_script(args=args)
            if got is not None:  # None: no single-valued facet to walk
                count, rows = got
                return Page(self._decode_rows(rows), int(count))
        simple = self._simple_sets(filt, user)
        if not filt.q and not hidden and simple is not None:
            # one round trip: intersect (cached per index version), count, range, rows
            count, rows = await self._page_script(args=[
                self.prefix, "-inf" if lo == float("-inf") else int(lo),
                1 if newest else 0, offset, limit, *simple])
            return Page(self._decode_rows(rows), int(count))
        key = await self.candidates(filt, hidden, user)
        if not filt.q:
            matched = int(await self.redis.zcount(key, lo, "+inf"))
            ids = await self._range(key, lo, newest, offset, limit)
            return Page(await self.rows(ids), matched)
        found, exact = await self.scan(key, filt, now_ms, lo, newest, masked)
        return Page(found[offset: offset + limit], len(found), exact)

    def _groups(self, filt: AlertFilter, user: str) -> list[list[str]]:
        """The filter as sets: a union within each group, the intersection across them."""
        groups = [[self.queue_key(filt.queue, user)]] if filt.queue else []
        for name in FACETS:
            values = _values(getattr(filt, name))
            if values:
                groups.append([self.keys.facet(name, v) for v in values])
        return groups

    def _simple_sets(self, filt: AlertFilter, user: str) -> list[str] | None:
        """The sorted sets to intersect when every facet names at most one value."""
        sets = [self.queue_key(filt.queue, user)] if filt.queue else []
        for name in FACETS:
            values = _values(getattr(filt, name))
            if len(values) > 1:
                return None
            if values:
                sets.append(self.keys.facet(name, values[0]))
        return sets

    def _decode_rows(self, raw: list[list[Any]]) -> list[dict[str, Any]]:
        out = []
        for values in raw:
            row = dict(zip(ROW_FIELDS, [None if v is False else v for v in values],
                           strict=False))
            if not row.get("alert"):
                continue
            try:
                alert = orjson.loads(row["alert"])
            except orjson.JSONDecodeError:
                continue
            if isinstance(alert, dict):
                out.append(with_case(alert, row))
        return out

    async def scan(self, key: str, filt: AlertFilter, now_ms: int, lo: float,
                   newest: bool = True, masked: bool = False) -> tuple[list[dict[str, Any]], bool]:
        """Alerts of `key` in the time window that pass the text search (up to SCAN_LIMIT
        read); returns them and whether the scan covered everything."""
        found: list[dict[str, Any]] = []
        read = 0
        while read < SCAN_LIMIT:
            ids = await self._range(key, lo, newest, read, CHUNK)
            if not ids:
                return found, True
            read += len(ids)
            found += [a for a in await self.rows(ids) if filt.accepts(a, now_ms, masked)]
            if len(ids) < CHUNK:
                return found, True
        more = await self._range(key, lo, newest, read, 1)
        return found, not more

    # --- counts -----------------------------------------------------------------------

    async def cells(self, key: str) -> dict[Cell, int]:
        raw = await self.redis.hgetall(key)
        out: dict[Cell, int] = {}
        for cell, n in raw.items():
            text = cell.decode() if isinstance(cell, bytes) else str(cell)
            count = int(n)
            if count:
                out[Cell.parse(text)] = count
        return out

    async def _hidden_cells(self, hidden: Hidden) -> list[tuple[Cell, int]]:
        """Cells (with raised hour) of the individually hidden alerts, to subtract."""
        if not hidden.alert_ids:
            return []
        ids = sorted(hidden.alert_ids)
        async with self.redis.pipeline(transaction=False) as pipe:
            for alert_id in ids:
                pipe.hmget(f"{self.prefix}alert:{alert_id}",
                           ["indexed", "facets", "status", "raised_ms"])
            raw = await pipe.execute()
        out = []
        for indexed, facets, status, raised in raw:
            if not indexed:
                continue
            det, sev, unit, dist = (str(facets or "").split("\x1f") + ["", "", "", ""])[:4]
            if unit in hidden.units:
                continue  # already gone with its unit
            out.append((Cell(det, sev, status or "open", unit, dist), int(raised or 0)))
        return out

    def _wanted(self, filt: AlertFilter, hidden: Hidden):  # type: ignore[no-untyped-def]
        wants = {name: set(_values(getattr(filt, name))) for name in FACETS}

        def ok(cell: Cell) -> bool:
            if cell.unit in hidden.units:
                return False
            return all(not want or cell.get(name) in want for name, want in wants.items())

        return ok

    async def summary(self, filt: AlertFilter, now_ms: int, masked: bool = False,
                      hidden: Hidden = Hidden(), hours: int = 24,
                      user: str = "") -> dict[str, Any]:
        end = (now_ms // HOUR_MS + 1) * HOUR_MS
        start = end - hours * HOUR_MS
        hour_keys = [self.keys.hour(start + i * HOUR_MS) for i in range(hours)]
        wanted = [SEP2.join(_values(getattr(filt, f))) for f in CELL_ORDER]
        raw = await self._rollup(keys=[self.keys.cube, *hour_keys],
                                 args=[*wanted, SEP2.join(sorted(hidden.units))])
        r1, r2, r3, opt_det, opt_unit, opt_dist, chart_raw = orjson.loads(raw)
        options = {"detector": sorted(opt_det), "district": sorted(opt_dist),
                   "unit": sorted(opt_unit)}
        key = await self.candidates(filt, hidden, user)
        if filt.q or filt.since_hours or filt.queue:
            lo = now_ms - filt.since_hours * HOUR_MS if filt.since_hours else float("-inf")
            found, exact = await self.scan(key, filt, now_ms, lo, masked=masked)
            out = summary(found, now_ms, hours)
            return {**out, "options": options, "exact": exact}
        rolled = Rollup.parse(r1, r2, r3)
        ok = self._wanted(filt, hidden)
        minus = [(c, raised) for c, raised in await self._hidden_cells(hidden) if ok(c)]
        for c, _raised in minus:
            rolled.add(c, -1)
        chart = []
        for i, counts in enumerate(chart_raw):
            bucket = {"start_ms": start + i * HOUR_MS,
                      **dict(zip(SEVERITY_ORDER, counts, strict=True))}
            for c, raised in minus:
                if start + i * HOUR_MS <= raised < start + (i + 1) * HOUR_MS and \
                        c.severity in SEVERITY_WEIGHT:
                    bucket[c.severity] -= 1
            chart.append(bucket)
        last_hour = int(await self.redis.zcount(key, now_ms - HOUR_MS, "+inf"))
        return {**rolled.summary(), "chart": chart, "last_hour": last_hour,
                "options": options, "exact": True}


# ARGV: prefix, lo score, newest (1/0), offset, limit, then the sets to intersect.
_PAGE_LUA = r"""
local prefix = ARGV[1]
local sets = {}
for i = 6, #ARGV do sets[#sets + 1] = ARGV[i] end
local key
if #sets == 0 then
  key = prefix .. 'idx:all'
elseif #sets == 1 then
  key = sets[1]
else
  local version = redis.call('GET', prefix .. 'idx:version') or '0'
  key = prefix .. 'idx:tmp:page:' .. version .. ':' .. table.concat(sets, '|')
  if redis.call('EXISTS', key) == 0 then
    local args = {key, #sets}
    for _, k in ipairs(sets) do args[#args + 1] = k end
    args[#args + 1] = 'AGGREGATE'
    args[#args + 1] = 'MIN'
    redis.call('ZINTERSTORE', unpack(args))
    redis.call('EXPIRE', key, 30)
  end
end
local count = redis.call('ZCOUNT', key, ARGV[2], '+inf')
local ids
if ARGV[3] == '1' then
  ids = redis.call('ZREVRANGEBYSCORE', key, '+inf', ARGV[2], 'LIMIT', ARGV[4], ARGV[5])
else
  ids = redis.call('ZRANGEBYSCORE', key, ARGV[2], '+inf', 'LIMIT', ARGV[4], ARGV[5])
end
local rows = {}
for i, id in ipairs(ids) do
  rows[i] = redis.call('HMGET', prefix .. 'alert:' .. id, ROW_FIELDS)
end
return {count, rows}
"""

# ARGV: prefix, lo score, newest (1/0), offset, limit, chunk, store_max, then groups: a
# count n and n sorted sets (a member of the filter is in some set of every group).
# Returns nil when no group has exactly one set (the caller stores the intersection).
#
# The smallest single-set group drives: its window is walked in score order (ties by
# member, as a stored intersection orders them) a chunk at a time, each chunk's members
# checked against the other groups with ZMSCORE. The first chunk tells how dense the
# result is. Dense (more than store_max expected): the walk goes on until the page is full
# (a few chunks at most) and ZINTERCARD counts, summed over the combinations of the
# groups' sets (an alert has one value per facet, so they are disjoint); the count is
# cached per index version (30 s), as stored intersections are. Sparse: a walk would be
# long, so the result is intersected in C (the single-valued sets first, then each
# combination of the several-valued ones over that, and their union), small because
# sparse, kept 30 s for this index version; its size is the count. A time window (or
# more than MAX_COMBOS combinations) walks the whole window and counts what passed.
_WALK_LUA = r"""
local prefix, lo, newest = ARGV[1], ARGV[2], ARGV[3] == '1'
local offset, limit = tonumber(ARGV[4]), tonumber(ARGV[5])
local CHUNK, STORE_MAX, MAX_COMBOS = tonumber(ARGV[6]), tonumber(ARGV[7]), 16
local groups, i = {}, 8
while i <= #ARGV do
  local n, g = tonumber(ARGV[i]), {}
  for j = 1, n do g[j] = ARGV[i + j] end
  groups[#groups + 1] = g
  i = i + n + 1
end
if #groups == 0 then groups = {{prefix .. 'idx:all'}} end
local function rows_of(ids)
  local rows = {}
  for k, id in ipairs(ids) do
    rows[k] = redis.call('HMGET', prefix .. 'alert:' .. id, ROW_FIELDS)
  end
  return rows
end
local function range(key, off, n)
  if newest then
    return redis.call('ZREVRANGEBYSCORE', key, '+inf', lo, 'LIMIT', off, n)
  end
  return redis.call('ZRANGEBYSCORE', key, lo, '+inf', 'LIMIT', off, n)
end
local driver, dcard
for gi, g in ipairs(groups) do
  if #g == 1 then
    local c = redis.call('ZCARD', g[1])
    if dcard == nil or c < dcard then driver, dcard = gi, c end
  end
end
if driver == nil then return nil end
local dkey = groups[driver][1]
local others = {}
for gi, g in ipairs(groups) do if gi ~= driver then others[#others + 1] = g end end
local inwin = redis.call('ZCOUNT', dkey, lo, '+inf')
if #others == 0 then return {inwin, rows_of(range(dkey, offset, limit))} end
local combos = 1
for _, g in ipairs(others) do combos = combos * #g end
-- fn(keys) for every combination: `first` and one set of each group of `gs`
local function each_combo(first, gs, fn)
  local at = {}
  for k = 1, #gs do at[k] = 1 end
  while true do
    local keys = {first}
    for k, g in ipairs(gs) do keys[#keys + 1] = g[at[k]] end
    fn(keys)
    local k = 1
    while k <= #gs do
      at[k] = at[k] + 1
      if at[k] <= #gs[k] then break end
      at[k] = 1
      k = k + 1
    end
    if k > #gs then return end
  end
end
local function store(op, dest, keys)
  local args = {dest, #keys}
  for _, k in ipairs(keys) do args[#args + 1] = k end
  args[#args + 1] = 'AGGREGATE'
  args[#args + 1] = 'MIN'
  redis.call(op, unpack(args))
end
local version = redis.call('GET', prefix .. 'idx:version') or '0'
local spec = {}
for _, g in ipairs(groups) do spec[#spec + 1] = table.concat(g, ',') end
spec = version .. ':' .. table.concat(spec, '|')
local stop = offset + limit
local found, ids, pos = 0, {}, 0
local base = dcard - inwin
local function walk_chunk()
  local last = math.min(pos + CHUNK, inwin) - 1
  local batch
  if newest then
    batch = redis.call('ZREVRANGE', dkey, pos, last)
  else
    batch = redis.call('ZRANGE', dkey, base + pos, base + last)
  end
  if #batch == 0 then pos = inwin return end
  pos = pos + #batch
  local ok = {}
  for j = 1, #batch do ok[j] = true end
  for _, g in ipairs(others) do
    local any = {}
    for _, key in ipairs(g) do
      local scores = redis.call('ZMSCORE', key, unpack(batch))
      for j = 1, #batch do if scores[j] then any[j] = true end end
    end
    for j = 1, #batch do if not any[j] then ok[j] = false end end
  end
  for j = 1, #batch do
    if ok[j] then
      found = found + 1
      if found > offset and found <= stop then ids[#ids + 1] = batch[j] end
    end
  end
end
walk_chunk()
local counted = lo == '-inf' and combos <= MAX_COMBOS
if counted and pos < inwin and found < stop and found * inwin <= STORE_MAX * pos then
  -- sparse: the single-valued groups intersected first (in C), then each combination of
  -- the several-valued ones over that, their union kept 30 s for this index version
  local key = prefix .. 'idx:tmp:sparse:' .. spec
  if redis.call('EXISTS', key) == 0 then
    local scratch = prefix .. 'idx:tmp:walk'
    local singles, multis = {dkey}, {}
    for _, g in ipairs(others) do
      if #g == 1 then singles[#singles + 1] = g[1] else multis[#multis + 1] = g end
    end
    local made, base = {}, dkey
    if #singles > 1 then
      base = scratch .. ':s'
      store('ZINTERSTORE', base, singles)
      made[#made + 1] = base
    end
    if #multis == 0 then
      if redis.call('EXISTS', base) == 1 then redis.call('RENAME', base, key) end
      made = {}  -- (an empty intersection stores no key: nothing to rename or keep)
    else
      local parts = {}
      each_combo(base, multis, function(keys)
        local part = scratch .. ':' .. (#parts + 1)
        store('ZINTERSTORE', part, keys)
        parts[#parts + 1] = part
        made[#made + 1] = part
      end)
      store('ZUNIONSTORE', key, parts)
    end
    redis.call('EXPIRE', key, 30)
    if #made > 0 then redis.call('DEL', unpack(made)) end
  end
  return {redis.call('ZCARD', key), rows_of(range(key, offset, limit))}
end
while pos < inwin and not (counted and found >= stop) do walk_chunk() end
local count = found
if counted and pos < inwin then
  -- cached per index version, as stored intersections are: any write bumps the version
  local ckey = prefix .. 'idx:tmp:count:' .. spec
  local cached = redis.call('GET', ckey)
  if cached then
    count = tonumber(cached)
  else
    count = 0
    each_combo(dkey, others, function(keys)
      count = count + redis.call('ZINTERCARD', #keys, unpack(keys))
    end)
    redis.call('SET', ckey, count, 'EX', 30)
  end
end
return {count, rows_of(ids)}
"""
SEP2 = "\x1e"
CELL_ORDER = ("detector", "severity", "status", "unit", "district")
SEVERITY_ORDER = ("low", "medium", "high", "critical")

# KEYS[1] = the cube, KEYS[2..] = hour hashes; ARGV[1..5] = wanted values of detector,
# severity, status, unit, district (\30-separated, '' = any); ARGV[6] = hidden units.
# Sums the matching cells server-side into three small roll-ups ((detector|unit|district)
# x severity x status), the filter options and the chart: a few hundred numbers cross
# the wire instead of every cell.
_ROLLUP_LUA = r"""
local function set(s)
  local t = {}
  for v in string.gmatch(s, '([^\30]+)') do t[v] = true end
  return t, s == ''
end
local want, any = {}, {}
for i = 1, 5 do want[i], any[i] = set(ARGV[i]) end
local hidden = set(ARGV[6])
local function split(cell)
  local p, start = {}, 1
  for i = 1, 4 do
    local j = string.find(cell, '\31', start, true)
    if not j then return nil end
    p[i] = string.sub(cell, start, j - 1)
    start = j + 1
  end
  p[5] = string.sub(cell, start)
  return p
end
local function ok(p)
  if hidden[p[4]] then return false end
  for i = 1, 5 do
    if not any[i] and not want[i][p[i]] then return false end
  end
  return true
end
local r1, r2, r3, od, ou, odi = {}, {}, {}, {}, {}, {}
local seen_d, seen_u, seen_di = {}, {}, {}
local flat = redis.call('HGETALL', KEYS[1])
for i = 1, #flat, 2 do
  local p = split(flat[i])
  local n = tonumber(flat[i + 1])
  if p and n ~= 0 then
    if p[1] ~= '' and not seen_d[p[1]] then seen_d[p[1]] = 1; od[#od + 1] = p[1] end
    if p[4] ~= '' and not seen_u[p[4]] then seen_u[p[4]] = 1; ou[#ou + 1] = p[4] end
    if p[5] ~= '' and not seen_di[p[5]] then seen_di[p[5]] = 1; odi[#odi + 1] = p[5] end
    if ok(p) then
      local tail = '\31' .. p[2] .. '\31' .. p[3]
      r1[p[1] .. tail] = (r1[p[1] .. tail] or 0) + n
      r2[p[4] .. tail] = (r2[p[4] .. tail] or 0) + n
      r3[p[5] .. tail] = (r3[p[5] .. tail] or 0) + n
    end
  end
end
local sev = {low = 1, medium = 2, high = 3, critical = 4}
local chart = {}
for h = 2, #KEYS do
  local b = {0, 0, 0, 0}
  local fl = redis.call('HGETALL', KEYS[h])
  for i = 1, #fl, 2 do
    local p = split(fl[i])
    if p and ok(p) and sev[p[2]] then b[sev[p[2]]] = b[sev[p[2]]] + tonumber(fl[i + 1]) end
  end
  chart[#chart + 1] = b
end
local function pairs_of(t)
  local out = {}
  for k, v in pairs(t) do out[#out + 1] = {k, v} end
  if #out == 0 then return cjson.decode('[]') end
  return out
end
local function list(t) if #t == 0 then return cjson.decode('[]') end return t end
return cjson.encode({pairs_of(r1), pairs_of(r2), pairs_of(r3), list(od), list(ou), list(odi),
                     chart})
"""


@dataclass
class Rollup:
    """Counts per (name, severity, status) for detectors, units and districts."""

    detector: Counter[tuple[str, str, str]]
    unit: Counter[tuple[str, str, str]]
    district: Counter[tuple[str, str, str]]

    @classmethod
    def parse(cls, *rolls: list[list[Any]]) -> Rollup:
        parsed = []
        for roll in rolls:
            c: Counter[tuple[str, str, str]] = Counter()
            for k, n in roll:
                name, sev, status = str(k).split("\x1f")
                c[(name, sev, status)] += int(n)
            parsed.append(c)
        return cls(*parsed)

    def add(self, cell: Cell, n: int) -> None:
        self.detector[(cell.detector, cell.severity, cell.status)] += n
        self.unit[(cell.unit, cell.severity, cell.status)] += n
        self.district[(cell.district, cell.severity, cell.status)] += n

    def summary(self) -> dict[str, Any]:
        counts: Counter[Cell] = Counter({Cell(d, s, st, "", ""): n
                                         for (d, s, st), n in self.detector.items()})
        out = cube_summary(counts)
        out["ranking"] = {
            "unit": cube_ranking(Counter({Cell("", s, st, u, ""): n
                                          for (u, s, st), n in self.unit.items()}), "unit"),
            "district": cube_ranking(Counter({Cell("", s, st, "", d): n
                                              for (d, s, st), n in self.district.items()}),
                                     "district"),
        }
        return out


def cube_summary(counts: Counter[Cell]) -> dict[str, Any]:
    by_detector: Counter[str] = Counter()
    by_severity: Counter[str] = Counter()
    by_status: Counter[str] = Counter()
    for c, n in counts.items():
        by_detector[c.detector] += n
        by_severity[c.severity] += n
        by_status[c.status] += n
    unresolved = sum(n for c, n in counts.items() if c.status in UNRESOLVED)
    critical_open = sum(n for c, n in counts.items()
                        if c.status in UNRESOLVED and c.severity == "critical")
    return {
        "total": sum(counts.values()),
        "unresolved": unresolved,
        "critical_open": critical_open,
        "by_detector": {k: v for k, v in by_detector.most_common() if v},
        "by_severity": {k: v for k, v in by_severity.items() if v},
        "by_status": {k: v for k, v in by_status.items() if v},
        "ranking": {"unit": cube_ranking(counts, "unit"),
                    "district": cube_ranking(counts, "district")},
    }


def cube_ranking(counts: Counter[Cell], facet: str, top: int = 10) -> list[dict[str, Any]]:
    """Units (or districts) by severity-weighted unresolved alerts, worst first."""
    rows: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"score": 0, "open": 0, "critical": 0, "high": 0, "confirmed": 0})
    for c, n in counts.items():
        if n <= 0:
            continue
        row = rows[c.get(facet) or "—"]
        if c.status in UNRESOLVED:
            row["score"] += SEVERITY_WEIGHT.get(c.severity, 1) * n
            row["open"] += n
            if c.severity in ("critical", "high"):
                row[c.severity] += n
        elif c.status == "confirmed":
            row["confirmed"] += n
    ordered = sorted(rows.items(), key=lambda kv: (-kv[1]["score"], kv[0]))
    return [{"name": name, **row} for name, row in ordered[:top]]
