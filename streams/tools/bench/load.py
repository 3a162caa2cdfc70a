"""The latency bench's timed load, in its own process: `python -m streams.tools.bench.load`.

An aiokafka producer. Every `linger_ms` (5 ms) it builds the events now due into one batch
per partition and sends them: at 5k records/s 15-20 % of a core on this machine in the
bench (38 % alone with a 2 ms linger), where
kafka-python's send per record took 93 % (and, in the bench's own process, shared the GIL
with the thread that stamps arrivals). The partition of a key is the one every Kafka
client's default partitioner gives (murmur2), cached per key: the pure-Python hash was a
visible cost, and the worker relies on keys landing where a normal producer puts them.

The events and their schedule are the bench's: event i is due at start + i/rate on
`time.monotonic()` (CLOCK_MONOTONIC, shared by the processes of one Linux machine); every
20th is a fill over the tank, the others GPS fixes (single records, or envelopes of
`gps_batch` keyed `gateway`). A fill's sent time is its due time and its record's `ts` the
wall clock at that time, so any delay from the tick or the batching is charged to the
measurement, never hidden. The file written at the end holds, per fill, sent (monotonic s),
wall_sent (epoch ms, the record's `ts`) and acked (monotonic s, when the broker answered
its batch), how far behind schedule the load ended (`behind_s`), and the CPU seconds and
wall seconds of the timed phase.
"""

from __future__ import annotations

import asyncio
import json
import resource
import time
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

# How long events wait to go out together: librdkafka's and the Java client's (Kafka 4.0)
# default linger. Fewer, larger batches are also what the embedded broker needs: its fetch
# lists every batch of a partition (see latency.py). Charged to the measurement.
LINGER_MS = 5.0
FUEL, GPS = "sunlight.fuel", "sunlight.gps"


class Partitions:
    """The default partitioner's choice for each key of one topic, computed once a key."""

    def __init__(self, partitions: list[int]) -> None:
        self._all = sorted(partitions)
        self._of: dict[bytes, int] = {}
        self._partitioner = DefaultPartitioner()

    def __call__(self, key: bytes) -> int:
        q = self._of.get(key)
        if q is None:
            q = self._of[key] = self._partitioner(key, self._all, self._all)
        return q


class Tick:
    """The batches of one tick: one per partition (and any that filled up), with their fills."""

    def __init__(self, producer: AIOKafkaProducer, partitions: dict[str, Partitions]) -> None:
        self._producer = producer
        self._partitions = partitions
        self._open: dict[tuple[str, int], tuple[Any, list[str]]] = {}
        self._full: list[tuple[str, int, Any, list[str]]] = []

    def add(self, topic: str, key: bytes, value: bytes, txn: str | None) -> None:
        q = self._partitions[topic](key)
        entry = self._open.get((topic, q))
        if entry is None:
            entry = self._open[(topic, q)] = (self._producer.create_batch(), [])
        if entry[0].append(key=key, value=value, timestamp=None) is None:
            self._full.append((topic, q, *entry))  # goes first, a new batch follows
            entry = self._open[(topic, q)] = (self._producer.create_batch(), [])
            entry[0].append(key=key, value=value, timestamp=None)
        if txn is not None:
            entry[1].append(txn)

    def take(self) -> list[tuple[str, int, Any, list[str]]]:
        """The batches to send, in order; the next tick starts empty."""
        out = self._full + [(topic, q, *entry) for (topic, q), entry in self._open.items()]
        self._open, self._full = {}, []
        return out


def cpu_seconds() -> float:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


async def run_load(bootstrap: str, rate: float, seconds: float, vehicles: int,
                   gps_batch: int, linger_ms: float = LINGER_MS) -> dict[str, Any]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    try:
        partitions = {t: Partitions(list(await producer.partitions_for(t))) for t in (FUEL, GPS)}
        sent: dict[str, float] = {}
        wall_sent: dict[str, int] = {}
        acked: dict[str, float] = {}
        failed: list[str] = []
        pending_gps: list[dict[str, Any]] = []
        tick = Tick(producer, partitions)
        outstanding: set[asyncio.Future[Any]] = set()

        def on_ack(future: asyncio.Future[Any], txns: list[str]) -> None:
            now = time.monotonic()
            outstanding.discard(future)
            if future.cancelled() or future.exception() is not None:
                failed.extend(txns)
                return
            for txn in txns:
                acked.setdefault(txn, now)

        n = int(rate * seconds)
        i = 0
        cpu0 = cpu_seconds()
        start = time.monotonic()
        wall0_ms = time.time() * 1000
        next_tick = start
        while i < n:
            due_n = min(n, int((time.monotonic() - start) * rate) + 1)
            while i < due_n:
                ts = int(wall0_ms + i * 1000 / rate)
                if i % 20 == 0:  # every 20th event: a fill larger than the tank
                    card = f"C-{(i // 20) % vehicles:05d}"
                    txn = f"TX-{i:07d}"
                    sent[txn] = start + i / rate  # its due time
                    wall_sent[txn] = ts
                    tick.add(FUEL, card.encode(), orjson.dumps(
                        {"txn_id": txn, "card_id": card, "ts": ts, "liters": 80,
                         "amount_cny": 600, "station_id": "S"}), txn)
                else:
                    v = i % vehicles
                    fix = {"vehicle_id": f"L-{v:05d}", "ts": ts, "lat": 41.8 + v / 1e5,
                           "lon": 123.4}
                    if gps_batch <= 1:
                        tick.add(GPS, f"L-{v:05d}".encode(), orjson.dumps(fix), None)
                    else:
                        pending_gps.append(fix)
                        if len(pending_gps) >= gps_batch:
                            tick.add(GPS, b"gateway", orjson.dumps(pending_gps), None)
                            pending_gps.clear()
                i += 1
            for topic, q, batch, txns in tick.take():
                batch.close()
                future = await producer.send_batch(batch, topic, partition=q)
                outstanding.add(future)
                future.add_done_callback(lambda f, t=txns: on_ack(f, t))
            next_tick = max(next_tick + linger_ms / 1000, time.monotonic())
            await asyncio.sleep(next_tick - time.monotonic())
        await producer.flush()  # every batch answered; the futures we hold follow a step later
        while outstanding:
            await asyncio.wait(list(outstanding))
        end = time.monotonic()
        cpu = cpu_seconds() - cpu0
    finally:
        await producer.stop()
    return {"events": n, "sent": sent, "wall_sent": wall_sent, "acked": acked,
            "failed": failed, "behind_s": (end - start) - seconds, "cpu_s": cpu,
            "wall_s": end - start}


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--vehicles", type=int, required=True)
    parser.add_argument("--gps-batch", type=int, default=1)
    parser.add_argument("--linger-ms", type=float, default=LINGER_MS)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    result = asyncio.run(run_load(args.bootstrap, args.rate, args.seconds, args.vehicles,
                                  args.gps_batch, args.linger_ms))
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result))
    tmp.replace(args.out)


if __name__ == "__main__":
    main()
