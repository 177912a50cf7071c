"""Event files straight into Arrow columns, with no Python object per event: the native path of reader.py.

The content is cut at line ends into pieces of a few MB, read in parallel on
every core. In a piece, the entries are the non-blank lines (JSON Lines) or
the elements of a JSON array written one element per line (a line may hold
the brackets too); pyarrow's JSON reader (RapidJSON, C++) reads them into one
string column per known field, and a vectorised walk over the bytes of the
tags objects reads those into maps. Values come out as the JSON strings they
are, never coerced.

Exactness comes first: every event must get the verdict and the message the
existing path (orjson, then validation.to_columns) gives it. So a vectorised
scan of the member colons of each piece "routes" an entry to orjson when one
of its values is not a string or null (a number, a boolean, an array, NaN:
validation names the JSON type, pyarrow would coerce or refuse, and orjson
refuses numbers pyarrow takes), when it nests an object other than one flat
tags object, or when it is not an object at all; so do tags that repeat a
name or hold an escape. An entry pyarrow refuses (bad JSON, a field given
twice) is routed too: pyarrow names its row, and the rest is read again. Only
routed entries become Python objects; the event of a rejected row is parsed
again from its text when its held record is written (ColumnarEntries).
Whatever cannot be settled exactly — another array layout, bytes that are not
UTF-8, a bad line that could run on into the next ones, a single event —
returns None, and the file takes the existing path whole.
"""
from __future__ import annotations

import ctypes
import itertools
import os
import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from . import events as ev

QUOTE, COLON, COMMA, BACKSLASH, NEWLINE = (ord(c) for c in '":,\\\n')
OPEN, CLOSE, OPEN_LIST, CLOSE_LIST, SPACE = (ord(c) for c in "{}[] ")
PIECE_BYTES = 4 << 20  # the unit of parallel work
SMALLEST_SPLIT = 16  # a run pyarrow refuses without naming the row is halved down to this many, then routed
MOST_REFUSALS = 32  # refusals in one piece before the rest of it is routed whole
MOSTLY_ROUTED = 0.25  # a file whose first piece routes more than this share of its entries goes to orjson whole
MOST_MEMBERS = 64  # a tags object with more members is routed
MOST_BLANKS = 8  # a run of blanks inside an entry longer than this routes it
QUOTE_WINDOW = 16  # bytes looked at in one step when searching for a string's closing quote
WINDOW_LINES = 256  # how far past a bad line to look for proof that it cannot run on into the next ones
STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
NOT_STRUCTURE = re.compile(rb"[^\[\]{},]")
REFUSED_ROW = re.compile(r" in row (\d+)")  # pyarrow's error messages name the row (object) they stopped at
TAGS_TYPE = pa.map_(pa.string(), pa.string())  # validation's type for tags

INLINE_BLANK = np.zeros(256, dtype=bool)
INLINE_BLANK[list(b" \t\r")] = True
JSON_BLANK = INLINE_BLANK.copy()
JSON_BLANK[NEWLINE] = True
EMPTY = np.empty(0, dtype=np.int64)


def workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


class ColumnarEntries(Sequence):
    """The entries of a file read natively: Arrow columns for validation, and each event on demand.

    Indexing gives what the existing path would have put at that position —
    the event as orjson parses it, re-parsed from the file's text (so only the
    entries asked for, the rejected ones, ever become Python objects), or the
    reader's record of a bad line. `parts` holds, per known field, one Arrow
    array per piece of the file (`offsets`: the first entry of each piece),
    with nulls for the `routed` entries, which orjson has read; validation
    replaces them by its runs of rows, with the routed events' values in.
    """

    def __init__(self, buffer: np.ndarray, starts: np.ndarray, ends: np.ndarray, parts: dict[str, list[pa.Array]],
                 offsets: list[int], routed: dict[int, object]) -> None:
        self._buffer = buffer
        self._starts = starts
        self._ends = ends
        self.parts = parts
        self.offsets = offsets
        self.routed = routed

    def release_parts(self) -> None:
        """Validation has taken the columns: they go (what it did not turn into other values is freed), and
        the entries are read from the text from now on, as any sequence of entries would be."""
        self.parts = None

    def __len__(self) -> int:
        return len(self._starts)

    def _entry(self, i: int) -> object:
        if i in self.routed:
            return self.routed[i]
        return orjson.loads(memoryview(self._buffer)[self._starts[i]:self._ends[i]])

    def __getitem__(self, index):  # an int or a slice, as for a list
        if isinstance(index, slice):
            return [self._entry(i) for i in range(*index.indices(len(self)))]
        i = index + len(self) if index < 0 else index
        if not 0 <= i < len(self):
            raise IndexError("entry index out of range")
        return self._entry(i)

    def __iter__(self) -> Iterator[object]:
        return (self._entry(i) for i in range(len(self)))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, (str, bytes)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{len(self)} entries read natively, {len(self.routed)} of them by orjson>"


