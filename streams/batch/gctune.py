"""Garbage-collector settings for long runs over large keyed state.

A replay holds millions of long-lived objects (tracks, pending transactions) and makes
millions of short-lived ones (the events). CPython's default young-generation threshold
(700 allocations) runs a collection every few dozen events, and every full collection
walks everything alive, the configuration, the calendar and the loaded modules included.
After warm-up we move what exists into the permanent generation (`gc.freeze`) and let the
young generation grow to 50,000 objects: collections become rare, and none re-walks the
warm-up. The engine makes no reference cycles on its hot path, so little waits longer
for collection.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

THRESHOLDS = (50_000, 20, 20)


@contextlib.contextmanager
def tuned() -> Iterator[None]:
    """Freeze what exists now and raise the thresholds; restore both afterwards."""
    before = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
