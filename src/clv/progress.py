"""A progress bar for long ingestions: tqdm on stderr, only in a terminal, only after a second."""
from __future__ import annotations

import sys
import time
from typing import Protocol, TextIO

from tqdm import tqdm

DELAY_SECONDS = 1.0


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
    """Events per second on stderr; nothing at all when stderr is not a terminal.

    The clock starts before parsing, so the rate is that of the whole ingestion.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self._bar: tqdm | None = None
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()

    def start(self, source: str) -> None:
        self.close()
        if self.enabled:
            self._bar = tqdm(total=None, desc=source, unit=" events", unit_scale=True, delay=DELAY_SECONDS,
                             file=self.stream, leave=False, dynamic_ncols=True)
            self._bar.set_postfix_str("parsing", refresh=False)

    def parsed(self, events: int) -> None:
        if self._bar is not None:
            self._bar.total = events
            self.stage("checking")

    def advance(self, events: int) -> None:
        if self._bar is not None:
            self._bar.update(events)

    def stage(self, text: str) -> None:
        if self._bar is not None:
            # Redraw only once the delay has passed: a quick run shows no bar at all.
            shown = time.time() - self._bar.start_t >= DELAY_SECONDS
            self._bar.set_postfix_str(text, refresh=shown)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.clear()  # tqdm would leave a bar drawn by a forced refresh on the screen
            self._bar.close()
            self._bar = None
