"""`sunlight bench`: each measurement next to a reference measured in the same run.

1. replay throughput against a raw `orjson.loads` loop over the same file;
2. live throughput of one worker on the embedded broker (pre-filled topics) against a
   raw aiokafka consume-and-parse loop and a naive Faust agent with a table write per event;
3. on-arrival alert latency (`tank_overfill`), produce to the Redis stream, at a steady rate.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from streams.batch import gctune
from streams.tools.embedded import EmbeddedKafka, EmbeddedRedis, create_topics, free_port
from streams.topics import ALL_TOPICS

ROOT = Path(__file__).resolve().parents[3]
SCALING_TRIALS = 3  # bench_scaling: the best of this many trials of each fleet size


def synthetic_gps(vehicles: int, per_vehicle: int, seed: int = 7) -> list[dict[str, Any]]:
    """GPS-heavy input: vehicles reporting every 15 s, moving or parked, in time order."""
    rng = random.Random(seed)
    t0 = 1_789_000_000_000
    pos = [(41.7 + rng.random() * 0.2, 123.3 + rng.random() * 0.3) for _ in range(vehicles)]
    out = []
    for i in range(per_vehicle):
        for v in range(vehicles):
            lat, lon = pos[v]
            if rng.random() < 0.5:
                lat, lon = lat + rng.uniform(-0.002, 0.002), lon + rng.uniform(-0.002, 0.002)
                pos[v] = (lat, lon)
            out.append({"kind": "gps", "vehicle_id": f"B-{v:06d}", "ts": t0 + i * 15_000 + v,
                        "lat": round(lat, 6), "lon": round(lon, 6), "speed_kmh": 30})
    return out


# --- 4. memory ------------------------------------------------------------------------


def city_tracks(vehicles: int, steps: int, every_s: int = 15, seed: int = 11,
                noise_m: float = 2.0, noise_s: float = 60.0) -> list[tuple[array[int], array[int]]]:
    """Per vehicle, `steps` positions (1e-6 degree) of city driving and parking.

    Parked 10-30 min, then driving 10-30 min on a street grid: a turn every 150-800 m,
    speed 10-50 km/h changing from fix to fix, a red light now and then. The GPS error
    is the usual first-order Gauss-Markov process (`noise_m` metres a coordinate,
    correlation time `noise_s`: it wanders, it does not jump from fix to fix); a parked
    device reports the position it holds (static hold, as trackers do with the ignition
    off). Coordinates with 6 decimals, as devices send them.
    """
    rng = random.Random(seed)
    rho = math.exp(-every_s / noise_s)
    step_m = noise_m * math.sqrt(1 - rho * rho)
    out = []
    for _ in range(vehicles):
        lats, lons = array("q"), array("q")
        lat, lon = 41.75 + rng.random() * 0.1, 123.35 + rng.random() * 0.15
        driving, left, speed = rng.random() < 0.5, rng.randint(1, 120), 8.0
        heading, to_turn, stopped = rng.randrange(4), 400.0, 0
        ey, ex = rng.gauss(0, noise_m), rng.gauss(0, noise_m)
        m_lat = 1 / 111_320
        m_lon = m_lat / math.cos(math.radians(lat))
        for _ in range(steps):
            if left == 0:
                driving, left = not driving, rng.randint(40, 120)
            left -= 1
            if driving:
                if stopped:
                    stopped -= 1
                elif rng.random() < 0.05:
                    stopped = rng.randint(1, 4)
                else:
                    speed = min(14.0, max(3.0, speed + rng.uniform(-1.5, 1.5)))
                    d = speed * every_s
                    dy, dx = ((d, 0.0), (0.0, d), (-d, 0.0), (0.0, -d))[heading]
                    lat, lon = lat + dy * m_lat, lon + dx * m_lon
                    to_turn -= d
                    if to_turn < 0:
                        heading = (heading + rng.choice((1, 3))) % 4
                        to_turn = rng.uniform(150, 800)
                ey = rho * ey + rng.gauss(0, step_m)
                ex = rho * ex + rng.gauss(0, step_m)
                lats.append(round((lat + ey * m_lat) * 1e6))
                lons.append(round((lon + ex * m_lon) * 1e6))
            else:
                lats.append(lats[-1] if lats else round(lat * 1e6))
                lons.append(lons[-1] if lons else round(lon * 1e6))
        out.append((lats, lons))
    return out


def bench_memory(vehicles: int, hours: float = 3.0, every_s: int = 15) -> dict[str, Any]:
    """Bytes of engine state per tracked vehicle holding `hours` of GPS, by tracemalloc:
    everything the engine holds (states, timers, keys), fed `city_tracks` in time order.
    The tracks are made before tracing starts; each event is built just before it goes
    in and is gone after, so only what the engine keeps is counted."""
    import tracemalloc

    from detectors.calendar import load_calendar
    from detectors.config import DEFAULT_CONFIG_DIR, load_config
    from detectors.engine import Engine
    from detectors.timeutil import Zone

    zone = Zone()
    engine = Engine(load_config(), load_calendar(DEFAULT_CONFIG_DIR / "calendar.yaml"),
                    lambda: 0)
    per_vehicle = int(hours * 3600 / every_s)
    tracks = city_tracks(vehicles, per_vehicle, every_s)
    start = zone.parse("2026-09-15T07:00:00+08:00")  # within one working day
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    began = time.perf_counter()
    for i in range(per_vehicle):
        for v in range(vehicles):
            lats, lons = tracks[v]
            engine.process({"kind": "gps", "vehicle_id": f"M-{v:06d}", "ts_ms":
                            start + i * every_s * 1000 + v, "lat": lats[i] / 1e6,
                            "lon": lons[i] / 1e6})
    elapsed = time.perf_counter() - began
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return {"vehicles": vehicles, "fixes_per_vehicle": per_vehicle,
            "bytes_per_vehicle": used / vehicles,
            "engine_events_per_s_traced": vehicles * per_vehicle / elapsed}


# --- 5. scaling ----------------------------------------------------------------------


def bench_scaling(vehicle_counts: tuple[int, ...], fixes: int = 20,
                  least_events: int = 200_000, trials: int = SCALING_TRIALS
                  ) -> list[dict[str, Any]]:
    """Engine throughput and memory as the fleet grows (same fixes per vehicle).

    A trial runs at least `least_events` events: a small fleet runs several rounds in it
    (a fresh engine each), as a 20k-event run is too short to time on a shared machine.
    Each size runs `trials` trials and the best counts: the host's speed moves by up to
    2x from one second to the next."""
    from detectors.calendar import load_calendar
    from detectors.config import DEFAULT_CONFIG_DIR, load_config
    from detectors.engine import Engine

    config = load_config()
    calendar = load_calendar(DEFAULT_CONFIG_DIR / "calendar.yaml")
    rows = []
    for vehicles in vehicle_counts:
        events = synthetic_gps(vehicles, fixes)
        for e in events:
            e["ts_ms"] = e["ts"]
        rounds = max(1, -(-least_events // len(events)))
        times: list[tuple[float, float]] = []  # each trial's (wall, CPU) seconds
        for _ in range(trials):
            elapsed = cpu = 0.0
            for _ in range(rounds):
                engine = Engine(config, calendar, lambda: 0)
                # As replay runs the engine: the GC tuned after warm-up (the input built
                # here in advance is frozen with the rest; replay never holds its input).
                with gctune.tuned():
                    start, began = time.perf_counter(), time.process_time()
                    for e in events:
                        engine.process(e)
                    elapsed += time.perf_counter() - start
                    cpu += time.process_time() - began
            times.append((elapsed, cpu))
        size = _state_bytes(engine)
        n = rounds * len(events)
        rows.append({"vehicles": vehicles, "events": len(events), "rounds": rounds,
                     "trials": trials,
                     "engine_events_per_s": n / min(t[0] for t in times),
                     "engine_events_per_cpu_s": n / min(t[1] for t in times),
                     "engine_events_per_cpu_s_trials": [n / t[1] for t in times],
                     "state_bytes_per_vehicle": size / vehicles})
        del engine, events
    return rows


def _state_bytes(engine: Any) -> int:
    """Bytes held by the engine's keyed state (deep size of the state dicts)."""
    seen: set[int] = set()

    def size(obj: Any) -> int:
        if id(obj) in seen:
            return 0
        seen.add(id(obj))
        total = sys.getsizeof(obj)
        if isinstance(obj, dict):
            total += sum(size(k) + size(v) for k, v in obj.items())
        elif isinstance(obj, list | tuple):
            total += sum(size(v) for v in obj)
        return total

    return sum(size(states) for states in engine.states)


