"""Rejected events held for re-processing (docs/contract.md, "Rejected events").

Each held event is one JSON object: the original event (or, for a line that
was not JSON, its raw text), the reason code, the message, where it came from
and when it was rejected. On disk they are the lines of rejected_events.jsonl.
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

import orjson

from .atomic import fsync_path, staged
from .errors import StoreError
from .reader import MalformedLine

FILE_NAME = "rejected_events.jsonl"


class Rejects(Protocol):
    location: str

    def load(self) -> list[dict]:
        """Every held rejected event, oldest first."""

    def add(self, records: list[dict]) -> None:
        """Hold more rejected events."""

    def replace(self, records: list[dict]) -> None:
        """Hold exactly these (after re-processing)."""


def record(entry: object, reason: str, message: str, source: str, position: int, time: str) -> dict:
    """One held rejected event, as written to the rejects file."""
    held: dict = {"raw": entry.text} if isinstance(entry, MalformedLine) else {"event": entry}
    held.update(reason=reason, message=message, source=source, position=position, time=time)
    return held


def held_key(held: dict) -> bytes:
    """One rejected event: its content and where it stood (equal events elsewhere are held each)."""
    content = orjson.dumps(held["event"], option=orjson.OPT_SORT_KEYS) if "event" in held else \
        str(held.get("raw", "")).encode()
    return orjson.dumps([held.get("source"), held.get("position")]) + content


def new_only(held: list[dict], records: list[dict]) -> list[dict]:
    """Records not held yet, so ingesting the same file again does not hold its rejects twice."""
    seen = {held_key(h) for h in held}
    fresh = []
    for candidate in records:
        key = held_key(candidate)
        if key not in seen:
            seen.add(key)
            fresh.append(candidate)
    return fresh


def entry_of(held: dict) -> object:
    """The event to ingest again; a raw line is parsed anew, so it can be fixed by hand in the file."""
    if "event" in held:
        return held["event"]
    raw = str(held.get("raw", ""))
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return MalformedLine(raw, f"{exc.msg} (column {exc.colno})")


class MemoryRejects:
    location = "memory"

    def __init__(self) -> None:
        self._records: list[dict] = []

    def load(self) -> list[dict]:
        return list(self._records)

    def add(self, records: list[dict]) -> None:
        self._records.extend(records)

    def replace(self, records: list[dict]) -> None:
        self._records = list(records)


class FileRejects:
    """Rejected events as JSON Lines; appended on ingest, rewritten atomically on reprocess."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.location = str(self.path)

    def load(self) -> list[dict]:
        try:
            lines = self.path.read_bytes().splitlines()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StoreError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        held = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError:
                value = None
            if not isinstance(value, dict):
                raise StoreError(f"{self.path} line {number} is not a held event; fix or remove that line")
            held.append(value)
        return held

    def _write(self, records: list[dict], mode: str, path: Path) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, mode) as out:
            out.write(b"".join(orjson.dumps(r) + b"\n" for r in records))

    def add(self, records: list[dict]) -> None:
        if records:
            self._write(records, "ab", self.path)
            fsync_path(self.path)

    def replace(self, records: list[dict]) -> None:
        with staged(self.path) as temporary:
            self._write(records, "wb", temporary)


def open_rejects(logs_dir: Path | str | None) -> Rejects:
    return MemoryRejects() if logs_dir is None else FileRejects(Path(logs_dir) / FILE_NAME)
