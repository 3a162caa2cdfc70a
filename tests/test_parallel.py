"""`replay --workers`: the same alerts, rejects and counts as one process, whatever the
chunking of the input, and shards by key as live partitions."""

from __future__ import annotations

import heapq
import io
from pathlib import Path

import orjson
import pytest
from paths import CITY_SAMPLE
from support import ZONE

from detectors.config import load_config
from streams.batch import parallel
from streams.batch.replay import replay_files
from streams.topics import partition_for

UNTIL = "2026-10-31T00:00:00+08:00"


def _by_ts(raw: bytes) -> list[tuple[int, bytes]]:
    """A file's lines, each with its ts (a line without one: the line before's)."""
    lines, ts = [], 0
    for line in raw.splitlines():
        try:
            obj = orjson.loads(line)
            ts = (obj[0] if isinstance(obj, list) else obj)["ts"]
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
            pass
        lines.append((ts, line))
    return lines


def _alerts(raw: bytes) -> list[dict[str, object]]:
    alerts = [orjson.loads(line) for line in raw.splitlines()]
    for a in alerts:
        del a["raised_at"]
    return alerts


def test_small_chunks_give_one_process_alerts_rejects_and_counts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = load_config()
    path = CITY_SAMPLE / "stream.jsonl.gz"
    out, dlq = io.BytesIO(), io.BytesIO()
    one = replay_files([path], out, until=UNTIL, dlq=dlq, config=config)
    # 64 KiB blocks: the sample cut into many, rejects in several of them
    monkeypatch.setattr(parallel, "BLOCK_BYTES", 1 << 16)
    out3, dlq3 = io.BytesIO(), io.BytesIO()
    three = parallel.replay_parallel([path], out3, 3, config, until_ms=ZONE.parse(UNTIL),
                                     dlq=dlq3)
    assert _alerts(out3.getvalue()) == _alerts(out.getvalue())
    assert len(_alerts(out.getvalue())) == 102  # the sample's 97 and 5 fuel_economy_anomaly
    assert dlq3.getvalue() == dlq.getvalue()  # line numbers run on across chunks
    assert three.events == one.events
    assert three.rejects == one.rejects and sum(one.rejects.values()) == 41
    assert three.alerts == one.alerts


def test_a_shard_is_the_live_partition_of_the_entity() -> None:
    sharder = parallel.Sharder(4)
    for key in ("LN-A-0001", "P000123", "CASE-9", "车-1"):
        assert sharder(key) == partition_for(key, 4)


def test_workers_on_several_files_merge_them_as_one_process(tmp_path: Path) -> None:
    """Two files merged by ts; a vehicle's fuel in one, its GPS in the other."""
    config = load_config()
    gps, fuel = tmp_path / "gps.jsonl", tmp_path / "fuel.jsonl"
    t0 = ZONE.parse("2026-09-15T09:00:00+08:00")
    gps.write_bytes(b"".join(orjson.dumps({"vehicle_id": f"V{v}", "ts": t0 + i * 60_000 + v,
                                           "lat": 41.8, "lon": 123.4}) + b"\n"
                             for i in range(200) for v in range(6)))
    fuel.write_bytes(b"".join(orjson.dumps({"txn_id": f"T{v}", "card_id": f"C{v}",
                                            "vehicle_id": f"V{v}", "ts": t0 + 90 * 60_000,
                                            "liters": 40, "amount_cny": 300,
                                            "station_id": "S", "station_lat": 41.9,
                                            "station_lon": 123.6}) + b"\n"
                              for v in range(6)) + b"not json\n")
    out = io.BytesIO()
    one = replay_files([gps, fuel], out, config=config)
    out2 = io.BytesIO()
    two = parallel.replay_parallel([gps, fuel], out2, 2, config)
    alerts = _alerts(out.getvalue())
    assert {a["detector"] for a in alerts} >= {"card_vehicle_mismatch", "refuel_without_trip"}
    assert _alerts(out2.getvalue()) == alerts
    assert two.events == one.events and two.rejects == one.rejects


