"""Helpers for the durable-state tests: split a sample, read a worker's checkpoint
positions from its state database, compare them with the broker."""

from __future__ import annotations

import asyncio
import gzip
import sqlite3
from pathlib import Path

import orjson
from aiokafka import TopicPartition

from streams.live.feeds import watermarks
from streams.topics import ENGINE_TOPICS


def split_sample(stream: Path, out_dir: Path, fractions: list[float]) -> list[Path]:
    """The sample's lines (its arrival order) cut into consecutive parts."""
    with gzip.open(stream, "rb") as f:
        lines = f.read().splitlines()
    parts, start = [], 0
    for i, frac in enumerate([*fractions, 1.0]):
        end = len(lines) if i == len(fractions) else int(len(lines) * frac)
        path = out_dir / f"part-{i}.jsonl"
        path.write_bytes(b"\n".join(lines[start:end]) + b"\n")
        parts.append(path)
        start = end
    return parts


def checkpoint_positions(state_db: Path) -> dict[tuple[str, int], int]:
    """(short topic, partition) -> next offset, over every partition's checkpoint."""
    if not state_db.exists():
        return {}
    db = sqlite3.connect(f"file:{state_db}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT partition, body FROM meta").fetchall()
    except sqlite3.OperationalError:
        return {}
    finally:
        db.close()
    out: dict[tuple[str, int], int] = {}
    for p, body in rows:
        for name, pos in orjson.loads(body)["positions"].items():
            topic, _, q = name.partition("/")
            if topic in ENGINE_TOPICS:
                out[(topic, int(p))] = pos[0]
            else:  # broadcast: every partition's checkpoint names the same feed position
                out[(topic, int(q))] = min(pos[0], out.get((topic, int(q)), pos[0]))
    return out


def end_offsets(bootstrap: str, topics: list[str], partitions: int,
                prefix: str = "sunlight.") -> dict[tuple[str, int], int]:
    """High watermarks from fetch responses (Tansu's ListOffsets answers the last batch's
    base offset plus one)."""
    tps = [TopicPartition(prefix + t, p) for t in topics for p in range(partitions)]
    marks = asyncio.run(watermarks(bootstrap, tps))
    return {(tp.topic.removeprefix(prefix), tp.partition): high
            for tp, (_low, high) in marks.items()}


def coverage(state_db: Path, bootstrap: str, partitions: int) -> str:
    """What a checkpoint covers against what the broker holds, for failure messages."""
    have = checkpoint_positions(state_db)
    ends = end_offsets(bootstrap, [*ENGINE_TOPICS, "fuel", "registry"], partitions)
    return "\n".join(f"{t}[{p}]: checkpoint {have.get((t, p), 0)} / end {end}"
                     for (t, p), end in sorted(ends.items()) if end > 0)


def covers_everything(state_db: Path, bootstrap: str, partitions: int) -> bool:
    """True once a durable checkpoint covers every record now on the input topics."""
    have = checkpoint_positions(state_db)
    ends = end_offsets(bootstrap, [*ENGINE_TOPICS, "fuel", "registry"], partitions)
    return bool(have) and all(have.get(tp, 0) >= end for tp, end in ends.items() if end > 0)


def committed_offsets(bootstrap: str, group: str, partitions: int,
                      prefix: str = "sunlight.") -> dict[tuple[str, int], int]:
    """The consumer group's committed offsets on the engine topics (0 where none)."""
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KafkaTP

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                             enable_auto_commit=False)
    try:
        return {(t, p): consumer.committed(KafkaTP(prefix + t, p)) or 0
                for t in ENGINE_TOPICS for p in range(partitions)}
    finally:
        consumer.close()
