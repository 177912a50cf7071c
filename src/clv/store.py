"""Where the tables and the held rejected events live between runs (docs/contract.md, "Store").

Two engines share one small interface: MemoryStore keeps nothing on disk;
DeltaStore keeps everything in one Delta Lake table under the data directory,
so DuckDB, Dask, Spark or pandas can read it without this tool.

That table holds every accepted event (the rows of the four tables, each
version of a customer or order) and the held rejected events, partitioned by
`table_name` and, for events, by a bucket of the key. A change is one Delta
commit: the new Parquet files are written first, then one transaction adds
them (and, when the held events are rewritten, removes their old files), so a
crash or kill at any moment leaves the version before or the version after,
events and held rejects together. An ingestion reads only the rows of the keys
its batch touches (bucket by bucket) and appends: it costs what its batch
costs. The same commit appends the change rows of the per-customer figures
(totals.py, `table_name=customer_totals`, bucketed by customer_id), so LTV and
the overview read those, not every version of every event. Writers hold an OS
file lock, which the kernel drops when the process dies, so a crash never
leaves a stale lock.
"""
from __future__ import annotations

import atexit
import json
import os
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache, partial
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pds
import pyarrow.parquet as pq
from pyarrow.fs import LocalFileSystem

from . import cluster
from . import events as ev
from . import tables as tb
from . import totals as tt
from .errors import StoreError
from .reader import printable
from .timefmt import now
from .totals import SCHEMA as FIGURE_SCHEMA
from .validation import TAGS_DTYPE, TAGS_TYPE

try:
    import fcntl
except ImportError:  # not a POSIX system: the on-disk store cannot lock, --memory still works
    fcntl = None

TABLE_DIR = "events"  # the Delta table, under the data directory
LOG = "_delta_log"
FIRST_COMMIT = "_clv_first_commit"  # present while a store's first commit writes its files
COMMIT_FILE = re.compile(r"\d{20}\.(json|checkpoint\.parquet)")
LOCK = "LOCK"
PARTITION = "table_name"
BUCKET = "bucket"
BUCKETS = 16  # keys spread over this many buckets: the unit of an ingestion's lookups and of a cluster's work
SMALL_STORE = 200_000  # keys up to which the figures are computed in one pass: buckets would only add overhead
HELD = ev.HELD_TABLE  # the table_name of held rejected events: one JSON record per row, in `record`
FIGURES = ev.FIGURES_TABLE  # the table_name of the per-customer change rows (totals.py), bucketed by customer_id
RECORD = "record"
FORMAT = 2  # format 1 was one Parquet file per table under a CURRENT manifest (see legacy.py)
METADATA = "clv"  # the commit metadata key holding this tool's figures of a version
OWN_FIGURES = ("span", "figure_rows")  # figures that hold only while no other tool has committed since
COMPRESSION = "zstd"
WRITERS = 4  # threads that write a commit's files
WAIT_STEP = 0.1  # seconds between two tries for the write lock
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EMPTY = -1  # the version of a store nothing was ever committed to


@dataclass
class Change:
    """What one commit adds: new event rows per table and held rejected events, and what to record of it."""

    command: str
    added: dict[str, pd.DataFrame] = field(default_factory=dict)
    hold: list[dict] = field(default_factory=list)
    release_held: bool = False  # the events held before the change leave it (the new list is `hold`)
    next_seq: int | None = None  # None: as it was
    sources: list[str] = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    last_ingest: dict | None = None  # None: as it was
    before: dict[str, pd.DataFrame] = field(default_factory=dict)  # stored rows of the keys `added` adds versions of


def related(frames: dict[str, pd.DataFrame], wanted: dict[str, pd.Series]) -> dict[str, pd.DataFrame]:
    """The rows of each table whose key is among the wanted keys of that table."""
    return {table: frame.loc[tb.member(frame["key"], wanted[table])] if table in wanted else frame.iloc[:0]
            for table, frame in frames.items()}


class Snapshot:
    """One committed version of the store; the tables and held events load on first use."""

    def __init__(self, tables: dict[str, pd.DataFrame] | None = None, held: list[dict] | None = None,
                 version: int = 0, next_seq: int = 0, last_ingest: dict | None = None) -> None:
        self._tables = tables
        self._held = held
        self._views: dict[str, pd.DataFrame] | None = None
        self._totals = None
        self.version = version
        self.next_seq = next_seq
        self.last_ingest = last_ingest

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """Every stored row of every table (a query that needs less asks for less: see related)."""
        if self._tables is None:
            self._tables = self._load_tables()
        return self._tables

    @property
    def held(self) -> list[dict]:
        """The held rejected events, oldest first."""
        if self._held is None:
            self._held = self._load_held()
        return self._held

    def _load_tables(self) -> dict[str, pd.DataFrame]:
        return tb.empty_tables()

    def table(self, name: str) -> pd.DataFrame:
        """Every stored row of one table (without loading the others)."""
        return self.tables[name]

    def _load_held(self) -> list[dict]:
        return []

    def current(self) -> dict[str, pd.DataFrame]:
        """The one-row-per-key tables, computed once per snapshot."""
        if self._views is None:
            self._views = tb.current(self.tables)
        return self._views

    def rows(self) -> dict[str, int]:
        """Keys per table (rows of the one-row-per-key tables)."""
        return {table: int(tb.creating_rows(frame).sum()) for table, frame in self.tables.items()}

    def size(self) -> int:
        return sum(self.rows().values())

    def related(self, wanted: dict[str, pd.Series]) -> dict[str, pd.DataFrame]:
        """The stored rows of the wanted keys, per table: all an ingestion of those keys needs to see."""
        return related(self.tables, wanted)

    def customer_rows(self, customer_id: str) -> dict[str, pd.DataFrame]:
        """Every version of the rows that name a customer (its record, and the rows with it as customer_id)."""
        wanted = {ev.CUSTOMERS: pd.Series([customer_id], dtype="str")}
        for table in ev.customer_tables():
            wanted[table] = self._keys_naming(table, customer_id)
        return self.related(wanted)

    def _keys_naming(self, table: str, customer_id: str) -> pd.Series:
        frame = self.tables[table]
        return frame.loc[frame[ev.CUSTOMER_FIELD] == customer_id, "key"]

    def totals(self) -> tt.Totals:
        """What LTV and the overview need, computed once per snapshot."""
        if self._totals is None:
            self._totals = tt.totals_of(tt.arrow_tables(self.tables))
        return self._totals


