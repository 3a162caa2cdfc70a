"""The Kafka alerts topic: `{topic_prefix}alerts`, key `alert_id`, value the alert JSON.

Faust-agnostic: give it any `send(topic, key, value)` coroutine (aiokafka's
`producer.send`, or a Faust topic's `send`). When the coroutine returns a delivery future,
all of a batch's futures are awaited together, so a batch costs one round trip, not one
per alert. Kafka keeps duplicates; consumers dedupe by key (the alert id), and a
compacted topic keeps one record per id.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from aiokafka import AIOKafkaProducer

Send = Callable[[str, bytes, bytes], Awaitable[Any]]


def encode_alert(alert: Mapping[str, Any]) -> tuple[bytes, bytes]:
    """(key, value) of an alert record."""
    alert_id = alert.get("alert_id")
    if not isinstance(alert_id, str) or not alert_id:
        raise ValueError(f"alert_id must be a non-empty string, got {alert_id!r}")
    return alert_id.encode(), orjson.dumps(alert)


class KafkaAlertSink:
    """Sends alerts, in order, to the alerts topic through `send`."""

    def __init__(self, send: Send, topic_prefix: str = "sunlight.") -> None:
        self._send = send
        self.topic = f"{topic_prefix}alerts"

    async def add_many(self, alerts: Iterable[Mapping[str, Any]]) -> int:
        """Send each alert, in order, and wait for delivery; returns how many were sent."""
        deliveries: list[Awaitable[Any]] = []
        sent = 0
        for alert in alerts:
            key, value = encode_alert(alert)
            result = await self._send(self.topic, key, value)
            if inspect.isawaitable(result):
                deliveries.append(result)
            sent += 1
        if deliveries:
            await asyncio.gather(*deliveries)
        return sent


def aiokafka_send(producer: AIOKafkaProducer) -> Send:
    """A `Send` over an aiokafka producer; it returns the delivery future."""

    async def send(topic: str, key: bytes, value: bytes) -> Awaitable[Any]:
        delivery: Awaitable[Any] = await producer.send(topic, value=value, key=key)
        return delivery

    return send
