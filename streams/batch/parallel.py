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

1. Decode: each file is cut at line boundaries into chunks; N processes decode and check
   them (the slow part, spread over the cores) and write each chunk's clock (every
   event's `ts` and shard) once, and each event once, to its shard's file or the shared
   one (`marshal`: decoded events are JSON data, and marshal moves them several times
   faster than pickle).
2. Run: N processes, one per shard, each an engine over its items (the files merged by
   `ts` as one process merges them).
3. Merge: each alert carries the input position that raised it (then the timer's
   instant, detector and key); sorting by that gives one deterministic order, the order
   of one process.
"""

from __future__ import annotations

import gc
import gzip
import heapq
import io
import itertools
import marshal
import multiprocessing
import pickle
import shutil
import tempfile
import time
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from detectors.config import DEFAULT_CONFIG_DIR, EngineConfig
from detectors.events import Event, Rejected
from streams.batch import gctune
from streams.batch.replay import Replay, ReplayStats, kind_from_name
from streams.topics import partition_for

# Kinds sharded by their entity, as live partitions their topics; all are activity kinds.
SHARDED = {"gps": "vehicle_id", "payment": "payee_id", "review": "case_id"}
CHUNK_BYTES = 32 << 20
BLOCK_ITEMS = 32_768
Tag = tuple[Any, ...]


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
class Chunk:
    file: int
    index: int
    path: Path  # an uncompressed file
    start: int
    end: int
    default_kind: str | None
    source: str


@dataclass
class Decoded:
    file: int
    index: int
    lines: int
    events: Counter[str]
    rejects: list[tuple[int, str, str, bytes]]  # (line in chunk, reason, class, raw)
    cpu_s: float = 0.0


class _ChunkReplay(Replay):
    """A replay whose rejects are kept (numbered within the chunk) for the parent."""

    def __init__(self, config: EngineConfig, config_dir: Path) -> None:
        super().__init__(config, config_dir)
        self.kept: list[tuple[int, str, str, bytes]] = []

    def _reject(self, exc: Rejected, source: str, line_no: int, raw: bytes) -> None:
        self.kept.append((line_no, str(exc), exc.reason, raw))


# --- 1. decode ------------------------------------------------------------------------


def _chunk_path(tmp: Path, file: int, index: int) -> str:
    return str(tmp / f"f{file}-c{index}")


# The configuration of this run, set in each pool process by `_init` (a frozen config
# holds mapping proxies, which do not pickle; forked processes inherit it as it is).
_CONFIG: tuple[EngineConfig, Path] | None = None


def _init(config: EngineConfig, config_dir: Path) -> None:
    global _CONFIG
    _CONFIG = (config, config_dir)
    # a pool process's whole life is this replay: the GC as replay tunes it (gctune)
    gc.collect()
    gc.freeze()
    gc.set_threshold(*gctune.THRESHOLDS)


def _config() -> tuple[EngineConfig, Path]:
    assert _CONFIG is not None, "a pool process runs _init first"
    return _CONFIG


def _decode(args: tuple[Chunk, int, Path]) -> Decoded:
    """Decode one chunk; write its clock (every good event's ts and shard, -1 for the
    shared ones) once, and the events themselves once each, to their shard's file."""
    chunk, shards, tmp = args
    began = time.process_time()
    config, config_dir = _config()
    replay = _ChunkReplay(config, config_dir)
    with open(chunk.path, "rb") as f:
        f.seek(chunk.start)
        data = f.read(chunk.end - chunk.start)
    cache: dict[str, int] = {}
    stamps, owners = array("q"), array("b")
    lists: list[list[Event]] = [[] for _ in range(shards + 1)]  # [-1]: the shared
    name = _chunk_path(tmp, chunk.file, chunk.index)
    outs = [open(f"{name}-{j}", "wb") for j in range(shards)]  # noqa: SIM115
    outs.append(open(f"{name}-shared", "wb"))  # noqa: SIM115
    events: dict[str, int] = {}
    try:
        for event in replay.decode(io.BytesIO(data), chunk.source, chunk.default_kind):
            kind = event["kind"]
            events[kind] = events.get(kind, 0) + 1
            field = SHARDED.get(kind)
            if field is None:
                owner = -1
            else:
                key = event[field]
                owner = cache.get(key, -1)
                if owner < 0:
                    owner = cache[key] = partition_for(key, shards)
            stamps.append(event["ts_ms"])
            owners.append(owner)
            own = lists[owner]
            own.append(event)
            if len(own) >= BLOCK_ITEMS:
                _write_block(outs[owner], own)
                own.clear()
        for out, own in zip(outs, lists, strict=True):
            if own:
                _write_block(out, own)
    finally:
        for out in outs:
            out.close()
    with open(f"{name}-clock", "wb") as f:
        f.write(len(stamps).to_bytes(8, "little"))
        stamps.tofile(f)
        owners.tofile(f)
    lines = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    return Decoded(chunk.file, chunk.index, lines, Counter(events), replay.kept,
                   time.process_time() - began)