class Store(Protocol):
    """What the rest of the tool needs from a store engine."""

    location: str

    def snapshot(self) -> Snapshot:
        """The latest committed version."""

    def writing(self) -> AbstractContextManager[Snapshot]:
        """Exclusive access for a change: yields the latest snapshot to build on."""

    def commit(self, change: Change) -> None:
        """Add the change as one new version, all at once."""


class MemoryStore:
    """A store that lives and dies with the process (--memory)."""

    location = "memory"

    def __init__(self) -> None:
        self._snapshot = Snapshot(tb.empty_tables(), [])

    def snapshot(self) -> Snapshot:
        return self._snapshot

    @contextmanager
    def writing(self) -> Iterator[Snapshot]:
        yield self._snapshot

    def commit(self, change: Change) -> None:
        old = self._snapshot
        tables = {t: pd.concat([frame, tb.conform(change.added[t], t)], ignore_index=True)
                  if t in change.added and len(change.added[t]) else frame for t, frame in old.tables.items()}
        held = [*([] if change.release_held else old.held), *change.hold]
        self._snapshot = Snapshot(tables, held, old.version + 1, _next_seq(change, old),
                                  change.last_ingest or old.last_ingest)


def _next_seq(change: Change, old: Snapshot) -> int:
    return old.next_seq if change.next_seq is None else change.next_seq


def stored_schema() -> pa.Schema:
    """The Delta table's columns: the partition, every stored column of every table, and the held record."""
    kinds = {ev.ID: pa.string(), ev.TEXT: pa.string(), ev.AMOUNT: pa.float64(), ev.TAGS: TAGS_TYPE,
             ev.TIME: pa.timestamp("us", tz="UTC")}
    columns = [(PARTITION, pa.string()), (BUCKET, pa.int32()), ("key", pa.string()), ("verb", pa.string()),
               ("event_time", pa.timestamp("us", tz="UTC")), ("seq", pa.int64())]
    columns += [(f.stored_as, kinds[f.kind]) for f in ev.fields().values()]
    columns += [(f.name, f.type) for f in FIGURE_SCHEMA]
    return pa.schema([*dict(columns).items(), (RECORD, pa.string())])


MULTIPLIER = np.uint64(0x100000001B3)  # FNV's 64-bit prime
MIXER = np.uint64(0xBF58476D1CE4E5B9)
LOW_BYTES = np.array([(1 << 8 * k) - 1 for k in range(9)], dtype=np.uint64)  # masks keeping the first k bytes


def bucket_of(keys: pd.Series | pa.Array) -> np.ndarray:
    """Each key's bucket, from a hash of its UTF-8 bytes that is the same on every machine and version.

    h starts as the length in bytes; each 8-byte word of the key (little-endian,
    the last one padded with zeros) makes h = (h XOR word) × prime, modulo 2^64;
    h is then mixed and taken modulo BUCKETS. Vectorised over Arrow's buffers:
    step w handles the w-th word of every key that has one, longest keys first.
    """
    array = tb.large_strings(keys).combine_chunks()
    n = len(array)
    if n == 0:
        return np.zeros(0, dtype=np.int32)
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)[array.offset:array.offset + n + 1]
    raw = np.frombuffer(array.buffers()[2], dtype=np.uint8) if array.buffers()[2] else np.zeros(0, np.uint8)
    data = np.concatenate([raw[offsets[0]:offsets[-1]], np.zeros(8, np.uint8)])
    words_at = np.ndarray((len(data) - 7,), dtype="<u8", buffer=data, strides=(1,))  # the 8 bytes from each offset
    lengths = np.diff(offsets)
    words = (lengths + 7) // 8
    order = np.argsort(-words, kind="stable")
    starts, lengths, fewer = (offsets[:-1] - offsets[0])[order], lengths[order], -words[order]
    hashed = lengths.astype(np.uint64)
    with np.errstate(over="ignore"):
        for w in range(int(-fewer[0])):
            k = int(np.searchsorted(fewer, -w, side="left"))  # the keys with more than w words
            word = words_at[starts[:k] + 8 * w] & LOW_BYTES[np.minimum(lengths[:k] - 8 * w, 8)]
            hashed[:k] = (hashed[:k] ^ word) * MULTIPLIER
        hashed ^= hashed >> np.uint64(29)
        hashed *= MIXER
        hashed ^= hashed >> np.uint64(32)
    buckets = np.empty(n, dtype=np.int32)
    buckets[order] = (hashed % np.uint64(BUCKETS)).astype(np.int32)
    return buckets


