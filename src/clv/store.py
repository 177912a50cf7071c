"""Where the tables live between runs.

A store hands out snapshots (the stored tables plus a little metadata) and
takes back a new snapshot to commit. Two engines share that small interface:
MemoryStore keeps nothing on disk; ParquetStore keeps one Parquet file per
table under a data directory.

On disk, every commit writes a new generation directory and then switches the
CURRENT manifest to it with os.replace, so a crash or Ctrl-C at any moment
leaves either the old or the new state. Writers hold an OS file lock, which
the kernel drops when the process dies, so a crash never leaves a stale lock.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import events as ev
from . import tables as tb
from .atomic import fsync_path, staged
from .errors import StoreError
from .reader import printable
from .timefmt import now
from .validation import TAGS_DTYPE, TAGS_TYPE

try:
    import fcntl
except ImportError:  # not a POSIX system: the on-disk store cannot lock, --memory still works
    fcntl = None

MANIFEST = "CURRENT"
# A generation folder: its number, then the id of the store that wrote it (and a random part).
GENERATION = re.compile(r"gen-(?P<number>\d{6,})-(?P<store>[0-9a-f]{8})(?P<random>[0-9a-f]{8})?")
LOCK = "LOCK"
FORMAT = 1
COMPRESSION = "zstd"


@dataclass
class Snapshot:
    """The stored tables at one generation; never changed in place once committed."""

    tables: dict[str, pd.DataFrame] = field(default_factory=tb.empty_tables)
    next_seq: int = 0
    generation: int = 0
    last_ingest: dict | None = None
    _views: dict[str, pd.DataFrame] | None = field(default=None, repr=False, compare=False)

    def current(self) -> dict[str, pd.DataFrame]:
        """The one-row-per-key tables, computed once per snapshot."""
        if self._views is None:
            self._views = tb.current(self.tables)
        return self._views

    def size(self) -> int:
        return tb.size(self.tables)

    def evolve(self, tables: dict[str, pd.DataFrame], next_seq: int, last_ingest: dict | None) -> Snapshot:
        """The snapshot to commit after a change."""
        return replace(self, tables=tables, next_seq=next_seq, generation=self.generation + 1,
                       last_ingest=last_ingest, _views=None)


class Store(Protocol):
    """What the rest of the tool needs from a store engine."""

    location: str

    def snapshot(self) -> Snapshot:
        """The latest committed state."""

    def writing(self) -> AbstractContextManager[Snapshot]:
        """Exclusive access for a change: yields the latest snapshot to build on."""

    def commit(self, snapshot: Snapshot) -> None:
        """Make snapshot the stored state, all at once."""


class MemoryStore:
    """A store that lives and dies with the process (--memory)."""

    location = "memory"

    def __init__(self) -> None:
        self._snapshot = Snapshot()

    def snapshot(self) -> Snapshot:
        return self._snapshot

    @contextmanager
    def writing(self) -> Iterator[Snapshot]:
        yield self._snapshot

    def commit(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot


def _to_frame(table: pa.Table, name: str) -> pd.DataFrame:
    mapper = {TAGS_TYPE: TAGS_DTYPE}.get
    return tb.conform(table.to_pandas(types_mapper=mapper, ignore_metadata=True), name)


class _Missing(Exception):
    """A table file the manifest names is not there (maybe a writer just switched generations)."""

    def __init__(self, path: Path) -> None:
        super().__init__(str(path))
        self.path = path


class ParquetStore:
    """Tables as Parquet files under a data directory, switched atomically by a manifest."""

    def __init__(self, data_dir: Path | str) -> None:
        self.data_dir = Path(data_dir)
        self.location = str(self.data_dir)
        self._snapshot: Snapshot | None = None
        self._lock_fd: int | None = None
        self._store_id: str | None = None

    def _damaged(self, path: Path, problem: object) -> StoreError:
        first_line = str(problem).strip().splitlines()[0] if str(problem).strip() else type(problem).__name__
        return StoreError(f"store file {printable(str(path))} is damaged ({printable(first_line)}); "
                          "it was left as it is")

    def _generations(self) -> list[Path]:
        try:
            return [p for p in self.data_dir.iterdir() if p.name.startswith("gen-") and p.is_dir()]
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as exc:
            raise StoreError(f"cannot open the store in {printable(str(self.data_dir))}: "
                             f"{exc.strerror or exc}") from None

    def _read_manifest(self) -> dict | None:
        path = self.data_dir / MANIFEST
        try:
            text = path.read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError):
            if any(GENERATION.fullmatch(p.name) for p in self._generations()):
                raise StoreError(f"the store in {printable(str(self.data_dir))} has table files but no {MANIFEST} "
                                 "manifest; it was left as it is (restore the manifest, or move the folder away to "
                                 "start a new store)") from None
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise self._damaged(path, getattr(exc, "strerror", None) or exc) from None
        try:
            manifest = json.loads(text)
            if manifest.get("format") != FORMAT:
                raise ValueError("unexpected content")
            files = manifest["tables"]
            unknown = set(files) - set(ev.tables())
            if unknown:
                raise ValueError(f"tables of unknown event types: {', '.join(sorted(unknown))}")
            if not all(isinstance(v, str) and GENERATION.fullmatch(v.split("/")[0]) for v in files.values()):
                raise ValueError("table paths are not generation files")
            if type(manifest["generation"]) is not int or type(manifest["next_seq"]) is not int:
                raise ValueError("generation and next_seq must be whole numbers")
            last = manifest.get("last_ingest")
            if last is not None and not (isinstance(last.get("time"), str) and isinstance(last.get("sources"), list)
                                         and all(isinstance(s, str) for s in last["sources"])):
                raise ValueError("last_ingest is not a time and a list of sources")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise self._damaged(path, exc) from None
        return manifest

    def _load(self, manifest: dict) -> Snapshot:
        loaded = {}
        for name in ev.tables():
            if name not in manifest["tables"]:  # an event type registered after this store was written
                loaded[name] = tb.empty(name)
                continue
            path = self.data_dir / manifest["tables"][name]
            try:
                loaded[name] = _to_frame(pq.read_table(path), name)
            except FileNotFoundError:
                raise _Missing(path) from None
            except (OSError, pa.ArrowException, KeyError, ValueError, TypeError) as exc:
                raise self._damaged(path, exc) from None
        return Snapshot(loaded, manifest["next_seq"], manifest["generation"], manifest.get("last_ingest"))

    def snapshot(self) -> Snapshot:
        """Load the committed state, or reuse it when no other process has committed since."""
        missing = None
        for _ in range(3):
            manifest = self._read_manifest()
            if manifest is None:
                if self._snapshot is None or self._snapshot.generation != 0:
                    self._snapshot = Snapshot()
                return self._snapshot
            if self._snapshot is not None and self._snapshot.generation == manifest["generation"]:
                return self._snapshot
            try:
                self._snapshot = self._load(manifest)
                return self._snapshot
            except _Missing as gone:  # a writer may have switched generations while we read: read the new one
                missing = gone.path
        raise StoreError(f"store file {printable(str(missing))} is missing; the store in "
                         f"{printable(str(self.data_dir))} is damaged and was left as it is")

    def _acquire(self) -> None:
        if fcntl is None:
            raise StoreError("writing a store on disk needs POSIX file locks (Linux, macOS); use --memory here")
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.data_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot open the store in {printable(str(self.data_dir))}: "
                             f"{exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = printable(os.read(fd, 4096).decode("utf-8", "replace").strip()) or "another process"
            os.close(fd)
            raise StoreError(f"the store in {printable(str(self.data_dir))} is being written by {holder}; "
                             "try again when it is done") from None
        since = now()
        command = printable(" ".join([Path(sys.argv[0]).name, *sys.argv[1:]]))[:200]
        try:  # who holds the lock, for the message another writer gets; the lock itself is the flock
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"process {os.getpid()} ({command}), since {since}\n".encode(), 0)
        except OSError:
            pass
        self._lock_fd = fd

    def _release(self) -> None:
        if self._lock_fd is not None:
            os.ftruncate(self._lock_fd, 0)
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    @contextmanager
    def writing(self) -> Iterator[Snapshot]:
        self._acquire()
        try:
            yield self.snapshot()
        finally:
            self._release()

    def commit(self, snapshot: Snapshot) -> None:
        """Write a new generation beside the old one, then switch the manifest to it."""
        if self._lock_fd is None:
            raise RuntimeError("commit outside writing()")
        previous = self._read_manifest()
        self._store_id = (previous or {}).get("store_id") or uuid.uuid4().hex[:8]
        name = f"gen-{snapshot.generation:06d}-{self._store_id}{uuid.uuid4().hex[:8]}"
        folder = self.data_dir / name
        try:
            folder.mkdir()
            files = self._write_tables(snapshot, folder)
            manifest = {"format": FORMAT, "store_id": self._store_id, "generation": snapshot.generation,
                        "next_seq": snapshot.next_seq, "tables": files, "last_ingest": snapshot.last_ingest}
            with staged(self.data_dir / MANIFEST) as temporary:
                temporary.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        except (OSError, pa.ArrowException) as exc:
            shutil.rmtree(folder, ignore_errors=True)  # the half-written generation this commit made
            raise StoreError(f"cannot save the store in {printable(str(self.data_dir))}: "
                             f"{getattr(exc, 'strerror', None) or exc}; it is as it was") from None
        try:
            fsync_path(self.data_dir)
        except OSError:
            pass  # the switch is made; the folder's own flush is the file system's to finish
        self._snapshot = snapshot
        self._sweep(name, previous)

    def _write_tables(self, snapshot: Snapshot, folder: Path) -> dict[str, str]:
        """One Parquet file per table in folder; Arrow releases the GIL while it encodes, so they go side by side."""
        def write(table: str) -> None:
            path = folder / f"{table}.parquet"
            pq.write_table(pa.Table.from_pandas(snapshot.tables[table], preserve_index=False), path,
                           compression=COMPRESSION)
            fsync_path(path)

        names = list(snapshot.tables)
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            list(pool.map(write, names))
        fsync_path(folder)
        return {table: f"{folder.name}/{table}.parquet" for table in names}

    def _sweep(self, keep: str, previous: dict | None) -> None:
        """Remove the generations this store wrote and no longer points to; nothing else in the folder.

        Those are the one the previous manifest named, and any left by a crash, which carry this store's id.
        """
        ours = {p.split("/")[0] for p in (previous or {}).get("tables", {}).values()}
        for path in self._generations():
            match = GENERATION.fullmatch(path.name)
            if path.name != keep and match and (path.name in ours or match["store"] == self._store_id):
                shutil.rmtree(path, ignore_errors=True)


def open_store(data_dir: Path | str | None) -> Store:
    """A store under data_dir, or in memory when data_dir is None."""
    return MemoryStore() if data_dir is None else ParquetStore(data_dir)
