"""Reading what a person types or pastes at a prompt."""
from __future__ import annotations

import os
import shlex

QUOTES = "'\""


def _expand(text: str) -> str:
    return os.path.expandvars(os.path.expanduser(text))


def pasted_paths(text: str) -> list[str]:
    """Paths as a person pastes them: trimmed, unquoted, ~ and $VARS expanded, '\\ ' taken as a space.

    A pasted path with plain spaces that names an existing file is taken as
    one path; otherwise the text is split like a shell would, so several
    paths can be given at once.
    """
    text = text.strip()
    if not text:
        return []
    whole = text[1:-1] if len(text) >= 2 and text[0] == text[-1] and text[0] in QUOTES else text
    if os.path.exists(_expand(whole)):
        return [_expand(whole)]
    try:
        parts = shlex.split(text)
    except ValueError:
        return [_expand(whole)]
    return [_expand(part) for part in parts]


def positive_int(text: str) -> int:
    """A positive whole number, or ValueError with a message fit to show."""
    cleaned = text.strip().replace("_", "").replace(",", "")
    if not cleaned.isdigit() or int(cleaned) < 1:
        raise ValueError(f"X must be a positive whole number, got {text.strip()!r}")
    return int(cleaned)
