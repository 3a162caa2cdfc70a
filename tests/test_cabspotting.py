"""Real taxi GPS (Cabspotting, San Francisco 2008) through `sunlight replay`: noise, gaps
and stops, the repository's 4 cabs merged by ts. It must run to the end without a crash."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from paths import CABSPOTTING as DATA

pytestmark = pytest.mark.slow


def convert(src: Path, dst: Path) -> int:
    """`lat lon occupancy epoch_s` lines -> gps events without `kind` (the file name says)."""
    cab = src.stem.removeprefix("new_")
    lines = []
    for row in src.read_text().splitlines():
        lat, lon, _occupied, epoch = row.split()
        lines.append(orjson.dumps({"vehicle_id": f"SF-{cab}", "ts": int(epoch) * 1000,
                                   "lat": float(lat), "lon": float(lon)}))
    dst.write_bytes(b"\n".join(lines) + b"\n")
    return len(lines)


def test_replay_of_real_traces(tmp_path: Path) -> None:
    files = sorted(DATA.glob("new_*.txt"))
    total = sum(convert(f, tmp_path / f"gps-{f.stem}.jsonl") for f in files)
    assert total > 40_000
    out = tmp_path / "alerts.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "streams.cli", "replay",
         *map(str, sorted(tmp_path.glob("gps-*.jsonl"))), "--out", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"gps        {total:>10,}" in proc.stderr
    alerts = [json.loads(line) for line in out.read_text().splitlines()]
    # Taxis drive at night: their unregistered "vehicles" are flagged off-hours, and only that.
    assert alerts and {a["detector"] for a in alerts} == {"off_hours_use"}
    subjects = [a["subject"] for a in alerts]
    assert len(subjects) == len(set(subjects))
