"""`sunlight replay`: drive the detectors from JSON Lines files with the contract's clock.

Each file's line order is its arrival order; several files are merged by `ts` with a
k-way merge that keeps each file's own order. Bad lines go to the `--dlq` file with
their reason (or are counted and summarised).
"""

from __future__ import annotations

import contextlib
import gzip
import heapq
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson

from detectors.calendar import load_calendar
from detectors.config import DEFAULT_CONFIG_DIR, EngineConfig, load_config
from detectors.engine import CHECKED_KINDS, Engine
from detectors.events import MAX_RECORD_BYTES, Event, Rejected, decode_record, validate
from detectors.gps_fast import gps_fast
from detectors.timeutil import Zone
from streams.batch import gctune

if TYPE_CHECKING:
    from tqdm import tqdm

FILE_KINDS = {"gps": "gps", "fuel": "fuel", "payments": "payment", "reviews": "review",
              "applications": "application", "invoices": "invoice", "tax": "tax_invoice",
              "bank": "bank_payment"}


@dataclass
class ReplayStats:
    events: Counter[str] = field(default_factory=Counter)
    rejects: Counter[str] = field(default_factory=Counter)
    alerts: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    critical_cpu_s: float | None = None  # --workers: the CPU time of the longest path

    @property
    def total_events(self) -> int:
        return sum(self.events.values())

    def summary(self) -> str:
        rate = self.total_events / self.seconds if self.seconds > 0 else 0.0
        lines = [f"events: {self.total_events:,} in {self.seconds:.2f} s ({rate:,.0f}/s)"]
        if self.critical_cpu_s is not None:
            lines.append(f"critical path: {self.critical_cpu_s:.2f} CPU s (the wall time "
                         "on free cores, one per worker)")
        lines += [f"  {k:<10} {n:>10,}" for k, n in sorted(self.events.items())]
        lines.append(f"rejected: {sum(self.rejects.values()):,}")
        lines += [f"  {n:>6,}  {r}" for r, n in self.rejects.most_common()]
        lines.append(f"alerts: {sum(self.alerts.values()):,}")
        lines += [f"  {k:<26} {n:>6,}" for k, n in sorted(self.alerts.items())]
        return "\n".join(lines)


def kind_from_name(path: Path) -> str | None:
    """The kind implied by a file name's first word: gps, fuel, payments, reviews."""
    first = re.split(r"[^A-Za-z0-9]+", path.name, maxsplit=1)[0].lower()
    return FILE_KINDS.get(first)


def _open(path: Path) -> tuple[IO[bytes], IO[bytes]]:
    raw = open(path, "rb")  # noqa: SIM115 - closed by the reader
    if path.suffix == ".gz":
        return raw, gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
    return raw, raw


def _progress_bar(total: int) -> contextlib.AbstractContextManager[tqdm[Any] | None]:
    """A progress bar past two seconds, on a terminal only (tqdm loads only then)."""
    if not sys.stderr.isatty():
        return contextlib.nullcontext()
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, delay=2.0, leave=False)


