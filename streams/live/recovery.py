"""Checking a checkpoint's positions against the broker before reading on from them.

A stored position is trusted only when the broker still shows the record it was taken
after (same CreateTime and hash). Otherwise:

- the position is past the topic's end, or the record there is another one: the topic was
  deleted and created again (a new embedded broker, a recreated topic). Its records are
  all new to us, so it is read from its start. Never skip records of a new topic.
- the position is below the first record the broker still has: input was deleted before
  it was read (retention ran ahead of a stopped worker). That is data loss; it is logged
  as an error and counted, and reading goes on from the first record there is.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition

from sinks.metrics import Metrics
from streams.live.checkpoint import Position, fingerprint
from streams.live.feeds import fetch_at, watermarks

log = logging.getLogger(__name__)


@dataclass
class Checked:
    start: int  # the next offset to read
    end: int  # the broker's end offset when checked
    reason: str | None = None  # "new topic", "retention gap" or None when trusted


async def check_positions(
    bootstrap: str, wanted: dict[TopicPartition, Position], metrics: Metrics | None = None,
    **kafka: Any,
) -> dict[TopicPartition, Checked]:
    if not wanted:
        return {}
    marks = await watermarks(bootstrap, list(wanted), **kafka)
    out: dict[TopicPartition, Checked] = {}
    verify: dict[TopicPartition, int] = {}
    for tp, pos in wanted.items():
        low, high = marks[tp]
        if pos.offset > high:
            out[tp] = Checked(0, high, "new topic")
        elif pos.offset < low:
            out[tp] = Checked(low, high, "retention gap")
        elif pos.offset > low and pos.last is not None:
            verify[tp] = pos.offset - 1
            out[tp] = Checked(pos.offset, high)
        else:
            out[tp] = Checked(pos.offset, high)
    found = await fetch_at(bootstrap, verify, **kafka)
    for tp in verify:
        record = found[tp]
        if record is None or fingerprint(*record) != wanted[tp].last:
            out[tp] = Checked(0, out[tp].end, "new topic")
    for tp, checked in out.items():
        if checked.reason is None:
            continue
        if metrics is not None:
            metrics.position_resets.labels(topic=tp.topic, reason=checked.reason).inc()
        if checked.reason == "new topic":
            log.warning("%s[%d]: the checkpoint's position %d is not on this topic (it was "
                        "created anew); reading it from its start", tp.topic, tp.partition,
                        wanted[tp].offset)
        else:
            log.error("%s[%d]: records %d..%d were deleted before they were read (retention "
                      "gap); state misses them", tp.topic, tp.partition, wanted[tp].offset,
                      checked.start - 1)
    return out
