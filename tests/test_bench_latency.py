"""The latency bench runs end to end: its load reaches the worker and the pipe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kafka.partitioner.default import DefaultPartitioner

from streams.tools.bench.latency import bench_latency, report
from streams.tools.bench.load import Partitions


@pytest.mark.timeout(300)
def test_the_latency_bench_measures_every_fill(tmp_path: Path) -> None:
    result = bench_latency(rate=400.0, seconds=2.0, tmp=tmp_path, vehicles=50)
    fills = result["fills"]
    assert fills == 40  # every 20th of 800 events
    assert result["worker"]["n"] == fills  # each fill raised its tank_overfill
    assert result["reference"]["n"] == fills  # and crossed the reference pipe
    assert result["producer_ack"]["n"] == fills  # the broker acknowledged each
    assert 0 < result["worker"]["p50_ms"] <= result["worker"]["max_ms"]
    assert "tank_overfill at 400 events/s" in report(result)
    assert result["load_cpu_share"] > 0  # the load's own process measured its CPU
    assert "% of a core" in report(result)
    load = json.loads(Path(result["load_file"]).read_text())
    assert len(load["sent"]) == fills and not load["failed"]  # every fill sent
    assert load["acked"].keys() == load["sent"].keys()  # and acknowledged
    assert all(load["acked"][t] >= load["sent"][t] for t in load["sent"])


def test_the_load_places_keys_where_kafka_python_does() -> None:
    keys = [b"C-00000", b"C-01999", b"L-00042", b"gateway", b"", b"x" * 37]
    for count in (1, 3, 4, 12):
        partitions = list(range(count))
        theirs = DefaultPartitioner()
        ours = Partitions(partitions)
        for key in keys * 2:  # the second round comes from the cache
            assert ours(key) == theirs(key, partitions, partitions), (key, count)
