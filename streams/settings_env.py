"""The part of the settings that `sunlight replay` needs, without pydantic: the config
folder and the engine overrides from the environment (`SUNLIGHT_CONFIG`,
`SUNLIGHT_ENGINE_<KEY>`). `streams.settings` reads them through here, so one place says
how; replay imports only this (pydantic and pydantic-settings take a third of a second
to import)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from detectors.config import DEFAULT_CONFIG_DIR

ENV_PREFIX = "SUNLIGHT_"
ENGINE_PREFIX = "SUNLIGHT_ENGINE_"


def config_dir_from_env(environ: Mapping[str, str] | None = None) -> Path:
    """`SUNLIGHT_CONFIG` (an operator's folder), else the configuration shipped in the package."""
    env = os.environ if environ is None else environ
    chosen = env.get("SUNLIGHT_CONFIG")
    return Path(chosen) if chosen else DEFAULT_CONFIG_DIR


def engine_overrides(environ: Mapping[str, str] | None = None) -> tuple[tuple[str, Any], ...]:
    """`SUNLIGHT_ENGINE_<KEY>=value` as (key, YAML value) pairs, sorted by variable."""
    import yaml

    env = os.environ if environ is None else environ
    return tuple(
        (var.removeprefix(ENGINE_PREFIX).lower(), yaml.safe_load(value))
        for var, value in sorted(env.items())
        if var.startswith(ENGINE_PREFIX)
    )
