"""What survives a full collection leaves the collector's walks (`freeze_survivors`): the
next full walk covers only what came since, so its pause does not grow with the state."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from streams.live.app import FROZEN, freeze_survivors


@pytest.fixture
def hooked() -> Iterator[None]:
    gc.unfreeze()
    gc.disable()  # only the test's own collections run (an automatic one would freeze early)
    gc.callbacks.append(freeze_survivors)
    try:
        yield
    finally:
        gc.callbacks.remove(freeze_survivors)
        gc.enable()
        gc.unfreeze()


def test_survivors_of_a_full_collection_are_frozen(hooked: None) -> None:
    state = [{"fixes": [i, i + 1]} for i in range(10_000)]  # live state, 20k containers
    assert gc.get_freeze_count() == 0
    gc.collect(1)  # a young collection freezes nothing
    assert gc.get_freeze_count() == 0
    gc.collect()
    frozen = gc.get_freeze_count()
    assert frozen >= 20_000
    assert FROZEN[0] == frozen  # what the gauge shows, counted once a freeze, not a scrape
    assert all(gc.is_tracked(s) for s in state[:10])  # frozen, still tracked, still live
    newer = [[i] for i in range(1_000)]  # after the freeze: walked by the next collection
    walked = {id(o) for o in gc.get_objects()}  # the generations, not the frozen
    assert id(state[0]) not in walked and id(state[0]["fixes"]) not in walked
    assert id(newer[0]) in walked
    del state  # dropped state is freed by its reference count, frozen or not
    assert gc.get_freeze_count() <= frozen - 20_000
    assert newer


def test_garbage_cycles_are_collected_not_frozen(hooked: None) -> None:
    class Node:
        other: object = None

    refs = []
    for _ in range(1_000):  # cycles that are garbage already when the collection runs
        a, b = Node(), Node()
        a.other, b.other = b, a
        refs.append(weakref.ref(a))
    del a, b
    gc.collect()
    assert all(r() is None for r in refs)  # freed, not frozen