# --- 2. run ---------------------------------------------------------------------------


def _write_block(out: IO[bytes], block: list[Any]) -> None:
    # length-prefixed: marshal.load on a file reads it a few bytes at a time
    data = marshal.dumps(block)
    out.write(len(data).to_bytes(8, "little"))
    out.write(data)


def _events(path: str) -> Iterator[Event]:
    with open(path, "rb") as f:
        while head := f.read(8):
            yield from marshal.loads(f.read(int.from_bytes(head, "little")))


def _items(names: list[str], shard: int) -> Iterator[Any]:
    """One shard's view of a file, in line order: its own events and the shared ones
    whole, the other shards' events as their `ts` (ticks)."""
    for name in names:
        with open(f"{name}-clock", "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            stamps, owners = array("q"), array("b")
            stamps.fromfile(f, n)
            owners.fromfile(f, n)
        own, shared = _events(f"{name}-{shard}"), _events(f"{name}-shared")
        for ts, owner in zip(stamps, owners, strict=True):
            if owner == shard:
                yield next(own)
            elif owner < 0:
                yield next(shared)
            else:
                yield ts


def _ts(item: Any) -> int:
    return item if type(item) is int else item["ts_ms"]  # type: ignore[no-any-return]


def _run_shard(args: tuple[int, int, list[list[str]], Path, int | None]
               ) -> tuple[Path, float]:
    shard, shards, files, tmp, until_ms = args
    began = time.process_time()
    config, config_dir = _config()
    engine = Replay(config, config_dir).engine
    engine.clock_end = until_ms
    sharder = Sharder(shards)
    engine.fire_log = log = []
    out: list[tuple[Tag, bytes]] = []

    def owns(key: str) -> bool:
        return sharder(key) == shard

    def must_own(key: str) -> bool:
        # A sharded event is ours by its entity; a detector keying it otherwise would
        # need the event in another shard too: refuse rather than miss its alerts.
        if sharder(key) != shard:
            raise ValueError(f"replay --workers: a detector keys a sharded event by {key!r}, "
                             "not by its entity; add its kind to the shared kinds")
        return True

    def keep(step: int, alerts: list[dict[str, Any]]) -> None:
        # on-arrival alerts first (those before the first timer), then each timer's
        firsts = [entry[3] for entry in log] + [len(alerts)]
        for r, alert in enumerate(alerts[: firsts[0]]):
            out.append(((step, 0, r), orjson.dumps(alert)))
        for n, (due, i, key, first) in enumerate(log):
            for r, alert in enumerate(alerts[first : firsts[n + 1]]):
                out.append(((step, 1, due, i, key, r), orjson.dumps(alert)))
        log.clear()

    streams = [_items(names, shard) for names in files]
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
    path = tmp / f"alerts-{shard}"
    with open(path, "wb") as f:
        pickle.dump(out, f, protocol=pickle.HIGHEST_PROTOCOL)
    return path, time.process_time() - began


# --- the whole ------------------------------------------------------------------------


def _chunks(paths: list[Path], plain: list[Path], pieces: int) -> list[Chunk]:
    """Each file cut into about `pieces` chunks (at most CHUNK_BYTES), at line ends."""
    chunks = []
    for f, (original, path) in enumerate(zip(paths, plain, strict=True)):
        size = path.stat().st_size
        n = max(pieces, -(-size // CHUNK_BYTES), 1)
        bounds = [0]
        with open(path, "rb") as fh:
            for k in range(1, n):
                at = max(bounds[-1], size * k // n)
                fh.seek(at)
                fh.readline()  # to the end of the line `at` falls in
                bounds.append(min(fh.tell(), size))
        bounds.append(size)
        kind = kind_from_name(original)
        for index, (start, end) in enumerate(itertools.pairwise(bounds)):
            if end > start or index == 0:
                chunks.append(Chunk(f, index, path, start, end, kind, str(original)))
    return chunks


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
    stats = ReplayStats()
    start, began = time.perf_counter(), time.process_time()
    # fork: the pool processes inherit the loaded configuration and modules
    ctx = multiprocessing.get_context("fork")
    with tempfile.TemporaryDirectory(prefix="sunlight-replay-", dir=tmp_root) as name, \
            ctx.Pool(workers, _init, (config, config_dir)) as pool:
        tmp = Path(name)
        unpacked = pool.map(_plain_task, [(p, tmp, n) for n, p in enumerate(paths)])
        plain = [path for path, _ in unpacked]
        chunks = _chunks(paths, plain, workers)
        decoded = pool.map(_decode, [(c, workers, tmp) for c in chunks])
        _account(decoded, chunks, stats, dlq)
        files: list[list[str]] = [[] for _ in paths]
        for c in chunks:
            files[c.file].append(_chunk_path(tmp, c.file, c.index))
        results = pool.map(_run_shard, [(j, workers, files, tmp, until_ms)
                                        for j in range(workers)])
        tagged: list[tuple[Tag, bytes]] = []
        for path, _ in results:
            with open(path, "rb") as f:
                tagged += pickle.load(f)
    tagged.sort(key=lambda t: t[0])
    for _, line in tagged:
        stats.alerts[orjson.loads(line)["detector"]] += 1
        out.write(line + b"\n")
    stats.seconds = time.perf_counter() - start
    # The wall time this run would take on `workers` free cores: each phase lasts as
    # long as its longest process (or its share of the work, when tasks outnumber them).
    phases = [[cpu for _, cpu in unpacked], [d.cpu_s for d in decoded],
              [cpu for _, cpu in results]]
    stats.critical_cpu_s = time.process_time() - began + sum(
        max(max(cpus), sum(cpus) / workers) for cpus in phases if cpus)
    return stats


def _account(decoded: list[Decoded], chunks: list[Chunk], stats: ReplayStats,
             dlq: IO[bytes] | None) -> None:
    """Event counts, and the rejects in file then line order, numbered within their file."""
    first_line: dict[tuple[int, int], int] = {}
    by_file: dict[int, int] = {}
    for d in sorted(decoded, key=lambda d: (d.file, d.index)):
        first_line[(d.file, d.index)] = by_file.get(d.file, 0)
        by_file[d.file] = by_file.get(d.file, 0) + d.lines
    sources = {(c.file, c.index): c.source for c in chunks}
    for d in sorted(decoded, key=lambda d: (d.file, d.index)):
        stats.events.update(d.events)
        for line_no, reason, reason_class, raw in d.rejects:
            stats.rejects[reason_class] += 1
            if dlq is not None:
                dlq.write(orjson.dumps({
                    "source": sources[(d.file, d.index)],
                    "line": first_line[(d.file, d.index)] + line_no,
                    "reason": reason,
                    "reason_class": reason_class,
                    "raw": raw.decode("utf-8", errors="backslashreplace"),
                }) + b"\n")
