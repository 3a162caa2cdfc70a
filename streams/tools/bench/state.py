"""Benchmarks of durable state: recovery after kill -9 at scale, and what checkpoints cost.

Recovery: a worker's local checkpoint is written holding `vehicles` vehicles, each with
3 h of GPS (a fix every 15 s of city driving and parking: one synthetic vehicle's state,
packed, under every vehicle id, so building it takes seconds, not the hours of feeding 72
million fixes through a broker). A worker starts on it, processes a record, writes its own
checkpoint, is killed with -9 and started again: the figure is the time from the kill to
the restarted worker processing a new record.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from detectors.calendar import load_calendar
from detectors.config import DEFAULT_CONFIG_DIR, load_config
from detectors.engine import Engine
from detectors.timeutil import Zone
from streams.live import state_codec
from streams.live.checkpoint import LocalStore, Meta
from streams.tools.embedded import EmbeddedKafka, EmbeddedRedis, create_topics, free_port
from streams.topics import ALL_TOPICS, partition_for

ROOT = Path(__file__).resolve().parents[3]
APP_ID = "bench-recovery"


def city_vehicle_state(hours: float = 3.0, every_s: int = 15) -> tuple[bytes, dict[str, Any]]:
    """One vehicle's engine state after `hours` of fixes: 20 minutes driving at about
    30 km/h through a grid of streets, 20 minutes parked with GPS jitter, in turn."""
    zone = Zone()
    engine = Engine(load_config(), load_calendar(DEFAULT_CONFIG_DIR / "calendar.yaml"),
                    lambda: 0)
    start = zone.parse("2026-09-15T07:00:00+08:00")
    lat, lon, heading = 41.80, 123.40, 0
    step_deg = 30 / 3.6 * every_s / 111_000  # 30 km/h
    n = int(hours * 3600 / every_s)
    for i in range(n):
        minute = i * every_s // 60
        if (minute // 20) % 2 == 0:  # driving; turn at every 8th fix (a block)
            if i % 8 == 0:
                heading = (heading + (1 if (i // 8) % 3 else 3)) % 4
            dlat, dlon = ((1, 0), (0, 1), (-1, 0), (0, -1))[heading]
            lat += dlat * step_deg + 2e-6 * math.sin(i)
            lon += dlon * step_deg / 0.746 + 2e-6 * math.cos(i)
            fix_lat, fix_lon = lat, lon
        else:  # parked: a few metres of jitter
            fix_lat = lat + 3e-5 * math.sin(i * 1.7)
            fix_lon = lon + 3e-5 * math.cos(i * 2.3)
        engine.process({"kind": "gps", "vehicle_id": "V", "ts_ms": start + i * every_s * 1000,
                        "lat": round(fix_lat, 6), "lon": round(fix_lon, 6)})
    states = engine.states[[d.name for d in engine.detectors].index("vehicle")]
    return state_codec.encode(states["V"]), dict(engine.clock())


def write_checkpoint(state_db: Path, vehicles: int, partitions: int) -> dict[str, Any]:
    raw, clock = city_vehicle_state()
    rows: dict[int, list[tuple[str, str, bytes | None]]] = {p: [] for p in range(partitions)}
    for v in range(vehicles):
        key = f"R-{v:06d}"
        rows[partition_for(key, partitions)].append(("vehicle", key, raw))
    store = LocalStore(state_db)
    try:
        now = time.time_ns() // 1_000_000
        store.write([(Meta(partition=p, epoch_ms=now, clock=clock), rows[p], True)
                     for p in range(partitions)], {})
    finally:
        store.close()
    return {"serialised_bytes_per_vehicle": len(raw),
            "checkpoint_bytes": state_db.stat().st_size}


def _metric(port: int, name: str) -> float:
    from streams.tools.bench.suite import metric

    return metric(port, name)


def bench_recovery(vehicles: int, tmp: Path, partitions: int = 4) -> dict[str, Any]:
    from kafka import KafkaProducer

    state_dir = tmp / "recovery-state"
    db = state_dir / APP_ID / "state.sqlite"
    db.parent.mkdir(parents=True, exist_ok=True)
    sizes = write_checkpoint(db, vehicles, partitions)
    with EmbeddedKafka(partitions=partitions) as kafka, EmbeddedRedis() as redis_server:
        create_topics(kafka.bootstrap, [f"sunlight.{t}" for t in ALL_TOPICS], partitions)
        producer = KafkaProducer(bootstrap_servers=kafka.bootstrap)

        def start(n: int) -> tuple[subprocess.Popen[bytes], int]:
            port = free_port()
            env = dict(os.environ, SUNLIGHT_KAFKA_BOOTSTRAP=kafka.bootstrap,
                       SUNLIGHT_REDIS_URL=redis_server.url, SUNLIGHT_METRICS_PORT=str(port),
                       SUNLIGHT_APP_ID=APP_ID, SUNLIGHT_DATA_DIR=str(tmp / "recovery-data"),
                       SUNLIGHT_STATE_DIR=str(state_dir), SUNLIGHT_PARTITIONS=str(partitions),
                       SUNLIGHT_CHECKPOINT_KAFKA="false")
            with open(tmp / f"bench-recovery-{n}.log", "ab") as out:
                proc = subprocess.Popen([sys.executable, "-m", "streams.cli", "worker"],
                                        cwd=ROOT, env=env, stdout=out,
                                        stderr=subprocess.STDOUT, start_new_session=True)
            return proc, port

        def processing(proc: subprocess.Popen[bytes], port: int, ts: int) -> float:
            began = time.perf_counter()
            deadline = time.monotonic() + 600
            while _metric(port, 'sunlight_events_total{kind="gps"}') < 1:
                producer.send("sunlight.gps", key=b"R-000000", value=orjson.dumps(
                    {"vehicle_id": "R-000000", "ts": ts, "lat": 41.8, "lon": 123.4}))
                producer.flush()
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the worker did not process a record")
                time.sleep(0.1)
            return time.perf_counter() - began

        ts = Zone().parse("2026-09-15T10:05:00+08:00")
        first, port = start(0)
        try:
            cold = processing(first, port, ts)
            rss = _rss_bytes(first.pid)
            deadline = time.monotonic() + 600
            while _metric(port, "sunlight_checkpoints_total") < 1:  # the probe is durable
                if time.monotonic() > deadline:
                    raise RuntimeError("no checkpoint")
                time.sleep(0.2)
        finally:
            os.killpg(first.pid, 9)
            first.wait()
        killed = time.perf_counter()
        second, port = start(1)
        try:
            processing(second, port, ts + 15_000)
            again = time.perf_counter() - killed
        finally:
            os.killpg(second.pid, 9)
            second.wait()
            producer.close()
    return {"vehicles": vehicles, "fixes_per_vehicle": 720, **sizes,
            "worker_rss_bytes_per_vehicle": rss / vehicles if rss else None,
            "seconds_to_processing_on_start": cold,
            "seconds_to_processing_again": again}


def _rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def bench_checkpoint_cost(events_n: int, tmp: Path, rounds: int = 3) -> dict[str, Any]:
    """Live throughput (GPS in envelopes of 100) with checkpoints every 10 s, and with
    checkpoints as good as off, on the same input, in turn, `rounds` times: the best of
    each counts (a single run moved by more than the checkpoints cost)."""
    from streams.tools.bench.suite import metric, prefill, run_worker, synthetic_gps

    events = synthetic_gps(events_n // 20, 20)
    out: dict[str, Any] = {"events": len(events), "rounds": rounds}
    with EmbeddedKafka() as kafka, EmbeddedRedis() as redis_server:
        create_topics(kafka.bootstrap, [f"sunlight.{t}" for t in ALL_TOPICS], 4)
        prefill(kafka.bootstrap, events, 100)
        for r in range(rounds):
            for name, interval in (("with_checkpoints_10s", "10"), ("without", "86400")):
                os.environ["SUNLIGHT_CHECKPOINT_INTERVAL_S"] = interval

                def count(port: int, name: str = name) -> None:  # written during the run
                    out.setdefault(f"{name}_written", []).append(
                        metric(port, 'sunlight_checkpoints_total{store="local"}'))

                try:
                    rate = run_worker(kafka.bootstrap, redis_server.url, len(events),
                                      tmp / f"ckpt-{name}-{r}.log", f"bench-ckpt-{name}-{r}",
                                      count)
                finally:
                    del os.environ["SUNLIGHT_CHECKPOINT_INTERVAL_S"]
                out.setdefault(f"{name}_rounds", []).append(rate)
    for name in ("with_checkpoints_10s", "without"):
        out[name] = max(out[f"{name}_rounds"])
    out["ratio"] = out["with_checkpoints_10s"] / out["without"]
    return out