def _to_frame(table: pa.Table, name: str, columns: list[str] | None = None) -> pd.DataFrame:
    """Arrow rows as the table's frame (or those of its columns given), in the stored dtypes."""
    mapper = {TAGS_TYPE: TAGS_DTYPE}.get
    return tb.conform(table.to_pandas(types_mapper=mapper, ignore_metadata=True), name, columns)


def _held_records(table: pa.Table) -> list[dict]:
    order = np.argsort(table.column("seq").to_numpy(zero_copy_only=False), kind="stable")
    return [orjson.loads(text) for text in table.column(RECORD).take(pa.array(order)).to_pylist()]


def _first_line(problem: object) -> str:
    text = str(problem).strip()
    return printable(text.splitlines()[0] if text else type(problem).__name__)


@dataclass(frozen=True)
class Source:
    """One version of one store's table, as the per-bucket work names it (on a thread or a Dask worker).

    `commit` identifies the version's commit file, so a store folder replaced by
    another one with the same version numbers is never mistaken for it.
    """

    path: str
    version: int
    commit: tuple


def source_of(path: str, version: int) -> Source:
    try:
        found = os.stat(Path(path) / LOG / f"{version:020d}.json")
        commit: tuple = (found.st_ino, found.st_mtime_ns, found.st_size)
    except OSError:  # a log cleaned up behind a checkpoint: the version alone must do
        commit = ()
    return Source(path, version, commit)


@lru_cache(maxsize=4)
def open_dataset(source: Source) -> pds.Dataset:  # cleared at exit, before the interpreter winds down its threads
    """The files of one version of the table as an Arrow dataset, opened once per process (and per worker)."""
    from deltalake import DeltaTable
    from deltalake.exceptions import DeltaError

    path = source.path
    try:
        table = DeltaTable(path, version=source.version)
        protocol = table.protocol()
        if protocol.min_reader_version > 1 or protocol.reader_features:  # deletion vectors and the like
            return table.to_pyarrow_dataset(schema=stored_schema())
        return _plain_dataset(table, path)
    except (DeltaError, OSError, ValueError, TypeError, KeyError, pa.ArrowException) as exc:
        raise _damaged(path, exc) from None


def _plain_dataset(table, path: str) -> pds.Dataset:
    """A table of plain Parquet files as a dataset: each file with its partition values, and nothing else.

    Delta's own reader also turns every file's statistics into an expression, which costs more than any
    query here saves by them (the files' own row-group statistics still prune).
    """
    files = pa.table(table.get_add_actions(flatten=True))
    root = Path(path).resolve()
    paths = [str(root / unquote(p)) for p in files.column("path").to_pylist()]
    partitions = [(pds.field(PARTITION) == name) & (pds.field(BUCKET) == int(bucket)) for name, bucket in zip(
        files.column(f"partition.{PARTITION}").to_pylist(), files.column(f"partition.{BUCKET}").to_pylist(),
        strict=True)]
    return pds.FileSystemDataset.from_paths(paths, schema=stored_schema(), format=pds.ParquetFileFormat(),
                                            filesystem=LocalFileSystem(), partitions=partitions)


atexit.register(open_dataset.cache_clear)


def _damaged(path: str, problem: object) -> StoreError:
    return StoreError(f"the store in {printable(str(Path(path).parent))} is damaged ({_first_line(problem)}); "
                      "it was left as it is")


def scan(source: Source, table: str, columns: list[str] | None = None, where: pds.Expression | None = None) -> pa.Table:
    """Rows of one table (or of the held events) at a version, only the columns asked for."""
    condition = pds.field(PARTITION) == table
    if where is not None:
        condition = condition & where
    try:
        return open_dataset(source).to_table(columns=columns, filter=condition)
    except (OSError, pa.ArrowException) as exc:
        raise _unreadable(source, exc) from None


def _unreadable(source: Source, problem: object) -> StoreError:
    """A read failed: name the file that cannot be read, when one of them is the cause."""
    dataset = open_dataset(source)
    for fragment in dataset.get_fragments():
        try:
            fragment.to_table(schema=dataset.schema)
        except (OSError, pa.ArrowException) as exc:
            name = fragment.path if os.path.isabs(fragment.path) else str(Path(source.path) / fragment.path)
            return damaged_file(name, exc)
    return _damaged(source.path, problem)


def damaged_file(path: Path | str, problem: object) -> StoreError:
    return StoreError(f"store file {printable(str(path))} is damaged ({_first_line(problem)}); it was left as it is")


def bucket_rows(source: Source, table: str, bucket: int, keys: pa.Array) -> pa.Table:
    """The stored rows of one bucket of a table whose key is among keys (all of them of that bucket).

    Only the key column of each file is read whole; the other columns only of the rows found.
    """
    columns = tb.columns(table)
    where = (pds.field(PARTITION) == table) & (pds.field(BUCKET) == bucket)
    found = []
    try:
        for fragment in open_dataset(source).get_fragments(filter=where):
            stored = fragment.to_table(columns=["key"]).column("key")
            hits = np.flatnonzero(tb.member(stored, keys))
            if hits.size:
                have = fragment.physical_schema.names
                rows = fragment.take(pa.array(hits), columns=[c for c in columns if c in have])
                found.append(pa.table({c: rows.column(c) if c in have else pa.nulls(len(rows)) for c in columns}))
    except (OSError, pa.ArrowException) as exc:
        raise _unreadable(source, exc) from None
    return pa.concat_tables(found, promote_options="permissive") if found else _empty_arrow(table)


