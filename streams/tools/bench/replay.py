"""Replay measurements of `sunlight bench`, each beside its reference in the same run.

The input is a GPS-heavy simulated city (146 vehicles, 14 days: about 408k lines),
written uncompressed and gzipped. Replay is the whole `sunlight replay` process (start-up
included); the reference reads the same file the same way and parses every line with
`orjson.loads`, the least any replay must do. Both are reported by wall time and by CPU
time: the development machine is shared, and CPU time is what the others do not steal.
Even CPU time moves by up to 2x from one run to the next there, so each measurement and
its reference are run in turn a few times and the best of each counts.
"""

from __future__ import annotations

import contextlib
import gzip
import os
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
# the best of this many runs of each, taken in turn (the host's speed moves)
REPLAY_ROUNDS = WORKER_ROUNDS = 3


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


def _best(runs: list[dict[str, float]]) -> dict[str, float]:
    """The best of several runs of the same work: the least wall and CPU time."""
    return {**runs[0], "wall_s": min(r["wall_s"] for r in runs),
            "cpu_s": min(r["cpu_s"] for r in runs)}


def _versus(replays: list[dict[str, float]], loops: list[dict[str, float]]
            ) -> dict[str, Any]:
    replay, loop = _best(replays), _best(loops)
    rw, rc = replay["events"] / replay["wall_s"], replay["events"] / replay["cpu_s"]
    lw, lc = loop["lines"] / loop["wall_s"], loop["lines"] / loop["cpu_s"]
    return {"events": replay["events"], "rounds": len(replays),
            "replay_events_per_s": rw, "orjson_loop_events_per_s": lw, "ratio": rw / lw,
            "replay_events_per_cpu_s": rc, "orjson_loop_events_per_cpu_s": lc,
            "ratio_cpu": rc / lc,
            # each round's own ratio by CPU time, to show how far the host moved
            "ratio_cpu_rounds": [(r["events"] / r["cpu_s"]) / (lp["lines"] / lp["cpu_s"])
                                 for r, lp in zip(replays, loops, strict=True)]}


def bench_replay_city(tmp: Path, city: tuple[Path, Path] | None = None,
                      rounds: int = REPLAY_ROUNDS) -> dict[str, Any]:
    """Replay against the orjson loop, uncompressed and gzip, each pair back to back,
    `rounds` times; the best of each counts (the host's speed moves by up to 2x between
    one run and the next)."""
    plain, packed = city or gps_heavy_city(tmp)
    files = (("uncompressed", plain), ("gzip", packed))
    loops: dict[str, list[dict[str, float]]] = {name: [] for name, _ in files}
    replays: dict[str, list[dict[str, float]]] = {name: [] for name, _ in files}
    for _ in range(rounds):
        for name, path in files:
            loops[name].append(orjson_loop(path))
            replays[name].append(replay_process(path))
    out: dict[str, Any] = {}
    for name, path in files:
        out[name] = _versus(replays[name], loops[name])
        out[name]["file"] = path.name
    return out


def replay_pair(path: Path) -> list[float]:
    """Two `sunlight replay PATH` processes at once, each alone on its work: their CPU
    times. Perfectly parallel work, the reference for `--workers 2`."""
    cmd = [sys.executable, "-m", "streams.cli", "replay", str(path), "--out", "/dev/null"]
    procs = [subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for _ in range(2)]
    cpus = []
    for proc in procs:
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode:
            raise RuntimeError(f"sunlight replay exited with {proc.returncode}")
        cpus.append(usage.ru_utime + usage.ru_stime)
    return cpus


def bench_workers(plain: Path, rounds: int = WORKER_ROUNDS) -> dict[str, Any]:
    """`--workers 1` and `--workers 2` on the uncompressed city, beside the machine's own
    capacity for parallel work: two `--workers 1` processes at once.

    On free cores each run lasts as long as its critical path (the CPU time of each
    phase's longest process). A shared host slows a process by up to 2x from one second
    to the next, and one of two busy cores more than the other: so the three are run in
    turn, `rounds` times, and the best of each counts. The reference's speed-up (twice one
    process's work in the time of its slower copy) is what perfectly parallel code would
    get on these two cores in this run."""
    runs: dict[str, list[dict[str, float]]] = {"1": [], "2": []}
    pairs: list[list[float]] = []
    for _ in range(rounds):
        for n in runs:
            runs[n].append(replay_process(plain, int(n)))
        pairs.append(replay_pair(plain))
    out: dict[str, Any] = {}
    for n, rows in runs.items():
        best = min(rows, key=lambda r: r["critical_cpu_s"])
        out[n] = {"events": best["events"], "events_per_s": best["events"] / best["wall_s"],
                  "wall_s": best["wall_s"], "cpu_s": best["cpu_s"],
                  "critical_cpu_s": best["critical_cpu_s"],
                  "critical_cpu_s_rounds": [r["critical_cpu_s"] for r in rows],
                  "events_per_critical_cpu_s": best["events"] / best["critical_cpu_s"]}
    one = out["1"]["critical_cpu_s"]
    for row in out.values():
        row["speedup"] = out["1"]["wall_s"] / row["wall_s"]
        # on a shared machine the wall clock says more about the neighbours than about
        # us: the speed-up on free cores is the ratio of the critical paths' CPU time
        row["speedup_free_cores"] = one / row["critical_cpu_s"]
    slower = min(max(cpus) for cpus in pairs)
    capacity = 2 * one / slower
    out["reference"] = {"pair_cpu_s_rounds": pairs, "slower_copy_cpu_s": slower,
                        "speedup_free_cores": capacity}
    out["2"]["of_reference"] = out["2"]["speedup_free_cores"] / capacity
    return out
