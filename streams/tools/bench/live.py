"""`sunlight bench --only live1`: one event per Kafka record (how GPS gateways publish).

1. Throughput of one worker over a pre-filled gps topic, beside two references read from
   the same records in the same run: a raw aiokafka consume-and-parse loop, and a bare
   Faust agent (`stream.events()`, no work: Faust's per-record path alone). Wall-clock
   rates, and rates per CPU second of the process (the machine may be shared).
2. `tank_overfill` latency, produce -> Redis, at 5k one-event records/s (every 20th a
   fuel fill over the tank), beside a reference pipe through the same load: an aiokafka
   consumer of the fuel topic (the same fetch wait as the worker's fuel feed) that
   publishes each fill's id to Redis at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from streams.tools.bench.suite import ROOT, metric, prefill, synthetic_gps
from streams.tools.embedded import EmbeddedKafka, EmbeddedRedis, create_topics, free_port
from streams.topics import ALL_TOPICS

TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


async def raw_loop(bootstrap: str, records: int) -> dict[str, float]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                max_partition_fetch_bytes=8 << 20)
    await consumer.start()
    tps = [TopicPartition("sunlight.gps", p) for p in range(4)]
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    seen = events = 0
    wall, cpu = time.perf_counter(), time.process_time()
    while seen < records:
        for batch in (await consumer.getmany(timeout_ms=1000, max_records=10_000)).values():
            for r in batch:
                value = orjson.loads(r.value)
                events += len(value) if isinstance(value, list) else 1
                seen += 1
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    await consumer.stop()
    return {"events_per_s": events / wall, "events_per_cpu_s": events / cpu}


FAUST_FLOOR = '''
import os, sys, time, faust
boot, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
app = faust.App("faust-floor", broker="kafka://" + boot, store="memory://", web_enabled=False,
    broker_session_timeout=6.0, broker_rebalance_timeout=6.0, broker_heartbeat_interval=1.0,
    broker_max_poll_interval=300.0, consumer_auto_offset_reset="earliest",
    stream_buffer_maxsize=32768, topic_partitions=4, datadir=out + ".d")
topic = app.topic("sunlight.gps", key_type=bytes, value_type=bytes, key_serializer="raw",
                  value_serializer="raw")
st = {"n": 0}
@app.agent(topic)
async def floor(stream):
    async for event in stream.events():
        if st["n"] == 0:
            st["wall"], st["cpu"] = time.perf_counter(), time.process_time()
        st["n"] += 1
        if st["n"] == n:
            k = n - 1
            wall, cpu = time.perf_counter() - st["wall"], time.process_time() - st["cpu"]
            open(out, "w").write(f"{k / wall} {k / cpu}")
            os._exit(0)
from faust.worker import Worker
Worker(app, loglevel="ERROR", quiet=True).execute_from_commandline()
'''


def faust_floor(bootstrap: str, records: int, tmp: Path) -> dict[str, float]:
    out = tmp / "faust-floor"
    proc = subprocess.run([sys.executable, "-c", FAUST_FLOOR, bootstrap, str(records), str(out)],
                          capture_output=True, text=True, timeout=1800, cwd=ROOT)
    if not out.exists():
        raise RuntimeError(f"the bare Faust agent failed: {proc.stderr[-800:]}")
    wall, cpu = map(float, out.read_text().split())
    return {"events_per_s": wall, "events_per_cpu_s": cpu}


def start_worker(bootstrap: str, redis_url: str, app_id: str, tmp: Path) -> tuple[Any, int]:
    port = free_port()
    env = dict(os.environ, SUNLIGHT_KAFKA_BOOTSTRAP=bootstrap, SUNLIGHT_REDIS_URL=redis_url,
               SUNLIGHT_METRICS_PORT=str(port), SUNLIGHT_APP_ID=app_id,
               SUNLIGHT_DATA_DIR=str(tmp / app_id))
    with open(tmp / f"{app_id}.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "streams.cli", "worker"], cwd=ROOT,
                                env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    return proc, port


def worker_rate(bootstrap: str, redis_url: str, events: int, tmp: Path) -> dict[str, float]:
    """From its first event to its last, wall clock and the worker's CPU time."""
    proc, port = start_worker(bootstrap, redis_url, "bench-live1", tmp)
    try:
        deadline = time.monotonic() + 900
        while (first := metric(port, "sunlight_events_total")) <= 0:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"the worker did not start; see {tmp}/bench-live1.log")
            time.sleep(0.02)
        wall, cpu = time.perf_counter(), cpu_s(proc.pid)
        while (done := metric(port, "sunlight_events_total")) < events:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"worker stopped at {done:,.0f} of {events:,} events")
            time.sleep(0.02)
        wall, cpu = time.perf_counter() - wall, cpu_s(proc.pid) - cpu
        return {"events_per_s": (events - first) / wall,
                "events_per_cpu_s": (events - first) / cpu}
    finally:
        os.killpg(proc.pid, 9)
        proc.wait()


