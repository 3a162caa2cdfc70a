"""`sunlight bench`, restricted places: replay of the city sample with 5,000 places in the
registry against the same replay with none, in one run. The places are scattered over the
city and around it (uniform within 40 km of its centre, radius 50-300 m), so fixes do
land in cells that hold places and `restricted_place_stay` checks them each local date."""

from __future__ import annotations

import io
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

from detectors.config import DEFAULT_CONFIG_DIR, load_config
from detectors.events import validate
from streams.batch.replay import Replay

CENTER = (41.8057, 123.4315)
CATEGORIES = ("scenic", "entertainment", "golf", "private_club", "luxury_dining", "hotel",
              "residence", "other")


def places(n: int, seed: int = 3) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        r_km, angle = 40 * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
        lat = CENTER[0] + r_km * math.sin(angle) / 111.2
        lon = CENTER[1] + r_km * math.cos(angle) / (111.2 * math.cos(math.radians(CENTER[0])))
        out.append({"kind": "place", "place_id": f"BENCH-{i:05d}", "name": f"place {i}",
                    "category": CATEGORIES[i % len(CATEGORIES)], "lat": round(lat, 6),
                    "lon": round(lon, 6), "radius_m": float(rng.randint(50, 300)),
                    "ts": "2020-01-01T00:00:00+08:00"})
    return out


def bench_places(path: Path, n: int = 5000) -> dict[str, Any]:
    config = load_config()
    rates = {}
    for label, count in (("no_places", 0), ("places", n)):
        replay = Replay(config, DEFAULT_CONFIG_DIR)
        for obj in places(count):
            replay.engine.process(validate(obj, replay.zone))
        out = io.BytesIO()
        cpu = time.process_time()
        stats = replay.run([path], out)
        cpu = time.process_time() - cpu
        rates[label] = stats.total_events / stats.seconds
        rates[f"{label}_cpu"] = stats.total_events / cpu
        rates[f"{label}_stays"] = stats.alerts.get("restricted_place_stay", 0)
    return {"places": n, "events_per_s_no_places": rates["no_places"],
            "events_per_s_with_places": rates["places"],
            "ratio": rates["places"] / rates["no_places"],
            # the machine is shared: CPU time of this process is the steadier measure
            "cpu_events_per_s_no_places": rates["no_places_cpu"],
            "cpu_events_per_s_with_places": rates["places_cpu"],
            "cpu_ratio": rates["places_cpu"] / rates["no_places_cpu"],
            "stays_raised_with_places": rates["places_stays"]}


def sample_path() -> Path:
    root = Path(__file__).resolve().parents[3]
    return root / "tests" / "data" / "examples" / "city-sample" / "stream.jsonl.gz"


def report(r: dict[str, Any]) -> str:
    return (f"replay with {r['places']:,} places: {r['events_per_s_with_places']:,.0f} ev/s vs "
            f"{r['events_per_s_no_places']:,.0f} ev/s with none (ratio {r['ratio']:.3f}; by CPU "
            f"time {r['cpu_events_per_s_with_places']:,.0f} vs "
            f"{r['cpu_events_per_s_no_places']:,.0f}, ratio {r['cpu_ratio']:.3f}; "
            f"{r['stays_raised_with_places']} stays raised)")


if __name__ == "__main__":
    result = bench_places(Path(sys.argv[1]) if len(sys.argv) > 1 else sample_path())
    print(report(result))
