"""Collects the simulated lines with their arrival times and the ground truth, and
writes `stream.jsonl.gz` (arrival order) and `truth.json`."""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from streams.tools.simulator.city import iso


@dataclass
class Stream:
    lines: list[tuple[int, int, bytes]] = field(default_factory=list)
    expected: list[dict[str, str]] = field(default_factory=list)
    lookalikes: list[dict[str, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # injections that found no room

    def emit(self, kind: str, ts_ms: int, fields: dict[str, Any],
             arrival_ms: int | None = None) -> bytes:
        """Add one event (ts given in ms, written as ISO +08:00); returns its line."""
        obj = {"kind": kind, **fields, "ts": iso(ts_ms)}
        line = orjson.dumps(obj)
        self.add_line(line, ts_ms if arrival_ms is None else arrival_ms)
        return line

    def add_line(self, line: bytes, arrival_ms: int) -> None:
        self.lines.append((arrival_ms, len(self.lines), line))

    def truth(self, detector: str, subject: str, note: str) -> None:
        self.expected.append({"detector": detector, "subject": subject, "note": note})

    def lookalike(self, kind: str, subject: str, note: str) -> None:
        self.lookalikes.append({"kind": kind, "subject": subject, "note": note})

    def ordered(self) -> list[bytes]:
        return [line for _, _, line in sorted(self.lines)]

    def truth_doc(self, until_ms: int, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "until": iso(until_ms),
            "params": params,
            "expected": sorted(self.expected, key=lambda e: (e["detector"], e["subject"])),
            "lookalikes": sorted(self.lookalikes, key=lambda e: (e["kind"], e["subject"])),
            "skipped": self.skipped,
        }


def write_jsonl_gz(path: Path, lines: list[bytes]) -> None:
    """Byte-reproducible gzip: no file name, mtime 0."""
    with open(path, "wb") as raw, gzip.GzipFile(
        filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6
    ) as out:
        out.write(b"\n".join(lines) + b"\n" if lines else b"")


def write_truth(path: Path, doc: dict[str, Any]) -> None:
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
