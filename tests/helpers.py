"""Helpers for the tests: event builders, file writers, and running the program in-process or for real."""
from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from clv.cli import main

ROOT = Path(__file__).resolve().parents[1]
PROCESS = ROOT / "src" / "process.py"
SAMPLE = ROOT / "sample_input" / "events.txt"
MESSY = ROOT / "sample_input" / "messy_events.jsonl"
DATA = ROOT / "tests" / "data"


def customer(key: str, time: str, verb: str = "NEW", **fields) -> dict:
    return {"type": "CUSTOMER", "verb": verb, "key": key, "event_time": time, **fields}


def visit(key: str, time: str, customer_id: str, **fields) -> dict:
    return {"type": "SITE_VISIT", "verb": "NEW", "key": key, "event_time": time, "customer_id": customer_id, **fields}


def image(key: str, time: str, customer_id: str, **fields) -> dict:
    return {"type": "IMAGE", "verb": "UPLOAD", "key": key, "event_time": time, "customer_id": customer_id, **fields}


def order(key: str, time: str, customer_id: str, amount: str, verb: str = "NEW") -> dict:
    return {"type": "ORDER", "verb": verb, "key": key, "event_time": time, "customer_id": customer_id,
            "total_amount": amount}


def write_json(path: Path, events: list) -> Path:
    path.write_text(json.dumps(events), encoding="utf-8")
    return path


def write_lines(path: Path, events: list) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    return path


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


class Stream(io.StringIO):
    """A captured stream with the encoding a real one would report."""

    def __init__(self, text: str = "", encoding: str = "utf-8") -> None:
        super().__init__(text)
        self._encoding = encoding

    @property
    def encoding(self) -> str:
        return self._encoding


@contextmanager
def environment(env: dict | None) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(env or {})
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run(args: list[str], stdin: str | None = None, env: dict | None = None) -> Result:
    """`clv ARGS` in this process, with captured streams (PYTHONIOENCODING sets their encoding)."""
    encoding = (env or {}).get("PYTHONIOENCODING", "utf-8")
    out, err = Stream(encoding=encoding), Stream(encoding=encoding)
    with environment(env):
        status = main([str(a) for a in args], stdin=Stream(stdin or ""), stdout=out, stderr=err)
    return Result(status, out.getvalue(), err.getvalue())


def run_process(args: list[str], stdin: str | None = None, env: dict | None = None,
                timeout: float = 120) -> subprocess.CompletedProcess:
    """`python src/process.py ARGS` as a real process, for what needs one (signals, locks, encodings)."""
    return subprocess.run([sys.executable, str(PROCESS), *map(str, args)], input=stdin, capture_output=True, check=False,
                          text=True, cwd=ROOT, env={**os.environ, **(env or {})}, timeout=timeout)


class TookTooLong(BaseException):
    """Raised by the alarm of within(); a BaseException so the tool's own `except Exception` does not swallow it."""


@contextmanager
def within(seconds: float) -> Iterator[None]:
    """Fail (rather than hang the suite) when the block runs longer than seconds."""
    def alarm(signum, frame):
        raise TookTooLong(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