def stored_frame(source: Source, rows: pa.Table | list[pa.Table], table: str,
                 columns: list[str] | None = None) -> pd.DataFrame:
    """Rows read from the store (in parts) as the table's frame; values of the wrong type name their file."""
    try:
        if isinstance(rows, list):
            rows = pa.concat_tables(rows or [_empty_arrow(table)], promote_options="permissive")
        return _to_frame(rows, table, columns)
    except (ValueError, TypeError, pa.ArrowException) as exc:
        raise _unreadable(source, exc) from None


def _in_bucket(bucket: int | None) -> pds.Expression | None:
    return None if bucket is None else pds.field(BUCKET) == bucket


def bucket_totals(source: Source, bucket: int | None) -> tt.Totals:
    """The figures of the events of one bucket (or of all), from those events (a store with no change rows)."""
    return tt.totals_of({table: scan(source, table, columns, _in_bucket(bucket))
                         for table, columns in tt.columns_read().items()})


def bucket_figures(source: Source, bucket: int | None) -> tuple[pa.Table, int]:
    """The change rows of the customer ids of one bucket (or of all), folded; and how many there were."""
    rows = scan(source, FIGURES, FIGURE_SCHEMA.names, _in_bucket(bucket))
    try:
        return tt.fold(rows.cast(FIGURE_SCHEMA)), len(rows)
    except (ValueError, TypeError, pa.ArrowException) as exc:
        raise _unreadable(source, exc) from None


class DeltaSnapshot(Snapshot):
    """A version of a DeltaStore: rows are read when asked for, and only the columns and keys asked for."""

    def __init__(self, store: DeltaStore, table, meta: dict) -> None:
        version = table.version()
        self.delta_table = table
        super().__init__(version=version, next_seq=meta.get("next_seq", 0), last_ingest=meta.get("last_ingest"))
        self._rows = meta.get("rows") if isinstance(meta.get("rows"), dict) else {}
        self.figure_rows = meta.get("figure_rows")  # None: the version has no change rows to trust
        self.summarised = self.figure_rows is not None
        self.span = meta.get("span")
        self._store = store
        self._path = str(store.path)
        self._source = source_of(self._path, version)
        self._dataset = open_dataset(self._source)
        self._check_files()

    def _check_files(self) -> None:
        """A file the version holds but the disk does not is named now, whichever of its rows a command reads."""
        for name in self._dataset.files:
            path = name if os.path.isabs(name) else os.path.join(self._path, name)
            if not os.path.exists(path):
                raise damaged_file(path, "the Delta log names it, but it is not there")

    def scan(self, table: str, columns: list[str] | None = None, where: pds.Expression | None = None) -> pa.Table:
        return scan(self._source, table, columns, where)

    def _load_tables(self) -> dict[str, pd.DataFrame]:
        return {t: self.table(t) for t in ev.tables()}

    def _load_held(self) -> list[dict]:
        return _held_records(self.scan(HELD, ["seq", RECORD]))

    def table(self, name: str) -> pd.DataFrame:
        if self._tables is not None:
            return self._tables[name]
        return stored_frame(self._source, self.scan(name, tb.columns(name)), name)

    def files_of(self, partition: str) -> list[str]:
        """The files of one table_name: the held events (removed when they are rewritten), or the change rows."""
        fragments = self._dataset.get_fragments(filter=pds.field(PARTITION) == partition)
        root = str(Path(self._path).resolve())
        return [os.path.relpath(f.path, root) if os.path.isabs(f.path) else f.path for f in fragments]

    def rows(self) -> dict[str, int]:
        """From the commit's figures; counted in the files when a commit of another tool left none."""
        if all(isinstance(self._rows.get(t), int) for t in ev.tables()):
            return {t: self._rows[t] for t in ev.tables()}
        try:
            return {t: self._dataset.count_rows(filter=(pds.field(PARTITION) == t) & (pds.field("verb") != ev.UPDATE))
                    for t in ev.tables()}
        except (OSError, pa.ArrowException) as exc:
            raise _damaged(self._path, exc) from None

    def related(self, wanted: dict[str, pd.Series]) -> dict[str, pd.DataFrame]:
        """Bucket by bucket, the rows whose key is wanted: memory in proportion to the batch, not the store.

        A small store is looked up in one pass per table, whichever way is asked (see SMALL_STORE).
        """
        if self.size() <= SMALL_STORE:
            return {table: stored_frame(self._source, self.scan(table, tb.columns(table), pds.field("key").isin(
                pa.array(wanted[table], type=pa.string()).unique())), table)
                if len(wanted.get(table, ())) else tb.empty(table) for table in ev.tables()}
        calls, owners = [], []
        for table in ev.tables():
            keys = wanted.get(table)
            if keys is None or not len(keys):
                continue
            keys = tb.large_strings(keys).combine_chunks().unique()
            buckets = bucket_of(keys)
            for b in np.unique(buckets):
                calls.append((self._source, table, int(b), keys.filter(pa.array(buckets == b))
                              .cast(pa.string())))
                owners.append(table)
        found = cluster.run(bucket_rows, calls, self._store.scheduler)
        return {table: stored_frame(self._source, [rows for rows, owner in zip(found, owners, strict=True)
                                                   if owner == table], table)
                for table in ev.tables()}

    def _keys_naming(self, table: str, customer_id: str) -> pd.Series:
        keys = self.scan(table, ["key"], pds.field(ev.CUSTOMER_FIELD) == customer_id).column("key")
        return pd.Series(keys.to_pandas(), dtype="str")

    def totals(self) -> tt.Totals:
        """Folded from the change rows: in one pass here, or bucket by bucket on a cluster.

        A store without change rows is figured from its events, bucket by bucket; a small one in one pass,
        whichever way is asked.
        """
        if self._totals is not None:
            return self._totals
        scheduler = self._store.scheduler
        if self.summarised:
            if scheduler and self.size() > SMALL_STORE:
                parts = cluster.run(bucket_figures, [(self._source, b) for b in range(BUCKETS)], scheduler)
            else:
                parts = [bucket_figures(self._source, None)]
            self._totals = tt.combine([tt.Totals(part, self.span) for part in self.counted(parts)])
        elif self.size() <= SMALL_STORE:
            self._totals = bucket_totals(self._source, None)
        else:
            calls = [(self._source, b) for b in range(BUCKETS)]
            self._totals = tt.combine(cluster.run(bucket_totals, calls, scheduler))
        return self._totals

    def counted(self, parts: list[tuple[pa.Table, int]]) -> list[pa.Table]:
        """Folded change rows (bucket_figures' parts), once their rows add up to the count the commit recorded."""
        found = sum(n for _, n in parts)
        if found != self.figure_rows:
            raise _damaged(self._path, f"the version holds {found} rows of per-customer figures where its "
                                       f"commit recorded {self.figure_rows}")
        return [part for part, _ in parts]


