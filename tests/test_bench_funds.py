"""The funds section of `sunlight bench`: the synthetic stream is valid and the two replays
differ only by the title similarity."""

from __future__ import annotations

from pathlib import Path

from streams.tools.bench.funds import bench_funds, synthetic_funds


def test_synthetic_funds_is_reproducible_and_ordered() -> None:
    events = synthetic_funds(500)
    assert events == synthetic_funds(500)
    assert sum(e["kind"] == "application" for e in events) == 500
    assert [e["ts"] for e in events] == sorted(e["ts"] for e in events)


def test_with_and_without_similarity(tmp_path: Path) -> None:
    result = bench_funds(2000, tmp_path)
    on, off = result["with_similarity"], result["without_similarity"]
    assert on["duplicate_applications"] > 20 and off["duplicate_applications"] == 0
    assert on["alerts"] - on["duplicate_applications"] == off["alerts"]
    assert on["events_per_s"] > 0 and off["events_per_s"] > 0
