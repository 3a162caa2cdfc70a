"""The replay reference: alerts of the city sample and the Cabspotting traces as main's
code raised them before the performance work (issue 14), every field but `raised_at`.

`python tests/replay_reference.py` wrote `tests/data/replay-reference/` once, from main's
code; `test_replay_reference.py` holds today's replay (one process and several) to it.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import orjson
from paths import CABSPOTTING, CITY_SAMPLE, DATA

REFERENCE = DATA / "replay-reference"
CITY_UNTIL = "2026-10-31T00:00:00+08:00"


def cabspotting_inputs(tmp: Path) -> list[Path]:
    """The four cabs as gps JSON Lines files without `kind` (the file name says)."""
    paths = []
    for src in sorted(CABSPOTTING.glob("new_*.txt")):
        cab = src.stem.removeprefix("new_")
        lines = []
        for row in src.read_text().splitlines():
            lat, lon, _occupied, epoch = row.split()
            lines.append(orjson.dumps({"vehicle_id": f"SF-{cab}", "ts": int(epoch) * 1000,
                                       "lat": float(lat), "lon": float(lon)}))
        dst = tmp / f"gps-{cab}.jsonl"
        dst.write_bytes(b"\n".join(lines) + b"\n")
        paths.append(dst)
    return paths


def cases(tmp: Path) -> dict[str, list[str]]:
    """Reference name -> `sunlight replay` arguments."""
    city = str(CITY_SAMPLE / "stream.jsonl.gz")
    return {
        "city-until": [city, "--until", CITY_UNTIL],
        "city": [city],
        "cabspotting": [str(p) for p in cabspotting_inputs(tmp)],
    }


def replay(args: list[str], out: Path, extra: tuple[str, ...] = ()) -> list[dict[str, object]]:
    """Alerts of `sunlight replay ARGS`, in output order, without `raised_at`."""
    subprocess.run([sys.executable, "-m", "streams.cli", "replay", *args, "--out", str(out),
                    *extra], check=True, capture_output=True, timeout=600)
    alerts = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    for alert in alerts:
        del alert["raised_at"]
    return alerts


def load(name: str) -> list[dict[str, object]]:
    with gzip.open(REFERENCE / f"{name}.jsonl.gz", "rb") as f:
        return [orjson.loads(line) for line in f]


def main() -> None:
    import tempfile

    REFERENCE.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        for case, args in cases(tmp).items():
            alerts = replay(args, tmp / f"{case}.jsonl")
            body = b"".join(orjson.dumps(a) + b"\n" for a in alerts)
            with gzip.GzipFile(REFERENCE / f"{case}.jsonl.gz", "wb", mtime=0) as f:
                f.write(body)
            print(f"{case}: {len(alerts)} alerts")


if __name__ == "__main__":
    main()