# --- 2. live throughput -------------------------------------------------------------


def prefill(bootstrap: str, events: list[dict[str, Any]], batch: int) -> int:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20,
                             batch_size=1 << 20, max_request_size=8 << 20)
    records = 0
    if batch <= 1:
        for e in events:
            producer.send("sunlight.gps", key=e["vehicle_id"].encode(), value=orjson.dumps(e))
            records += 1
    else:
        by_vehicle: dict[str, list[dict[str, Any]]] = {}
        for e in events:
            group = by_vehicle.setdefault(e["vehicle_id"], [])
            group.append(e)
            if len(group) >= batch:
                producer.send("sunlight.gps", key=e["vehicle_id"].encode(),
                              value=orjson.dumps(by_vehicle.pop(e["vehicle_id"])))
                records += 1
        for vid, group in by_vehicle.items():
            producer.send("sunlight.gps", key=vid.encode(), value=orjson.dumps(group))
            records += 1
    producer.flush()
    producer.close()
    return records


async def raw_aiokafka(bootstrap: str, records: int) -> float:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                max_partition_fetch_bytes=8 << 20)
    await consumer.start()
    tps = [TopicPartition("sunlight.gps", p) for p in range(4)]
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    seen = events = 0
    start = time.perf_counter()
    while seen < records:
        batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
        for batch in batches.values():
            for r in batch:
                value = orjson.loads(r.value)
                events += len(value) if isinstance(value, list) else 1
                seen += 1
    elapsed = time.perf_counter() - start
    await consumer.stop()
    return events / elapsed


