"""Fixtures shared by the tests; helpers live in helpers.py."""
from __future__ import annotations

from pathlib import Path

import pytest

from clv.store import MemoryStore


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def dirs(tmp_path: Path) -> list[str]:
    """Global options that keep a test's store and logs in its own temporary folder."""
    return ["--data-dir", str(tmp_path / "data"), "--logs-dir", str(tmp_path / "logs")]
