"""Durable engine state: per-partition checkpoints with the input offsets they cover.

A checkpoint of partition p is p's detector states (only the keys changed since the last
one: a record cache flushed on commit, as Kafka Streams does), its clock and held events,
and the positions of every input it has taken in (the co-partitioned engine topics, and
the broadcast fuel and registry topics' records of p's share). It is written

- locally, to one SQLite database in the state directory (one transaction for every
  partition and the worker's registry: a restore never sees states newer or older than
  their offsets), so a machine restarts from its own disk, and
- to Kafka, to the compacted changelog topic `<prefix>state` (partition p for engine
  partition p): the changed keys (a tombstone for a dropped key), then a marker record
  carrying the offsets. A restore reads only what precedes the last marker, so a
  checkpoint cut short by a crash is never half-applied. Another worker takes a partition
  over from it when the first worker's disk is gone.

Every record written carries `FORMAT_VERSION`; a reader refuses a version it does not
know. Positions carry a fingerprint of the last record they cover (CreateTime and a hash),
so that a topic that was deleted and created again (a new embedded broker) is recognised
and read from its start instead of being skipped.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from detectors.engine import Row
from detectors.registry import Registry
from streams.live.feeds import fingerprint, watermarks

__all__ = ["fingerprint"]

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MARKER_KEY = b"\x00checkpoint"
STATE_PREFIX = b"s\x1f"
FETCH_BYTES = 16 * 1024 * 1024

# Rows a changelog write sends between two turns of the event loop (~20 us a send).
YIELD_EVERY_ROWS = 256
StateRow = Row  # detector, key, encoded state (None: dropped), as `Engine.end_cut` gives
PUT_BLOB_BYTES = 32 * 1024 * 1024  # the values one insert statement takes (_put_rows)
RegistryRow = tuple[str, str, bytes]  # a registry fact: kind, id, its versions (JSON)


@dataclass
class Position:
    """The next offset to read of one topic partition, and the record just before it."""

    offset: int
    last: str | None = None  # fingerprint of the record at offset - 1

    def to_json(self) -> list[Any]:
        return [self.offset, self.last]

    @classmethod
    def from_json(cls, raw: list[Any]) -> Position:
        return cls(int(raw[0]), raw[1])


@dataclass
class Meta:
    """Everything of a partition's checkpoint but its detector states."""

    partition: int
    epoch_ms: int
    # "gps" -> position (engine topics: short name); "fuel/0", "registry/3" -> position
    positions: dict[str, Position] = field(default_factory=dict)
    clock: dict[str, Any] = field(default_factory=dict)
    pending: dict[str, list[list[int]]] = field(default_factory=dict)
    last_produced: dict[str, int] = field(default_factory=dict)
    poisoned: list[list[Any]] = field(default_factory=list)
    changelog_next: int | None = None  # the changelog's end right after this marker

    def to_bytes(self) -> bytes:
        return orjson.dumps({
            "version": FORMAT_VERSION,
            "partition": self.partition,
            "epoch_ms": self.epoch_ms,
            "positions": {k: p.to_json() for k, p in self.positions.items()},
            "clock": self.clock,
            "pending": self.pending,
            "last_produced": self.last_produced,
            "poisoned": self.poisoned,
            "changelog_next": self.changelog_next,
        })

    @classmethod
    def from_bytes(cls, raw: bytes) -> Meta:
        doc = orjson.loads(raw)
        check_version(doc.get("version"), "checkpoint")
        return cls(
            partition=int(doc["partition"]),
            epoch_ms=int(doc["epoch_ms"]),
            positions={k: Position.from_json(v) for k, v in doc["positions"].items()},
            clock=doc.get("clock") or {},
            pending=doc.get("pending") or {},
            last_produced=doc.get("last_produced") or {},
            poisoned=doc.get("poisoned") or [],
            changelog_next=doc.get("changelog_next"),
        )


@dataclass
class Checkpoint:
    meta: Meta
    states: dict[tuple[str, str], bytes]
    source: str  # "local" or "kafka"
    current: bool = True  # False: the changelog lacks it (the next one must write it whole)
    # Keys the changelog holds that this (older, local) checkpoint has not: the next
    # checkpoint writes their tombstones, or a later restore from Kafka would revive them.
    stale: set[tuple[str, str]] = field(default_factory=set)