class Positions(Sequence):
    """Where each entry stood (1-based), as a list of ints would give them, kept in one array."""

    def __init__(self, numbers: np.ndarray) -> None:
        self._numbers = numbers

    def __len__(self) -> int:
        return len(self._numbers)

    def __getitem__(self, index):  # an int or a slice, as for a list
        if isinstance(index, slice):
            return self._numbers[index].tolist()
        return int(self._numbers[index])

    def __iter__(self) -> Iterator[int]:
        return iter(self._numbers.tolist())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, (str, bytes)):
            return len(self) == len(other) and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Positions({self._numbers.tolist()!r})" if len(self) <= 10 else f"<{len(self)} positions>"


@dataclass
class Piece:
    """One piece of the file, read: its entries, their rows, and which of them go to orjson."""

    starts: np.ndarray  # each entry's text [starts, ends) in the buffer
    ends: np.ndarray
    lines: np.ndarray  # the line of the piece each entry is on (0-based)
    line_count: int
    comma: np.ndarray  # arrays: whether each entry's line ends with a comma
    table: pa.Table  # one row per entry: the known fields but tags (null rows for routed entries)
    tags: dict[str, pa.Array]  # one map per entry (null for routed entries)
    routed: np.ndarray  # entries of the piece (0-based) that orjson reads


def read(framed: np.ndarray, text: int, first: int, end: int,
         malformed: Callable[[str, str], object]) -> tuple[str, ColumnarEntries, Positions] | None:
    """(shape, entries, positions) of the content framed[text:-1] (first/end: its non-blank part), or None.

    None means: take the existing path for this file, which settles it exactly.
    malformed(text, error) makes the entry of a JSON Lines line that is not
    JSON. The buffer is changed in places while a piece is read, and always
    put back.
    """
    stop = len(framed) - 1
    if not _is_utf8(framed[text:stop]):
        return None  # the existing path names the first bad byte
    if framed[first] == OPEN_LIST:
        if framed[end - 1] != CLOSE_LIST:
            return None
        shape, begin, finish = "array", first + 1, end - 1
    else:
        shape, begin, finish = "lines", text, stop
    bounds = _cuts(framed, begin, finish)
    tags = ev.fields_of_kind(ev.TAGS)
    schema = pa.schema([(f, pa.string()) for f in ev.read_fields() if f not in tags])
    jobs = [(a, b, b == finish) for a, b in itertools.pairwise(bounds)]
    pieces = [_read_piece(framed, shape, *jobs[0], schema, tags)]
    if pieces[0] is None or (len(jobs) > 1 and len(pieces[0].routed) > MOSTLY_ROUTED * len(pieces[0].starts)):
        return None  # a file that starts mostly bad: orjson reads such files as fast, with no native attempt
    if len(jobs) > 1:
        with ThreadPoolExecutor(min(workers(), len(jobs) - 1)) as pool:
            pieces += pool.map(lambda job: _read_piece(framed, shape, *job, schema, tags), jobs[1:])
    if any(piece is None for piece in pieces):
        return None
    starts = np.concatenate([piece.starts for piece in pieces])
    ends = np.concatenate([piece.ends for piece in pieces])
    n = len(starts)
    if n < 2:
        return None  # one event, or one line that may be a whole document: nothing to gain
    if shape == "array":
        comma = np.concatenate([piece.comma for piece in pieces])
        if not comma[:-1].all() or comma[-1]:
            return None  # elements across lines, several on a line, or a trailing comma
        positions = Positions(np.arange(1, n + 1))
    else:
        before = np.cumsum([0] + [piece.line_count for piece in pieces[:-1]])
        positions = Positions(np.concatenate([piece.lines + 1 + b for piece, b in zip(pieces, before, strict=True)]))
    offsets = np.cumsum([0] + [len(piece.starts) for piece in pieces[:-1]]).tolist()
    routed_at = np.concatenate([piece.routed + o for piece, o in zip(pieces, offsets, strict=True)])
    read_ = _read_routed(framed, shape, starts, ends, routed_at, malformed)
    if read_ is None:
        return None
    routed, bad = read_
    if shape == "lines" and not _lines_settled(framed, starts, ends, positions, bad, text, stop):
        return None
    parts = {name: [piece.tags[name] if name in piece.tags else piece.table.column(name).combine_chunks()
                    for piece in pieces] for name in ev.read_fields()}
    del pieces
    give_back_memory()
    return shape, ColumnarEntries(framed, starts, ends, parts, offsets, routed), positions


