"""How a worker starts: at the log level it is given (Faust's spinner would set the root
logger to DEBUG), and joining its group at once (Faust's table manager waits a second)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

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


def test_the_worker_joins_without_waiting_for_tables(tmp_path: Path) -> None:
    from streams.live.app import TablelessManager, create_app
    from streams.settings import load_settings

    app = create_app(load_settings(environ={"SUNLIGHT_DATA_DIR": str(tmp_path)}))
    assert isinstance(app.tables, TablelessManager)
    assert len(app.tables) == 0  # no Faust table: the one-second wait is for nothing
