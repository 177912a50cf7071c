"""Progress on stderr, only in a terminal, only after a second: a bar for ingestion, a clock for the rest.

`TerminalProgress` is the bar of an ingestion (events per second, through
every phase: parsing, checking each event, checking keys and versions,
saving). `working` is the indicator of any other action that can take more
than a second (ranking, loading a large store, exporting, fitting): its
description and a running clock. Both appear only once the action has taken
DELAY_SECONDS, are redrawn by a background ticker so their clock never looks
frozen while a phase reports nothing, write their carriage returns to the real
stderr (not through the escaping stream), and are wiped before the result is
printed.
"""
from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, TextIO

from tqdm import tqdm

from .terminal import can_encode, escape, raw

DELAY_SECONDS = 1.0
TICK_SECONDS = 0.25
KEYS_STAGE = "checking keys and versions"


class Progress(Protocol):
    def start(self, source: str) -> None:
        """A file is about to be read and parsed."""

    def parsed(self, events: int) -> None:
        """The file holds this many events; checking them begins."""

    def advance(self, events: int) -> None:
        """So many more events are converted."""

    def stage(self, text: str) -> None:
        """What the run is doing now (parsing, checking, saving)."""

    def close(self) -> None:
        """The file is done."""


class TerminalProgress:
    """A tqdm bar on stderr; nothing at all when stderr is not a terminal.

    The clock starts before parsing, so the rate is that of the whole ingestion.
    Without a file (before the first one, or for an action that is not an
    ingestion) `stage` shows a plain "what, how long" line.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self._bar: tqdm | None = None
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._dots = "…" if can_encode(self.stream, "…") else "..."

    # --- drawing ---

    def _due(self) -> bool:
        return self._bar is not None and time.time() - self._bar.start_t >= DELAY_SECONDS

    def _tick(self) -> None:
        while not self._stop.wait(TICK_SECONDS):
            with self._lock:
                if self._due():
                    self._bar.refresh()

    def _open(self, **options) -> None:
        with self._lock:
            self._close_bar()
            self._bar = tqdm(file=raw(self.stream), delay=DELAY_SECONDS, leave=False, dynamic_ncols=True, **options)
            if self._ticker is None or not self._ticker.is_alive():
                self._stop.clear()
                self._ticker = threading.Thread(target=self._tick, name="clv-progress", daemon=True)
                self._ticker.start()

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.clear()  # tqdm would leave a bar drawn by a forced refresh on the screen
            self._bar.close()
            self._bar = None

    # --- an ingestion ---

    def start(self, source: str) -> None:
        if self.enabled:
            self._open(total=None, desc=escape(source), unit=" events", unit_scale=True)
            with self._lock:
                self._bar.set_postfix_str("parsing", refresh=False)

    def parsed(self, events: int) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.total = events
                self.stage("checking")

    def advance(self, events: int) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.update(events)
                if self._bar.total is not None and self._bar.n >= self._bar.total:
                    self.stage(KEYS_STAGE)  # what batch checking does once every event is converted

    # --- any action ---

    def stage(self, text: str) -> None:
        """What is being done now; without a bar (no file yet, or not an ingestion) a plain clock line."""
        if not self.enabled:
            return
        with self._lock:
            if self._bar is None:
                self._open(total=None, desc=escape(text) + self._dots, bar_format="{desc} {elapsed}")
                return
            # Redraw only once the delay has passed: a quick run shows no bar at all.
            if self._bar.bar_format == "{desc} {elapsed}":
                self._bar.set_description_str(escape(text) + self._dots, refresh=self._due())
            else:
                self._bar.set_postfix_str(text, refresh=self._due())

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            self._close_bar()


@contextmanager
def working(stream: TextIO, text: str) -> Iterator[TerminalProgress]:
    """An indicator for an action that may take more than a second: "text… 00:03" on stderr in a terminal,
    from the first second on, wiped when the block ends however it ends. `stage` on what it yields says
    what is being done now."""
    progress = TerminalProgress(stream)
    progress.stage(text)
    try:
        yield progress
    finally:
        progress.close()