def _empty_arrow(table: str) -> pa.Table:
    return pa.Table.from_pandas(tb.empty(table), preserve_index=False)


class DeltaStore:
    """The store on disk: one Delta table under the data directory, written under a lock."""

    def __init__(self, data_dir: Path | str, wait: float = 0.0, scheduler: str | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / TABLE_DIR
        self.location = str(self.data_dir)
        self.wait = wait
        self.scheduler = scheduler
        self._snapshot: Snapshot | None = None
        self._base: Snapshot | None = None
        self._lock_fd: int | None = None

    def exists(self) -> bool:
        """Whether a version was ever committed: the log holds a commit (or a checkpoint)."""
        return bool(_committed(self.path / LOG))

    def _check_layout(self) -> None:
        """A store in the old format, or Parquet files without a commit, is never taken for an empty store.

        The one exception is the files of a first commit that did not finish (its marker is still there):
        they were never part of a store, so there is no store yet.
        """
        if is_legacy(self.data_dir):
            raise StoreError(f"the store in {printable(str(self.data_dir))} is in the previous format; convert it "
                             "with: process.py migrate (nothing is lost)")
        if (self.path / FIRST_COMMIT).exists() or not self.path.is_dir():
            return
        if any(self.path.rglob("*.parquet")):  # (a log folder alone is a table creation that did not finish)
            raise StoreError(f"the store in {printable(str(self.data_dir))} has table files but no Delta log "
                             f"commit ({printable(str(self.path / LOG))}); it was left as it is")

    def table(self):
        """The Delta table, or None when there is no store yet."""
        from deltalake import DeltaTable
        from deltalake.exceptions import DeltaError

        commits = _committed(self.path / LOG)
        if not commits:
            self._check_layout()
            return None
        empty = [p for p in commits if p.stat().st_size == 0]
        if empty:  # delta-rs would read it as a commit that changed nothing
            raise _damaged(str(self.path), f"{empty[0].name} is empty")
        try:
            return DeltaTable(str(self.path))
        except (DeltaError, OSError, ValueError) as exc:
            raise _damaged(str(self.path), exc) from None

    def snapshot(self) -> Snapshot:
        """The latest version, reused while no other process has committed since."""
        table = self.table()
        if table is None:
            if self._snapshot is None or self._snapshot.version != EMPTY:
                self._snapshot = Snapshot(tb.empty_tables(), [], EMPTY)
            return self._snapshot
        version = table.version()
        if self._snapshot is None or self._snapshot.version != version:
            self._snapshot = DeltaSnapshot(self, table, self._meta(table))
        return self._snapshot

    def _meta(self, table) -> dict:
        """This tool's figures of the latest version: those of the newest commit that recorded them.

        After a commit of another tool, the change rows and the span no longer hold for every event. The log
        may already hold commits newer than the version read (another process committing meanwhile): those
        are not this version's.
        """
        version = table.version()
        for older, info in log_entries(self.path, version):  # the history numbers them from the newest on disk
            if METADATA in info:
                return _own(figures(info[METADATA], str(self.path), older), older == version)
        for entry in table.history():  # entries cleaned up behind a checkpoint: what is left is read from it
            if METADATA in entry:
                return _own(figures(entry[METADATA], str(self.path), entry.get("version")), False)
        return {}

    @contextmanager
    def locked(self) -> Iterator[None]:
        """The write lock, waited for up to self.wait seconds."""
        self._acquire()
        try:
            yield
        finally:
            self._release()

    def _acquire(self) -> None:
        if fcntl is None:
            raise StoreError("writing a store on disk needs POSIX file locks (Linux, macOS); use --memory here")
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.data_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot open the store in {printable(str(self.data_dir))}: "
                             f"{exc.strerror or exc}") from None
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(WAIT_STEP)
                    continue
                holder = printable(os.read(fd, 4096).decode("utf-8", "replace").strip()) or "another process"
                os.close(fd)
                waited = f" (waited {self.wait:g} s)" if self.wait else " (--wait SECONDS waits for it)"
                raise StoreError(f"the store in {printable(str(self.data_dir))} is being written by {holder}; "
                                 f"try again when it is done{waited}") from None
        command = printable(" ".join([Path(sys.argv[0]).name, *sys.argv[1:]]))[:200]
        try:  # who holds the lock, for the message another writer gets; the lock itself is the flock
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"process {os.getpid()} ({command}), since {now()}\n".encode(), 0)
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
        with self.locked():
            self._base = self.snapshot()  # under the lock no other commit can come: commit builds on this one
            try:
                yield self._base
            finally:
                self._base = None

    @contextmanager
    def _committing(self, schema: pa.Schema) -> Iterator[Callable[[Piece], object]]:
        """How a commit writes its files; should the commit not happen, the files it wrote go, and an I/O failure
        is one StoreError saying the store is as it was."""
        from deltalake.exceptions import DeltaError

        written: list[Path] = []
        try:
            yield _writer(self.path, schema, written)
        except BaseException as exc:
            for path in written:  # the files of a commit that did not happen
                path.unlink(missing_ok=True)
            if not isinstance(exc, (OSError, pa.ArrowException, DeltaError)):
                raise
            raise StoreError(f"cannot save the store in {printable(str(self.data_dir))}: "
                             f"{_first_line(getattr(exc, 'strerror', None) or exc)}; it is as it was") from None

    def commit(self, change: Change) -> None:
        """Write the change's files, then add them (and remove replaced held files) in one Delta transaction."""
        if self._lock_fd is None:
            raise RuntimeError("commit outside writing()")
        from deltalake import CommitProperties
        from deltalake import Schema as DeltaSchema
        from deltalake.transaction import RemoveAction, create_table_with_add_actions

        schema = stored_schema()
        with self._committing(schema) as write:
            old = self._base
            if old is None:  # (migrate writes where the previous format still is: no layout check)
                old = self.snapshot() if self.exists() else Snapshot(tb.empty_tables(), [], EMPTY)
            table = old.delta_table if isinstance(old, DeltaSnapshot) else None
            if table is not None:  # an event type registered since the table was made: its columns join it
                _add_missing_columns(table, schema)
            if table is None:  # marks the files that follow as a first commit's, should it not finish
                self.path.mkdir(parents=True, exist_ok=True)
                (self.path / FIRST_COMMIT).touch()
            with ThreadPoolExecutor(max_workers=WRITERS) as pool:  # the figures are summed while events are written
                figured = pool.submit(_figures_after, old, change)
                writes = [pool.submit(write, piece) for t, frame in change.added.items() if len(frame)
                          for piece in _event_pieces(t, frame)]
                if change.hold:
                    held = _held_table(change.hold, 0 if change.release_held else _next_held(old))
                    writes.append(pool.submit(write, (HELD, 0, partial(pa.Table.slice, held))))
                figure_rows, span, counted = figured.result()
                writes += [pool.submit(write, piece) for piece in _pieces(FIGURES, figure_rows, "customer_id")]
                actions = [done.result() for done in writes]
            if isinstance(old, DeltaSnapshot):
                stamp = int(time.time() * 1000)
                replaced = [*(old.files_of(HELD) if change.release_held else []),
                            *([] if old.summarised else old.files_of(FIGURES))]  # figured again from the events
                actions += [RemoveAction(path, True, stamp) for path in replaced]
            rows = old.rows()
            for t, frame in change.added.items():
                rows[t] = rows.get(t, 0) + int(tb.creating_rows(frame).sum())
            meta = {"format": FORMAT, "command": change.command, "sources": change.sources, "counts": change.counts,
                    "next_seq": _next_seq(change, old), "last_ingest": change.last_ingest or old.last_ingest,
                    "rows": rows, "span": span, "figure_rows": counted}
            properties = _properties(CommitProperties, change.command, meta)
            if table is None:  # the table and its first version are one commit: no empty store is left behind
                create_table_with_add_actions(str(self.path), DeltaSchema.from_arrow(schema), actions,
                                              partition_by=[PARTITION, BUCKET], commit_properties=properties)
            else:
                table.create_write_transaction(actions, mode="append", schema=schema, partition_by=[PARTITION, BUCKET],
                                               commit_properties=properties)
            (self.path / FIRST_COMMIT).unlink(missing_ok=True)
        self._snapshot = None

    def fold_figures(self, command: str) -> tuple[int, int] | None:
        """The current version's change rows replaced by their fold, one row per customer id, as a new version.

        The figures stay exactly what they were (folding folded rows changes nothing); only the rows a query
        reads shrink back to the customer list. Returns the rows (before, after), or None when there is nothing
        to fold: no change rows to trust, or one row per id already. Must be called under locked().
        """
        if self._lock_fd is None:
            raise RuntimeError("fold_figures outside locked()")
        from deltalake import CommitProperties
        from deltalake.transaction import RemoveAction

        old = self.snapshot()
        if not isinstance(old, DeltaSnapshot) or not old.summarised:
            return None
        parts = old.counted([bucket_figures(old._source, bucket) for bucket in range(BUCKETS)])  # an id: one bucket
        before, after = old.figure_rows, sum(len(part) for part in parts)
        if after == before:
            return None
        folded, schema = pa.concat_tables(parts), stored_schema()
        with self._committing(schema) as write:
            _add_missing_columns(old.delta_table, schema)  # as a commit would: the table takes every known column
            with ThreadPoolExecutor(max_workers=WRITERS) as pool:
                actions = list(pool.map(write, _pieces(FIGURES, folded, "customer_id")))
            stamp = int(time.time() * 1000)
            actions += [RemoveAction(path, True, stamp) for path in old.files_of(FIGURES)]
            meta = {"format": FORMAT, "command": command, "sources": [], "counts": {}, "next_seq": old.next_seq,
                    "last_ingest": old.last_ingest, "rows": old.rows(), "span": old.span, "figure_rows": after}
            old.delta_table.create_write_transaction(actions, mode="append", schema=schema,
                                                     partition_by=[PARTITION, BUCKET],
                                                     commit_properties=_properties(CommitProperties, command, meta))
        self._snapshot = None
        return before, after


