"""Where browser tests put their screenshots.

The committed screenshots in ``artifacts/`` are refreshed only on purpose:
``SUNLIGHT_SCREENSHOTS=1`` writes there; any other run writes to a directory of its own
under the system's temporary directory, so that an ordinary test run never modifies a
tracked file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def artifacts_dir() -> Path:
    if os.environ.get("SUNLIGHT_SCREENSHOTS") == "1":
        out = ROOT / "artifacts"
    else:
        out = Path(tempfile.gettempdir()) / f"sunlight-screenshots-{os.getpid()}"
    out.mkdir(parents=True, exist_ok=True)
    return out
