"""Replay gives the alerts main's code gave before the performance work, every field but
`raised_at`, in the same order: in one process and split over several (`--workers`).

The reference (`tests/data/replay-reference/`) was written once by `replay_reference.py`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from replay_reference import cases, load, replay

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    return cases(tmp_path_factory.mktemp("inputs"))


@pytest.mark.parametrize(
    ("case", "workers"),
    [("city-until", 1), ("city-until", 2), ("city", 3), ("cabspotting", 1),
     ("cabspotting", 2)],
)
def test_replay_matches_the_reference(
    inputs: dict[str, list[str]], case: str, workers: int, tmp_path: Path
) -> None:
    expected = load(case)
    got = replay(inputs[case], tmp_path / "alerts.jsonl", ("--workers", str(workers)))
    assert len(got) == len(expected)
    for n, (a, b) in enumerate(zip(got, expected, strict=True)):
        assert a == b, f"alert {n} differs"
