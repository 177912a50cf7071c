"""Turn event files into lists of parsed entries, one list per file.

A file is UTF-8 JSON: an array of events, one event object, or JSON Lines.
File-level problems raise InputError (nothing of the file is used); a bad
JSON Lines line becomes a MalformedLine entry so the rest of the file goes on.
"""
from __future__ import annotations

import gc
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import orjson

from .errors import InputError

EVENT_FILE_SUFFIXES = (".json", ".jsonl", ".txt")
BOM = b"\xef\xbb\xbf"
WHITESPACE = b" \t\r\n"


@dataclass(frozen=True)
class MalformedLine:
    """A JSON Lines line that is not valid JSON, kept as text for the rejects file."""

    text: str
    error: str


@dataclass
class ParsedFile:
    """The entries of one file and where each stood in it (1-based)."""

    source: str
    shape: str  # "array", "object" or "lines"
    entries: list
    positions: list[int]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Millions of small dicts make the cyclic GC rescan the heap over and over."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def expand_paths(paths: list[str | Path]) -> list[Path]:
    """Resolve the user's paths to event files; a directory means its event files in name order."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in EVENT_FILE_SUFFIXES)
            if not found:
                raise InputError(f"{path}: directory has no *.json, *.jsonl or *.txt files")
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            raise InputError(f"{path}: no such file or directory")
    return files


def _where(data: bytes, offset: int) -> str:
    """Line and column (1-based) of a byte offset, for error messages."""
    line = data.count(b"\n", 0, offset) + 1
    column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return f"line {line}, column {column}"


def _check_utf8(data: bytes, source: str) -> None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{source}: not UTF-8 text ({_where(data, exc.start)})") from None


def _json_error(exc: orjson.JSONDecodeError) -> str:
    message = str(exc.msg).rstrip(".")
    return f"{message} (line {exc.lineno}, column {exc.colno})"


def parse_bytes(data: bytes, source: str) -> ParsedFile:
    """Detect the file's shape and parse it."""
    if data.startswith(BOM):
        data = data[len(BOM):]
    stripped = data.lstrip()
    if not stripped:
        raise InputError(f"{source}: file is empty")
    try:
        with gc_paused():
            value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if stripped[:1] == b"[":
            _check_utf8(data, source)
            raise InputError(f"{source}: not a valid JSON array: {_json_error(exc)}") from None
        return _parse_lines(data, source)
    if isinstance(value, list):
        return ParsedFile(source, "array", value, list(range(1, len(value) + 1)))
    return ParsedFile(source, "object", [value], [1])


def _lines_as_array(data: bytes) -> ParsedFile | None:
    """JSON Lines with no blank or bad line, parsed as one array: newlines become commas in one copy."""
    start, end = 0, len(data)
    while end > start and data[end - 1] in WHITESPACE:
        end -= 1
    while start < end and data[start] in WHITESPACE:
        start += 1
    buffer = np.empty(end - start + 2, dtype=np.uint8)
    buffer[0], buffer[-1] = ord("["), ord("]")
    buffer[1:-1] = np.frombuffer(data, dtype=np.uint8, count=end - start, offset=start)
    newlines = np.flatnonzero(buffer == ord("\n"))
    buffer[newlines] = ord(",")
    lines = len(newlines) + 1
    del newlines
    try:
        with gc_paused():
            entries = orjson.loads(memoryview(buffer))
    except orjson.JSONDecodeError:
        return None
    if len(entries) != lines:
        return None
    first = data.count(b"\n", 0, start) + 1
    return ParsedFile("", "lines", entries, list(range(first, first + lines)))


def _parse_lines(data: bytes, source: str) -> ParsedFile:
    """JSON Lines: parse all lines in one go, and line by line only when some are bad."""
    whole = _lines_as_array(data)
    if whole is not None:
        whole.source = source
        return whole
    _check_utf8(data, source)
    lines = data.split(b"\n")
    numbers = [i for i, line in enumerate(lines, 1) if line.strip()]
    kept = [lines[i - 1] for i in numbers]
    try:
        with gc_paused():
            entries = orjson.loads(b"[" + b",".join(kept) + b"]")
        if len(entries) == len(kept):
            return ParsedFile(source, "lines", entries, numbers)
    except orjson.JSONDecodeError:
        pass
    entries = []
    good = 0
    with gc_paused():
        for line in kept:
            try:
                entries.append(orjson.loads(line))
                good += 1
            except orjson.JSONDecodeError as exc:
                text = line.decode("utf-8").strip()
                entries.append(MalformedLine(text, str(exc.msg).rstrip(".") + f" (column {exc.colno})"))
    if good == 0:
        first = entries[0]
        raise InputError(f"{source}: not JSON: line {numbers[0]}: {first.error}")
    return ParsedFile(source, "lines", entries, numbers)


def read_file(path: Path) -> ParsedFile:
    """Read and parse one file; every failure is one InputError naming the file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return parse_bytes(data, str(path))
