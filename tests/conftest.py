"""Shared helpers: event builders, in-memory stores and running the real program."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from clv.rejects import MemoryRejects
from clv.store import MemoryStore

ROOT = Path(__file__).resolve().parents[1]
PROCESS = ROOT / "src" / "process.py"
SAMPLE = ROOT / "sample_input" / "events.txt"
MESSY = ROOT / "sample_input" / "messy_events.jsonl"
# Large inputs come from the benchmark's own generator.
sys.path.insert(0, str(ROOT / "bench"))


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


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def rejects() -> MemoryRejects:
    return MemoryRejects()


@pytest.fixture
def dirs(tmp_path: Path) -> list[str]:
    """Global options that keep a test's store and logs in its own temporary folder."""
    return ["--data-dir", str(tmp_path / "data"), "--logs-dir", str(tmp_path / "logs")]


def run(args: list[str], stdin: str | None = None, cwd: Path | None = None,
        env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `python src/process.py ARGS` as a user would, capturing its output."""
    return subprocess.run([sys.executable, str(PROCESS), *args], input=stdin, capture_output=True, text=True,
                          cwd=cwd or ROOT, env={**os.environ, **(env or {})}, timeout=timeout)
