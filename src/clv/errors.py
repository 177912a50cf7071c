"""Errors the user sees as one line on stderr, each with its exit status."""
from __future__ import annotations

FAILURE = 1
USAGE = 2


class ClvError(Exception):
    """A problem the user can act on; never shown as a traceback."""

    exit_code = FAILURE


class InputError(ClvError):
    """An input file or path that cannot be ingested at all (nothing of it is stored)."""


class StoreError(ClvError):
    """The store on disk cannot be read, or is held by another process."""


class NoDataError(ClvError):
    """The store holds nothing to answer the question with."""


class UsageError(ClvError):
    """The command line or a prompt answer is not valid."""

    exit_code = USAGE