def check_version(version: Any, what: str) -> None:
    if version != FORMAT_VERSION:
        raise ValueError(f"{what}: format version {version!r} is not supported "
                         f"(this build reads {FORMAT_VERSION})")


def restore_registry(local: LocalStore) -> tuple[Registry, dict[str, Any]] | None:
    """The registry of the last checkpoint, and its feed's positions (JSON by partition);
    None before the first. A registry written whole (before it had rows of its own) comes
    back with every fact marked changed: the next checkpoint writes them as rows."""
    raw = local.worker_entry("registry")
    if raw is None:
        return None
    doc = orjson.loads(raw)
    check_version(doc.get("version"), "registry checkpoint")
    if "registry" in doc:
        registry = Registry.restore(doc["registry"])
        registry.mark_all_changed()
    else:
        registry = Registry.from_rows((kind, ident, orjson.loads(versions))
                                      for kind, ident, versions in local.registry_rows())
    return registry, doc["positions"]


# --- local -------------------------------------------------------------------------------


def _put_rows(db: sqlite3.Connection, insert: str, rows: Iterable[tuple[str, str, bytes]],
              *head: Any) -> None:
    """Insert rows of two names and a value with one statement: the values joined in one
    blob, the names and each value's place in a JSON index that SQLite splits itself.

    `executemany` gives up the GIL for each row's step and waits to take it back; with
    the event loop busy in the other thread each wait can last the interpreter's switch
    interval (5 ms): 32,000 rows took over a minute. `insert` is `INSERT ... SELECT` with
    `{a}`, `{b}` and `{value}` for a row's parts; `head`, parameters before them."""
    sql = insert.format(a="value ->> 0", b="value ->> 1",
                        value="substr(?, value ->> 2, value ->> 3)") + " FROM json_each(?)"
    index: list[tuple[str, str, int, int]] = []
    values: list[bytes] = []
    at = 1
    for a, b, value in rows:
        index.append((a, b, at, len(value)))
        values.append(value)
        at += len(value)
        if at > PUT_BLOB_BYTES:  # SQLite refuses a blob over 1 GB: statements of ~32 MB
            db.execute(sql, (*head, b"".join(values), orjson.dumps(index)))
            index, values, at = [], [], 1
    if index:
        db.execute(sql, (*head, b"".join(values), orjson.dumps(index)))


