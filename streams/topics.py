"""The contract's topics, the kinds each may carry, and the partitioner."""

from __future__ import annotations

from functools import lru_cache

from kafka.partitioner.default import murmur2

from detectors.events import MAX_RECORD_BYTES, REGISTRY_KINDS

# topic name (without prefix) -> (kind implied when a record has none, kinds allowed)
INPUT_TOPICS: dict[str, tuple[str | None, frozenset[str]]] = {
    "gps": ("gps", frozenset({"gps"})),
    "fuel": ("fuel", frozenset({"fuel"})),
    "payments": ("payment", frozenset({"payment"})),
    "reviews": ("review", frozenset({"review"})),
    "registry": (None, REGISTRY_KINDS),
    # project funds (contract/funds.md)
    "applications": ("application", frozenset({"application"})),
    "projects": (None, frozenset({"grant", "followup"})),
    "invoices": ("invoice", frozenset({"invoice"})),
    "tax": ("tax_invoice", frozenset({"tax_invoice"})),
    "bank": ("bank_payment", frozenset({"bank_payment"})),
}
# The engine reads these co-partitioned topics; `routed` carries events re-keyed to their
# entity (fuel by the vehicle checked, deaths by person, records that came with a wrong key).
ENGINE_TOPICS = ("gps", "payments", "reviews", "routed", "applications", "projects", "tax", "bank")
BROADCAST_TOPICS = ("fuel", "registry", "invoices")  # invoices: to invoice and project
OUTPUT_TOPICS = ("alerts", "dlq", "audit", "reports")  # audit: the ledger's anchors;
# reports: citizen reports (dashboard)
ALL_TOPICS = (*INPUT_TOPICS, "routed", *OUTPUT_TOPICS, "state")
# Kept for ever, one record per key: reference facts (keyed by identity and effective time,
# so every version stays) and the engine's checkpoint changelog. The lag keeps a checkpoint
# cut short by a crash from compacting away the one before it.
COMPACTED = {"cleanup.policy": "compact", "min.compaction.lag.ms": "3600000"}
TOPIC_CONFIGS: dict[str, dict[str, str]] = {"registry": COMPACTED, "state": COMPACTED}


def topic_configs(prefix: str) -> dict[str, dict[str, str]]:
    """Topic configs by full topic name, for `create_topics`."""
    return {prefix + name: dict(conf) for name, conf in TOPIC_CONFIGS.items()}


# Re-routed records hold events that passed the 1 MiB check, plus a little envelope.
ROUTED_MAX_BYTES = 2 * 1024 * 1024


def max_bytes(topic: str) -> int:
    return ROUTED_MAX_BYTES if topic == "routed" else MAX_RECORD_BYTES


@lru_cache(maxsize=1 << 18)  # keys recur (a vehicle reports every few seconds)
def partition_for(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2) gives this key."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions
