"""`sunlight replay --workers N`: one replay split over N processes, the alerts of one.

The keyed events are sharded the way live partitions them (`partition_for` of the
entity: gps by vehicle, payments by payee, reviews by case); everything else (the
registry, fuel, deaths, any kind without a fixed entity) every shard sees, as every live
worker reads the broadcast topics, and each shard keeps the keys that are its own (fuel
re-keyed by the card's binding at `ts`, deaths by person).

One process has one clock; so must the shards. Each shard reads every event in the
input's order: its own events whole, the others' activity as a bare `ts` (a tick that
moves its clock exactly as the event would). A shard therefore fires each of its timers
at the very clock and registry state one process would, and raises the same alerts.

1. Read and decode: every shard reads every line itself, in blocks of BLOCK_BYTES, and
   decodes and checks only the lines it answers for (the slow part, spread over the
   cores): those whose key, as the line's bytes show it (`"vehicle_id":"…"`, payee_id,
   case_id), is its own. The shards take turns, a block each, to place a block's lines
   (one regex pass over the block) and send the placement to the others. A line without
   a key (the registry, most broadcast kinds) every shard decodes. Of each line it
   decoded, a shard sends each other shard what that one needs: the event's `ts` (a
   tick), nothing (a rejected line), or the event whole (a kind every shard sees, or a
   key the bytes did not show as it decodes): an array of ticks and the few others,
   through a queue per shard. Correctness rests on the decoding alone; placing by the
   bytes only spreads it. The blocks go through a pipeline (placed two blocks ahead,
   decoded one ahead of the engine), each step sending before it waits, so a shard
   waits only on one a block behind. A `.jsonl.gz` input is first unpacked, once, to a
   temporary file.
2. Run: each shard's engine takes its items in line order (files merged by `ts` as one
   process merges them); the same items, event or tick, at the same positions in every
   shard. Rejects are reported by the shard that decoded the line.
3. Merge: each alert carries the input position that raised it (then the timer's
   instant, detector and key); sorting by that gives one deterministic order, the order
   of one process. Rejects go out in file and line order.
"""

from __future__ import annotations

import gc
import gzip
import heapq
import itertools
import multiprocessing
import pickle
import re
import shutil
import tempfile
import time
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from pathlib import Path
from typing import IO, Any, cast

import orjson

from detectors.config import DEFAULT_CONFIG_DIR, EngineConfig
from detectors.events import Rejected
from streams.batch import gctune
from streams.batch.replay import Replay, ReplayStats, kind_from_name
from streams.topics import partition_for

# Kinds sharded by their entity, as live partitions their topics; all are activity kinds.
SHARDED = {"gps": "vehicle_id", "payment": "payee_id", "review": "case_id"}
BLOCK_BYTES = 1 << 20
# A line's key as its bytes show it: for a whole block at once, the common spelling
# (the key first or second: `{"kind":"gps","vehicle_id":"V-1",…`), an empty match for
# any other line; for those, line by line, any spacing and place.
LINE_KEY = re.compile(rb'\n(?:\{(?:"[a-z_]+":"[^"\\\n]*",)?'
                      rb'"(?:vehicle_id|payee_id|case_id)":"([^"\\\n]*)")?')
KEY = re.compile(rb'"(?:vehicle_id|payee_id|case_id)"\s*:\s*"([^"\\]*)"')
Tag = tuple[Any, ...]
# What a shard takes from one line: an event, a tick (its ts), None, or a list of these.
Item = Any


class Sharder:
    """A key's shard: `partition_for`, cached (murmur2 is pure Python)."""

    def __init__(self, shards: int) -> None:
        self.shards = shards
        self.cache: dict[str, int] = {}

    def __call__(self, key: str) -> int:
        shard = self.cache.get(key)
        if shard is None:
            shard = self.cache[key] = partition_for(key, self.shards)
        return shard


@dataclass
class Source:
    path: Path  # an uncompressed file
    default_kind: str | None
    name: str  # as given, for the dead letters


@dataclass
class ShardResult:
    alerts: list[tuple[Tag, bytes]]
    events: Counter[str]
    rejects: list[tuple[int, int, str, str, bytes]]  # (file, line, reason, class, raw)
    cpu_s: float = 0.0


