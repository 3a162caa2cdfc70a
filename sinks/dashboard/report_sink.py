"""Citizen reports to Kafka (`{topic_prefix}reports`), keyed by receipt, each send awaited
until the broker acknowledged it."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaProducer


class KafkaReportSink:
    def __init__(self, bootstrap: str, topic: str, **kafka: Any) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.kafka = kafka
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def __call__(self, receipt: str, value: bytes) -> None:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all",
                                            **self.kafka)
                await producer.start()
                self._producer = producer
        await self._producer.send_and_wait(self.topic, value, key=receipt.encode())

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