def give_back_memory() -> None:
    """Return the memory the parse freed to the system, so the steps after it start from a smaller peak.

    The parser threads leave freed blocks in Arrow's pool and in the C
    library's per-thread arenas; both keep them for reuse unless asked.
    """
    pa.default_memory_pool().release_unused()
    try:
        ctypes.CDLL(None).malloc_trim(0)  # glibc only; elsewhere there is nothing to trim this way
    except (AttributeError, OSError):
        pass


def _is_utf8(view: np.ndarray) -> bool:
    if not view.size or int(view.max()) < 0x80:
        return True
    offsets = pa.py_buffer(np.array([0, view.size], dtype=np.int64))
    try:
        pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(view)]).validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _cuts(buffer: np.ndarray, begin: int, finish: int) -> list[int]:
    """Piece bounds: just after a line end, about PIECE_BYTES apart."""
    bounds = [begin]
    while finish - bounds[-1] > PIECE_BYTES * 3 // 2:
        at, window = bounds[-1] + PIECE_BYTES, 1 << 12
        while True:
            found = np.flatnonzero(buffer[at:min(at + window, finish)] == NEWLINE)
            if found.size or at + window >= finish:
                break
            window *= 4
        if not found.size:
            break
        bounds.append(at + int(found[0]) + 1)
    return [*bounds, finish]


# --- one piece ----------------------------------------------------------------------------------------------