def metric(port: int, name: str) -> float:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
            text = resp.read().decode()
    except OSError:
        return 0.0
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name):
            total += float(line.rsplit(" ", 1)[1])
    return total


def run_worker(bootstrap: str, redis_url: str, events: int, log: Path,
               app_id: str, done: Callable[[int], None] | None = None) -> float:
    """A worker's events/s over `events` prefilled events; `done(metrics_port)` is called
    once it has them all, before the worker is killed."""
    port = free_port()
    env = dict(os.environ, SUNLIGHT_KAFKA_BOOTSTRAP=bootstrap, SUNLIGHT_REDIS_URL=redis_url,
               SUNLIGHT_METRICS_PORT=str(port), SUNLIGHT_APP_ID=app_id,
               SUNLIGHT_DATA_DIR=str(log.parent / app_id))
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "streams.cli", "worker"], cwd=ROOT,
                                env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        while metric(port, "sunlight_events_total") <= 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        start, first = time.perf_counter(), metric(port, "sunlight_events_total")
        while (n := metric(port, "sunlight_events_total")) < events:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"worker stopped at {n:,.0f} of {events:,} events")
            time.sleep(0.05)
        rate = (events - first) / (time.perf_counter() - start)
        if done is not None:
            done(port)
        return rate
    finally:
        os.killpg(proc.pid, 9)
        proc.wait()


def naive_faust(bootstrap: str, events: int, data_dir: Path) -> float:
    """A Faust agent that parses each record and writes one table key per event."""
    script = f'''
import time, faust, sys
app = faust.App("naive-bench", broker="kafka://{bootstrap}", store="memory://",
    web_enabled=False, broker_session_timeout=6.0, broker_rebalance_timeout=6.0,
    broker_heartbeat_interval=1.0, broker_max_poll_interval=300.0,
    consumer_auto_offset_reset="earliest", topic_partitions=4, datadir="{data_dir}/naive")
topic = app.topic("sunlight.gps", value_type=bytes, value_serializer="raw")
table = app.Table("last_fix", default=dict, partitions=4)
state = {{"n": 0, "t": None}}
import orjson
@app.agent(topic)
async def naive(stream):
    async for value in stream:
        obj = orjson.loads(value)
        for e in (obj if isinstance(obj, list) else [obj]):
            if state["t"] is None:
                state["t"] = time.perf_counter()
            table[e["vehicle_id"]] = e
            state["n"] += 1
            if state["n"] == {events}:
                rate = {events} / (time.perf_counter() - state["t"])
                open("{data_dir}/naive-rate", "w").write(str(rate))
                import os; os._exit(0)
from streams.live.worker import Worker
Worker(app, loglevel="ERROR", quiet=True).execute_from_commandline()
'''
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=900, cwd=ROOT)
    rate_file = data_dir / "naive-rate"
    if rate_file.exists():
        return float(rate_file.read_text())
    raise RuntimeError(f"naive faust failed: {proc.stderr[-800:]}")