LARGEST_SEQ = 2**62  # arrival numbers stay well inside int64


def log_entries(root: Path, version: int) -> Iterator[tuple[int, dict]]:
    """(version, commitInfo) of each log entry from `version` down, until one is missing (cleaned up behind a
    checkpoint): read from the entries themselves, whatever newer commits another process has added since."""
    for older in range(version, -1, -1):
        info = _commit_info(root / LOG / f"{older:020d}.json", str(root))
        if info is None:
            return
        yield older, info


def _commit_info(path: Path, store_path: str) -> dict | None:
    """The commitInfo of one log entry ({} when it has none); None when the entry is not there."""
    try:
        lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _damaged(store_path, exc) from None
    for line in lines:
        try:
            action = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise _damaged(store_path, f"{path.name} holds a line that is not JSON") from None
        if isinstance(action, dict) and isinstance(action.get("commitInfo"), dict):
            return action["commitInfo"]
    return {}


def _own(meta: dict, newest: bool) -> dict:
    """A commit's figures for a later version: without those that hold only for the commit's own."""
    return meta if newest else {k: v for k, v in meta.items() if k not in OWN_FIGURES}


def figures(text: object, path: str, version: object) -> dict:
    """A commit's figures, checked: whatever a hand can put there is read or refused in one line, never a crash."""
    def damaged(problem: str) -> StoreError:
        return _damaged(path, f"the figures of version {version} {problem}")

    try:
        meta = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        meta = None
    if not isinstance(meta, dict):
        raise damaged("are not a JSON object")
    seq = meta.get("next_seq", 0)
    if type(seq) is not int or not 0 <= seq < LARGEST_SEQ:
        raise damaged("have a next_seq that is not a whole number from 0 up")
    last = meta.get("last_ingest")
    if last is not None and not (isinstance(last, dict) and isinstance(last.get("time"), str)
                                 and isinstance(last.get("sources"), list)
                                 and all(isinstance(x, str) for x in last["sources"])):
        raise damaged("have a last_ingest that is not a time and a list of files")
    rows = meta.get("rows")
    if rows is not None and not (isinstance(rows, dict) and all(type(n) is int and n >= 0 for n in rows.values())):
        raise damaged("have row counts that are not whole numbers")
    span = meta.get("span")
    if span is not None and not (isinstance(span, list) and len(span) == 2 and all(type(t) is int for t in span)
                                 and -LATEST_MICROS <= span[0] <= span[1] <= LATEST_MICROS):
        raise damaged("have a span of events that is not two times in order")
    counted = meta.get("figure_rows")
    if counted is not None and not (type(counted) is int and counted >= 0):
        raise damaged("have a count of per-customer rows that is not a whole number")
    return meta


