"""The live intake on its own (no broker): the group commits only offsets handled and
covered by a checkpoint; a chunk of records folded in at once (`fold_records`) gives the
alerts, clock and held events of offering and draining each record in turn."""

from __future__ import annotations

import asyncio
import gzip
from types import SimpleNamespace
from typing import Any

import faust
import orjson
from faust.types import TP
from paths import CITY_SAMPLE
from support import engine, ev

from detectors.events import Rejected
from streams.live.batch import fold_records, horizon_from
from streams.live.engine import SOURCES
from streams.live.intake import Batch, GroupIntake
from streams.live.partition import Outcome, PartitionEngine, entity_key
from streams.topics import partition_for

PARTITIONS = 4
TOPIC_OF = {"gps": "gps", "payment": "payments", "review": "reviews"}


def test_the_group_commits_only_what_was_handled_and_checkpointed() -> None:
    intake = GroupIntake(faust.App("test-intake", broker="kafka://127.0.0.1:1"))
    consumer = SimpleNamespace(_committed_offset={})
    checkpointed: dict[TP, int] = {}
    intake.attach(consumer, lambda tp, handled: None if tp not in checkpointed
                  else min(handled, checkpointed[tp]))
    gps, fuel = TP("sunlight.gps", 0), TP("sunlight.fuel", 1)

    def committable() -> dict[TP, int]:
        return consumer._filter_committable_offsets(consumer._filter_tps_with_pending_acks())

    assert committable() == {}
    intake.done[gps] = 10  # offsets 0..9 handled
    assert committable() == {}  # no checkpoint yet
    checkpointed[gps] = 4
    assert committable() == {gps: 4}
    checkpointed[gps] = 50
    assert committable() == {gps: 10}  # never past what was handled
    consumer._committed_offset[gps] = 10
    assert committable() == {}
    checkpointed[fuel] = 3
    intake.done[fuel] = 3
    assert committable() == {fuel: 3}
    intake.forget([gps, fuel])  # revoked
    assert committable() == {}


class Record(SimpleNamespace):
    offset: int
    value: bytes
    timestamp: int