def bench_live(events_n: int, batch: int, tmp: Path) -> dict[str, Any]:
    vehicles = 2000
    events = synthetic_gps(vehicles, max(1, events_n // vehicles))
    with EmbeddedKafka() as kafka, EmbeddedRedis() as redis_server:
        create_topics(kafka.bootstrap, [f"sunlight.{t}" for t in ALL_TOPICS], 4)
        records = prefill(kafka.bootstrap, events, batch)
        raw = asyncio.run(raw_aiokafka(kafka.bootstrap, records))
        worker = run_worker(kafka.bootstrap, redis_server.url, len(events),
                            tmp / "bench-worker.log", f"bench-{batch}")
        naive = naive_faust(kafka.bootstrap, len(events), tmp) if batch <= 1 else math.nan
    return {"events": len(events), "records": records, "batch": batch,
            "worker_events_per_s": worker, "raw_aiokafka_events_per_s": raw,
            "naive_faust_events_per_s": naive}


# --- 3. latency ---------------------------------------------------------------------


SECTIONS = ("replay", "workers", "places", "funds", "memory", "scaling", "live", "latency",
            "live1", "recovery", "checkpoints")


def main(out: Path | None = None, quick: bool = False,
         only: tuple[str, ...] = SECTIONS) -> int:
    from streams.tools.bench import replay as bench_replay

    results: dict[str, Any] = {"machine": f"{os.cpu_count()} cores, {sys.platform}"}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if "replay" in only or "workers" in only:
            city = bench_replay.gps_heavy_city(tmp, *((40, 7) if quick else ()))
        if "replay" in only:
            results["replay"] = r = bench_replay.bench_replay_city(tmp, city)
            for name, row in r.items():
                print(f"replay ({name}, {row['events']:,} events, best of {row['rounds']}): "
                      f"{row['replay_events_per_s']:,.0f} ev/s vs orjson loop "
                      f"{row['orjson_loop_events_per_s']:,.0f} ev/s (ratio {row['ratio']:.3f}); "
                      f"by CPU time {row['replay_events_per_cpu_s']:,.0f} vs "
                      f"{row['orjson_loop_events_per_cpu_s']:,.0f} (ratio "
                      f"{row['ratio_cpu']:.3f}; rounds "
                      f"{', '.join(f'{x:.3f}' for x in row['ratio_cpu_rounds'])})", flush=True)
        if "workers" in only:
            results["workers"] = w = bench_replay.bench_workers(city[0])
            ref = w.pop("reference")
            for n, row in w.items():
                print(f"replay --workers {n}, best of {len(row['critical_cpu_s_rounds'])}: "
                      f"{row['events_per_s']:,.0f} ev/s ({row['wall_s']:.1f} s, "
                      f"{row['cpu_s']:.1f} CPU s, speed-up {row['speedup']:.2f}); critical "
                      f"path {row['critical_cpu_s']:.2f} CPU s: "
                      f"{row['events_per_critical_cpu_s']:,.0f} ev/s, speed-up "
                      f"{row['speedup_free_cores']:.2f} on free cores", flush=True)
            print(f"two --workers 1 at once (perfectly parallel work): the slower copy "
                  f"{ref['slower_copy_cpu_s']:.2f} CPU s, speed-up "
                  f"{ref['speedup_free_cores']:.2f}; --workers 2 gets "
                  f"{w['2']['of_reference']:.2f} of it", flush=True)
            w["reference"] = ref
        sample = ROOT / "tests" / "data" / "examples" / "city-sample" / "stream.jsonl.gz"
        if "places" in only and sample.exists():
            from streams.tools.bench.places import bench_places, report
            results["replay_places"] = bench_places(sample)
            print(report(results["replay_places"]), flush=True)
        if "funds" in only:
            from streams.tools.bench.funds import bench_funds

            apps = 10_000 if quick else 100_000
            results["funds_replay"] = f = bench_funds(apps, tmp)
            print(f"funds replay ({apps:,} applications, {f['events']:,} events): "
                  f"{f['with_similarity']['events_per_s']:,.0f} ev/s with title similarity "
                  f"(blocked by enterprise), {f['without_similarity']['events_per_s']:,.0f} "
                  "ev/s without", flush=True)
        # Bytes per vehicle are flat in the fleet's size; tracing every allocation of the
        # packed tracks' coder is slow, so 1,000 vehicles (720k events) is the largest.
        for vehicles in ((200,) if quick else (1000,)) if "memory" in only else ():
            m = bench_memory(vehicles)
            results[f"memory_{vehicles}"] = m
            print(f"memory: {m['bytes_per_vehicle']:,.0f} bytes per vehicle with "
                  f"{m['fixes_per_vehicle']} fixes (3 h at 15 s of city driving and parking), "
                  f"{vehicles:,} vehicles",
                  flush=True)
        counts = (1000, 10_000) if quick else (1000, 10_000, 100_000)
        results["scaling"] = bench_scaling(counts) if "scaling" in only else []
        for row in results["scaling"]:
            print(f"scaling: {row['vehicles']:,} vehicles, {row['events']:,} events, best "
                  f"of {row['trials']}: {row['engine_events_per_s']:,.0f} ev/s "
                  f"({row['engine_events_per_cpu_s']:,.0f} per CPU s; trials "
                  f"{', '.join(f'{x:,.0f}' for x in row['engine_events_per_cpu_s_trials'])}), "
                  f"{row['state_bytes_per_vehicle']:,.0f} bytes of state per vehicle",
                  flush=True)
        n = 40_000 if quick else 200_000
        for batch in (1, 100) if "live" in only else ():
            r = bench_live(n, batch, tmp)
            results[f"live_batch_{batch}"] = r
            print(f"live (records of {batch}): worker {r['worker_events_per_s']:,.0f} ev/s; "
                  f"raw aiokafka {r['raw_aiokafka_events_per_s']:,.0f} ev/s; naive Faust "
                  f"{r['naive_faust_events_per_s']:,.0f} ev/s", flush=True)
        latency = ((2000.0, 1), (2000.0, 50), (5000.0, 50), (5000.0, 1))
        for rate, gps_batch in latency if "latency" in only else ():
            from streams.tools.bench.latency import bench_latency
            from streams.tools.bench.latency import report as latency_report

            lat = bench_latency(rate, 10.0 if quick else 30.0, tmp / "latency", gps_batch)
            results[f"latency_tank_overfill_{rate:.0f}_batch_{gps_batch}"] = lat
            print(latency_report(lat), flush=True)
        if "live1" in only:  # one event a record: throughput and latency, with references
            from streams.tools.bench.live import bench_live1

            results["live_single_record"] = bench_live1(tmp, quick)
        if "recovery" in only:
            from streams.tools.bench.state import bench_recovery as recovery_at_scale

            rec = recovery_at_scale(10_000 if quick else 100_000, tmp)
            results["recovery"] = rec
            print(f"recovery: {rec['vehicles']:,} vehicles with 3 h of GPS each "
                  f"({rec['serialised_bytes_per_vehicle']:,} bytes a vehicle in the "
                  f"checkpoint): processing again {rec['seconds_to_processing_again']:.1f} s "
                  f"after kill -9 ({rec['seconds_to_processing_on_start']:.1f} s on the first "
                  f"start); worker RSS {rec['worker_rss_bytes_per_vehicle']:,.0f} bytes a "
                  "vehicle", flush=True)
        if "checkpoints" in only:
            from streams.tools.bench.state import bench_checkpoint_cost

            cost = bench_checkpoint_cost(200_000 if quick else 1_000_000, tmp)
            results["checkpoint_cost"] = cost
            pairs = zip(cost["with_checkpoints_10s_rounds"], cost["without_rounds"], strict=True)
            print(f"live with checkpoints every 10 s, best of {cost['rounds']}: "
                  f"{cost['with_checkpoints_10s']:,.0f} ev/s; without: {cost['without']:,.0f} "
                  f"ev/s (ratio {cost['ratio']:.2f}; rounds "
                  f"{', '.join(f'{w / o:.2f}' for w, o in pairs)})",
                  flush=True)
    text = json.dumps(results, indent=2)
    if out is not None:
        out.write_text(text)
    print(text)
    return 0
