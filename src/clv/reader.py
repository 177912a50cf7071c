"""Turn event files into lists of parsed entries, one list per file.

A file is UTF-8 JSON: an array of events, one event object, or JSON Lines,
possibly compressed (gzip, bzip2, xz, zstd), possibly a pipe or standard input.
File-level problems raise InputError (nothing of the file is used); a bad
JSON Lines line becomes a MalformedLine entry so the rest of the file goes on.

Files of many events are read natively first (columnar.py: Arrow columns, no
Python object per event); what that path cannot settle exactly comes back
here and is parsed with orjson, which is the reference for every result.
"""
from __future__ import annotations

import bz2
import gc
import io
import lzma
import os
import re
import stat
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import orjson

from .errors import InputError

EVENT_FILE_SUFFIXES = (".json", ".jsonl", ".txt")
COMPRESSION_SUFFIXES = {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz", ".zst": "zstd"}
MAGIC_BYTES = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"\x28\xb5\x2f\xfd": "zstd"}
HEAD_SIZE = max(len(magic) for magic in MAGIC_BYTES)
NATIVE = os.environ.get("CLV_NATIVE_JSON", "1") != "0"  # "0": orjson only (to compare, or to rule it out)
CHUNK_SIZE = 1 << 16  # small enough that a decompressed piece stays small next to the whole
STDIN = "-"
STDIN_NAME = "<stdin>"
NAMES_SHOWN = 5
BOM = b"\xef\xbb\xbf"
WHITESPACE = b" \t\r\n"
UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
NAMED_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


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
    entries: Sequence  # a list, or columnar.ColumnarEntries (the same entries, with Arrow columns for validation)
    positions: Sequence[int]  # a list, or columnar.Positions (the same numbers in one array)


@dataclass
class Expansion:
    """The event files behind the user's paths, and what directories held besides, so the user is told."""

    files: list[Path | str] = field(default_factory=list)  # the string "-" stands for standard input
    notes: list[str] = field(default_factory=list)


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


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    if code > 0xFF:
        return f"\\u{code:04x}"
    return NAMED_ESCAPES.get(char, f"\\x{code:02x}")


def printable(text: str) -> str:
    """Text safe to show on one terminal line and to write as UTF-8.

    File names may hold control characters or bytes that are not UTF-8 (Python
    keeps those as lone surrogates); they are shown as escapes like \\n or \\xff.
    """
    return UNPRINTABLE.sub(_escape, text)


def _reason(exc: Exception) -> str:
    """The system's words for an error, without the path or error number around them."""
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return printable(text)


def _is_stdin(path: Path | str) -> bool:
    """Only the string "-" means standard input; Path("-") is a file of that name."""
    return isinstance(path, str) and path == STDIN


def _is_event_name(name: str) -> bool:
    """*.json, *.jsonl or *.txt, compressed or not; hidden files are left out, as a shell glob would."""
    suffixes = [suffix.lower() for suffix in Path(name).suffixes]
    if suffixes and suffixes[-1] in COMPRESSION_SUFFIXES:
        suffixes.pop()
    return not name.startswith(".") and bool(suffixes) and suffixes[-1] in EVENT_FILE_SUFFIXES


def _counted(names: list[str], noun: str) -> str:
    """'2 subfolders (old, tmp)', with only the first few names of a long list."""
    shown = ", ".join(printable(name) for name in names[:NAMES_SHOWN])
    more = ", …" if len(names) > NAMES_SHOWN else ""
    return f"{len(names)} {noun}{'' if len(names) == 1 else 's'} ({shown}{more})"


def _scan(directory: Path, name: str) -> tuple[list[Path], str]:
    """A directory's event files in name order, and a sentence on what else it holds ('' if nothing)."""
    events: list[str] = []
    folders: list[str] = []
    others: list[str] = []
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.is_dir():
                    folders.append(entry.name)
                elif entry.is_file() and _is_event_name(entry.name):
                    events.append(entry.name)
                else:
                    others.append(entry.name)
    except OSError as exc:
        raise InputError(f"{name}: cannot list directory: {_reason(exc)}") from None
    skipped = [_counted(sorted(names), noun) for names, noun in ((folders, "subfolder"), (others, "other file"))
               if names]
    note = "skipped " + " and ".join(skipped) if skipped else ""
    return [directory / event for event in sorted(events)], note


