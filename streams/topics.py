"""The contract's topics, the kinds each may carry, and the partitioner."""

from __future__ import annotations

from kafka.partitioner.default import murmur2

from detectors.events import REGISTRY_KINDS

# topic name (without prefix) -> (kind implied when a record has none, kinds allowed)
INPUT_TOPICS: dict[str, tuple[str | None, frozenset[str]]] = {
    "gps": ("gps", frozenset({"gps"})),
    "fuel": ("fuel", frozenset({"fuel"})),
    "payments": ("payment", frozenset({"payment"})),
    "reviews": ("review", frozenset({"review"})),
    "registry": (None, REGISTRY_KINDS),
}
# The engine reads these co-partitioned topics; `routed` carries events re-keyed to their
# entity (fuel by the vehicle checked, deaths by person, records that came with a wrong key).
ENGINE_TOPICS = ("gps", "payments", "reviews", "routed")
BROADCAST_TOPICS = ("fuel", "registry")
OUTPUT_TOPICS = ("alerts", "dlq")
ALL_TOPICS = (*INPUT_TOPICS, "routed", *OUTPUT_TOPICS)


def partition_for(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2) gives this key."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions
