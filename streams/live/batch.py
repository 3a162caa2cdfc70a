"""A chunk of one engine topic partition's records into the live engine at once.

The same as `LiveEngine.on_engine_record` for each record in turn (each record is offered
and then drained, so the clock moves exactly as it did a record at a time), with the work
that does not depend on the record done once a chunk: the partition lookup, the other
sources' horizons (nothing else runs while the chunk is folded in, so they cannot move),
and one `emit` of everything the chunk produced.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiokafka import ConsumerRecord

from streams.live.engine import LiveEngine
from streams.live.partition import Outcome, PartitionEngine, horizon_from

log = logging.getLogger(__name__)

# (short topic, partition) -> (highwater or None, horizon when read to its end)
GroupState = Callable[[str, int], tuple[int | None, float]]


async def fold_records(live: LiveEngine, group_state: GroupState, topic: str, p: int,
                       records: list[ConsumerRecord[bytes, bytes]]) -> None:
    pe = await live.partition(p)
    high, at_end = group_state(topic, p)
    until, behind = live.horizon(pe), live.behind(pe)
    others = [s for s in pe.sources if s != topic]
    # what `pe.drain(live.horizon(pe), live.behind(pe))` works out, but for this topic
    others_until = min(map(until, others), default=float("inf"))
    others_behind = any(map(behind, others))

    out = Outcome()
    done = pe.fold(topic, records, high, at_end, others_until, others_behind, out)
    if done is not None:
        taken, failed = done
    else:
        taken, failed = _fold_each(pe, topic, records, high, at_end, others_until,
                                   others_behind, out)
    try:
        await live.emit(out, pe)
    except Exception:  # as a record at a time: each record whose output failed
        log.exception("engine: the output of %s[%d]@%d..%d failed", topic, p,
                      records[0].offset, records[-1].offset)
        failed = taken
    for record in failed:
        await live.dead_letter(topic, p, record.offset, record.value or b"")


def _fold_each(pe: PartitionEngine, topic: str, records: list[ConsumerRecord[bytes, bytes]],
               high: int | None, at_end: float, others_until: float, others_behind: bool,
               out: Outcome) -> tuple[list[ConsumerRecord[bytes, bytes]],
                                       list[ConsumerRecord[bytes, bytes]]]:
    """`PartitionEngine.fold` a record at a time, for a topic that is not one of the
    partition's sources (its horizon is the others')."""
    folded, produced, max_wait = pe.folded, pe.last_produced, pe.max_wait_s
    own = topic in pe.sources
    taken: list[ConsumerRecord[bytes, bytes]] = []
    failed: list[ConsumerRecord[bytes, bytes]] = []
    for record in records:
        offset = record.offset
        if pe.seen(topic, offset):
            continue
        taken.append(record)
        try:
            pe.offer(topic, offset, record.value or b"", record.timestamp, out)
            horizon, is_behind = others_until, others_behind
            if own:
                done = folded.get(topic, -1)
                horizon = min(horizon, horizon_from(high, at_end, done, produced.get(topic, 0)))
                is_behind = is_behind or high is None or done + 1 < high
            pe.drain_to(horizon, -1.0 if is_behind else pe.wall() - max_wait, out)
        except Exception:  # one bad record never stops the loop
            log.exception("engine: %s[%d]@%d failed", topic, pe.partition, offset)
            failed.append(record)
    return taken, failed
