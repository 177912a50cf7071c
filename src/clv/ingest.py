"""Ingestion: files in, validated events stored, rejects held, a summary out.

This is the library entry point for loading events; the CLI and the menu only
call ingest() and reprocess() and print what they return.
"""
from __future__ import annotations

import logging
import os
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO

import pandas as pd

from . import batch as bt
from . import events as ev
from . import tables as tb
from .atomic import uninterrupted
from .errors import InputError, StoreError
from .progress import Progress
from .reader import expand, gc_paused, printable, read_file, source_name
from .rejects import entry_of, new_only, record
from .store import Change, Snapshot, Store, related
from .timefmt import iso_utc, now
from .validation import validate

DUPLICATES_LOGGED = 100
log = logging.getLogger(__name__)


@dataclass
class Summary:
    """What one file (or a whole run) did to the store; read = ingested + updated + duplicates + rejected."""

    source: str
    read: int = 0
    ingested: int = 0
    updated: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    orphans: int = 0
    store_size_before: int = 0
    store_size_after: int = 0
    seconds: float = 0.0
    error: str | None = None

    def add(self, other: Summary) -> None:
        for name in ("read", "ingested", "updated", "duplicates", "rejected", "orphans"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for code, count in other.rejected_by_reason.items():
            self.rejected_by_reason[code] = self.rejected_by_reason.get(code, 0) + count


@dataclass
class RunSummary:
    """A run over one or more files: the totals, and each file's own figures."""

    total: Summary
    files: list[Summary]
    notes: list[str] = field(default_factory=list)  # what folders held besides event files

    @property
    def failed(self) -> list[Summary]:
        return [f for f in self.files if f.error]

    def as_dict(self) -> dict:
        out = asdict(self.total)
        del out["source"], out["error"]
        if len(self.files) > 1:
            out["files"] = [asdict(f) for f in self.files]
        elif self.files and self.files[0].error:
            out["error"] = self.files[0].error
        if self.failed:
            out["failed_files"] = len(self.failed)
        if self.notes:
            out["notes"] = self.notes
        return out


def _count(applied: bt.Applied, summary: Summary) -> None:
    status = applied.events["status"].value_counts()
    summary.read = len(applied.events)
    summary.ingested = int(status.get(bt.INGESTED, 0))
    summary.updated = int(status.get(bt.UPDATED, 0))
    summary.duplicates = int(status.get(bt.DUPLICATE, 0))
    summary.rejected = int(status.get(bt.REJECTED, 0))
    reasons = applied.events.loc[applied.events["status"] == bt.REJECTED, "reason"].value_counts()
    summary.rejected_by_reason = {code: int(reasons[code]) for code in ev.REJECTION_CODES if code in reasons}
    summary.orphans = applied.orphans


def _held(applied: bt.Applied, entries: list, positions: list[int], source: str) -> list[dict]:
    """Rejects-file records for the rejected events of a batch."""
    rejected = applied.events.loc[applied.events["status"] == bt.REJECTED, ["reason", "message"]]
    when = now()
    return [record(entries[i], reason, message, source, positions[i], when)
            for i, reason, message in zip(rejected.index, rejected["reason"], rejected["message"])]


def _log_duplicates(applied: bt.Applied, source: str, positions: list[int]) -> None:
    duplicates = applied.events.index[(applied.events["status"] == bt.DUPLICATE).to_numpy()]
    shown = applied.events.loc[duplicates[:DUPLICATES_LOGGED], ["type", "verb", "key", "event_time"]]
    for i, row in shown.iterrows():
        log.info("duplicate skipped: %s %s key=%r event_time=%s (%s, position %d)",
                 row["type"], row["verb"], row["key"], iso_utc(row["event_time"]), source, positions[i])
    if len(duplicates) > DUPLICATES_LOGGED:
        log.info("… and %d more duplicates skipped in %s", len(duplicates) - DUPLICATES_LOGGED, source)


def _log_summary(summary: Summary) -> None:
    if summary.error:
        log.error("ingest failed: %s", summary.error)
        return
    log.info("ingest %s: read=%d ingested=%d updated=%d duplicates=%d rejected=%d %s orphans=%d "
             "store_size %d -> %d in %.3f s", summary.source, summary.read, summary.ingested, summary.updated,
             summary.duplicates, summary.rejected, summary.rejected_by_reason, summary.orphans,
             summary.store_size_before, summary.store_size_after, summary.seconds)


def _resolve_paths(paths: list[str | Path]) -> tuple[list[Path | str], list[Summary], list[str]]:
    """Each user path expanded on its own, so one bad path does not stop the others."""
    files: list[Path | str] = []
    failures: list[Summary] = []
    notes: list[str] = []
    for path in paths:
        try:
            found = expand([path])
        except InputError as exc:
            failures.append(Summary(printable(str(path)), error=str(exc)))
            continue
        files.extend(found.files)
        notes.extend(found.notes)
    return files, failures, notes


@contextmanager
def _pipes_opened(files: list[Path | str]) -> Iterator[dict[int, BinaryIO]]:
    """Named pipes opened before the store is locked: opening one waits for its writer, which must not keep
    other writers of the store waiting too. A pipe that cannot be opened is left for its file's own error."""
    opened: dict[int, BinaryIO] = {}
    try:
        for n, path in enumerate(files):
            try:
                if path != "-" and stat.S_ISFIFO(os.stat(path).st_mode):
                    opened[n] = open(path, "rb")  # noqa: SIM115 (closed below, after the run)
            except OSError:
                continue
        yield opened
    finally:
        for handle in opened.values():
            handle.close()


@contextmanager
def _closing(progress: Progress | None) -> Iterator[None]:
    """The bar goes away however the run ends, Ctrl-C included."""
    try:
        yield
    finally:
        if progress:
            progress.close()


@dataclass
class _Run:
    """What a run has added so far, not yet committed: later files of the run see it as stored."""

    snapshot: Snapshot
    seq: int
    added: dict[str, list[pd.DataFrame]] = field(default_factory=dict)
    held: list[dict] = field(default_factory=list)
    seen: dict[str, list[pd.DataFrame]] = field(default_factory=dict)  # committed versions of the keys looked up

    def stored(self, batch: pd.DataFrame) -> dict[str, pd.DataFrame]:
        """The rows, committed or added by this run, of the keys the batch touches."""
        wanted = bt.wanted(batch)
        found = self.snapshot.related(wanted)
        for table in ev.tables():
            if ev.table_type(table).versioned and len(found[table]):
                self.seen.setdefault(table, []).append(found[table])
        pending = related(self.pending(), wanted)
        return {t: pd.concat([found[t], pending[t]], ignore_index=True) if len(pending[t]) else found[t]
                for t in found}

    def pending(self) -> dict[str, pd.DataFrame]:
        return _joined(self.added)

    def before(self) -> dict[str, pd.DataFrame]:
        """The committed versions of the keys the run adds versions to: what the commit's figures change from."""
        return _joined(self.seen)

    def keep(self, applied: bt.Applied) -> None:
        for table, rows in applied.added.items():
            self.added.setdefault(table, []).append(rows)


def _joined(parts: dict[str, list[pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    return {t: pd.concat(parts[t], ignore_index=True) if parts.get(t) else tb.empty(t) for t in ev.tables()}


def _ingest_file(path: Path | str, run: _Run, summary: Summary, progress: Progress | None,
                 stream: BinaryIO | None = None) -> None:
    """Apply one file to the run; its parsed events are freed on return, while the GC is still off."""
    started = time.perf_counter()
    if progress:
        progress.start(summary.source)
    try:
        parsed = read_file(path, stream=stream)
        if progress:
            progress.parsed(len(parsed.entries))
        batch = validate(parsed.entries, progress.advance if progress else None)
        applied = bt.settle(run.stored(batch), batch, run.seq)
        held_now = _held(applied, parsed.entries, parsed.positions, parsed.source)
    except InputError as exc:
        summary.error = str(exc)
    except StoreError:
        raise
    except Exception as exc:  # a bug must cost this file only, never the other files of the run
        log.exception("unexpected error while ingesting %s", summary.source)
        summary.error = f"{summary.source}: unexpected {type(exc).__name__}: {exc} (details in process.log)"
    if summary.error:
        summary.store_size_after = summary.store_size_before
        return
    _count(applied, summary)
    summary.store_size_after = summary.store_size_before + summary.ingested
    run.keep(applied)
    run.held.extend(held_now)
    run.seq += len(parsed.entries)
    _log_duplicates(applied, parsed.source, parsed.positions)
    summary.seconds = time.perf_counter() - started


def _counts(summary: Summary) -> dict:
    return {name: getattr(summary, name) for name in ("read", "ingested", "updated", "duplicates", "rejected")}


def ingest(store: Store, paths: list[str | Path], progress: Progress | None = None) -> RunSummary:
    """Ingest files one batch each, and commit them once at the end with their rejected events held.

    A file that cannot be read or parsed adds nothing and is reported in its
    summary; the other files go on. Ctrl-C before the commit changes nothing.
    """
    started = time.perf_counter()
    files, summaries, notes = _resolve_paths(paths)
    for note in notes:
        log.info("%s", note)
    total = Summary("total")
    with _pipes_opened(files) as pipes, store.writing() as snapshot, gc_paused(), _closing(progress):
        already_held = snapshot.held  # a damaged store stops the run before anything is written
        total.store_size_before = size = snapshot.size()
        run = _Run(snapshot, snapshot.next_seq)
        for n, path in enumerate(files):
            summary = Summary(source_name(path), store_size_before=size)
            summaries.append(summary)
            _ingest_file(path, run, summary, progress, pipes.get(n))
            size = summary.store_size_after
            total.add(summary)
        sources = [s.source for s in summaries if not s.error]
        if sources:
            if progress:
                progress.stage("saving")
            last = {"time": now(), "sources": sources}
            with uninterrupted():
                store.commit(Change("ingest", run.pending(), new_only(already_held, run.held), next_seq=run.seq,
                                    sources=sources, counts=_counts(total), last_ingest=last, before=run.before()))
    total.store_size_after = size
    total.seconds = time.perf_counter() - started
    for summary in summaries:
        _log_summary(summary)
    return RunSummary(total, summaries, notes)


@dataclass
class ReprocessSummary:
    """Held rejected events run through ingestion again."""

    summary: Summary
    still_held: int

    def as_dict(self) -> dict:
        out = asdict(self.summary)
        del out["source"], out["error"]
        out["still_held"] = self.still_held
        return out


def reprocess(store: Store) -> ReprocessSummary:
    """Accepted (or duplicate) events stop being held; the others stay with their current reason."""
    started = time.perf_counter()
    summary = Summary("held rejected events")
    with store.writing() as snapshot:
        held = snapshot.held
        summary.store_size_before = summary.store_size_after = snapshot.size()
        if not held:
            return ReprocessSummary(summary, 0)
        batch = validate([entry_of(h) for h in held])
        applied = bt.settle(snapshot.related(bt.wanted(batch)), batch, snapshot.next_seq)
        _count(applied, summary)
        summary.store_size_after = summary.store_size_before + summary.ingested
        outcome = applied.events
        still = outcome.index[outcome["status"] == bt.REJECTED]
        remaining = [dict(held[i], reason=outcome.at[i, "reason"], message=outcome.at[i, "message"]) for i in still]
        with uninterrupted():
            store.commit(Change("reprocess", applied.added, remaining, release_held=True,
                                next_seq=snapshot.next_seq + len(held), counts=_counts(summary), before=applied.stored))
    summary.seconds = time.perf_counter() - started
    _log_summary(summary)
    return ReprocessSummary(summary, len(remaining))