def _properties(kind: Callable, command: str, meta: dict):
    return kind(custom_metadata={METADATA: json.dumps({"command": command, **meta}, ensure_ascii=True)})


def _add_missing_columns(table, schema: pa.Schema) -> None:
    from deltalake.schema import Field as DeltaField

    have = set(pa.schema(table.schema()).names)
    missing = [DeltaField.from_arrow(f) for f in schema if f.name not in have]
    if missing:
        table.alter.add_columns(missing)


def _next_held(old: Snapshot) -> int:
    if isinstance(old, DeltaSnapshot):
        seqs = old.scan(HELD, ["seq"]).column("seq")
        return int(pc.max(seqs).as_py()) + 1 if len(seqs) else 0
    return len(old.held)


def _held_table(records: list[dict], first: int) -> pa.Table:
    from .rejects import dumps

    return pa.table({"seq": pa.array(np.arange(first, first + len(records)), pa.int64()),
                     RECORD: pa.array([dumps(r).decode() for r in records], pa.string())})


def _figures_after(old: Snapshot, change: Change) -> tuple[pa.Table, list[int] | None, int]:
    """The change rows a commit adds, the span of the events after it (microseconds), and the version's rows of them.

    A store with no change rows yet (kept by an older release) gets those of all its events first.
    """
    version = old.version + 1
    rows = tt.changes(change.before, change.added, version)
    if isinstance(old, DeltaSnapshot) and old.summarised:
        span, held = old.span, old.figure_rows
    else:
        held = 0
        base = old.totals()
        again = base.customers.drop_columns(["seq"]).append_column("seq", pa.array(
            np.full(len(base.customers), version, dtype="int64")))
        rows = pa.concat_tables([again.select(FIGURE_SCHEMA.names), rows])
        span = base.span
    return rows, tt.span_of(change.added, span), held + len(rows)