class _ShardReplay(Replay):
    """A replay whose rejects are kept, with their file, for the parent."""

    def __init__(self, config: EngineConfig, config_dir: Path) -> None:
        super().__init__(config, config_dir)
        self.file = 0
        self.kept: list[tuple[int, int, str, str, bytes]] = []

    def _reject(self, exc: Rejected, source: str, line_no: int, raw: bytes) -> None:
        self.kept.append((self.file, line_no, str(exc), exc.reason, raw))


# The configuration of this run, set in each process by `_init` (a frozen config holds
# mapping proxies, which do not pickle; forked processes inherit it as it is).
_CONFIG: tuple[EngineConfig, Path] | None = None


def _init(config: EngineConfig, config_dir: Path) -> None:
    global _CONFIG
    _CONFIG = (config, config_dir)
    # a shard's whole life is this replay: the GC as replay tunes it (gctune)
    gc.collect()
    gc.freeze()
    gc.set_threshold(*gctune.THRESHOLDS)


def _config() -> tuple[EngineConfig, Path]:
    assert _CONFIG is not None, "a shard process runs _init first"
    return _CONFIG


# --- 1. read and decode ---------------------------------------------------------------


class _KeyShards(dict[bytes, int]):
    """A key's shard by its bytes, cached; `every` for no key (b"")."""

    def __init__(self, sharder: Sharder, every: int) -> None:
        super().__init__()
        self.sharder, self.every = sharder, every

    def __missing__(self, key: bytes) -> int:
        shard = self[key] = self.sharder(key.decode(errors="replace")) if key else self.every
        return shard


def _blocks(f: IO[bytes]) -> Iterator[bytes]:
    """The file in blocks of whole lines (about BLOCK_BYTES; the last may lack its end)."""
    parts: list[bytes] = []
    while data := f.read(BLOCK_BYTES):
        cut = data.rfind(b"\n") + 1
        if not cut:
            parts.append(data)  # a line longer than a block
            continue
        parts.append(data[:cut])
        yield b"".join(parts)
        parts = [data[cut:]]
    tail = b"".join(parts)
    if tail:
        yield tail


