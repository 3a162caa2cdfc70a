"""The latency bench runs end to end: its load reaches the worker and the pipe."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.tools.bench.latency import bench_latency, report


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
