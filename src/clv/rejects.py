"""Rejected events held for re-processing (docs/contract.md, "Rejected events").

Each held event is one JSON object: the original event (or, for a line that
was not JSON, its raw text), the reason code, the message, where it came from
and when it was rejected. They are held in the store, committed with the
events (store.py).

`select`, `to_editable` and `from_edited` are the round trip of `rejects edit`,
free of any editor so they can be tested on their own.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import orjson

from .reader import MalformedLine, printable
from .timefmt import now

FILE_NAME = "rejected_events.jsonl"
# orjson reads JSON nested up to 1024 deep; a held record adds a level around its event.
MAX_HELD_DEPTH = 1000
COMMENT = "#"
MARKER = re.compile(r"#\s*(\d+)\b")  # "# 3 missing_field: …" heads the line of held event 3
EDITOR_SOURCE = "editor"
ADDED_REASON = "malformed"
ADDED_MESSAGE = "added in the editor"
EDITABLE_HELP = (
    "# Held rejected events, each line under its numbered comment. Fix a line to change its event;\n"
    "# delete a line (or its comment) to discard the event; a line with no comment of its own is held\n"
    "# as a new event. Lines starting with # are ignored. Save and quit to commit.\n"
)


def _depth(value: object) -> int:
    """How deeply a parsed value nests, counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            stack.extend((inner, depth + 1) for inner in (item.values() if isinstance(item, dict) else item))
    return deepest


def record(entry: object, reason: str, message: str, source: str, position: int, time: str) -> dict:
    """One held rejected event, as written to the rejects file.

    An event nested so deeply that, wrapped in its record, it could not be read back is held as its JSON text.
    """
    if isinstance(entry, MalformedLine):
        held: dict = {"raw": entry.text}
    elif _depth(entry) >= MAX_HELD_DEPTH:
        held = {"raw": dumps(entry).decode()}
    else:
        held = {"event": entry}
    held.update(reason=reason, message=message, source=source, position=position, time=time)
    return held


def dumps(value: object, sort_keys: bool = False) -> bytes:
    """JSON bytes of any parsed value; values nested deeper than orjson writes go through a loop of our own."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS if sort_keys else 0)
    except orjson.JSONEncodeError:
        return _dumps_deep(value, sort_keys)


def _dumps_deep(value: object, sort_keys: bool) -> bytes:
    """The same JSON as orjson, built with an explicit stack instead of recursion."""
    out: list[bytes] = []
    stack: list[object] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, bytes):  # a piece of punctuation pushed below
            out.append(item)
        elif isinstance(item, dict):
            pairs = sorted(item.items()) if sort_keys else list(item.items())
            stack.append(b"}")
            for n, (key, inner) in reversed(list(enumerate(pairs))):
                stack.extend([inner, orjson.dumps(str(key)) + b":", *([b","] if n else [])])
            stack.append(b"{")
        elif isinstance(item, list):
            stack.append(b"]")
            for n, inner in reversed(list(enumerate(item))):
                stack.extend([inner, *([b","] if n else [])])
            stack.append(b"[")
        else:
            out.append(orjson.dumps(item))
    return b"".join(out)


def held_key(held: dict) -> bytes:
    """One rejected event: its content and where it stood (equal events elsewhere are held each)."""
    content = dumps(held["event"], sort_keys=True) if "event" in held else str(held.get("raw", "")).encode()
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


def text_of(held: dict) -> str:
    """The held event as one line: compact JSON, or the raw line as it was read."""
    return dumps(held["event"]).decode() if "event" in held else str(held.get("raw", ""))


def select(held: list[dict], reason: str | None = None, source: str | None = None,
           contains: str | None = None) -> list[tuple[int, dict]]:
    """The held events matching every filter given, each with its 1-based place among all held events.

    The place is how an edit finds its way back to the held event it came from.
    """
    needle = contains.casefold() if contains else None
    return [(place, h) for place, h in enumerate(held, 1)
            if (reason is None or h.get("reason") == reason)
            and (source is None or source in str(h.get("source", "")))
            and (needle is None or needle in text_of(h).casefold())]


def to_editable(selected: list[tuple[int, dict]]) -> str:
    """One line per held event under a numbered comment; a raw line that starts with # is indented so it is
    not read back as a comment."""
    parts = [EDITABLE_HELP]
    for place, held in selected:
        where = printable(f"{held.get('source', '')}:{held.get('position', '')}")
        parts.append(f"# {place} {held.get('reason')}: {printable(str(held.get('message', '')))}  ({where})\n")
        text = text_of(held)
        parts.append((" " + text if text.startswith(COMMENT) else text) + "\n")
    return "".join(parts)


@dataclass
class EditResult:
    """What came back from the editor: replaced and discarded held events (by place) and new ones."""

    replaced: dict[int, dict] = field(default_factory=dict)
    discarded: set[int] = field(default_factory=set)
    added: list[dict] = field(default_factory=list)
    unchanged: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.replaced or self.discarded or self.added)

    def summary(self) -> str:
        text = f"{len(self.replaced):,} edited, {len(self.discarded):,} discarded, {self.unchanged:,} unchanged"
        return text + (f", {len(self.added):,} added as new held lines" if self.added else "")

    def apply(self, held: list[dict]) -> list[dict]:
        """All held events in their order with the edits in place and the discarded left out; added ones last."""
        return [self.replaced.get(place, h) for place, h in enumerate(held, 1)
                if place not in self.discarded] + self.added


def _edited(line: str, old: dict) -> dict:
    """The held event with its line replaced: JSON becomes the event, anything else stays raw text (so a
    syntax slip loses nothing); reason, message and origin stay until reprocessing checks it again."""
    try:
        entry = {"event": orjson.loads(line)}
    except orjson.JSONDecodeError:
        entry = {"raw": line}
    return {**entry, **{k: v for k, v in old.items() if k not in ("event", "raw")}}


def _added(line: str, number: int) -> dict:
    """A line typed in the editor, held as raw text until reprocessing checks it like any other."""
    return {"raw": line, "reason": ADDED_REASON, "message": ADDED_MESSAGE, "source": EDITOR_SOURCE,
            "position": number, "time": now()}


def from_edited(text: str, selected: list[tuple[int, dict]]) -> EditResult:
    """Pair each line with the numbered comment above it and say what became of every selected event.

    A comment names a held event once; a line with no unclaimed comment above it is a new held event; a
    selected event whose comment or line is gone is discarded.
    """
    by_place = dict(selected)
    result = EditResult()
    claimed: set[int] = set()
    paired: set[int] = set()
    current: int | None = None
    for number, line in enumerate(text.split("\n"), 1):
        if line.startswith(COMMENT):
            marker = MARKER.match(line)
            place = int(marker.group(1)) if marker else None
            if place in by_place and place not in claimed:
                claimed.add(place)
                current = place
            continue
        line = line.strip()
        if not line:
            continue
        if current is None:
            result.added.append(_added(line, number))
            continue
        old = by_place[current]
        if line == text_of(old).strip():
            result.unchanged += 1
        else:
            result.replaced[current] = _edited(line, old)
        paired.add(current)
        current = None
    result.discarded = set(by_place) - paired
    return result