class _Shard:
    """One shard's items of each file: decoded here, or received from the shard that
    decoded them."""

    def __init__(self, shard: int, shards: int, queues: list[Queue[Any]]) -> None:
        config, config_dir = _config()
        self.shard, self.shards, self.queues = shard, shards, queues
        self.replay = _ShardReplay(config, config_dir)
        self.sharder = Sharder(shards)
        self.key_shards = _KeyShards(self.sharder, shards)
        # messages by (what, from, file, block): "owners" (bytearray), "items" (ticks
        # and the other items)
        self.stash: dict[tuple[str, int, int, int], Any] = {}
        self.events: Counter[str] = Counter()

    def items(self, file: int, source: Source) -> Iterator[Item]:
        """This shard's items of one file, in line order: one per good event.

        A pipeline of blocks: block k+2 read and (by its scanner) placed, k+1 decoded,
        k assembled; each step sends what the others need before it waits on theirs."""
        with open(source.path, "rb") as f:
            blocks = enumerate(_blocks(f))
            scanned: list[tuple[int, list[bytes], int]] = []
            done, decoded = 0, None
            while True:
                for block, data in itertools.islice(blocks, 2 - len(scanned)):
                    lines = data.split(b"\n")
                    if data.endswith(b"\n"):
                        lines.pop()
                    self._scan(file, block, data, lines)
                    scanned.append((block, lines, done))
                    done += len(lines)
                ahead = self._decode(file, *scanned.pop(0), source) if scanned else None
                if decoded is not None:
                    yield from self._assemble(file, *decoded)
                if ahead is None:
                    return
                decoded = ahead

    def _scan(self, file: int, block: int, data: bytes, lines: list[bytes]) -> None:
        """Each line's decoding shard (`shards`: every one), by its key's bytes: worked
        out by one shard a block, in turn, and sent to the others."""
        if block % self.shards != self.shard:
            return
        keys = LINE_KEY.findall(b"\n" + data)
        if data.endswith(b"\n"):
            keys.pop()
        owners = bytearray(map(self.key_shards.__getitem__, keys))
        every = self.shards
        for n in itertools.compress(range(len(lines)), map(every.__eq__, owners)):
            owners[n] = self._line_shard(lines[n])  # not placed by the pattern: closer
        self.stash[("owners", self.shard, file, block)] = owners
        for k, queue in enumerate(self.queues):
            if k != self.shard:
                queue.put((("owners", self.shard, file, block), owners))

    def _line_shard(self, line: bytes) -> int:
        """The shard that decodes a line its block's pattern did not place: its key's,
        or `shards` (every shard) for a line without one."""
        found = KEY.search(line)
        return self.shards if found is None else self.key_shards[found.group(1)]

    def _decode(self, file: int, block: int, lines: list[bytes], done: int, source: Source
                ) -> tuple[int, bytearray, list[Item]]:
        """Decode the block's lines this shard answers for; send the others theirs."""
        me, shards = self.shard, self.shards
        replay = self.replay
        default_kind, name = source.default_kind, source.name
        quick = replay.quick_decoder(default_kind)
        replay.file = file
        cache = self.sharder.cache
        owners: bytearray = self._receive("owners", block % shards, file, block)
        counts: dict[str, int] = {}
        mine: list[Item] = []
        # to each other shard: ticks (a ts is never negative), and in their place -1 - n
        # for its n-th other item
        outs = [array("q") for _ in range(shards)]
        specials: list[list[Item]] = [[] for _ in range(shards)]
        others = [outs[k] for k in range(shards) if k != me]

        def special(k: int, item: Item) -> None:
            outs[k].append(-1 - len(specials[k]))
            specials[k].append(item)

        for n in itertools.compress(range(len(lines)), map({me, shards}.__contains__, owners)):
            line = lines[n]
            r = owners[n]
            event = quick(line)  # Replay.decode's common case
            if event is not None:
                kind = event["kind"]
                key_field = SHARDED.get(kind)
                if key_field is None:
                    owner = -1
                else:
                    key = event[key_field]
                    owner = cache.get(key, -1)
                    if owner < 0:
                        owner = self.sharder(key)
                if r == me or me == 0:
                    counts[kind] = counts.get(kind, 0) + 1
                if r == shards:  # every shard decodes it: ours, everyone's, or a tick
                    mine.append(event if owner == me or owner < 0 else event["ts_ms"])
                elif owner == me:
                    mine.append(event)
                    ts = event["ts_ms"]
                    for out in others:
                        out.append(ts)
                elif owner < 0:
                    mine.append(event)
                    for k in range(shards):
                        if k != me:
                            special(k, event)
                else:
                    ts = event["ts_ms"]
                    mine.append(ts)
                    for k, out in enumerate(outs):
                        if k == owner:
                            special(k, event)
                        elif k != me:
                            out.append(ts)
                continue
            # anything else, or anything that failed: the full path, which names the reason
            kept = len(replay.kept)
            events = list(replay._slow(line, done + n + 1, name, default_kind))
            if r == shards and me != 0:
                del replay.kept[kept:]  # shard 0 reports what every shard decodes
            per: list[list[Item]] = [[] for _ in range(shards)]
            for event in events:
                if r == me or me == 0:
                    counts[event["kind"]] = counts.get(event["kind"], 0) + 1
                key_field = SHARDED.get(event["kind"])
                owner = -1 if key_field is None else self.sharder(event[key_field])
                for k in range(shards):
                    per[k].append(event if owner < 0 or owner == k else event["ts_ms"])
            for k, got in enumerate(per):
                item = None if not got else got[0] if len(got) == 1 else got
                if k == me:
                    mine.append(item)
                elif r != shards:
                    if type(item) is int:
                        outs[k].append(item)
                    else:
                        special(k, item)
        self.events.update(counts)
        for k, out in enumerate(outs):
            if k != me:
                self.queues[k].put((("items", me, file, block), (out, specials[k])))
        return block, owners, mine

    def _receive(self, what: str, source: int, file: int, block: int) -> Any:
        key = (what, source, file, block)
        stash = self.stash
        while key not in stash:
            tag, message = self.queues[self.shard].get()
            stash[tag] = message
        return stash.pop(key)

    def _assemble(self, file: int, block: int, owners: bytearray, mine: list[Item]
                  ) -> Iterator[Item]:
        own = iter(mine)
        # by decoding shard (the last one: every shard): where its lines' items are
        sources: list[Iterator[Item]] = []
        specials: list[list[Item]] = []
        for k in range(self.shards):
            ticks, other = ([], []) if k == self.shard else self._receive("items", k, file,
                                                                          block)
            sources.append(own if k == self.shard else iter(ticks))
            specials.append(other)
        sources.append(own)
        for r in owners:
            item = next(sources[r])
            if type(item) is int:
                if item >= 0:
                    yield item
                    continue
                item = specials[r][-1 - item]
            if item is None:
                continue
            if type(item) is list:
                yield from item
            else:
                yield item


