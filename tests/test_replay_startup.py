"""`sunlight replay` starts light: it reads the engine's overrides from the environment
(SUNLIGHT_ENGINE_<KEY>) without loading pydantic, which only the live commands need."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

LINE = (b'{"kind":"gps","vehicle_id":"V-1","ts":"2026-04-27T08:15:30+08:00",'
        b'"lat":41.8,"lon":123.4}\n')
PROBE = ("import sys; from streams.cli import main; code = main(sys.argv[1:]); "
         "print(code, sorted(m for m in ('pydantic', 'pydantic_settings') if m in sys.modules))")


def _replay(tmp: Path, **env: str) -> subprocess.CompletedProcess[str]:
    src = tmp / "gps.jsonl"
    src.write_bytes(LINE)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SUNLIGHT_")}
    return subprocess.run(
        [sys.executable, "-c", PROBE, "replay", str(src), "--out", str(tmp / "alerts.jsonl")],
        capture_output=True, text=True, timeout=120, env={**clean, **env},
    )


def test_replay_loads_no_pydantic(tmp_path: Path) -> None:
    proc = _replay(tmp_path)
    assert proc.stdout.strip() == "0 []", proc.stderr
    assert "events: 1 " in proc.stderr


def test_replay_takes_the_engine_overrides(tmp_path: Path) -> None:
    proc = _replay(tmp_path, SUNLIGHT_ENGINE_ALLOWED_LATENESS_MIN="-5")
    assert proc.stdout.strip().startswith("2 "), proc.stderr
    assert "allowed_lateness_min must be a non-negative number, got -5" in proc.stderr
