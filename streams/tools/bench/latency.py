"""On-arrival alert latency: `tank_overfill`, produce -> Redis, at a steady rate.

Fuel fills over the tank (every 20th event) among GPS fixes, at `rate` events/s; GPS goes
as single records (how most gateways publish) or in batch envelopes of `gps_batch`. The
fills go round the fleet (fill k is vehicle k mod `vehicles`), as a province's fills do:
one vehicle filling every few seconds would measure the refuel detectors' per-vehicle
history, not the path from Kafka to Redis.

Beside the worker, in the same run and through the same load, a reference pipe: an
aiokafka consumer of the fuel topic, with the fetch wait of the worker's fuel feed, that
publishes each fill's id to Redis at once (the broker, the producer and this machine's
share of the CPU, with no engine at all). The embedded broker (Tansu) does not answer a
waiting fetch when a record arrives: it looks again after half the wait, then half the
rest (Apache Kafka answers at once), so a fetch wait W adds up to W/2 to each hop.

The timed load runs in its own process (`load.py`): an aiokafka producer that every 5 ms
(the default linger of librdkafka and of the Java client) sends the events then due as
one batch per partition, keyed as any Kafka client's default partitioner would place
them. A fill's sent time is its due time on CLOCK_MONOTONIC (shared with this process,
whose listener thread stamps arrivals on it), so the linger and a late tick count against
the measurement. In the bench it takes 15-20 % of a core (alone, with a 2 ms linger, 38 %,
the broker 18 %; aiokafka's `send` per record with 1 ms ticks 50 %, the broker 24 %). The
registry and the warm-up still go through kafka-python, untimed.

The embedded broker's fetch lists every batch of a partition (Tansu 0.6's memory store,
`dynostore.rs` `fetch`: `object_store.list` of the partition's records, then a split at
the offset), so a fetch costs in proportion to the batches the partition holds: on this
machine 0.62 ms at 100 batches, 1.36 ms at 1,000, 5.1 ms at 5,000, 15.7 ms at 20,000.
At 5k records/s the broker takes most of a core within seconds and every hop through it
slows as the run goes on, the reference pipe's as much as the worker's: compare the two
(Apache Kafka finds an offset through its index). Fewer, larger batches (the linger) keep
the lists shorter.

History: the load came first from kafka-python in this process, a record a send, no linger
(beside the listener thread, under the same GIL): 93 % of a core alone (broker 20 %), acks
p50 4.4, p99 15.8 ms, taken from the worker and the broker it measures. librdkafka
(confluent-kafka, 5 ms linger) cost a quarter of a core, but the embedded broker then took
88 % of one to serve it beside the worker (45 % with kafka-python) and acks slowed to
0.1-0.4 s: worse for everything measured, so not used.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from streams.live.feeds import FEED_FETCH_WAIT_MS
from streams.tools.bench.load import LINGER_MS
from streams.tools.bench.suite import metric
from streams.tools.embedded import EmbeddedKafka, EmbeddedRedis, create_topics, free_port
from streams.topics import ALL_TOPICS

ROOT = Path(__file__).resolve().parents[3]
PARTITIONS = 4

REFERENCE_PIPE = '''
import asyncio, sys, orjson
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, TopicPartition
async def main(boot, url, ready, wait_ms, partitions):
    red = aioredis.Redis.from_url(url)
    consumer = AIOKafkaConsumer(bootstrap_servers=boot, enable_auto_commit=False,
                                fetch_max_wait_ms=int(wait_ms))
    await consumer.start()
    tps = [TopicPartition("sunlight.fuel", p) for p in range(int(partitions))]
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


def run_load(bootstrap: str, rate: float, seconds: float, vehicles: int, gps_batch: int,
             tmp: Path, app_id: str, linger_ms: float = LINGER_MS) -> dict[str, Any]:
    """The timed load (`load.py`) in its own process, once to the end; its file, read back."""
    out = tmp / f"{app_id}.load.json"
    with open(tmp / f"{app_id}.load.log", "ab") as log:
        done = subprocess.run(
            [sys.executable, "-m", "streams.tools.bench.load", "--bootstrap", bootstrap,
             "--rate", str(rate), "--seconds", str(seconds), "--vehicles", str(vehicles),
             "--gps-batch", str(gps_batch), "--linger-ms", str(linger_ms), "--out", str(out)],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, timeout=seconds + 120)
    if done.returncode != 0:
        raise RuntimeError(f"the load exited with {done.returncode}; see {tmp}/{app_id}.load.log")
    result: dict[str, Any] = json.loads(out.read_text())
    result["file"] = str(out)
    return result


def bench_latency(rate: float, seconds: float, tmp: Path, gps_batch: int = 1,
                  vehicles: int = 2000, fuel_wait_ms: int = FEED_FETCH_WAIT_MS,
                  linger_ms: float = LINGER_MS) -> dict[str, Any]:
    import redis
    from kafka import KafkaProducer

    tmp.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="latency-", dir=tmp))  # no state from an earlier run
    app_id = f"bench-latency-{rate:.0f}-{gps_batch}"
    with EmbeddedKafka() as kafka, EmbeddedRedis() as redis_server:
        create_topics(kafka.bootstrap, [f"sunlight.{t}" for t in ALL_TOPICS], PARTITIONS)
        producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, linger_ms=0)
        for v in range(vehicles):
            vid = f"L-{v:05d}"
            producer.send("sunlight.registry", key=vid.encode(), value=orjson.dumps(
                {"kind": "vehicle", "vehicle_id": vid, "unit": "U", "tank_liters": 50,
                 "fuel_type": "gasoline", "ts": 0}))
            producer.send("sunlight.registry", key=f"C-{v:05d}".encode(), value=orjson.dumps(
                {"kind": "card", "card_id": f"C-{v:05d}", "vehicle_id": vid, "ts": 0}))
        producer.flush()
        worker, port = start_worker(kafka.bootstrap, redis_server.url, app_id, tmp)
        ready = tmp / f"{app_id}.reference-ready"
        pipe = subprocess.Popen([sys.executable, "-c", REFERENCE_PIPE, kafka.bootstrap,
                                 redis_server.url, str(ready), str(fuel_wait_ms), str(PARTITIONS)],
                                cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        got: dict[str, dict[str, float]] = {"worker": {}, "reference": {}}
        raised: dict[str, float] = {}  # txn -> the alert's raised_at (epoch ms)
        r = redis.Redis.from_url(redis_server.url)
        pubsub = r.pubsub()
        pubsub.subscribe("sunlight:alerts:live", "bench:reference")

        def listen() -> None:
            with contextlib.suppress(redis.exceptions.ConnectionError):  # ends with the server
                for msg in pubsub.listen():
                    if msg["type"] != "message":
                        continue
                    now = time.monotonic()  # the load's clock too (CLOCK_MONOTONIC)
                    if msg["channel"] == b"bench:reference":
                        got["reference"].setdefault(msg["data"].decode(), now)
                    else:
                        alert = json.loads(msg["data"])
                        if alert["detector"] == "tank_overfill":
                            got["worker"].setdefault(alert["subject"], now)
                            raised.setdefault(alert["subject"], datetime.fromisoformat(
                                alert["raised_at"]).timestamp() * 1000)

        threading.Thread(target=listen, daemon=True).start()
        try:
            deadline = time.monotonic() + 180
            warm = 0
            # warm up: the worker has joined, read the registry to its end (before that it
            # holds every fill), built its partitions and processes input; the pipe reads
            while (metric(port, "sunlight_events_total") < 1 or not ready.exists()
                   or metric(port, "sunlight_registry_caught_up") < 1
                   or metric(port, "sunlight_restores_total") < PARTITIONS) \
                    and time.monotonic() < deadline:
                producer.send("sunlight.gps", key=b"L-00000", value=orjson.dumps(
                    {"vehicle_id": "L-00000", "ts": int(time.time() * 1000) - 60_000 + warm,
                     "lat": 41.8, "lon": 123.4}))
                producer.flush()
                warm += 1
                time.sleep(0.2)
            producer.close()  # the warm-up's; the timed load has its own process
            load = run_load(kafka.bootstrap, rate, seconds, vehicles, gps_batch, tmp, app_id,
                            linger_ms)
            sent, wall_sent, acked = load["sent"], load["wall_sent"], load["acked"]
            deadline = time.monotonic() + 30
            while len(got["worker"]) < len(sent) and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            for proc in (worker, pipe):
                os.killpg(proc.pid, 9)
                proc.wait()
            producer.close()  # again if the warm-up failed; closing twice is harmless
    out: dict[str, Any] = {"rate": rate, "seconds": seconds, "gps_batch": gps_batch,
                           "vehicles": vehicles, "linger_ms": linger_ms, "fills": len(sent),
                           "producer_behind_s": load["behind_s"],
                           "load_cpu_share": load["cpu_s"] / load["wall_s"],
                           "load_file": load["file"]}
    for name, arrived in got.items():
        out[name] = percentiles([(arrived[t] - s) * 1000 for t, s in sent.items()
                                 if t in arrived])
    # where the time goes: produced -> raised in the worker (its clock), -> Redis
    out["raised"] = percentiles([raised[t] - wall_sent[t] for t in raised])
    out["producer_ack"] = percentiles([(acked[t] - s) * 1000 for t, s in sent.items()
                                       if t in acked])
    if not out["worker"]:
        raise RuntimeError(f"no tank_overfill alert arrived; see {tmp}/{app_id}.log")
    ref = out["reference"].get("p99_ms")
    out["p99_ratio_to_reference"] = out["worker"]["p99_ms"] / ref if ref else None
    return out


def report(lat: dict[str, Any]) -> str:
    w, ref, ack = lat["worker"], lat["reference"], lat["producer_ack"]
    shape = "one event a record" if lat["gps_batch"] <= 1 else \
        f"GPS in envelopes of {lat['gps_batch']}"
    return (f"tank_overfill at {lat['rate']:,.0f} events/s ({shape}, {lat['vehicles']:,} "
            f"vehicles, {lat['linger_ms']:g} ms linger): p50 {w['p50_ms']:.1f} ms, p95 "
            f"{w['p95_ms']:.1f} ms, p99 "
            f"{w['p99_ms']:.1f} ms ({w['n']} of {lat['fills']} fills); reference pipe p50 "
            f"{ref.get('p50_ms', float('nan')):.1f} ms, p99 {ref.get('p99_ms', float('nan')):.1f}"
            f" ms; producer ack p50 {ack.get('p50_ms', float('nan')):.1f} ms; raised in the "
            f"worker p50 {lat['raised'].get('p50_ms', float('nan')):.1f} ms, p99 "
            f"{lat['raised'].get('p99_ms', float('nan')):.1f} ms after the send; the load took "
            f"{lat['load_cpu_share'] * 100:.0f} % of a core")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=5000.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--gps-batch", type=int, default=1)
    parser.add_argument("--vehicles", type=int, default=2000)
    parser.add_argument("--linger-ms", type=float, default=LINGER_MS)
    parser.add_argument("--tmp", type=Path, default=Path("/tmp/sunlight-bench-latency"))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = bench_latency(args.rate, args.seconds, args.tmp, args.gps_batch, args.vehicles,
                           linger_ms=args.linger_ms)
    print(report(result), flush=True)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))
