"""The checkpoint stores on the real embedded broker: which copy a restore takes (local or
the Kafka changelog), a checkpoint cut short by a crash, and the changelog's stale keys;
the local store's rows kept exactly."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from streams.live import checkpoint
from streams.live.checkpoint import Checkpointer, KafkaChangelog, LocalStore, Meta, state_key
from streams.tools.embedded import create_topics

DET = "vehicle"


def stores(bootstrap: str, tmp_path: Path) -> tuple[LocalStore, KafkaChangelog, str]:
    topic = f"t-state-{uuid.uuid4().hex[:8]}"
    create_topics(bootstrap, [topic], 1)
    return LocalStore(tmp_path / "state.sqlite"), KafkaChangelog(bootstrap, topic), topic


def test_the_newest_copy_is_restored_and_an_older_local_one_names_the_stale_keys(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    async def run() -> None:
        local, changelog, _topic = stores(kafka_bootstrap, tmp_path)
        both = Checkpointer(local, changelog)
        await both.start()
        try:
            # Written by both: the local copy knows it is current.
            await both.write([(Meta(0, 1_000), [(DET, "A", b"a1")], True)], {})
            ckpt = await both.load(0)
            assert ckpt is not None and (ckpt.source, ckpt.current) == ("local", True)
            # Another owner wrote to the changelog since: its copy wins.
            await changelog.write(Meta(0, 2_000), [(DET, "A", b"a2"), (DET, "B", b"b2")])
            ckpt = await both.load(0)
            assert ckpt is not None and ckpt.source == "kafka"
            assert ckpt.states == {(DET, "A"): b"a2", (DET, "B"): b"b2"}
            # A newer local checkpoint (written with the changelog off) wins, is not
            # current, and names the changelog's keys it has not: their tombstones are due.
            await asyncio.to_thread(local.write, [(Meta(0, 3_000), [(DET, "A", b"a3")], True)],
                                    {})
            ckpt = await both.load(0)
            assert ckpt is not None and (ckpt.source, ckpt.current) == ("local", False)
            assert ckpt.states == {(DET, "A"): b"a3"}
            assert ckpt.stale == {(DET, "B")}
        finally:
            await both.stop()

    asyncio.run(run())


def test_keys_after_the_last_marker_are_not_applied(kafka_bootstrap: str,
                                                     tmp_path: Path) -> None:
    async def run() -> None:
        _local, changelog, topic = stores(kafka_bootstrap, tmp_path)
        await changelog.start()
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            await changelog.write(Meta(0, 1_000), [(DET, "A", b"a1"), (DET, "B", b"b1")])
            await changelog.write(Meta(0, 2_000), [(DET, "B", None)])  # B dropped
            # A checkpoint cut short by a crash: its keys, no marker.
            await producer.send_and_wait(topic, b"a-cut", state_key(DET, "A"), partition=0)
            await producer.send_and_wait(topic, b"c-cut", state_key(DET, "C"), partition=0)
            ckpt = await changelog.load(0)
            assert ckpt is not None and ckpt.meta.epoch_ms == 2_000
            assert ckpt.states == {(DET, "A"): b"a1"}
        finally:
            await producer.stop()
            await changelog.stop()

    asyncio.run(run())


def test_apps_sharing_the_topic_never_restore_each_others_state(kafka_bootstrap: str,
                                                                tmp_path: Path) -> None:
    async def run() -> None:
        _local, _changelog, topic = stores(kafka_bootstrap, tmp_path)
        ours = KafkaChangelog(kafka_bootstrap, topic, "sunlight")
        theirs = KafkaChangelog(kafka_bootstrap, topic, "sunlight-staging")
        for log in (ours, theirs):
            await log.start()
        try:
            await ours.write(Meta(0, 1_000), [(DET, "A", b"ours")])
            await theirs.write(Meta(0, 2_000), [(DET, "A", b"theirs"), (DET, "B", b"b")])
            mine = await ours.load(0)
            assert mine is not None and mine.meta.epoch_ms == 1_000
            assert mine.states == {(DET, "A"): b"ours"}
            assert await KafkaChangelog(kafka_bootstrap, topic, "other").load(0) is None
        finally:
            for log in (ours, theirs):
                await log.stop()

    asyncio.run(run())


def test_local_rows_of_any_bytes_and_names_are_kept_exactly(tmp_path: Path) -> None:
    """The local store inserts a checkpoint's rows in one statement (a blob and an index
    that SQLite splits): every value byte for byte, names of any spelling, a dropped key
    deleted, other partitions untouched."""
    store = LocalStore(tmp_path / "state.sqlite")
    odd = ['V-1', '车-沈A·12345', 'quote"and\\back', "new\nline", "123", ""]
    values = [bytes(range(256)), b"", b"\x00", b'{"json": "text"}', bytes([0xff]) * 5000,
              "统一".encode()]
    rows = [(DET, key, value) for key, value in zip(odd, values, strict=True)]
    store.write([(Meta(0, 1), rows, False), (Meta(1, 1), [(DET, "V-1", b"other")], False)], {})
    assert store.load(0).states == {(DET, k): v for _d, k, v in rows}  # type: ignore[union-attr]
    # a changed value, a dropped key (a tombstone), a new detector's key
    store.write([(Meta(0, 2), [(DET, odd[0], b"changed"), (DET, odd[2], None),
                               ("payee", odd[1], b"p")], False)], {})
    want = {(DET, k): v for _d, k, v in rows if k != odd[2]}
    want[(DET, odd[0])] = b"changed"
    want[("payee", odd[1])] = b"p"
    assert store.load(0).states == want  # type: ignore[union-attr]
    assert store.load(1).states == {(DET, "V-1"): b"other"}  # type: ignore[union-attr]


def test_rows_past_one_statement_s_bytes_go_in_several(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checkpoint, "PUT_BLOB_BYTES", 1000)
    store = LocalStore(tmp_path / "state.sqlite")
    rows = [(DET, f"V-{n}", bytes([n]) * (n * 7)) for n in range(1, 200)]  # ~140 KB
    store.write([(Meta(0, 1), rows, False)], {}, [("card", f"C-{n}", b"[%d]" % n)
                                                  for n in range(500)])
    assert store.load(0).states == {(d, k): v for d, k, v in rows}  # type: ignore[union-attr]
    assert len(store.registry_rows()) == 500
