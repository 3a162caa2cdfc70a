"""A worker logs at the level it is given: Faust's spinner would set the root to DEBUG."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import faust
import pytest

from streams.live.worker import Worker


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield root
    root.setLevel(level)
    root.handlers[:] = handlers


@pytest.mark.parametrize("level", ["WARNING", "ERROR"])
def test_the_worker_keeps_the_root_logger_at_its_level(root_logger: logging.Logger,
                                                       level: str) -> None:
    worker = Worker(faust.App("sunlight-logging-test"), loglevel=level, quiet=True)
    worker._setup_logging()
    assert root_logger.level == logging.getLevelName(level)
    # aiokafka's per-fetch debug lines are dropped before they are built
    assert not logging.getLogger("aiokafka.consumer.fetcher").isEnabledFor(logging.DEBUG)
    assert all(h.level >= logging.getLevelName(level) for h in root_logger.handlers)


def test_the_worker_command_uses_this_worker() -> None:
    import inspect

    from streams.cli import live

    assert "from streams.live.worker import Worker" in inspect.getsource(live._worker)