def _expand_path(path: Path, expansion: Expansion) -> None:
    """One user path: a file (or pipe) as it is, a directory as its event files."""
    name = printable(str(path))
    try:
        is_directory = stat.S_ISDIR(os.stat(path).st_mode)
    except FileNotFoundError:
        raise InputError(f"{name}: no such file or directory") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{name}: cannot open: {_reason(exc)}") from None
    if not is_directory:
        expansion.files.append(path)
        return
    files, note = _scan(path, name)
    if not files:
        extra = f"; {note}" if note else ""
        raise InputError(f"{name}: directory has no *.json, *.jsonl or *.txt files "
                         f"(plain or .gz, .bz2, .xz, .zst){extra}")
    expansion.files.extend(files)
    if note:
        expansion.notes.append(f"{name.rstrip('/')}/: {note}")


def expand(paths: Iterable[str | Path]) -> Expansion:
    """Resolve the user's paths to event files: "-" is standard input, a directory its event files in name order.

    Every problem with a path is one InputError naming it; what a directory
    holds besides event files is not an error but comes back as notes.
    """
    expansion = Expansion()
    for raw in paths:
        if _is_stdin(raw):
            expansion.files.append(STDIN)
        else:
            _expand_path(Path(raw), expansion)
    return expansion


def expand_paths(paths: Iterable[str | Path]) -> list[Path | str]:
    """The event files of expand(), for callers that do not report what was skipped."""
    return expand(paths).files


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


def parse_bytes(data: bytes, source: str, native: bool | None = None) -> ParsedFile:
    """Detect the shape of an event file's bytes and parse them (native=False: with orjson only)."""
    framed = _framed(len(data))
    framed[1:-1] = np.frombuffer(data, dtype=np.uint8)
    return _parse(framed, source, NATIVE if native is None else native)


def _content(framed: np.ndarray) -> tuple[int, int, int]:
    """(start of the text after any BOM, first and end of the non-blank part), as indexes into framed."""
    text = 1 + (len(BOM) if bytes(framed[1:1 + len(BOM)]) == BOM else 0)
    first, end = text, len(framed) - 1
    while end > first and framed[end - 1] in WHITESPACE:
        end -= 1
    while first < end and framed[first] in WHITESPACE:
        first += 1
    return text, first, end


def _parse(framed: np.ndarray, source: str, native: bool = True) -> ParsedFile:
    text, first, end = _content(framed)
    if first == end:
        raise InputError(f"{source}: file is empty")
    if native:
        from . import columnar  # pyarrow is loaded only when a file is read

        read = columnar.read(framed, text, first, end, MalformedLine)
        if read is not None:
            shape, entries, positions = read
            return ParsedFile(source, shape, entries, positions)
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


def _import_zstandard(source: str) -> Any:
    """zstandard is only needed when a zstd file is met, so it is imported then."""
    try:
        import zstandard
    except ImportError:
        raise InputError(f"{source}: reading zstd data needs the zstandard package (pip install zstandard)") from None
    return zstandard


def _decompressor(codec: str, source: str) -> tuple[Callable[[], Any], tuple[type[Exception], ...]]:
    """How to start a decompressor for one stream of the codec, and the exceptions that mean bad data."""
    if codec == "gzip":
        return partial(zlib.decompressobj, wbits=16 + zlib.MAX_WBITS), (zlib.error,)
    if codec == "bzip2":
        return bz2.BZ2Decompressor, (OSError,)
    if codec == "xz":
        return lzma.LZMADecompressor, (lzma.LZMAError,)
    zstandard = _import_zstandard(source)
    return zstandard.ZstdDecompressor().decompressobj, (zstandard.ZstdError,)


def _decode(decoder: Any, chunk: bytes, errors: tuple[type[Exception], ...], failure: str) -> bytes:
    """One chunk through the decompressor; bad data is the user's problem, so an InputError, not a traceback."""
    try:
        return decoder.decompress(chunk)
    except errors as exc:
        raise InputError(f"{failure}: {_reason(exc).rsplit(': ', 1)[-1]}") from None


