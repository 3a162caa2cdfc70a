"""Feed the simulated city to a running system through Kafka.

The period is simulated on real dates ending today (local midnight), so the working-day
calendar, office hours and nights stay true; the history before the period (registry,
earlier payments and cases) is sent at once, then the period is paced at `speed` times
event time. Records are keyed per the contract (by `streams.tools.producer`).
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from streams.tools.simulator import SimConfig, simulate

SHANGHAI = timezone(timedelta(hours=8))


def ending_today(config: SimConfig, today: date | None = None) -> SimConfig:
    """The same city, its period moved to end at today's local midnight."""
    today = today or datetime.now(SHANGHAI).date()
    return replace(config, start=today - timedelta(days=config.days))


def feed(config: SimConfig, bootstrap: str, speed: float | None = 3600.0,
         topic_prefix: str = "sunlight.", **kafka: Any) -> int:
    """Send the city; returns the number of lines sent (`kafka`: SASL/TLS client options)."""
    from streams.tools.producer import produce

    lines = sorted(simulate(config).lines)
    cut = config.start_ms
    with tempfile.TemporaryDirectory(prefix="sunlight-sim-") as tmp:
        history, period = Path(tmp) / "history.jsonl", Path(tmp) / "period.jsonl"
        history.write_bytes(b"".join(line + b"\n" for at, _, line in lines if at < cut))
        period.write_bytes(b"".join(line + b"\n" for at, _, line in lines if at >= cut))
        sent = produce([history], bootstrap, topic_prefix, **kafka)
        sent += produce([period], bootstrap, topic_prefix, speed=speed, **kafka)
    return sent
