"""`sunlight produce`: send replay files to the contract's topics, keyed per the contract.

Lines go out in arrival order (several files merged by `ts`, like replay). A line the
producer cannot place (not JSON, no known kind) is still sent, unchanged, to the topic its
file name implies (or the registry topic), so that the engine rejects it to the DLQ with
its reason: nothing is dropped silently on the way in.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import gzip
import heapq
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaProducer
from kafka.errors import KafkaTimeoutError
from tqdm import tqdm

from detectors.events import KEY_FIELD
from detectors.timeutil import Zone
from streams.batch.replay import kind_from_name

KIND_TOPIC = {
    "gps": "gps",
    "fuel": "fuel",
    "payment": "payments",
    "review": "reviews",
    "vehicle": "registry",
    "card": "registry",
    "station": "registry",
    "death": "registry",
    "application": "applications",
    "grant": "projects",
    "followup": "projects",
    "invoice": "invoices",
    "tax_invoice": "tax",
    "bank_payment": "bank",
    "place": "registry",
    "asset": "registry",
}


@dataclass
class Line:
    ts_ms: int
    topic: str
    key: bytes | None
    raw: bytes
    event: dict[str, Any] | None  # None: sent as is, unparsed


def read_lines(path: Path, zone: Zone) -> Iterator[Line]:
    default_kind = kind_from_name(path)
    fallback = KIND_TOPIC.get(default_kind or "", "registry")
    opener = gzip.open if path.suffix == ".gz" else open
    last_ts = 0
    with opener(path, "rb") as f:
        for raw in f:
            raw = raw.rstrip(b"\r\n")
            if not raw.strip():
                continue
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError:
                obj = None
            kind = obj.get("kind", default_kind) if isinstance(obj, dict) else None
            topic = KIND_TOPIC.get(kind) if isinstance(kind, str) else None
            if topic is None or not isinstance(obj, dict):
                yield Line(last_ts, fallback, None, raw, None)
                continue
            key = obj.get(KEY_FIELD[kind])
            if topic == "registry" and isinstance(key, str):
                # The registry topic is compacted: one record per fact version survives,
                # so its key is the fact's identity and effective time.
                key = registry_key(kind, key, obj.get("ts"), obj)
            with contextlib.suppress(ValueError):
                last_ts = zone.parse(obj.get("ts"))
            yield Line(last_ts, topic, key.encode() if isinstance(key, str) else None, raw, obj)


def registry_key(kind: str, ident: str, ts: Any, obj: dict[str, Any]) -> str:
    """`kind:id@ts` (assets also name the asset): distinct for every version of a fact."""
    if kind == "asset":
        ident = f"{ident}/{obj.get('asset_kind')}/{obj.get('asset_id')}"
    return f"{kind}:{ident}@{ts}"


def _close_quietly(producer: KafkaProducer) -> None:
    with contextlib.suppress(KafkaTimeoutError):
        producer.close(timeout=0)


def merged(paths: list[Path], zone: Zone) -> Iterator[Line]:
    streams = [read_lines(p, zone) for p in paths]
    if len(streams) == 1:
        return streams[0]
    return heapq.merge(*streams, key=lambda line: line.ts_ms)


def produce(
    paths: list[Path],
    bootstrap: str,
    topic_prefix: str = "sunlight.",
    speed: float | None = None,
    rate: float | None = None,
    batch: int = 1,
    zone: Zone | None = None,
    **kafka: Any,
) -> int:
    """Send every line; returns how many lines were sent."""
    zone = zone or Zone()
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all",
                             batch_size=256 * 1024, max_request_size=4 * 1024 * 1024, **kafka)
    # In `sunlight up`/`demo` this runs in a thread that ends with the process (Ctrl-C):
    # kafka-python then flushes at exit with no time left and prints a traceback. This
    # runs before its handler, closes quietly, and takes that handler away.
    closer = functools.partial(_close_quietly, producer)
    atexit.register(closer)
    buffers: dict[tuple[str, bytes | None], list[dict[str, Any]]] = {}
    sent = 0
    start = time.monotonic()
    first_ts: int | None = None
    facts_unacked = False

    def flush(key: tuple[str, bytes | None]) -> None:
        events = buffers.pop(key)
        producer.send(topic_prefix + key[0], key=key[1], value=orjson.dumps(events))

    try:
        for n, line in enumerate(tqdm(merged(paths, zone), unit=" ev", delay=2.0, leave=False)):
            if rate:
                ahead = n / rate - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)
            elif speed and line.event is not None:
                first_ts = line.ts_ms if first_ts is None else first_ts
                ahead = (line.ts_ms - first_ts) / 1000 / speed - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)
            if line.topic == "registry":
                # A fact counts for the events produced after the broker has it (see
                # README, "The registry hold"): it is acknowledged before anything after it
                # is sent, and never waits in a batch.
                producer.send(topic_prefix + line.topic, key=line.key, value=line.raw)
                facts_unacked = True
                sent += 1
                continue
            if facts_unacked:
                producer.flush()
                facts_unacked = False
            if batch <= 1 or line.event is None:
                producer.send(topic_prefix + line.topic, key=line.key, value=line.raw)
            else:
                k = (line.topic, line.key)
                buffers.setdefault(k, []).append(line.event)
                if len(buffers[k]) >= batch:
                    flush(k)
                elif n % (batch * 50) == 0:
                    for k in list(buffers):
                        flush(k)
            sent += 1
        for k in list(buffers):
            flush(k)
        producer.flush()
    finally:
        # Stopped (Ctrl-C) with the broker gone: give up on what is unsent after a while
        # rather than wait for ever or print a traceback at exit.
        with contextlib.suppress(KafkaTimeoutError):
            producer.close(timeout=5)
        atexit.unregister(closer)
    return sent
