"""The default configuration, installed as the package `sunlight_config` (package data).

`sunlight --config DIR` or `SUNLIGHT_CONFIG=DIR` points at an operator's folder instead."""
