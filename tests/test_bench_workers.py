"""The workers section of `sunlight bench`: `--workers 1` and `2`, each the best of its
rounds, beside two `--workers 1` processes at once (the machine's parallel capacity)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.tools.bench.replay import bench_workers, gps_heavy_city, replay_pair


@pytest.fixture(scope="module")
def small_city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return gps_heavy_city(tmp_path_factory.mktemp("city"), vehicles=12, days=2)[0]


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
