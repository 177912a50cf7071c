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
from .timefmt import now
from .validation import TAGS_DTYPE, TAGS_TYPE

try:
    import fcntl
except ImportError:  # not a POSIX system: the on-disk store cannot lock, --memory still works
    fcntl = None

MANIFEST = "CURRENT"
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


class ParquetStore:
    """Tables as Parquet files under a data directory, switched atomically by a manifest."""

    def __init__(self, data_dir: Path | str) -> None:
        self.data_dir = Path(data_dir)
        self.location = str(self.data_dir)
        self._snapshot: Snapshot | None = None
        self._lock_fd: int | None = None

    def _read_manifest(self) -> dict | None:
        path = self.data_dir / MANIFEST
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"cannot read store file {path}: {exc.strerror or exc}") from None
        try:
            manifest = json.loads(text)
            if manifest.get("format") != FORMAT:
                raise ValueError("unexpected content")
            unknown = set(manifest["tables"]) - set(ev.tables())
            if unknown:
                raise ValueError(f"tables of unknown event types: {', '.join(sorted(unknown))}")
            int(manifest["generation"]), int(manifest["next_seq"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StoreError(f"store file {path} is damaged ({exc}); it was left as it is") from None
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
                raise
            except (OSError, pa.ArrowException, KeyError, ValueError, TypeError) as exc:
                raise StoreError(f"store file {path} is damaged ({exc}); it was left as it is") from None
        return Snapshot(loaded, int(manifest["next_seq"]), int(manifest["generation"]), manifest.get("last_ingest"))

    def snapshot(self) -> Snapshot:
        """Load the committed state, or reuse it when no other process has committed since."""
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
            except FileNotFoundError:
                continue  # a writer switched generations while we read; read the new one
        missing = self.data_dir / next(iter(manifest["tables"].values()))
        raise StoreError(f"store file {missing} is missing; the store in {self.data_dir} is damaged")

    def _acquire(self) -> None:
        if fcntl is None:
            raise StoreError("writing a store on disk needs POSIX file locks (Linux, macOS); use --memory here")
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.data_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot open the store in {self.data_dir}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 4096).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise StoreError(f"the store in {self.data_dir} is being written by {holder}; "
                             "try again when it is done") from None
        since = now()
        command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:200]
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()} ({command}), since {since}\n".encode(), 0)
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
        name = f"gen-{snapshot.generation:06d}-{uuid.uuid4().hex[:8]}"
        folder = self.data_dir / name
        folder.mkdir()
        def write(table: str) -> None:
            path = folder / f"{table}.parquet"
            pq.write_table(pa.Table.from_pandas(snapshot.tables[table], preserve_index=False), path,
                           compression=COMPRESSION)
            fsync_path(path)

        # Arrow releases the GIL while it encodes and writes, so the tables go out side by side.
        names = list(snapshot.tables)
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            list(pool.map(write, names))
        files = {table: f"{name}/{table}.parquet" for table in names}
        fsync_path(folder)
        manifest = {"format": FORMAT, "generation": snapshot.generation, "next_seq": snapshot.next_seq,
                    "tables": files, "last_ingest": snapshot.last_ingest}
        with staged(self.data_dir / MANIFEST) as temporary:
            temporary.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        fsync_path(self.data_dir)
        self._snapshot = snapshot
        self._sweep(keep=name)

    def _sweep(self, keep: str) -> None:
        """Remove generations and staged manifests no manifest points to (left by crashes too)."""
        for path in self.data_dir.iterdir():
            if path.name.startswith("gen-") and path.name != keep:
                shutil.rmtree(path, ignore_errors=True)
            elif path.name.startswith(f".{MANIFEST}.") and path.name.endswith(".tmp"):
                path.unlink(missing_ok=True)


def open_store(data_dir: Path | str | None) -> Store:
    """A store under data_dir, or in memory when data_dir is None."""
    return MemoryStore() if data_dir is None else ParquetStore(data_dir)
