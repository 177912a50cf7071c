"""Turn event files into lists of parsed entries, one list per file.

A file is UTF-8 JSON: an array of events, one event object, or JSON Lines.
File-level problems raise InputError (nothing of the file is used); a bad
JSON Lines line becomes a MalformedLine entry so the rest of the file goes on.
"""
from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

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


def _framed(size: int) -> np.ndarray:
    """A byte buffer with one spare byte on each side, for '[' and ']' when JSON Lines become an array."""
    return np.empty(size + 2, dtype=np.uint8)


def parse_bytes(data: bytes, source: str) -> ParsedFile:
    """Detect the shape of an event file's bytes and parse them."""
    framed = _framed(len(data))
    framed[1:-1] = np.frombuffer(data, dtype=np.uint8)
    return _parse(framed, source)


def _content(framed: np.ndarray) -> tuple[int, int, int]:
    """(start of the text after any BOM, first and end of the non-blank part), as indexes into framed."""
    text = 1 + (len(BOM) if bytes(framed[1:1 + len(BOM)]) == BOM else 0)
    first, end = text, len(framed) - 1
    while end > first and framed[end - 1] in WHITESPACE:
        end -= 1
    while first < end and framed[first] in WHITESPACE:
        first += 1
    return text, first, end


def _parse(framed: np.ndarray, source: str) -> ParsedFile:
    text, first, end = _content(framed)
    if first == end:
        raise InputError(f"{source}: file is empty")
    view = memoryview(framed)[text:-1]
    try:
        with gc_paused():
            value = orjson.loads(view)
    except orjson.JSONDecodeError as exc:
        if framed[first] == ord("["):
            _check_utf8(bytes(view), source)
            raise InputError(f"{source}: not a valid JSON array: {_json_error(exc)}") from None
        return _lines_as_array(framed, text, first, end, source) or _parse_lines(bytes(view), source)
    if isinstance(value, list):
        return ParsedFile(source, "array", value, list(range(1, len(value) + 1)))
    return ParsedFile(source, "object", [value], [1])


def _lines_as_array(framed: np.ndarray, text: int, first: int, end: int, source: str) -> ParsedFile | None:
    """JSON Lines with no blank or bad line, parsed as one array by turning newlines into commas in place.

    No copy of the file is made; when the lines are not that clean the buffer is put back as it was.
    """
    line = int(np.count_nonzero(framed[text:first] == ord("\n"))) + 1
    newlines = first + np.flatnonzero(framed[first:end] == ord("\n"))
    opening, closing = framed[first - 1], framed[end]
    framed[newlines] = ord(",")
    framed[first - 1], framed[end] = ord("["), ord("]")
    try:
        with gc_paused():
            entries = orjson.loads(memoryview(framed)[first - 1:end + 1])
        if len(entries) == len(newlines) + 1:
            return ParsedFile(source, "lines", entries, list(range(line, line + len(entries))))
    except orjson.JSONDecodeError:
        pass
    framed[newlines] = ord("\n")
    framed[first - 1], framed[end] = opening, closing
    return None


def _parse_lines(data: bytes, source: str) -> ParsedFile:
    """JSON Lines with blank or bad lines: every line on its own, so one bad line spoils nothing else."""
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
    """Read and parse one file; every failure is one InputError naming the file.

    The file is read straight into a framed buffer, so JSON Lines need no second copy.
    """
    try:
        with open(path, "rb") as handle:
            framed = _framed(os.fstat(handle.fileno()).st_size)
            size = handle.readinto(memoryview(framed)[1:-1])
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return _parse(framed[:size + 2], str(path))
