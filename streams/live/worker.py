"""Faust's worker, without its terminal spinner.

Faust's `Worker` drives a progress spinner from the log: for it, it adds a handler at
DEBUG to the root logger and sets the root logger to DEBUG, whatever `loglevel` says
(faust/worker.py, `_setup_spinner_handler`). Every debug line of aiokafka's fetcher and
connection is then built in full, only to be dropped by the console handler: about an
eighth of a worker's CPU at 5k records/s. A service has no terminal to spin in, so this
worker keeps the root logger at the level it was given.
"""

from __future__ import annotations

import logging

from faust.worker import Worker as FaustWorker


class Worker(FaustWorker):
    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        self.spinner = None  # and no spinner handler: the root keeps `level`