# --- 2. run ---------------------------------------------------------------------------


class _Owned(dict[str, bool]):
    """Whether this shard keeps a key, cached: a hit is one C call, as the engine asks
    for every event and timer.

    `strict`, for the keys of a sharded event: that event is ours by its entity, and a
    detector keying it otherwise would need it in another shard too; refuse rather than
    miss its alerts."""

    def __init__(self, sharder: Sharder, shard: int, strict: bool) -> None:
        super().__init__()
        self.sharder, self.shard, self.strict = sharder, shard, strict

    def __missing__(self, key: str) -> bool:
        mine = self.sharder(key) == self.shard
        if not mine and self.strict:
            raise ValueError(f"replay --workers: a detector keys a sharded event by {key!r}, "
                             "not by its entity; add its kind to the shared kinds")
        self[key] = mine
        return mine


def _ts(item: Any) -> int:
    return item if type(item) is int else item["ts_ms"]  # type: ignore[no-any-return]


def _run_shard(shard: int, shards: int, sources: list[Source], queues: list[Queue[Any]],
               until_ms: int | None) -> ShardResult:
    began = time.process_time()
    reader = _Shard(shard, shards, queues)
    engine = reader.replay.engine
    engine.clock_end = until_ms
    sharder = reader.sharder
    engine.fire_log = log = []
    out: list[tuple[Tag, bytes]] = []

    owns = _Owned(sharder, shard, strict=False).__getitem__
    must_own = _Owned(sharder, shard, strict=True).__getitem__

    def keep(step: int, alerts: list[dict[str, Any]]) -> None:
        # on-arrival alerts first (those before the first timer), then each timer's
        firsts = [entry[3] for entry in log] + [len(alerts)]
        for r, alert in enumerate(alerts[: firsts[0]]):
            out.append(((step, 0, r), orjson.dumps(alert)))
        for n, (due, i, key, first) in enumerate(log):
            for r, alert in enumerate(alerts[first : firsts[n + 1]]):
                out.append(((step, 1, due, i, key, r), orjson.dumps(alert)))
        log.clear()

    streams = [reader.items(n, source) for n, source in enumerate(sources)]
    merged = streams[0] if len(streams) == 1 else heapq.merge(*streams, key=_ts)
    step = 0
    for step, item in enumerate(merged, 1):
        if type(item) is int:
            if engine.max_ts is not None and item <= engine.max_ts:
                continue  # the clock stays: nothing falls due
            alerts = engine.see_ts(item)
        elif item["kind"] in SHARDED:
            engine.owns = must_own
            alerts = engine.process(item)
        else:
            engine.owns = owns
            alerts = engine.process(item)
        if alerts or log:
            keep(step, alerts)
    end = until_ms if until_ms is not None else engine.max_ts
    if end is not None:
        keep(step + 1, engine.advance_to(end))
    return ShardResult(out, reader.events, reader.replay.kept,
                       time.process_time() - began)


def _shard_main(shard: int, shards: int, sources: list[Source], queues: list[Queue[Any]],
                tmp: Path, until_ms: int | None, config: EngineConfig, config_dir: Path
                ) -> None:
    """A shard process: its result, or its error, to a file for the parent."""
    _init(config, config_dir)
    try:
        result = _run_shard(shard, shards, sources, queues, until_ms)
    except Exception as exc:
        try:
            data = pickle.dumps(exc)
        except Exception:  # noqa: BLE001 - an error that does not pickle: its text
            data = pickle.dumps(RuntimeError(f"replay --workers, shard {shard}: {exc!r}"))
        (tmp / f"error-{shard}").write_bytes(data)
        for queue in queues:
            queue.cancel_join_thread()  # its peers are stopped: exit unflushed
        raise
    with open(tmp / f"shard-{shard}", "wb") as f:
        pickle.dump(result, f, protocol=pickle.HIGHEST_PROTOCOL)