def city_records(p: int) -> tuple[list[dict[str, Any]], dict[str, list], list]:
    """The city sample's registry, its gps, payments and reviews records of partition p
    (one event a record, CreateTime in input order, several in one millisecond), and its
    fuel and deaths (broadcast: (CreateTime, source, event))."""
    registry, by_topic, broadcast = [], {t: [] for t in TOPIC_OF.values()}, []
    router = engine()
    with gzip.open(CITY_SAMPLE / "stream.jsonl.gz", "rb") as fh:
        for n, line in enumerate(fh):
            try:
                event = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue  # the sample's bad lines are dead-lettered, not folded in
            if not isinstance(event, dict):
                continue
            topic = TOPIC_OF.get(event.get("kind"))
            if event.get("kind") in ("vehicle", "card", "station", "place"):
                registry.append(event)
                router.process(ev(event))
            elif event.get("kind") in ("fuel", "death"):
                try:
                    fact = ev(event)
                except Rejected:
                    continue
                source = "fuel" if fact["kind"] == "fuel" else "deaths"
                if partition_for(entity_key(fact, router), PARTITIONS) == p:
                    broadcast.append((1_800_000_000_000 + n // 3, source, fact))
            elif topic and partition_for(str(entity_key(event, router)), PARTITIONS) == p:
                records = by_topic[topic]
                records.append(Record(offset=len(records), value=line.strip(),
                                      timestamp=1_800_000_000_000 + n // 3))
    return registry, by_topic, broadcast


def new_partition(p: int, registry: list[dict[str, Any]]) -> PartitionEngine:
    pe = PartitionEngine(p, PARTITIONS, engine(), SOURCES, wall=lambda: 0.0)
    for fact in registry:
        pe.engine.process(ev(fact))
    return pe


def test_a_chunk_folded_at_once_is_each_record_offered_and_drained_in_turn() -> None:
    p = 0
    registry, by_topic, broadcast = city_records(p)
    high = {t: len(records) for t, records in by_topic.items()}

    def until_for(pe: PartitionEngine):  # the group's horizon, read to the end or not
        def until(source: str) -> float:
            if source not in high:
                return float("inf")
            return horizon_from(high[source], float("inf"), pe.folded.get(source, -1),
                                pe.last_produced.get(source, 0))
        return until

    def behind_for(pe: PartitionEngine):
        return lambda s: s in high and pe.folded.get(s, -1) + 1 < high[s]

    one = new_partition(p, registry)
    each: list[dict[str, Any]] = []
    chunked = new_partition(p, registry)
    emitted: list[dict[str, Any]] = []

    async def partition(_p: int) -> PartitionEngine:
        return chunked

    async def emit(out: Outcome, _pe: PartitionEngine) -> None:
        emitted.extend(out.alerts)

    live: Any = SimpleNamespace(partition=partition, horizon=until_for, behind=behind_for,
                                emit=emit)
    chunks = sorted(((topic, records[i:i + 256]) for topic, records in by_topic.items()
                     for i in range(0, len(records), 256)), key=lambda c: c[1][0].timestamp)
    timeline = sorted([(c[1][0].timestamp, 0, c) for c in chunks]
                      + [(b[0], 1, b) for b in broadcast], key=lambda t: (t[0], t[1]))
    for _ts, is_broadcast, item in timeline:
        if is_broadcast:  # as the fuel and registry feeds deliver them, to both
            produced, source, fact = item
            for pe, alerts in ((one, each), (chunked, emitted)):
                out = pe.offer_events(source, [dict(fact)], produced)
                out.merge(pe.drain(until_for(pe), behind_for(pe)))
                alerts += out.alerts
            continue
        topic, chunk = item
        for r in chunk:
            out = one.offer(topic, r.offset, r.value, r.timestamp)
            out.merge(one.drain(until_for(one), behind_for(one)))
            each += out.alerts
        asyncio.run(fold_records(live, lambda t, _p: (high[t], float("inf")), topic, p, chunk))
    assert sum(high.values()) > 3000 and len(broadcast) > 5 and len(each) > 10, len(each)
    assert emitted == each
    assert chunked.engine.clock() == one.engine.clock()
    assert chunked.pending == one.pending
    assert chunked.last_fp == one.last_fp and chunked.folded == one.folded


def test_a_batch_waiting_for_room_is_queued_after_a_rebalance_clears_the_queue() -> None:
    """A rebalance empties the agents' queues without waking a put waiting on a full one
    (Faust's flow control): the intake's put must see the room, or drop a stale batch."""
    intake = GroupIntake(faust.App("test-intake-put", broker="kafka://127.0.0.1:1"))
    fresh = {"yes": True}
    intake.current = lambda _batch: fresh["yes"]  # type: ignore[method-assign]
    channel = intake.route(["sunlight.gps"], maxsize=1)
    agent_side = channel.clone(is_iterator=True)  # what the agent iterates
    tp = TP("sunlight.gps", 0)

    def batch(offset: int) -> Batch:
        return Batch(tp, [Record(offset=offset, value=b"{}", timestamp=0)], 1)

    async def run() -> tuple[bool, bool]:
        assert await intake._put(channel, batch(0))  # the queue is full now
        waiting = asyncio.ensure_future(intake._put(channel, batch(1)))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        agent_side.queue.clear()  # the rebalance's flow_control.clear()
        queued = await asyncio.wait_for(waiting, 1.0)
        fresh["yes"] = False  # a rebalance came: a stale batch is dropped, not queued
        dropped = not await asyncio.wait_for(intake._put(channel, batch(2)), 1.0)
        return queued, dropped

    assert asyncio.run(run()) == (True, True)
    assert agent_side.queue.qsize() == 1


def test_a_batch_a_rebalance_clears_from_the_queue_is_no_longer_waited_for() -> None:
    """Faust's revoke waits (`wait_empty`) until every unacked message is acked; a batch
    cleared from an agent's queue by the rebalance is never handled, so the intake forgets
    it (a two-worker handover hung for minutes on such a batch)."""
    from weakref import WeakSet

    intake = GroupIntake(faust.App("test-intake-clear", broker="kafka://127.0.0.1:1"))
    consumer = SimpleNamespace(_committed_offset={}, _unacked_messages=WeakSet(),
                               _waiting_for_ack=None)
    intake.attach(consumer, lambda _tp, handled: handled)
    intake.current = lambda _batch: True  # type: ignore[method-assign]
    channel = intake.route(["sunlight.gps"], maxsize=4)
    agent_side = channel.clone(is_iterator=True)
    held = Batch(TP("sunlight.gps", 0), [Record(offset=0, value=b"{}", timestamp=0)], 1)

    async def run() -> None:
        assert await intake._put(channel, held)
        consumer._unacked_messages.add(held)
        intake.app.flow_control.clear()  # what Faust's revoke does

    asyncio.run(run())
    assert agent_side.queue.qsize() == 0
    assert held.acked
    assert held not in consumer._unacked_messages  # `held` is still referenced here
