"""The audit ledger's anchor outside Redis: each new (seq, hash) appended to a Kafka topic.

Records: key ``audit`` (one partition keeps them in order), value
``{"v": 1, "seq": N, "hash": "..."}``. A reader refuses a version it does not know. The
topic must be retained as long as the ledger (compose creates it with unlimited retention).
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

VERSION = 1
KEY = b"audit"


class KafkaAnchor:
    """`publish` waits for the broker's acknowledgement (acks=all)."""

    def __init__(self, bootstrap: str, topic: str, client_options: dict[str, Any] | None = None):
        self.topic = topic
        self.bootstrap = bootstrap
        self.options = dict(client_options or {})
        # Made on first use: aiokafka wants a running event loop, and a worker builds its
        # hooks before the loop runs.
        self.producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        if self.producer is None:
            producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all",
                                        **self.options)
            await producer.start()
            self.producer = producer

    async def stop(self) -> None:
        if self.producer is not None:
            await self.producer.stop()
            self.producer = None

    async def publish(self, seq: int, digest: str) -> None:
        await self.start()
        assert self.producer is not None
        value = orjson.dumps({"v": VERSION, "seq": seq, "hash": digest})
        await self.producer.send_and_wait(self.topic, value, key=KEY)


def parse_anchor(value: bytes) -> tuple[int, str]:
    record = orjson.loads(value)
    if not isinstance(record, dict) or record.get("v") != VERSION:
        raise ValueError(f"audit anchor: version {record.get('v')!r} is not {VERSION}"
                         if isinstance(record, dict) else "audit anchor: not a JSON object")
    return int(record["seq"]), str(record["hash"])


async def read_anchors(bootstrap: str, topic: str, client_options: dict[str, Any] | None = None,
                       timeout_s: float = 30.0) -> dict[int, str]:
    """Every anchor of the topic, seq -> hash (the first anchor of a seq wins: an anchor
    is written once, after Redis has the entry)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest", **(client_options or {}))
    await consumer.start()
    anchors: dict[int, str] = {}
    try:
        parts = consumer.partitions_for_topic(topic)
        if parts is None:
            await consumer.force_metadata_update()
            parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if not tps:
            return anchors
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)

        async def behind() -> bool:
            for tp in tps:
                if await consumer.position(tp) < ends[tp]:
                    return True
            return False

        async def drain() -> None:
            while await behind():
                batches = await consumer.getmany(*tps, timeout_ms=500)
                for records in batches.values():
                    for record in records:
                        seq, digest = parse_anchor(record.value or b"")
                        anchors.setdefault(seq, digest)

        await asyncio.wait_for(drain(), timeout_s)
    finally:
        await consumer.stop()
    return anchors