def _join(procs: list[BaseProcess], tmp: Path) -> None:
    """Wait for every shard; on the first that fails, stop the others and raise its error."""
    alive = {p.sentinel: (n, p) for n, p in enumerate(procs)}
    try:
        while alive:
            for sentinel in wait(list(alive)):
                n, p = alive.pop(cast(int, sentinel))  # a process sentinel: an fd
                p.join()
                if p.exitcode != 0:
                    error = tmp / f"error-{n}"
                    if error.exists():
                        raise pickle.loads(error.read_bytes())
                    raise RuntimeError(f"replay --workers: shard {n} exited with "
                                       f"{p.exitcode}")
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join()


# --- the whole ------------------------------------------------------------------------


def _plain(path: Path, tmp: Path, n: int) -> Path:
    if path.suffix != ".gz":
        return path
    dst = tmp / f"input-{n}.jsonl"
    with gzip.open(path, "rb") as src, open(dst, "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)
    return dst


def _plain_task(args: tuple[Path, Path, int]) -> tuple[Path, float]:
    began = time.process_time()
    return _plain(*args), time.process_time() - began


def replay_parallel(
    paths: list[Path],
    out: IO[bytes],
    workers: int,
    config: EngineConfig,
    config_dir: Path = DEFAULT_CONFIG_DIR,
    until_ms: int | None = None,
    dlq: IO[bytes] | None = None,
    tmp_root: Path | None = None,
) -> ReplayStats:
    """Replay `paths` over `workers` processes; the alerts and order of one process."""
    if not 1 <= workers < 255:  # a line's shard is a byte: 0..N, N meaning every shard
        raise ValueError(f"--workers: {workers} is outside [1, 254]")
    stats = ReplayStats()
    start, began = time.perf_counter(), time.process_time()
    phases: list[list[float]] = []  # each phase's CPU time by process
    # fork: the shard processes inherit the loaded configuration and modules
    ctx = multiprocessing.get_context("fork")
    with tempfile.TemporaryDirectory(prefix="sunlight-replay-", dir=tmp_root) as name:
        tmp = Path(name)
        plain = list(paths)
        packed = [n for n, p in enumerate(paths) if p.suffix == ".gz"]
        if packed:  # each gzip file unpacked once, by a process of its own
            with ctx.Pool(min(workers, len(packed))) as pool:
                unpacked = pool.map(_plain_task, [(paths[n], tmp, n) for n in packed])
            for n, (path, _) in zip(packed, unpacked, strict=True):
                plain[n] = path
            phases.append([cpu for _, cpu in unpacked])
        sources = [Source(p, kind_from_name(original), str(original))
                   for original, p in zip(paths, plain, strict=True)]
        queues: list[Queue[Any]] = [ctx.Queue() for _ in range(workers)]
        procs: list[BaseProcess] = [
            ctx.Process(target=_shard_main, daemon=True,
                        args=(j, workers, sources, queues, tmp, until_ms, config, config_dir))
            for j in range(workers)]
        for p in procs:
            p.start()
        _join(procs, tmp)
        results: list[ShardResult] = []
        for j in range(workers):
            with open(tmp / f"shard-{j}", "rb") as f:
                results.append(pickle.load(f))
    phases.append([r.cpu_s for r in results])
    tagged = [t for r in results for t in r.alerts]
    tagged.sort(key=lambda t: t[0])
    for _, line in tagged:
        stats.alerts[orjson.loads(line)["detector"]] += 1
        out.write(line + b"\n")
    _account(results, sources, stats, dlq)
    stats.seconds = time.perf_counter() - start
    # The wall time this run would take on `workers` free cores: each phase lasts as
    # long as its longest process (or its share of the work, when tasks outnumber them).
    stats.critical_cpu_s = time.process_time() - began + sum(
        max(max(cpus), sum(cpus) / workers) for cpus in phases if cpus)
    return stats


def _account(results: list[ShardResult], sources: list[Source], stats: ReplayStats,
             dlq: IO[bytes] | None) -> None:
    """Event counts, and the rejects in file then line order (each line's rejects come
    from one shard, in their order: the sort is stable)."""
    rejects = sorted((r for result in results for r in result.rejects),
                     key=lambda r: (r[0], r[1]))
    for result in results:
        stats.events.update(result.events)
    for file, line_no, reason, reason_class, raw in rejects:
        stats.rejects[reason_class] += 1
        if dlq is not None:
            dlq.write(orjson.dumps({
                "source": sources[file].name,
                "line": line_no,
                "reason": reason,
                "reason_class": reason_class,
                "raw": raw.decode("utf-8", errors="backslashreplace"),
            }) + b"\n")
