"""The progress bar, with stderr standing in for a terminal."""
from __future__ import annotations

import io
import time

from clv import progress


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bar_shows_rate_after_the_delay_and_is_cleared_at_the_end(monkeypatch):
    screen = FakeTerminal()
    monkeypatch.setattr(progress.sys, "stderr", screen)
    monkeypatch.setattr(progress, "DELAY_SECONDS", 0.05)
    bar = progress.TerminalProgress()
    bar.start("events.json")
    bar.parsed(1000)
    bar.advance(1000)  # too early to draw
    time.sleep(0.1)
    bar.stage("saving")  # the delay has passed: drawn now
    shown = screen.getvalue()
    assert "events.json" in shown and "events/s" in shown and "saving" in shown
    bar.close()
    after = screen.getvalue()[len(shown):]
    assert "\r" in after and after.strip(" \r") == ""  # the line is blanked before the summary is printed


def test_no_bar_for_a_quick_run_or_without_a_terminal(monkeypatch):
    screen = FakeTerminal()
    monkeypatch.setattr(progress.sys, "stderr", screen)
    bar = progress.TerminalProgress()
    bar.start("quick.json")
    bar.parsed(10)
    bar.advance(10)
    bar.stage("saving")
    assert "quick.json" not in screen.getvalue()
    bar.close()
    piped = io.StringIO()
    monkeypatch.setattr(progress.sys, "stderr", piped)
    silent = progress.TerminalProgress()
    silent.start("piped.json")
    silent.close()
    assert piped.getvalue() == ""
