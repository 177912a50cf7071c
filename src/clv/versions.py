"""The store's versions: list them, make an earlier one current, compact (docs/contract.md, "Versions of the store").

Every commit of the Delta table is a version. `rollback` restores an earlier
one as a new commit, so the rollback itself can be undone; `compact` merges
small files and removes the files no version younger than the retention needs,
and only when asked.
"""
from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote

import orjson

from .defaults import RETAIN_HOURS
from .errors import StoreError, UsageError
from .store import BUCKET, LOG, METADATA, OWN_FIGURES, PARTITION, DeltaStore, Store, _properties, figures, log_entries

OWN_FILE = re.compile(r"part-[0-9a-f]{32}\.zstd\.parquet")  # the names store.py gives its files
COUNTS = ["read", "ingested", "updated", "duplicates", "rejected"]
COLUMNS = ["version", "time", "command", "sources", *COUNTS]
CARRIED = ["next_seq", "last_ingest", "rows", "span", "figure_rows"]  # what a version keeps when made again


def _delta(store: Store) -> DeltaStore:
    if not isinstance(store, DeltaStore):
        raise UsageError("a store in memory has no versions; use --data-dir")
    return store


def _table(store: DeltaStore):
    table = store.table()
    if table is None:
        raise StoreError(f"no store in {store.location}: nothing has been committed there yet")
    return table


def commits(table, path: str) -> list[dict]:
    """The commits up to the table's version, newest first, each with this tool's figures (empty for other tools'
    commits or bad ones).

    Each is read from its own log entry: delta-rs numbers its history from the newest commit on disk, which is
    not the version read when another process has committed since. Entries cleaned up behind a checkpoint are
    no longer known.
    """
    entries = []
    for version, info in log_entries(Path(path), table.version()):
        try:
            meta = figures(info[METADATA], path, version) if METADATA in info else {}
        except StoreError:
            meta = {}
        entries.append({**info, "version": version, "meta": meta})
    return entries


def history(store: Store) -> list[dict]:
    """One row per version, newest first: when, which command, from which files, with which counts."""
    delta, rows = _delta(store), []
    for entry in commits(_table(delta), str(delta.path)):
        meta = entry["meta"]
        counts = meta.get("counts") if isinstance(meta.get("counts"), dict) else {}
        command = meta.get("command") or str(entry.get("operation", "")).lower()
        if command == "rollback":
            command = f"rollback to {meta.get('to')}"
        rows.append({
            "version": entry["version"],
            "time": _moment(entry.get("timestamp")),
            "command": command,
            "sources": ", ".join(str(s) for s in meta.get("sources", []) if isinstance(meta.get("sources"), list)),
            **{name: counts.get(name) for name in COUNTS},
        })
    return rows


def _moment(stamp: object) -> str | None:
    """A commit's time (milliseconds since 1970) as UTC text; None when the log entry gives none that is one
    (the Delta protocol makes commitInfo optional, and a hand may have put anything there)."""
    if type(stamp) is not int:
        return None
    try:
        return datetime.fromtimestamp(stamp / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return None


def _figures_at(entries: list[dict], version: int) -> dict:
    """This tool's figures as they stood at a version: those of the newest commit at or before it.

    The change rows and the span hold only when that commit is the version's own (not another tool's).
    """
    meta = next((e["meta"] for e in entries if e["version"] <= version and "next_seq" in e["meta"]), {})
    own = any(e["version"] == version and "next_seq" in e["meta"] for e in entries)
    return {name: meta[name] for name in CARRIED
            if meta.get(name) is not None and (own or name not in OWN_FIGURES)}


def rollback(store: Store, version: int) -> dict:
    """Make an earlier version current again, as a new version."""
    from deltalake import CommitProperties
    from deltalake.exceptions import DeltaError

    delta = _delta(store)
    with delta.locked():
        table = _table(delta)
        current = table.version()
        if not 0 <= version <= current:
            raise UsageError(f"no version {version}: the store's versions are 0 to {current} (see history)")
        if version == current:
            raise UsageError(f"version {version} is the current version already")
        entries = commits(table, str(delta.path))
        now_meta, then = _figures_at(entries, current), _figures_at(entries, version)
        meta = {**then, "to": version, "next_seq": max(now_meta.get("next_seq") or 0, then.get("next_seq") or 0),
                "counts": {}, "sources": []}
        try:
            table.restore(version, commit_properties=_properties(CommitProperties, "rollback", meta))
        except (DeltaError, OSError) as exc:
            raise StoreError(f"version {version} cannot be restored ({str(exc).strip().splitlines()[0]}); "
                             "compact removes the files of versions older than its retention") from None
        return {"version": _table(delta).version(), "restored": version}


def compact(store: Store, retain_hours: int = RETAIN_HOURS) -> dict:
    """Fold the per-customer change rows, merge small files, then remove the files that no version younger than
    retain_hours needs."""
    from deltalake import CommitProperties

    delta = _delta(store)
    with delta.locked():
        before = len(_table(delta).file_uris())
        folded = delta.fold_figures("compact")  # a new version when there is something to fold
        table = _table(delta)
        carried = {**_figures_at(commits(table, str(delta.path)), table.version()), "counts": {}, "sources": []}
        table.optimize.compact(commit_properties=_properties(CommitProperties, "compact", carried))
        removed = table.vacuum(retention_hours=retain_hours, dry_run=False, enforce_retention_duration=False,
                               commit_properties=_properties(CommitProperties, "compact", carried))
        table.create_checkpoint()
        table = _table(delta)
        left = _unreferenced(delta.path, table)
        for path in left:
            path.unlink(missing_ok=True)
        figure_rows = dict(zip(("figure_rows_before", "figure_rows_after"), folded or (None, None), strict=True))
        return {"version": table.version(), "files_before": before, "files_after": len(table.file_uris()),
                "files_removed": len(removed) + len(left), **figure_rows}


def _unreferenced(root: Path, table) -> list[Path]:
    """Data files no version ever added: what a killed commit wrote before its transaction.

    Called under the write lock, so no commit is in flight. A file is kept when any commit still in the log
    added it, or the current version holds it.
    """
    root = root.resolve()
    added = {unquote(p.removeprefix("file://")) for p in table.file_uris()}
    for commit in (root / LOG).glob("*.json"):
        lines = commit.read_bytes().splitlines()
        if not lines:
            return []  # an emptied commit: what it added is unknown, so nothing is removed
        for line in lines:
            try:
                action = orjson.loads(line)
            except orjson.JSONDecodeError:
                return []  # a log this reading does not understand: remove nothing
            if isinstance(action, dict) and isinstance(action.get("add"), dict):
                added.add(str(root / unquote(action["add"].get("path", ""))))
    return [p for p in root.glob(f"{PARTITION}=*/{BUCKET}=*/part-*.parquet")
            if OWN_FILE.fullmatch(p.name) and str(p) not in added]
