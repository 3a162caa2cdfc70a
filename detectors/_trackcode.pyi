"""The packed track's bit coder in C (detectors/_trackcode.pyx); see its docstrings."""

from collections.abc import Sequence
from typing import Any

def encode(
    state: tuple[int, ...], fixes: Sequence[tuple[int, int, int]], first: int, base_bytes: int
) -> tuple[tuple[int, ...], bytes, tuple[int, ...] | None] | None: ...
def decode(
    data: bytes, start: tuple[int, ...], n: int, found: list[list[Any]], marks: list[Any] | None
) -> bool: ...
def append(
    b: bytes, k: int, ts: int, lat: float, lon: float, block: int
) -> tuple[bytes, int] | None: ...