class Replay:
    def __init__(
        self,
        config: EngineConfig,
        config_dir: Path = DEFAULT_CONFIG_DIR,
        wall_ms: Callable[[], int] | None = None,
        dlq: IO[bytes] | None = None,
    ) -> None:
        calendar = load_calendar(config_dir / "calendar.yaml")
        self.engine = Engine(config, calendar, wall_ms or (lambda: time.time_ns() // 1_000_000))
        self.zone = Zone(config.zone)
        self.stats = ReplayStats()
        self.dlq = dlq
        self._progress: tqdm[Any] | None = None

    def _reject(self, exc: Rejected, source: str, line_no: int, raw: bytes) -> None:
        self.stats.rejects[exc.reason] += 1
        if self.dlq is not None:
            record = {
                "source": source,
                "line": line_no,
                "reason": str(exc),
                "reason_class": exc.reason,
                "raw": raw.decode("utf-8", errors="backslashreplace"),
            }
            self.dlq.write(orjson.dumps(record) + b"\n")

    def read(self, path: Path) -> Iterator[Event]:
        """Good events of one file, in line order; rejects go to the DLQ."""
        raw_file, lines = _open(path)
        try:
            yield from self.decode(lines, str(path), kind_from_name(path), raw_file)
        finally:
            raw_file.close()

    def decode(
        self,
        lines: Iterable[bytes],
        source: str,
        default_kind: str | None,
        raw_file: IO[bytes] | None = None,
    ) -> Iterator[Event]:
        """Good events of these lines (numbered from 1), in order; rejects go to the DLQ."""
        quick, progress = self.quick_decoder(default_kind), self._progress
        line_no = 0
        for line in lines:
            line_no += 1
            if progress is not None and raw_file is not None and not line_no & 4095:
                progress.update(raw_file.tell() - progress.n)
            event = quick(line)
            if event is not None:
                yield event
                continue
            yield from self._slow(line, line_no, source, default_kind)

    def quick_decoder(self, default_kind: str | None) -> Callable[[bytes], Event | None]:
        """The common case of a line, one event object, parsed and checked once, in place
        (orjson takes the line's own newline as whitespace; a plain GPS fix in one call).
        None for anything else or anything that fails: the full path (`_slow`) then names
        the reason."""
        zone, check, loads = self.zone, self.engine.check, orjson.loads
        fast = None if "gps" in CHECKED_KINDS else gps_fast  # the engine has no GPS rule

        def quick(line: bytes) -> Event | None:
            if line[:1] != b"{" or len(line) > MAX_RECORD_BYTES:
                return None
            try:
                obj = loads(line)
                event = None if fast is None else fast(obj, zone, default_kind)
                if event is None:
                    event = validate(obj, zone, default_kind)
                    check(event)
            except (Rejected, orjson.JSONDecodeError):
                return None
            return event

        return quick

    def _slow(self, line: bytes, line_no: int, source: str, default_kind: str | None
              ) -> Iterator[Event]:
        line = line.rstrip(b"\r\n")
        if not line.strip():
            return
        for item in decode_record(line, self.zone, default_kind):
            if isinstance(item, Rejected):
                self._reject(item, source, line_no, line)
                continue
            try:
                self.engine.check(item)
            except Rejected as exc:
                self._reject(exc, source, line_no, line)
                continue
            yield item

    def run(
        self, paths: list[Path], out: IO[bytes], until_ms: int | None = None
    ) -> ReplayStats:
        engine, stats = self.engine, self.stats
        engine.clock_end = until_ms
        start = time.perf_counter()
        total = sum(p.stat().st_size for p in paths)
        with _progress_bar(total) as bar, gctune.tuned():
            self._progress = bar
            streams = [self.read(p) for p in paths]
            merged = streams[0] if len(streams) == 1 else heapq.merge(
                *streams, key=lambda e: e["ts_ms"]
            )
            events = stats.events
            for event in merged:
                events[event["kind"]] += 1
                alerts = engine.process(event)
                if alerts:
                    self._write(alerts, out)
            end = until_ms if until_ms is not None else engine.max_ts
            if end is not None:
                self._write(engine.advance_to(end), out)
            self._progress = None
        stats.seconds = time.perf_counter() - start
        return stats

    def _write(self, alerts: list[dict[str, Any]], out: IO[bytes]) -> None:
        for alert in alerts:
            self.stats.alerts[alert["detector"]] += 1
            out.write(orjson.dumps(alert) + b"\n")


def replay_files(
    paths: list[Path],
    out: IO[bytes],
    until: str | None = None,
    dlq: IO[bytes] | None = None,
    config_dir: Path = DEFAULT_CONFIG_DIR,
    config: EngineConfig | None = None,
) -> ReplayStats:
    config = config or load_config(config_dir)
    replay = Replay(config, config_dir, dlq=dlq)
    until_ms = replay.zone.parse(until) if until is not None else None
    return replay.run(paths, out, until_ms)