Piece = tuple[str, int, Callable[[], pa.Table]]  # a table_name, a bucket, and how to get its rows when written


def _event_pieces(table: str, frame: pd.DataFrame) -> Iterator[Piece]:
    """The new rows of one table, bucket by bucket."""
    return _pieces(table, pa.Table.from_pandas(tb.conform(frame, table), preserve_index=False), "key")


def _pieces(name: str, arrow: pa.Table, by: str) -> Iterator[Piece]:
    """Rows of one partition, bucket by bucket of one of their columns.

    A bucket's rows are taken only when its file is written, so the rows are
    never all copied at once.
    """
    if not len(arrow):
        return
    buckets = bucket_of(arrow.column(by))
    order = np.argsort(buckets, kind="stable")
    buckets = buckets[order]
    edges = np.flatnonzero(np.diff(buckets)) + 1
    for start, stop in zip(np.r_[0, edges], np.r_[edges, len(buckets)], strict=True):
        yield name, int(buckets[start]), partial(arrow.take, pa.array(order[start:stop]))


def _writer(root: Path, schema: pa.Schema, written: list[Path]) -> Callable[[Piece], object]:
    """How one piece becomes one Parquet file and its Delta add action; pieces are written side by side (Arrow
    encodes without the GIL), and each file is listed in written before it is started."""
    from deltalake.transaction import AddAction

    columns = [f for f in schema if f.name not in (PARTITION, BUCKET)]

    def write(piece: Piece) -> AddAction:
        table_name, bucket, taken = piece
        rows = taken()
        own = [f for f in columns if f.name in rows.column_names]  # a column a file lacks is null, as Delta reads it
        data = pa.table([rows.column(f.name).cast(f.type) for f in own], schema=pa.schema(own))
        relative = f"{PARTITION}={table_name}/{BUCKET}={bucket}/part-{uuid.uuid4().hex}.{COMPRESSION}.parquet"
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        written.append(path)
        pq.write_table(data, path, compression=COMPRESSION)
        return AddAction(relative, path.stat().st_size, {PARTITION: table_name, BUCKET: str(bucket)},
                         int(time.time() * 1000), True, _stats(data, [f.name for f in columns]))

    return write


STATS_PREFIX = 64  # characters of a string kept in a file's statistics
HIGHEST = "\U0010ffff"  # appended to a cut string so it still bounds the values from above


def _stats(table: pa.Table, names: list[str]) -> str:
    """A file's Delta statistics: rows, and per column of the table (names) its nulls and (cut, valid) bounds.

    Readers prune files by them, so every column has them and every bound holds; a column the file does not
    hold is all nulls.
    """
    nulls = {name: len(table) for name in names if name not in table.column_names}
    lows, highs = {}, {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_map(column.type):
            continue
        nulls[name] = column.null_count
        if column.null_count == len(column):
            continue
        low, high = pc.min_max(column).values()
        if pa.types.is_string(column.type):
            low, high = low.as_py(), high.as_py()
            lows[name] = low[:STATS_PREFIX]
            highs[name] = high if len(high) <= STATS_PREFIX else high[:STATS_PREFIX] + HIGHEST
        elif pa.types.is_timestamp(column.type):  # milliseconds in the log: the bounds widen to whole ones
            lows[name] = _millis(low.value // 1000)
            highs[name] = _millis(-(-high.value // 1000))
        else:
            lows[name], highs[name] = low.as_py(), high.as_py()
    return json.dumps({"numRecords": len(table), "minValues": lows, "maxValues": highs, "nullCount": nulls})


LATEST_MILLIS = 253402300799999  # 9999-12-31T23:59:59.999Z, the last instant an event may hold
LATEST_MICROS = LATEST_MILLIS * 1000 + 999


def _millis(milliseconds: int) -> str:
    moment = EPOCH + timedelta(milliseconds=min(milliseconds, LATEST_MILLIS))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


LEGACY_MANIFEST = "CURRENT"  # the previous format (legacy.py): a manifest naming one of its generation folders
LEGACY_GENERATION = re.compile(r"gen-(?P<number>\d{6,})-(?P<store>[0-9a-f]{8})(?P<random>[0-9a-f]{8})?")


def legacy_generations(data_dir: Path) -> list[Path]:
    try:
        return [p for p in data_dir.iterdir() if LEGACY_GENERATION.fullmatch(p.name) and p.is_dir()]
    except OSError:
        return []


def is_legacy(data_dir: Path) -> bool:
    """Whether data_dir holds a store of the previous format (its manifest, or its generation folders)."""
    return (data_dir / LEGACY_MANIFEST).exists() or bool(legacy_generations(data_dir))


def _committed(log: Path) -> list[Path]:
    """The commit and checkpoint files of a Delta log (not the temporary files of a commit in progress)."""
    try:
        return [p for p in log.iterdir() if COMMIT_FILE.fullmatch(p.name)]
    except OSError:
        return []


def open_store(data_dir: Path | str | None, wait: float = 0.0, scheduler: str | None = None) -> Store:
    """A store under data_dir (its per-bucket work on a Dask scheduler when named), or in memory when None."""
    return MemoryStore() if data_dir is None else DeltaStore(data_dir, wait, scheduler)
