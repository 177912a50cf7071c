"""The previous on-disk format, read once to migrate it (docs/contract.md, "Store").

Format 1 kept one Parquet file per table in a generation folder
(gen-NNNNNN-…) named by a CURRENT manifest, and the held rejected events in
rejected_events.jsonl under the logs directory. `migrate` reads both and
commits them to the Delta table as its first version; the old files are then
removed (the generation folders and the manifest) or renamed (the rejects
file), so nothing is read twice and nothing is lost.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import events as ev
from . import tables as tb
from .errors import StoreError
from .reader import printable
from .store import LEGACY_GENERATION as GENERATION
from .store import LEGACY_MANIFEST as MANIFEST
from .store import Change, DeltaStore, _to_frame, damaged_file, is_legacy, legacy_generations
from .versions import commits

FORMAT = 1
REJECTS_FILE = "rejected_events.jsonl"
MIGRATED_SUFFIX = ".migrated"


def _manifest(data_dir: Path) -> dict:
    path = data_dir / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if manifest.get("format") != FORMAT or not isinstance(manifest.get("tables"), dict):
            raise ValueError("unexpected content")
        if not all(isinstance(v, str) and GENERATION.fullmatch(v.split("/")[0]) for v in manifest["tables"].values()):
            raise ValueError("table paths are not generation files")
        if type(manifest.get("next_seq")) is not int:
            raise ValueError("next_seq must be a whole number")
    except FileNotFoundError:
        raise StoreError(f"the store in {printable(str(data_dir))} has table files but no {MANIFEST} manifest; "
                         "it was left as it is") from None
    except (OSError, UnicodeDecodeError, ValueError, AttributeError) as exc:
        raise damaged_file(path, getattr(exc, "strerror", None) or exc) from None
    return manifest


@dataclass
class Legacy:
    tables: dict[str, pd.DataFrame]
    next_seq: int
    last_ingest: dict | None


def read_store(data_dir: Path) -> Legacy:
    """Every table of a format-1 store, as its manifest names them."""
    manifest = _manifest(data_dir)
    tables = {}
    for name in ev.tables():
        if name not in manifest["tables"]:
            tables[name] = tb.empty(name)
            continue
        path = data_dir / manifest["tables"][name]
        try:
            tables[name] = _to_frame(pq.read_table(path), name)
        except (OSError, pa.ArrowException, KeyError, ValueError, TypeError) as exc:
            raise damaged_file(path, getattr(exc, "strerror", None) or exc) from None
    last = manifest.get("last_ingest")
    return Legacy(tables, manifest["next_seq"], last if isinstance(last, dict) else None)


def read_held(path: Path) -> list[dict]:
    """The held events of a rejects file; a last line torn by a crash was never held."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise StoreError(f"cannot read {printable(str(path))}: {exc.strerror or exc}") from None
    lines = data.split(b"\n")
    held = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            if number == len(lines):
                break
            raise StoreError(f"{printable(str(path))} line {number} is not a held event; fix or remove that line")
        held.append(value)
    return held


def migrate(store: DeltaStore, logs_dir: Path | None) -> dict:
    """Convert a format-1 store (and its rejects file) into the Delta table, in one commit."""
    data_dir = store.data_dir
    rejects = logs_dir / REJECTS_FILE if logs_dir is not None else None
    with store.locked():
        legacy = is_legacy(data_dir)
        if store.exists():
            if legacy and _converted(store):  # converted before, but stopped before the old files went: finish
                _remove_old(data_dir, rejects)
                return {"migrated": False, "note": "already converted; the old files were removed"}
            if legacy:
                raise StoreError(f"{printable(str(data_dir))} holds a store of each format; it was left as it is "
                                 f"(move the previous format's {MANIFEST} and gen-… folders elsewhere to keep both)")
            return {"migrated": False, "note": "the store is already in the current format"}
        if not legacy:
            return {"migrated": False, "note": "no store in the previous format here"}
        old = read_store(data_dir)
        held = read_held(rejects) if rejects is not None else []
        counts = {t: len(frame) for t, frame in old.tables.items()}
        store.commit(Change("migrate", old.tables, held, next_seq=old.next_seq, counts={**counts, "held": len(held)},
                            last_ingest=old.last_ingest))
        _remove_old(data_dir, rejects)
    return {"migrated": True, "rows": counts, "held": len(held)}


def _converted(store: DeltaStore) -> bool:
    """Whether a version of the store is a migration (so the old files' content is in it)."""
    return any(entry["meta"].get("command") == "migrate" for entry in commits(store.table(), str(store.path)))


def _remove_old(data_dir: Path, rejects: Path | None) -> None:
    """The old format's files, now in the Delta table: the tool created them, so it may remove them."""
    for folder in legacy_generations(data_dir):
        shutil.rmtree(folder, ignore_errors=True)
    (data_dir / MANIFEST).unlink(missing_ok=True)
    if rejects is not None and rejects.exists():
        rejects.replace(rejects.with_name(rejects.name + MIGRATED_SUFFIX))