def bench_throughput(events_n: int, tmp: Path) -> dict[str, Any]:
    events = synthetic_gps(2000, max(1, events_n // 2000))
    with EmbeddedKafka() as kafka, EmbeddedRedis() as redis_server:
        create_topics(kafka.bootstrap, [f"sunlight.{t}" for t in ALL_TOPICS], 4)
        records = prefill(kafka.bootstrap, events, 1)
        raw = asyncio.run(raw_loop(kafka.bootstrap, records))
        worker = worker_rate(kafka.bootstrap, redis_server.url, len(events), tmp)
        floor = faust_floor(kafka.bootstrap, records, tmp)
    return {
        "events": len(events), "records": records, "worker": worker,
        "raw_aiokafka": raw, "faust_bare_agent": floor,
        "ratio_to_raw": worker["events_per_s"] / raw["events_per_s"],
        "ratio_to_raw_cpu": worker["events_per_cpu_s"] / raw["events_per_cpu_s"],
        "ratio_to_faust_bare_agent": worker["events_per_s"] / floor["events_per_s"],
    }


REFERENCE_PIPE = '''
import asyncio, sys, orjson
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, TopicPartition
async def main(boot, url, ready):
    red = aioredis.Redis.from_url(url)
    consumer = AIOKafkaConsumer(bootstrap_servers=boot, enable_auto_commit=False,
                                fetch_max_wait_ms=100)
    await consumer.start()
    tps = [TopicPartition("sunlight.fuel", p) for p in range(4)]
    consumer.assign(tps)
    await consumer.seek_to_end(*tps)
    for tp in tps:
        await consumer.position(tp)
    open(ready, "w").write("ok")
    while True:
        for batch in (await consumer.getmany(timeout_ms=100, max_records=2000)).values():
            for r in batch:
                await red.publish("bench:reference", orjson.loads(r.value)["txn_id"])
asyncio.run(main(*sys.argv[1:]))
'''


def percentiles(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    if not values:
        return {}

    def at(p: float) -> float:
        return values[min(len(values) - 1, int(p * len(values)))]

    return {"n": len(values), "p50_ms": at(0.5), "p95_ms": at(0.95), "p99_ms": at(0.99),
            "max_ms": values[-1]}


def bench_latency(rate: float, seconds: float, tmp: Path) -> dict[str, Any]:
    """`tank_overfill`, produce -> Redis, among one-event GPS records at `rate` records/s."""
    import redis
    from kafka import KafkaProducer

    with EmbeddedKafka() as kafka, EmbeddedRedis() as redis_server:
        create_topics(kafka.bootstrap, [f"sunlight.{t}" for t in ALL_TOPICS], 4)
        producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, linger_ms=0)
        for v in range(200):
            vid = f"L-{v:04d}"
            producer.send("sunlight.registry", key=vid.encode(), value=orjson.dumps(
                {"kind": "vehicle", "vehicle_id": vid, "unit": "U", "tank_liters": 50,
                 "fuel_type": "gasoline", "ts": 0}))
            producer.send("sunlight.registry", key=f"C-{v:04d}".encode(), value=orjson.dumps(
                {"kind": "card", "card_id": f"C-{v:04d}", "vehicle_id": vid, "ts": 0}))
        producer.flush()
        worker, port = start_worker(kafka.bootstrap, redis_server.url, "bench-latency1", tmp)
        ready = tmp / "reference-ready"
        pipe = subprocess.Popen([sys.executable, "-c", REFERENCE_PIPE, kafka.bootstrap,
                                 redis_server.url, str(ready)], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        sent: dict[str, float] = {}
        got: dict[str, dict[str, float]] = {"worker": {}, "reference": {}}
        r = redis.Redis.from_url(redis_server.url)
        pubsub = r.pubsub()
        pubsub.subscribe("sunlight:alerts:live", "bench:reference")

        def listen() -> None:
            with contextlib.suppress(redis.exceptions.ConnectionError):  # ends with the server
                for msg in pubsub.listen():
                    if msg["type"] != "message":
                        continue
                    now = time.perf_counter()
                    if msg["channel"] == b"bench:reference":
                        got["reference"].setdefault(msg["data"].decode(), now)
                    else:
                        got["worker"].setdefault(json.loads(msg["data"])["subject"], now)

        threading.Thread(target=listen, daemon=True).start()
        try:
            deadline = time.monotonic() + 180
            warm = 0
            while (metric(port, "sunlight_events_total") < 1 or not ready.exists()) \
                    and time.monotonic() < deadline:
                producer.send("sunlight.gps", key=b"L-0000", value=orjson.dumps(
                    {"vehicle_id": "L-0000", "ts": int(time.time() * 1000) - 60_000 + warm,
                     "lat": 41.8, "lon": 123.4}))
                producer.flush()
                warm += 1
                time.sleep(0.2)
            n = int(rate * seconds)
            start = time.perf_counter()
            for i in range(n):
                due = start + i / rate
                while (now := time.perf_counter()) < due:
                    time.sleep(min(0.001, due - now))
                v = i % 200
                now_ms = int(time.time() * 1000)
                if i % 20 == 0:
                    txn = f"TX-{i:07d}"
                    sent[txn] = time.perf_counter()
                    producer.send("sunlight.fuel", key=f"C-{v:04d}".encode(), value=orjson.dumps(
                        {"txn_id": txn, "card_id": f"C-{v:04d}", "ts": now_ms, "liters": 80,
                         "amount_cny": 600, "station_id": "S"}))
                else:
                    producer.send("sunlight.gps", key=f"L-{v:04d}".encode(), value=orjson.dumps(
                        {"vehicle_id": f"L-{v:04d}", "ts": now_ms, "lat": 41.8 + v / 1e4,
                         "lon": 123.4}))
            producer.flush()
            behind = (time.perf_counter() - start) - seconds  # the producer's own lag
            time.sleep(3)
        finally:
            for proc in (worker, pipe):
                os.killpg(proc.pid, 9)
                proc.wait()
            producer.close()
    out: dict[str, Any] = {"rate": rate, "seconds": seconds, "fills": len(sent),
                           "producer_behind_s": behind}
    for name, arrived in got.items():
        out[name] = percentiles([(arrived[t] - s) * 1000 for t, s in sent.items()
                                 if t in arrived])
    if not out["worker"]:
        raise RuntimeError("no tank_overfill alert arrived")
    ref = out["reference"].get("p99_ms")
    out["p99_ratio_to_reference"] = out["worker"]["p99_ms"] / ref if ref else None
    return out


def report(results: dict[str, Any]) -> str:
    lines = []
    t = results.get("throughput")
    if t:
        w, raw, floor = t["worker"], t["raw_aiokafka"], t["faust_bare_agent"]
        lines.append(
            f"live, one event a record ({t['records']:,} records): worker "
            f"{w['events_per_s']:,.0f} ev/s ({w['events_per_cpu_s']:,.0f} per CPU s); raw "
            f"aiokafka {raw['events_per_s']:,.0f} ({raw['events_per_cpu_s']:,.0f}); bare "
            f"Faust agent {floor['events_per_s']:,.0f} ({floor['events_per_cpu_s']:,.0f}); "
            f"ratio to raw {t['ratio_to_raw']:.2f} (CPU {t['ratio_to_raw_cpu']:.2f}), to the "
            f"bare Faust agent {t['ratio_to_faust_bare_agent']:.1f}")
    lat = results.get("latency")
    if lat:
        w, ref = lat["worker"], lat["reference"]
        lines.append(
            f"tank_overfill at {lat['rate']:,.0f} one-event records/s: p50 {w['p50_ms']:.1f} "
            f"ms, p95 {w['p95_ms']:.1f} ms, p99 {w['p99_ms']:.1f} ms ({w['n']} of "
            f"{lat['fills']}); reference pipe p50 {ref.get('p50_ms', float('nan')):.1f} ms, "
            f"p99 {ref.get('p99_ms', float('nan')):.1f} ms")
    return "\n".join(lines)


def bench_live1(tmp: Path, quick: bool = False) -> dict[str, Any]:
    results = {"throughput": bench_throughput(40_000 if quick else 100_000, tmp),
               "latency": bench_latency(5000.0, 10.0 if quick else 30.0, tmp)}
    print(report(results), flush=True)
    return results
