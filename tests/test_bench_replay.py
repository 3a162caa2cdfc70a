"""The replay and workers sections of `sunlight bench`: each figure the best of its rounds,
beside its reference (the orjson loop; two `--workers 1` processes at once, the machine's
parallel capacity)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.tools.bench.replay import (
    bench_replay_city,
    bench_workers,
    gps_heavy_city,
    replay_pair,
)


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return gps_heavy_city(tmp_path_factory.mktemp("city"), vehicles=12, days=2)


@pytest.fixture(scope="module")
def small_city(city: tuple[Path, Path]) -> Path:
    return city[0]


def test_replay_best_of_rounds(tmp_path: Path, city: tuple[Path, Path]) -> None:
    result = bench_replay_city(tmp_path, city, rounds=2)
    for name in ("uncompressed", "gzip"):
        row = result[name]
        assert row["rounds"] == 2 and len(row["ratio_cpu_rounds"]) == 2
        assert row["events"] > 1000
        # the best replay against the best loop: at least each round's own ratio's least
        assert row["ratio_cpu"] >= min(row["ratio_cpu_rounds"]) - 1e-9
        assert 0 < row["ratio"] < 1 and 0 < row["ratio_cpu"] < 1


def test_pair_reports_each_copy_cpu(small_city: Path) -> None:
    cpus = replay_pair(small_city)
    assert len(cpus) == 2 and all(cpu > 0.05 for cpu in cpus)


def test_best_of_rounds_and_reference(small_city: Path) -> None:
    result = bench_workers(small_city, rounds=2)
    one, two, ref = result["1"], result["2"], result["reference"]
    assert one["events"] == two["events"] > 1000
    for row in (one, two):
        assert len(row["critical_cpu_s_rounds"]) == 2
        assert row["critical_cpu_s"] == min(row["critical_cpu_s_rounds"])
    assert one["speedup_free_cores"] == 1.0
    assert two["speedup_free_cores"] == one["critical_cpu_s"] / two["critical_cpu_s"]
    assert len(ref["pair_cpu_s_rounds"]) == 2
    assert ref["slower_copy_cpu_s"] == min(max(p) for p in ref["pair_cpu_s_rounds"])
    assert ref["speedup_free_cores"] == 2 * one["critical_cpu_s"] / ref["slower_copy_cpu_s"]
    assert two["of_reference"] == two["speedup_free_cores"] / ref["speedup_free_cores"]


def test_scaling_best_of_trials() -> None:
    from streams.tools.bench.suite import bench_scaling

    rows = bench_scaling((50, 400), fixes=5, least_events=1000, trials=2)
    assert [r["vehicles"] for r in rows] == [50, 400]
    assert [r["rounds"] for r in rows] == [4, 1]
    for row in rows:
        assert row["trials"] == 2 and len(row["engine_events_per_cpu_s_trials"]) == 2
        assert row["engine_events_per_cpu_s"] == max(row["engine_events_per_cpu_s_trials"])
        assert row["state_bytes_per_vehicle"] > 0
