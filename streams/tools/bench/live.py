"""`sunlight bench --only live1`: one event per Kafka record (how GPS gateways publish).

1. Throughput of one worker over a pre-filled gps topic, beside two references read from
   the same records in the same run: a raw aiokafka consume-and-parse loop, and a bare
   Faust agent (`stream.events()`, no work: Faust's per-record path alone). Wall-clock
   rates, and rates per CPU second of the process (the machine may be shared).
2. `tank_overfill` latency (`streams/tools/bench/latency.py`) at 5k one-event records/s.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from streams.tools.bench.latency import bench_latency, start_worker
from streams.tools.bench.latency import report as latency_report
from streams.tools.bench.suite import ROOT, metric, prefill, synthetic_gps
from streams.tools.embedded import EmbeddedKafka, EmbeddedRedis, create_topics
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
from streams.live.worker import Worker
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
        lines.append(latency_report(lat))
    return "\n".join(lines)


def bench_live1(tmp: Path, quick: bool = False) -> dict[str, Any]:
    results = {"throughput": bench_throughput(40_000 if quick else 100_000, tmp),
               "latency": bench_latency(5000.0, 10.0 if quick else 30.0, tmp)}
    print(report(results), flush=True)
    return results