def test_lines_of_any_spelling_in_tiny_blocks_give_one_process_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A shard decodes the lines whose key its bytes show as its own; lines the block
    pattern cannot place (spacing, a batch, a duplicated key, no key, not JSON) still end
    as one process ends them, over three files in blocks of a few lines."""
    config = load_config()
    t0 = ZONE.parse("2026-09-15T09:00:00+08:00")
    # lines keyed V1 in their bytes and `other` (a shard of its own) as decoded: its only
    # fixes, and it refuels; so does V11, whose only fixes are the second of a batch
    first, other = "V1", next(f"V{v}" for v in range(20, 99)
                              if partition_for(f"V{v}", 3) != partition_for("V1", 3))

    def fix(vid: str, i: int) -> dict[str, object]:
        return {"kind": "gps", "vehicle_id": vid, "ts": t0 + i * 60_000,
                "lat": 41.8, "lon": 123.4}

    gps, odd, fuel = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "fuel.jsonl"
    gps.write_bytes(b"".join(orjson.dumps(fix(f"V{v}", i)) + b"\n"
                             for i in range(200) for v in range(6)))
    odd_lines = []
    for i in range(0, 200, 3):
        odd_lines += [
            orjson.dumps(fix(first, i))[:-1] + b',"vehicle_id":"' + other.encode() + b'"}',
            b'{"vehicle_id": "V7", "kind": "gps", "ts": %d, "lat": 41.8, "lon": 123.4}'
            % (t0 + i * 60_000 + 1),
            orjson.dumps([fix("V8", i), fix("V11", i), {"kind": "gps", "vehicle_id": "V8"}]),
            b"", b"not json", orjson.dumps({**fix("V10", i), "lat": 999.0}),
        ]
    odd.write_bytes(b"\n".join(odd_lines))  # and no newline at the end
    fuel.write_bytes(b"".join(orjson.dumps({"kind": "fuel", "txn_id": f"T{v}",
                                            "card_id": f"C{v}",
                                            "vehicle_id": f"V{v}", "ts": t0 + 90 * 60_000,
                                            "liters": 40, "amount_cny": 300,
                                            "station_id": "S", "station_lat": 41.9,
                                            "station_lon": 123.6}) + b"\n"
                              for v in [*range(6), 11, int(other[1:])]))
    paths = [gps, odd, fuel]
    out, dlq = io.BytesIO(), io.BytesIO()
    one = replay_files(paths, out, dlq=dlq, config=config)
    monkeypatch.setattr(parallel, "BLOCK_BYTES", 700)  # a few lines a block
    out3, dlq3 = io.BytesIO(), io.BytesIO()
    three = parallel.replay_parallel(paths, out3, 3, config, dlq=dlq3)
    refuels = {("refuel_without_trip", other), ("refuel_without_trip", "V11")}
    assert {(a["detector"], a["entity"]["id"]) for a in _alerts(out.getvalue())} >= refuels
    assert _alerts(out3.getvalue()) == _alerts(out.getvalue())
    assert dlq3.getvalue() == dlq.getvalue() and dlq.getvalue().count(b"\n") == 3 * 67
    assert three.events == one.events and three.events["gps"] == 6 * 200 + 67 * 4
    assert three.rejects == one.rejects
    # the same lines as one file, merged by ts
    single = tmp_path / "all.jsonl"
    merged = heapq.merge(*(_by_ts(p.read_bytes()) for p in paths), key=lambda t: t[0])
    single.write_bytes(b"\n".join(line for _, line in merged))
    out, dlq, out3, dlq3 = io.BytesIO(), io.BytesIO(), io.BytesIO(), io.BytesIO()
    one = replay_files([single], out, dlq=dlq, config=config)
    three = parallel.replay_parallel([single], out3, 3, config, dlq=dlq3)
    assert _alerts(out3.getvalue()) == _alerts(out.getvalue())
    assert {(a["detector"], a["entity"]["id"]) for a in _alerts(out.getvalue())} >= refuels
    assert dlq3.getvalue() == dlq.getvalue() and dlq.getvalue().count(b"\n") == 3 * 67
    assert three.events == one.events and three.rejects == one.rejects


def test_a_failing_shard_stops_the_run_with_its_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "gps.jsonl"
    path.write_bytes(b'{"kind":"gps","vehicle_id":"V1","ts":0,"lat":1.0,"lon":1.0}\n')

    def broken(*args: object) -> None:
        raise ValueError("shard broke")

    monkeypatch.setattr(parallel, "_run_shard", broken)
    with pytest.raises(ValueError, match="shard broke"):
        parallel.replay_parallel([path], io.BytesIO(), 2, load_config())


def test_a_shard_keeps_its_own_keys_and_refuses_a_sharded_event_keyed_elsewhere() -> None:
    sharder = parallel.Sharder(2)
    keys = [f"V-{n}" for n in range(40)]
    mine = {k for k in keys if partition_for(k, 2) == 1}
    assert 0 < len(mine) < len(keys)
    owns = parallel._Owned(sharder, 1, strict=False)
    assert {k for k in keys if owns[k]} == mine
    assert {k for k, v in owns.items() if v} == mine  # cached, both ways
    must_own = parallel._Owned(sharder, 1, strict=True)
    for key in keys:
        if key in mine:
            assert must_own[key] is True
        else:
            with pytest.raises(ValueError, match=f"keys a sharded event by '{key}'"):
                must_own[key]
    assert set(must_own) == mine
