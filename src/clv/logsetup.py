"""process.log through the logging module: ingestion summaries, errors and timings.

Modules log through logging.getLogger(__name__); all of them are children of
the "clv" logger, whose one handler this module sets up. The log is a record,
never a reason to fail: a logs folder that cannot be written, or a disk that
fills up, gives one warning on stderr and the command goes on without a log.
Every message is written on one line with its control characters escaped, so
hostile text from a file can neither forge log entries nor steer a terminal.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

ROOT_LOGGER = "clv"
LOG_FILE = "process.log"
FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# Characters a terminal acts on rather than prints (C0 controls, DEL and C1), and nothing else.
CONTROLS = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7f, 0xa0))}
# Until configure() runs, log records go nowhere (not to logging's stderr fallback).
logging.getLogger(ROOT_LOGGER).addHandler(logging.NullHandler())


def escape_controls(text: str) -> str:
    """Text with every control character (newlines included) written as \\xNN."""
    return text.translate(CONTROLS)


class _OneLineFormatter(logging.Formatter):
    """Each record on one line, a traceback included (its line breaks written as \x0a)."""

    def format(self, record: logging.LogRecord) -> str:
        return escape_controls(super().format(record))


class _TolerantFileHandler(logging.FileHandler):
    """A file handler that, when writing fails, warns once and stops instead of printing tracebacks."""

    def handleError(self, record: logging.LogRecord) -> None:
        _warn(f"cannot write to the log {self.baseFilename}: {sys.exc_info()[1]}; going on without it")
        logging.getLogger(ROOT_LOGGER).removeHandler(self)


def _warn(message: str) -> None:
    try:
        print(f"warning: {escape_controls(message)}", file=sys.stderr)
    except (OSError, ValueError):
        pass


def configure(logs_dir: Path | str | None) -> logging.Logger:
    """Send the tool's log to logs_dir/process.log; with no directory, or one that cannot be written, nowhere."""
    logger = logging.getLogger(ROOT_LOGGER)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(logging.NullHandler())
    if logs_dir is None:
        return logger
    try:
        Path(logs_dir).mkdir(parents=True, exist_ok=True)
        handler = _TolerantFileHandler(Path(logs_dir) / LOG_FILE, encoding="utf-8", errors="backslashreplace")
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        _warn(f"cannot write the log in {logs_dir}: {reason}; going on without it")
        return logger
    handler.setFormatter(_OneLineFormatter(FORMAT))
    logger.addHandler(handler)
    return logger
