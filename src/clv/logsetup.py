"""process.log through the logging module: ingestion summaries, errors and timings.

Modules log through logging.getLogger(__name__); all of them are children of
the "clv" logger, whose one handler this module sets up.
"""
from __future__ import annotations

import logging
from pathlib import Path

ROOT_LOGGER = "clv"
LOG_FILE = "process.log"
FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# Until configure() runs, log records go nowhere (not to logging's stderr fallback).
logging.getLogger(ROOT_LOGGER).addHandler(logging.NullHandler())


def configure(logs_dir: Path | str | None) -> logging.Logger:
    """Send the tool's log to logs_dir/process.log; with no directory, nowhere."""
    logger = logging.getLogger(ROOT_LOGGER)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(logging.INFO)
    logger.propagate = False
    if logs_dir is None:
        logger.addHandler(logging.NullHandler())
        return logger
    Path(logs_dir).mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(Path(logs_dir) / LOG_FILE, encoding="utf-8")
    handler.setFormatter(logging.Formatter(FORMAT))
    logger.addHandler(handler)
    return logger
