"""Fixtures shared by the tests; helpers live in helpers.py."""
from __future__ import annotations

import os
import sys
from pathlib import Path

# The suite starts many Python processes (its xdist workers, the CLI in subprocesses and terminals): each
# compiles every module again when bytecode caches may not be written. An environment that forbids them
# (PYTHONDONTWRITEBYTECODE) doubles collection time; the caches go to the git-ignored __pycache__ folders.
sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

import pytest

from clv.store import MemoryStore


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def dirs(tmp_path: Path) -> list[str]:
    """Global options that keep a test's store and logs in its own temporary folder."""
    return ["--data-dir", str(tmp_path / "data"), "--logs-dir", str(tmp_path / "logs")]
