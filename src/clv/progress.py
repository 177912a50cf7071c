"""A progress bar for long ingestions: tqdm on stderr, only in a terminal, only after a second."""
from __future__ import annotations

import sys
import time
from typing import Protocol

from tqdm import tqdm

DELAY_SECONDS = 1.0


class Progress(Protocol):
    def start(self, source: str, events: int) -> None:
        """A file's events are parsed; checking them begins."""

    def advance(self, events: int) -> None:
        """So many more events are converted."""

    def stage(self, text: str) -> None:
        """What the run is doing now (checking, saving)."""

    def close(self) -> None:
        """The file is done."""


class TerminalProgress:
    """Events per second on stderr; nothing at all when stderr is not a terminal."""

    def __init__(self) -> None:
        self._bar: tqdm | None = None
        self.enabled = sys.stderr.isatty()

    def start(self, source: str, events: int) -> None:
        self.close()
        if self.enabled:
            self._bar = tqdm(total=events, desc=source, unit=" events", unit_scale=True, delay=DELAY_SECONDS,
                             file=sys.stderr, leave=False, dynamic_ncols=True)

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
            self._bar.close()
            self._bar = None