class LocalStore:
    """One SQLite database per worker state directory (WAL, fsync on commit)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()  # one writer at a time (writes run in a thread)
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript("""
            CREATE TABLE IF NOT EXISTS format (version INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS meta (partition INTEGER PRIMARY KEY, body BLOB);
            CREATE TABLE IF NOT EXISTS state (
                partition INTEGER, detector TEXT, key TEXT, value BLOB,
                PRIMARY KEY (partition, detector, key)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS worker (name TEXT PRIMARY KEY, body BLOB);
            CREATE TABLE IF NOT EXISTS registry (
                kind TEXT, id TEXT, versions BLOB, PRIMARY KEY (kind, id)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS poison (
                partition INTEGER, topic TEXT, source_partition INTEGER, "offset" INTEGER,
                PRIMARY KEY (partition, topic, source_partition, "offset"));
        """)
        row = self.db.execute("SELECT version FROM format").fetchone()
        if row is None:
            self.db.execute("INSERT INTO format VALUES (?)", (FORMAT_VERSION,))
        else:
            check_version(row[0], f"state store {path}")

    def close(self) -> None:
        with self._lock:
            self.db.close()

    def write(self, parts: list[tuple[Meta, list[StateRow], bool]],
              worker: dict[str, bytes], registry: Iterable[RegistryRow] = ()) -> None:
        """One transaction: each partition's meta and changed states (`replace` first
        deletes what the partition had), the worker-wide entries (the registry feed's
        positions) and the registry's changed facts."""
        with self._lock:
            db = self.db
            db.execute("BEGIN IMMEDIATE")
            try:
                for meta, rows, replace in parts:
                    p = meta.partition
                    if replace:
                        db.execute("DELETE FROM state WHERE partition = ?", (p,))
                    _put_rows(db, "INSERT OR REPLACE INTO state SELECT ?, {a}, {b}, {value}",
                              [(d, k, v) for d, k, v in rows if v is not None], p)
                    dropped = [(d, k) for d, k, v in rows if v is None]
                    if dropped:
                        db.execute("DELETE FROM state WHERE partition = ? AND (detector, key) "
                                   "IN (SELECT value ->> 0, value ->> 1 FROM json_each(?))",
                                   (p, orjson.dumps(dropped)))
                    db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                               (p, meta.to_bytes()))
                for name, body in worker.items():
                    db.execute("INSERT OR REPLACE INTO worker VALUES (?, ?)", (name, body))
                _put_rows(db, "INSERT OR REPLACE INTO registry SELECT {a}, {b}, {value}",
                          registry)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def load(self, partition: int) -> Checkpoint | None:
        with self._lock:
            row = self.db.execute("SELECT body FROM meta WHERE partition = ?",
                                  (partition,)).fetchone()
            if row is None:
                return None
            states = {(d, k): v for d, k, v in self.db.execute(
                "SELECT detector, key, value FROM state WHERE partition = ?", (partition,))}
        return Checkpoint(Meta.from_bytes(row[0]), states, "local")

    def load_meta(self, partition: int) -> Meta | None:
        with self._lock:
            row = self.db.execute("SELECT body FROM meta WHERE partition = ?",
                                  (partition,)).fetchone()
        return None if row is None else Meta.from_bytes(row[0])

    def worker_entry(self, name: str) -> bytes | None:
        with self._lock:
            row = self.db.execute("SELECT body FROM worker WHERE name = ?", (name,)).fetchone()
        return None if row is None else bytes(row[0])

    def registry_rows(self) -> list[RegistryRow]:
        """Every fact the registry held at the last checkpoint: (kind, id, versions)."""
        with self._lock:
            return [(kind, ident, bytes(versions)) for kind, ident, versions in
                    self.db.execute("SELECT kind, id, versions FROM registry")]

    def add_poison(self, partition: int, marks: list[tuple[str, int, int]]) -> None:
        """Remember at once that these records were dead-lettered (a crash before the next
        checkpoint must not dead-letter them again)."""
        with self._lock:
            self.db.executemany("INSERT OR IGNORE INTO poison VALUES (?, ?, ?, ?)",
                                [(partition, *m) for m in marks])

    def poisoned(self, partition: int) -> set[tuple[str, int, int]]:
        with self._lock:
            rows = self.db.execute(
                'SELECT topic, source_partition, "offset" FROM poison WHERE partition = ?',
                (partition,)).fetchall()
        return {(t, int(q), int(o)) for t, q, o in rows}


# --- Kafka -------------------------------------------------------------------------------


def state_key(detector: str, key: str, app: bytes = b"") -> bytes:
    return app + STATE_PREFIX + detector.encode() + b"\x1f" + key.encode()


def parse_state_key(raw: bytes, app: bytes = b"") -> tuple[str, str]:
    detector, _, key = raw[len(app) + len(STATE_PREFIX):].partition(b"\x1f")
    return detector.decode(), key.decode()


class KafkaChangelog:
    """The compacted changelog topic: changed keys, then a marker with the offsets."""

    def __init__(self, bootstrap: str, topic: str, app_id: str = "", **kafka: Any) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        # Every key starts with the app id: apps sharing a broker (and so the topic) never
        # restore each other's state (as Kafka Streams names changelogs by application id).
        self.app = app_id.encode() + b"\x1e" if app_id else b""
        self.marker = self.app + MARKER_KEY
        self.kafka = kafka
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, acks="all", linger_ms=5,
            max_request_size=FETCH_BYTES, **self.kafka)
        await self._producer.start()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def write(self, meta: Meta, rows: Iterable[StateRow]) -> int:
        """The changed keys, then the marker; returns, once the broker has all of them,
        the changelog's end right after the marker."""
        assert self._producer is not None
        p = meta.partition
        header = [("v", str(FORMAT_VERSION).encode())]
        futures = []
        for n, (d, k, value) in enumerate(rows, 1):
            futures.append(await self._producer.send(self.topic, value,
                                                     state_key(d, k, self.app), partition=p,
                                                     headers=header))
            if n % YIELD_EVERY_ROWS == 0:  # a send waits only on a full buffer
                await asyncio.sleep(0)
        futures.append(await self._producer.send(self.topic, meta.to_bytes(), self.marker,
                                                 partition=p, headers=header))
        done = await asyncio.gather(*futures)
        return int(done[-1].offset) + 1

    async def end(self, partition: int) -> int:
        tp = TopicPartition(self.topic, partition)
        return (await watermarks(self.bootstrap, [tp], **self.kafka))[tp][1]

    async def load(self, partition: int) -> Checkpoint | None:
        """The newest complete checkpoint of `partition` in the changelog, if any."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                    auto_offset_reset="earliest",
                                    max_partition_fetch_bytes=FETCH_BYTES, **self.kafka)
        await consumer.start()
        try:
            tp = TopicPartition(self.topic, partition)
            consumer.assign([tp])
            end = (await watermarks(self.bootstrap, [tp], **self.kafka))[tp][1]
            await consumer.seek_to_beginning(tp)
            confirmed: dict[tuple[str, str], bytes] = {}
            tail: dict[tuple[str, str], bytes | None] = {}
            meta: Meta | None = None
            while await consumer.position(tp) < end:
                batches = await consumer.getmany(tp, timeout_ms=500, max_records=10_000)
                for record in batches.get(tp, []):
                    key = record.key or b""
                    if key == self.marker:
                        meta = Meta.from_bytes(record.value or b"")
                        for k, v in tail.items():
                            if v is None:
                                confirmed.pop(k, None)
                            else:
                                confirmed[k] = v
                        tail.clear()
                    elif key.startswith(self.app + STATE_PREFIX):
                        tail[parse_state_key(key, self.app)] = record.value
            if tail:
                log.warning("changelog %s[%d]: %d keys after the last marker ignored (a "
                            "checkpoint cut short)", self.topic, partition, len(tail))
            if meta is None:
                return None
            meta.changelog_next = end
            return Checkpoint(meta, confirmed, "kafka")
        finally:
            await consumer.stop()


# --- both ----------------------------------------------------------------------------------


class Checkpointer:
    """Writes checkpoints to Kafka (when enabled) and then to the local store, and loads
    the newest one. Kafka first: a local checkpoint records the changelog end right after
    its marker, so a restore knows the local copy is current with one offset lookup."""

    def __init__(self, local: LocalStore, changelog: KafkaChangelog | None) -> None:
        self.local = local
        self.changelog = changelog

    async def start(self) -> None:
        if self.changelog is not None:
            await self.changelog.start()

    async def stop(self) -> None:
        if self.changelog is not None:
            await self.changelog.stop()
        self.local.close()

    async def load(self, partition: int) -> Checkpoint | None:
        local = await asyncio.to_thread(self.local.load, partition)
        if self.changelog is None:
            return local
        end = await self.changelog.end(partition)
        if local is not None and local.meta.changelog_next == end:
            return local
        remote = await self.changelog.load(partition) if end > 0 else None
        if remote is not None and (local is None or remote.meta.epoch_ms > local.meta.epoch_ms):
            return remote
        if local is not None:
            local.current = False
            if remote is not None:
                local.stale = set(remote.states) - set(local.states)
        return local

    def poisoned(self, partition: int) -> set[tuple[str, int, int]]:
        return self.local.poisoned(partition)

    async def write(self, parts: list[tuple[Meta, list[StateRow], bool]],
                    worker: dict[str, bytes], registry: Iterable[RegistryRow] = ()) -> None:
        if self.changelog is not None:
            for meta, rows, _replace in parts:
                meta.changelog_next = await self.changelog.write(meta, rows)
        await asyncio.to_thread(self.local.write, parts, worker, registry)