def _line_spans(buffer: np.ndarray, begin: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    newlines = np.flatnonzero(buffer[begin:stop] == NEWLINE) + begin
    return np.concatenate(([begin], newlines + 1)), np.concatenate((newlines, [stop]))


def _read_piece(buffer: np.ndarray, shape: str, p0: int, p1: int, last: bool, schema: pa.Schema,
                tags: tuple[str, ...]) -> Piece | None:
    """Cut a piece into entries, decide which go to orjson, and read the rest; the buffer is put back after."""
    starts, ends = _line_spans(buffer, p0, p1)
    if not last:
        starts, ends = starts[:-1], ends[:-1]  # the piece ends just after a line end
    changed: list[tuple[np.ndarray, np.ndarray]] = []  # (offsets, their original bytes), put back in reverse
    try:
        entries = (_lines_entries if shape == "lines" else _array_entries)(buffer, starts, ends, changed)
        if entries is None:
            return None
        lines, first, stop, irregular, comma = entries
        routed, tag_maps = _plan(buffer, first, stop, irregular, tags, INLINE_BLANK if shape == "lines" else JSON_BLANK)
        table = _read_rows(buffer, first, stop, routed, schema)
        table = table.cast(pa.schema([(f.name, pa.large_string()) for f in schema]))  # as pandas keeps strings
    finally:
        for offsets, original in reversed(changed):
            buffer[offsets] = original
    maps = {name: _tags_array(buffer, found, routed) for name, found in tag_maps.items()}
    escaped = [name for name in tag_maps if _escaped_tags(maps[name], routed)]
    for name in tag_maps if escaped else ():  # some were routed: their maps are left out
        maps[name] = _tags_array(buffer, tag_maps[name], routed)
    for name in tags:  # a piece with no tags object at all
        maps.setdefault(name, pa.nulls(len(first), TAGS_TYPE))
    return Piece(first, stop, lines, len(starts), comma, table, maps, np.flatnonzero(routed))


def _lines_entries(buffer: np.ndarray, starts: np.ndarray, ends: np.ndarray, changed: list) -> tuple:
    """JSON Lines: every non-blank line is an entry; lines that do not start with "{" are routed."""
    filled = starts < ends
    kept = filled & (buffer[np.minimum(starts, len(buffer) - 1)] == OPEN)
    irregular = np.zeros(len(starts), dtype=bool)
    for i in np.flatnonzero(filled & ~kept).tolist():  # few, unless most of the file is bad
        line = buffer[starts[i]:ends[i]].tobytes()
        if not line.strip():  # blank as the existing path sees it: bytes.strip also drops \v and \f
            offsets = np.flatnonzero(~JSON_BLANK[buffer[starts[i]:ends[i]]]) + starts[i]
            changed.append((offsets, buffer[offsets]))
            buffer[offsets] = SPACE
            continue
        kept[i] = True
        irregular[i] = line.lstrip(b" \t\r")[:1] != b"{"
    lines = np.flatnonzero(kept)
    return lines, starts[lines], ends[lines], irregular[lines], np.zeros(len(lines), dtype=bool)


def _array_entries(buffer: np.ndarray, starts: np.ndarray, ends: np.ndarray, changed: list) -> tuple | None:
    """A JSON array written one element per line: each non-blank line is an element and (but the last) a comma.

    The commas are blanked while the piece is read, so pyarrow sees one object
    a line. Whether each line had its comma is checked for the whole file later.
    """
    firsts, _ = _skip(buffer, starts, 1, JSON_BLANK, ends)
    solid = (firsts < ends) & ~JSON_BLANK[buffer[np.minimum(firsts, len(buffer) - 1)]]
    for i in np.flatnonzero((firsts < ends) & ~solid).tolist():  # long runs of blanks: one by one
        line = buffer[starts[i]:ends[i]].tobytes()
        if line.strip(b" \t\r\n"):
            solid[i] = True
            firsts[i] = starts[i] + len(line) - len(line.lstrip(b" \t\r\n"))
        elif line.strip():
            return None  # \v or \f between elements is not JSON: the existing path says so
    lines = np.flatnonzero(solid)
    firsts, ends = firsts[lines], ends[lines]
    last, stuck = _skip(buffer, ends - 1, -1, JSON_BLANK, firsts)
    if stuck.any():
        return None
    comma = buffer[last] == COMMA
    changed.append((last[comma], buffer[last[comma]]))
    buffer[last[comma]] = SPACE
    stop = np.where(comma, last, last + 1)
    return lines, firsts, stop, buffer[firsts] != OPEN, comma


# --- the scan that decides what pyarrow may read ------------------------------------------------------------


def _skip(buffer: np.ndarray, at: np.ndarray, step: int, blank: np.ndarray,
          bound: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Move each offset past blanks (not beyond bound), a few at most; also say which are still on one."""
    limit = len(buffer) - 1
    at = np.minimum(np.maximum(at, 0), limit)
    for _ in range(MOST_BLANKS + 1):
        more = blank[buffer[at]]
        if bound is not None:
            more &= at != bound
        if not more.any():
            return at, more
        at = np.minimum(np.maximum(at + step * more, 0), limit)
    return at, more


def _is_word(buffer: np.ndarray, at: np.ndarray, word: bytes) -> np.ndarray:
    limit = len(buffer) - 1
    found = np.ones(len(at), dtype=bool)
    for k, byte in enumerate(word):
        found &= buffer[np.minimum(np.maximum(at + k, 0), limit)] == byte
    return found


def _next_quote(buffer: np.ndarray, at: np.ndarray, bound: np.ndarray) -> np.ndarray:
    """The first quote at or after each offset and before its bound; -1 where there is none.

    Looks a window of bytes ahead for all offsets at once, then further for those not found yet.
    """
    found = np.full(len(at), -1, dtype=np.int64)
    active = np.flatnonzero(at < bound)
    start = at[active]
    window = np.arange(QUOTE_WINDOW)
    while active.size:
        spots = start[:, None] + window
        hits = (buffer[np.minimum(spots, len(buffer) - 1)] == QUOTE) & (spots < bound[active, None])
        hit = hits.any(axis=1)
        found[active[hit]] = start[hit] + hits[hit].argmax(axis=1)
        start = start[~hit] + QUOTE_WINDOW
        active = active[~hit]
        going = start < bound[active]
        active, start = active[going], start[going]
    return found


def _plan(buffer: np.ndarray, starts: np.ndarray, ends: np.ndarray, irregular: np.ndarray, tags: tuple[str, ...],
          blank: np.ndarray) -> tuple[np.ndarray, dict[str, tuple]]:
    """Which entries go to orjson, and the members of each tags object of the others.

    Every member of an object has its colon right after its name's closing
    quote (and blanks); other colons are inside strings. A member whose value
    starts with anything but a quote, "null" or (for tags) "{" routes its entry.
    """
    n = len(starts)
    routed = irregular.copy()
    found: dict[str, tuple] = {}
    if not n:
        return routed, found
    last, stuck = _skip(buffer, ends - 1, -1, blank, starts)
    routed |= stuck | (buffer[last] != CLOSE)  # cut short, or more after the object: pyarrow would refuse it
    b0, b1 = int(starts[0]), int(ends[-1])
    view = buffer[b0:b1]

    def owner(offsets: np.ndarray) -> np.ndarray:
        return np.searchsorted(starts, offsets, side="right") - 1

    colons = np.flatnonzero(view == COLON) + b0
    # Most colons end a name and start a string value, or sit inside a string: only the others need a look.
    # The ones that matter: a value that is not a string, a name that may be a tags field, blanks around.
    head = buffer[np.minimum(colons + 1, len(buffer) - 1)]
    before = buffer[colons - 1]
    look = (before <= SPACE) | (head <= SPACE)
    look |= (before == QUOTE) & (head != QUOTE)
    last_letters = buffer[colons - 2]
    for letter in {name[-1] for name in tags}:
        look |= (before == QUOTE) & (last_letters == ord(letter))
    colons = colons[look]
    name_end = colons - 1
    spaced = blank[buffer[name_end]]
    if spaced.any():
        name_end[spaced], _ = _skip(buffer, name_end[spaced], -1, blank)
    keyed = buffer[name_end] == QUOTE
    colons, name_end = colons[keyed], name_end[keyed]
    value = colons + 1
    spaced = blank[buffer[np.minimum(value, len(buffer) - 1)]]
    stuck = np.zeros(len(value), dtype=bool)
    if spaced.any():
        value[spaced], stuck[spaced] = _skip(buffer, value[spaced], 1, blank)
    head = buffer[np.minimum(value, len(buffer) - 1)]
    fine = head == QUOTE
    maybe_null = np.flatnonzero(head == ord("n"))
    fine[maybe_null] = _is_word(buffer, value[maybe_null], b"null")
    is_object = head == OPEN
    is_tags = {name: _named(buffer, name_end, name, blank) for name in tags}
    any_tags = np.zeros(len(colons), dtype=bool)
    for mask in is_tags.values():
        any_tags |= mask
    routed[owner(colons[stuck | ~(fine | is_object) | (is_object & ~any_tags) | (any_tags & (head == QUOTE))])] = True
    for name, mask in is_tags.items():
        routed[np.bincount(owner(colons[mask]), minlength=n) > 1] = True  # given twice
    opens = {name: value[mask & is_object] for name, mask in is_tags.items()}
    if not any(o.size for o in opens.values()):
        return routed, found
    for name, at in opens.items():
        at = at[~routed[owner(at)]]
        members, bad = _walk_tags(buffer, at, owner(at), ends, blank)
        routed[bad] = True
        found[name] = (owner(at), members)
    return routed, found


def _named(buffer: np.ndarray, name_end: np.ndarray, name: str, blank: np.ndarray) -> np.ndarray:
    """Which members (by their name's closing quote) are called `name`."""
    quoted = f'"{name}"'.encode()
    hit = np.flatnonzero(buffer[name_end - 1] == quoted[-2])  # a cheap first sieve
    start = name_end[hit] - len(quoted) + 1
    before = buffer[np.maximum(start - 1, 0)]
    hit = hit[_is_word(buffer, start, quoted) & (blank[before] | (before == OPEN) | (before == COMMA) |
                                                  (before == ord("\n")))]
    named = np.zeros(len(name_end), dtype=bool)
    named[hit] = True
    return named


def _walk_tags(buffer: np.ndarray, opens: np.ndarray, owners: np.ndarray, ends: np.ndarray, blank: np.ndarray) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Read flat tags objects, {"name": "value" or null, ...}, member by member, all objects at once.

    Returns each member's object, name span and value span (value_end -1 for
    null) in object order, and the entries whose tags are anything else or
    repeat a name (those are routed).
    """
    count = len(opens)
    limit = ends[owners]
    objects, name_at, name_close, value_at, value_close, failed = [], [], [], [], [], []
    active, cursor = np.arange(count), opens + 1
    for member in range(MOST_MEMBERS + 1):
        if not active.size:
            break
        if member == MOST_MEMBERS:
            failed.append(active)
            break
        at, stuck = _skip(buffer, cursor[active], 1, blank)
        if member == 0:
            empty = (buffer[at] == CLOSE) & ~stuck
            active, at, stuck = active[~empty], at[~empty], stuck[~empty]
        close = _next_quote(buffer, at + 1, limit[active])
        colon, stuck_colon = _skip(buffer, close + 1, 1, blank)
        value, stuck_value = _skip(buffer, colon + 1, 1, blank)
        is_string = buffer[value] == QUOTE
        value_end = np.where(is_string, _next_quote(buffer, value + 1, limit[active]), value + 3)
        after, stuck_after = _skip(buffer, value_end + 1, 1, blank)
        more, done = buffer[after] == COMMA, buffer[after] == CLOSE
        ok = ((buffer[at] == QUOTE) & ~stuck & (close > at) & (buffer[colon] == COLON) & ~stuck_colon &
              ~stuck_value & ((is_string & (value_end > value)) | _is_word(buffer, value, b"null")) &
              ~stuck_after & (more | done) & (after < limit[active]))
        failed.append(active[~ok])
        active, at, close, value, value_end, is_string, after, more = (
            a[ok] for a in (active, at, close, value, value_end, is_string, after, more))
        objects.append(active)
        name_at.append(at + 1)
        name_close.append(close)
        value_at.append(np.where(is_string, value + 1, -1))
        value_close.append(np.where(is_string, value_end, -1))
        cursor[active[more]] = after[more] + 1
        active = active[more]
    members = tuple(np.concatenate(part) if part else EMPTY for part in (objects, name_at, name_close, value_at,
                                                                        value_close))
    order = np.argsort(members[0], kind="stable")  # rounds are member by member: put each object's together
    members = tuple(m[order] for m in members)
    bad = np.concatenate([*failed, _repeated_names(buffer, members[0], members[1], members[2])])
    keep = ~np.isin(members[0], bad)
    return tuple(m[keep] for m in members), owners[bad]


def _gathered(buffer: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The bytes of several spans, one after another, and their offsets."""
    lengths = np.maximum(ends - starts, 0)
    offsets = np.concatenate(([0], np.cumsum(lengths)))
    return buffer[np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])], offsets