def _inflate(chunks: Iterable[bytes], codec: str, source: str) -> Iterator[bytes]:
    """The decompressed pieces of compressed chunks.

    Every codec allows several streams one after another (pigz output, files
    joined with cat), so a new decompressor starts where one ends.
    """
    start, errors = _decompressor(codec, source)
    failure = f"{source}: not a valid {codec} file"
    decoder, pending = start(), False
    for chunk in chunks:
        while chunk:
            yield _decode(decoder, chunk, errors, failure)
            pending = not decoder.eof
            if pending:
                break
            chunk, decoder = decoder.unused_data, start()
    if pending:
        raise InputError(f"{failure}: the data ends too early (truncated?)")


def _chunks(stream: BinaryIO, head: bytes) -> Iterator[bytes]:
    """The bytes of a stream whose first bytes were already read into head."""
    if head:
        yield head
    while chunk := stream.read(CHUNK_SIZE):
        yield chunk


def _gathered(pieces: Iterable[bytes]) -> np.ndarray:
    """Pieces of unknown total size in one framed buffer (see _framed).

    The bytearray grows in place and numpy shares its memory, so the data is
    copied once, piece by piece, however large it gets.
    """
    buffer = bytearray(1)
    for piece in pieces:
        buffer += piece
    buffer.append(0)
    return np.frombuffer(buffer, dtype=np.uint8)


def _regular_size(stream: BinaryIO) -> int | None:
    """The size of a regular file; None for a pipe, a terminal or an in-memory stream, which are read to their end."""
    try:
        status = os.fstat(stream.fileno())
    except io.UnsupportedOperation:
        return None
    return status.st_size if stat.S_ISREG(status.st_mode) else None


def _read_sized(stream: BinaryIO, head: bytes, size: int) -> np.ndarray:
    """A regular file read straight into a framed buffer of its size, so JSON Lines need no second copy."""
    framed = _framed(max(size, len(head)))
    memoryview(framed)[1:1 + len(head)] = head
    count = stream.readinto(memoryview(framed)[1 + len(head):-1])
    return framed[:len(head) + count + 2]


def _load(stream: BinaryIO, claimed: str | None, source: str) -> np.ndarray:
    """The framed content of a stream; compression is told by the magic bytes first, then by the name."""
    head = stream.read(HEAD_SIZE)
    codec = next((codec for magic, codec in MAGIC_BYTES.items() if head.startswith(magic)), claimed)
    if codec:
        return _gathered(_inflate(_chunks(stream, head), codec, source))
    size = _regular_size(stream)
    if size is None:
        return _gathered(_chunks(stream, head))
    return _read_sized(stream, head, size)


@contextmanager
def _opened(path: Path | str, source: str) -> Iterator[BinaryIO]:
    """The file, pipe or standard input to read; standard input is left open for others."""
    if not _is_stdin(path):
        with open(path, "rb") as handle:
            yield handle
        return
    stdin = getattr(sys.stdin, "buffer", None)
    if stdin is None:
        raise InputError(f"{source}: cannot read: standard input is closed")
    yield stdin


def source_name(path: Path | str) -> str:
    """How a file is named in summaries, messages and the log."""
    return STDIN_NAME if _is_stdin(path) else printable(str(path))


def read_file(path: Path | str, native: bool | None = None, stream: BinaryIO | None = None) -> ParsedFile:
    """Read and parse one file, pipe or standard input ("-"); every failure is one InputError naming it.

    A named pipe opens once a writer appears, as the shell expects for <(...).
    native=False parses with orjson only (the reference the native path is held to). stream, when given,
    is path already opened (a named pipe the caller waited on).
    """
    stdin = _is_stdin(path)
    source = source_name(path)
    claimed = None if stdin else COMPRESSION_SUFFIXES.get(Path(path).suffix.lower())
    try:
        if stream is not None:
            framed = _load(stream, claimed, source)
        else:
            with _opened(path, source) as opened:
                framed = _load(opened, claimed, source)
    except (OSError, ValueError) as exc:
        raise InputError(f"{source}: cannot read: {_reason(exc)}") from None
    return _parse(framed, source, NATIVE if native is None else native)
