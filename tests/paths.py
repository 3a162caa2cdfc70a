"""Where the test data lives: in the repository (`tests/data`), so a clone runs every test."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
CITY_SAMPLE = DATA / "examples" / "city-sample"
FUNDS_SAMPLE = DATA / "examples" / "funds-sample"
TYPOLOGY_SAMPLE = DATA / "examples" / "typology-sample"
CABSPOTTING = DATA / "cabspotting"
