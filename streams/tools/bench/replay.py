"""Replay measurements of `sunlight bench`, each beside its reference in the same run.

The input is a GPS-heavy simulated city (146 vehicles, 14 days: about 408k lines),
written uncompressed and gzipped. Replay is the whole `sunlight replay` process (start-up
included); the reference reads the same file the same way and parses every line with
`orjson.loads`, the least any replay must do. Both are reported by wall time and by CPU
time: the development machine is shared, and CPU time is what the others do not steal.
"""

from __future__ import annotations

import contextlib
import gzip
import re
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[3]
CITY_VEHICLES, CITY_DAYS = 146, 14


def gps_heavy_city(tmp: Path, vehicles: int = CITY_VEHICLES,
                   days: int = CITY_DAYS) -> tuple[Path, Path]:
    """The simulated city as `city.jsonl` and `city.jsonl.gz` (the same lines)."""
    from streams.tools.simulator import SimConfig, simulate

    lines = simulate(SimConfig(vehicles=vehicles, days=days)).ordered()
    body = b"\n".join(lines) + b"\n"
    plain, packed = tmp / "city.jsonl", tmp / "city.jsonl.gz"
    plain.write_bytes(body)
    with gzip.GzipFile(packed, "wb", mtime=0, compresslevel=6) as f:
        f.write(body)
    return plain, packed


def orjson_loop(path: Path) -> dict[str, float]:
    """Lines per second of reading `path` line by line and parsing each line."""
    wall, cpu = time.perf_counter(), time.process_time()
    n = 0
    with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as f:
        for line in f:
            with contextlib.suppress(orjson.JSONDecodeError):
                orjson.loads(line)
            n += 1
    return {"lines": n, "wall_s": time.perf_counter() - wall,
            "cpu_s": time.process_time() - cpu}


def replay_process(path: Path, workers: int = 1) -> dict[str, float]:
    """`sunlight replay PATH --workers N`, the whole process: events, wall and CPU time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "streams.cli", "replay", str(path), "--out", "/dev/null",
         "--workers", str(workers)],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=1800,
    )
    wall_s = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    found = re.search(r"^events: ([\d,]+)", proc.stderr, re.M)
    if found is None:
        raise RuntimeError(f"no summary from sunlight replay: {proc.stderr[-500:]}")
    critical = re.search(r"^critical path: ([\d.]+) CPU s", proc.stderr, re.M)
    return {"events": int(found.group(1).replace(",", "")), "wall_s": wall_s, "cpu_s": cpu_s,
            # one process: its CPU time is its critical path
            "critical_cpu_s": float(critical.group(1)) if critical else cpu_s}


def _versus(replay: dict[str, float], loop: dict[str, float]) -> dict[str, Any]:
    rw, rc = replay["events"] / replay["wall_s"], replay["events"] / replay["cpu_s"]
    lw, lc = loop["lines"] / loop["wall_s"], loop["lines"] / loop["cpu_s"]
    return {"events": replay["events"], "replay_events_per_s": rw,
            "orjson_loop_events_per_s": lw, "ratio": rw / lw,
            "replay_events_per_cpu_s": rc, "orjson_loop_events_per_cpu_s": lc,
            "ratio_cpu": rc / lc}


def bench_replay_city(tmp: Path, city: tuple[Path, Path] | None = None) -> dict[str, Any]:
    """Replay against the orjson loop, uncompressed and gzip, each pair back to back."""
    plain, packed = city or gps_heavy_city(tmp)
    out: dict[str, Any] = {}
    for name, path in (("uncompressed", plain), ("gzip", packed)):
        loop = orjson_loop(path)
        out[name] = _versus(replay_process(path), loop)
        out[name]["file"] = path.name
    return out


def bench_workers(plain: Path, counts: tuple[int, ...] = (1, 2)) -> dict[str, Any]:
    """`--workers N` on the uncompressed city: events/s by wall time, and the speed-up,
    by wall time and on free cores (the CPU time of each phase's longest process)."""
    rows = {}
    for n in counts:
        r = replay_process(plain, n)
        rows[n] = {"events": r["events"], "events_per_s": r["events"] / r["wall_s"],
                   "wall_s": r["wall_s"], "cpu_s": r["cpu_s"],
                   "critical_cpu_s": r["critical_cpu_s"],
                   "events_per_critical_cpu_s": r["events"] / r["critical_cpu_s"]}
    first = rows[counts[0]]
    for r in rows.values():
        r["speedup"] = first["wall_s"] / r["wall_s"]
        # on a shared machine the wall clock says more about the neighbours than about
        # us: the speed-up on free cores is the ratio of the critical paths' CPU time
        r["speedup_free_cores"] = first["critical_cpu_s"] / r["critical_cpu_s"]
    return {str(n): r for n, r in rows.items()}