def _repeated_names(buffer: np.ndarray, objects: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Tags objects that give a name twice: orjson keeps the last value at the first place, so route them."""
    several = np.bincount(objects)[objects] > 1 if objects.size else np.zeros(0, dtype=bool)
    if not several.any():
        return EMPTY
    objects = objects[several]
    data, offsets = _gathered(buffer, starts[several], ends[several])
    names = pa.Array.from_buffers(pa.large_binary(), len(objects),
                                  [None, pa.py_buffer(offsets.astype(np.int64)), pa.py_buffer(data)])
    counted = pa.table({"o": objects, "n": names}).group_by(["o", "n"]).aggregate([("o", "count")])
    return np.unique(counted.filter(pc.greater(counted["o_count"], 1))["o"].to_numpy())


def _escaped_tags(tags: pa.MapArray, routed: np.ndarray) -> bool:
    """Route the entries whose tags hold a backslash: an escape (or an escaped quote that misled the walk)."""
    slash = pc.or_(pc.fill_null(pc.match_substring(tags.keys, "\\"), False),
                   pc.fill_null(pc.match_substring(tags.items, "\\"), False)).to_numpy(zero_copy_only=False)
    if not slash.any():
        return False
    offsets = np.asarray(tags.offsets)
    entry = np.searchsorted(offsets, np.flatnonzero(slash) + offsets[0], side="right") - 1
    routed[entry] = True
    return True


def _tags_array(buffer: np.ndarray, found: tuple, routed: np.ndarray) -> pa.Array:
    """One tags map per entry of the piece, from the walk; null where an entry has none, or is routed.

    The names and values are cut from the buffer by one Arrow array whose
    elements are, in turn, a name, the bytes up to its value, the value and
    the bytes up to the next name (no copy), of which every other is taken.
    """
    owners, (objects, name_at, name_close, value_at, value_close) = found
    has = np.zeros(len(routed), dtype=bool)
    has[owners] = True
    has &= ~routed
    member_owner = owners[objects]
    keep = has[member_owner]
    counts = np.bincount(member_owner[keep], minlength=len(routed))
    offsets = pa.array(np.concatenate(([0], np.cumsum(counts))).astype(np.int32))
    name_at, name_close, value_at, value_close = name_at[keep], name_close[keep], value_at[keep], value_close[keep]
    null = value_at < 0
    value_at = np.where(null, name_close, value_at)  # a null value: an empty span where its name ends
    value_close = np.where(null, name_close, value_close)
    if not len(name_at):
        empty = pa.array([], pa.string())
        return pa.MapArray.from_arrays(offsets, empty, empty, type=TAGS_TYPE, mask=pa.array(~has))
    base = int(name_at[0])
    bounds = np.empty(4 * len(name_at) + 1, dtype=np.int64)
    bounds[0:-1:4], bounds[1::4], bounds[2::4], bounds[3::4] = name_at, name_close, value_at, value_close
    bounds[-1] = value_close[-1]
    spans = pa.Array.from_buffers(pa.string(), len(bounds) - 1, [
        None, pa.py_buffer((bounds - base).astype(np.int32)), pa.py_buffer(buffer[base:int(bounds[-1])])])
    names = spans.take(pa.array(np.arange(0, len(bounds) - 1, 4)))
    values = spans.take(pa.array(np.arange(2, len(bounds) - 1, 4)))
    if null.any():
        values = pc.if_else(pa.array(null), pa.scalar(None, pa.string()), values)
    return pa.MapArray.from_arrays(offsets, names, values, type=TAGS_TYPE, mask=pa.array(~has))


# --- reading the rows ---------------------------------------------------------------------------------------


def _nulls(schema: pa.Schema, rows: int) -> pa.Table:
    return pa.table({f.name: pa.nulls(rows, f.type) for f in schema}, schema=schema)


def _read_rows(buffer: np.ndarray, starts: np.ndarray, ends: np.ndarray, routed: np.ndarray,
               schema: pa.Schema) -> pa.Table:
    """A row per entry, routed entries blanked to {} (null rows) meanwhile; the piece is put back after."""
    if not len(starts):
        return _nulls(schema, 0)
    b0, b1 = int(starts[0]), int(ends[-1])
    backup = buffer[b0:b1].copy()
    try:
        _blank(buffer, starts[routed], ends[routed])
        tables = _RowReader(buffer, starts, ends, routed, schema).run(0, len(starts))
    finally:
        buffer[b0:b1] = backup
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


@dataclass
class _RowReader:
    """Runs of a piece's entries through pyarrow, routing the ones it refuses.

    An entry pyarrow refuses is routed (pyarrow names its row) and the rest is
    read again. When pyarrow names none, the run is halved, down to
    SMALLEST_SPLIT entries that are routed. After MOST_REFUSALS refusals the
    rest of the piece is routed whole: orjson reads a mostly bad piece faster
    than pyarrow can be asked again and again. (A class, not nested functions:
    a recursive closure is a reference cycle, which would keep the whole
    file's buffer alive while the cyclic GC is paused.)
    """

    buffer: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    routed: np.ndarray
    schema: pa.Schema
    refusals: int = 0

    def route(self, a: int, b: int) -> list[pa.Table]:  # entries a..b are never read again: no need to blank them
        self.routed[a:b] = True
        return [_nulls(self.schema, b - a)]

    def run(self, a: int, b: int) -> list[pa.Table]:
        tables = []
        while a < b:
            if self.refusals >= MOST_REFUSALS or self.routed[a:b].all():
                return tables + self.route(a, b)
            table, refused = _read_range(self.buffer, self.starts[a:b], self.ends[a:b], self.routed[a:b], self.schema)
            if table is not None:
                return [*tables, table]
            if refused is not None:
                self.refusals += 1
                tables += self.run(a, a + refused) + self.route(a + refused, a + refused + 1)
                a += refused + 1
            elif b - a <= SMALLEST_SPLIT:
                return tables + self.route(a, b)
            else:
                middle = (a + b) // 2
                tables += self.run(a, middle)
                a = middle
        return tables


def _blank(buffer: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> None:
    """Overwrite entries with {} and blanks (one-byte ones with a blank), so each reads as a null row."""
    if not len(starts):
        return
    lengths = ends - starts
    firsts = np.cumsum(lengths) - lengths  # where each entry starts among all their bytes
    buffer[np.repeat(starts - firsts, lengths) + np.arange(int(lengths.sum()))] = SPACE
    room = starts[ends - starts >= 2]
    buffer[room], buffer[room + 1] = OPEN, CLOSE


def _read_range(buffer: np.ndarray, starts: np.ndarray, ends: np.ndarray, routed: np.ndarray,
                schema: pa.Schema) -> tuple[pa.Table | None, int | None]:
    """These entries through pyarrow (routed ones are blanked already).

    Returns (the rows, None), or (None, the entry pyarrow refused if it says, and it is not a routed one).
    """
    tiny = np.flatnonzero(routed & (ends - starts < 2))  # no room for {}: no row either
    rows = np.delete(np.arange(len(starts)), tiny) if tiny.size else None
    b0, b1 = int(starts[0]), int(ends[-1])
    try:
        table = pj.read_json(pa.BufferReader(pa.py_buffer(buffer[b0:b1])),
                             read_options=pj.ReadOptions(use_threads=False, block_size=max(b1 - b0, 1 << 16) + 1),
                             parse_options=pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        row = REFUSED_ROW.search(str(exc))
        refused = int(row.group(1)) if row else len(starts)
        if rows is not None:
            refused = int(rows[refused]) if refused < len(rows) else len(starts)
        return None, refused if refused < len(starts) and not routed[refused] else None
    if table.num_rows != len(starts) - len(tiny):
        return None, None  # several values on a line
    if rows is not None:  # one-byte entries: null rows put in
        index = np.full(len(starts), -1)
        index[rows] = np.arange(len(rows))
        table = table.take(pa.array(index, mask=index < 0))
    return table.select(schema.names), None


# --- routed entries and bad lines ---------------------------------------------------------------------------


def _read_routed(buffer: np.ndarray, shape: str, starts: np.ndarray, ends: np.ndarray, routed: np.ndarray,
                 malformed: Callable[[str, str], object]) -> tuple[dict[int, object], list[int]] | None:
    """The routed entries as the existing path reads them, and which are bad lines.

    None when one means an error for the whole file (an element of an array that is not JSON).
    """
    out: dict[int, object] = {}
    bad: list[int] = []
    view = memoryview(buffer)
    for i in routed.tolist():
        text = view[starts[i]:ends[i]]
        if shape == "array":
            try:
                value = orjson.loads(b"[" + bytes(text) + b"]")  # at its depth in the array
            except orjson.JSONDecodeError:
                return None
            if len(value) != 1:
                return None
            out[i] = value[0]
            continue
        try:
            out[i] = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            out[i] = malformed(bytes(text).decode("utf-8").strip(), str(exc.msg).rstrip(".") + f" (column {exc.colno})")
            bad.append(i)
    return out, bad


def _balanced(line: bytes) -> tuple[bool, bool]:
    """(strings closed and brackets balanced, a comma outside any bracket): whether a line stands alone."""
    bare = STRING.sub(b"", line)
    if b'"' in bare:
        return False, False
    depth, comma = 0, False
    for byte in NOT_STRUCTURE.sub(b"", bare):
        comma |= byte == COMMA and depth == 0
        depth += 1 if byte in (OPEN, OPEN_LIST) else -1 if byte in (CLOSE, CLOSE_LIST) else 0
        if depth < 0:
            return False, comma
    return depth == 0, comma


def _fails_early(prefix: bytes) -> bool:
    """orjson stops on this prefix before its end, so on anything that starts with it too."""
    try:
        orjson.loads(prefix)
    except orjson.JSONDecodeError as exc:
        return exc.pos < len(prefix.decode("utf-8")) - 1
    return False


def _proven(lines: Callable[[int], bytes], count: int, closing: bytes, elements: int | None) -> bool:
    """Whether orjson fails on a text made of these lines, or (elements given) reads another number of elements.

    Seen within a growing window of the lines, or on all of them.
    """
    size = 1
    while True:
        size = min(size * 2, count)
        window = lines(size)
        if size == count:
            try:
                value = orjson.loads(window + closing)
            except orjson.JSONDecodeError:
                return True
            return elements is not None and len(value) != elements
        if _fails_early(window):
            return True
        if size >= WINDOW_LINES:
            return False


def _lines_settled(buffer: np.ndarray, starts: np.ndarray, ends: np.ndarray, positions: Positions, bad: list[int],
                   text: int, stop: int) -> bool:
    """Whether reading JSON Lines line by line gives what the existing path gives for this file.

    The existing path first reads the whole text as one document, then the
    lines joined into one array (which must have as many elements as lines),
    and goes line by line only when those fail. With every line valid on its
    own they fail (or agree). With bad lines they surely fail when the first
    bad line is balanced (strings closed, brackets matched) with no comma
    outside brackets: orjson stops in it. When it has such commas and every bad
    line is balanced, no line runs on into another and the joined array, if
    valid, has more elements than lines. Otherwise orjson must be seen to fail
    within a window of lines.
    """
    if not bad:
        return True
    n = len(starts)
    if len(bad) == n:
        return False  # no good line at all: a file error, which the existing path words
    k = bad[0]
    view = memoryview(buffer)

    def line(i: int) -> bytes:
        return bytes(view[starts[i]:ends[i]])

    balanced, comma = _balanced(line(k))
    if balanced and (not comma or all(_balanced(line(i))[0] for i in bad)):
        return True
    if not _proven(lambda m: b"[" + b",".join(line(i) for i in range(k, min(k + m, n))), n - k, b"]", n - k):
        return False  # the non-blank lines joined into an array
    all_starts, all_ends = _line_spans(buffer, text, stop)
    number = positions[k] - 1  # 0-based line of the file
    final = positions[-1]  # the joined text stops at the last non-blank line
    if positions[k] - positions[0] == k and not _proven(
            lambda m: b"[" + b",".join(bytes(view[all_starts[j]:all_ends[j]])
                                       for j in range(number, min(number + m, final))), final - number, b"]",
            final - number):
        return False  # every line joined into an array (only when no blank line comes before)
    # the whole text as one document
    return k > 0 or _proven(lambda m: bytes(view[text:all_ends[min(number + m, final) - 1]]), final - number, b"",
                            None)
