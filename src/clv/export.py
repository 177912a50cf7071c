"""Write the store's tables and the full LTV ranking to files a spreadsheet opens."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import events as ev
from .atomic import fsync_path, uninterrupted
from .defaults import EXPORT_FORMATS
from .errors import ClvError
from .ltv import ltv_table
from .output import csv_text
from .reader import printable
from .store import Snapshot


class FilesExist(ClvError):
    """Export would replace files; the caller decides (--force, or asking the person)."""

    def __init__(self, paths: list[Path]) -> None:
        more = f" ({len(paths)} files would be replaced)" if len(paths) > 1 else ""
        super().__init__(f"{printable(str(paths[0]))} already exists; use --force to overwrite{more}")
        self.paths = paths


def _write(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    if fmt == "csv":
        with open(path, "w", encoding="utf-8", newline="") as out:
            out.write(csv_text(frame))  # the one CSV writer: never a formula, cents, one form of instants
    else:
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    fsync_path(path)


def _move_all(staging: Path, targets: list[Path]) -> None:
    """Move the staged files over their targets, all or none: a failure puts back what was moved.

    A target that already exists is first set aside in the staging folder, so it can be put back.
    """
    done: list[tuple[Path, Path | None]] = []
    try:
        for target in targets:
            kept = None
            if target.exists():
                kept = staging / f"previous-{target.name}"
                os.replace(target, kept)
            done.append((target, kept))
            os.replace(staging / target.name, target)
    except OSError:
        for target, kept in reversed(done):
            if kept is not None:
                os.replace(kept, target)
            else:
                target.unlink(missing_ok=True)
        raise


def export(snapshot: Snapshot, directory: Path | str, fmt: str = "csv", force: bool = False) -> list[Path]:
    """Every table and ltv (every customer, ranked) into directory, all or nothing.

    The files are written into a hidden folder inside directory first and moved into place only when all
    are complete, so an error or Ctrl-C leaves the directory as it was. Existing files are never
    overwritten unless force is set.
    """
    if fmt not in EXPORT_FORMATS:
        raise ClvError(f"unknown export format {fmt!r} (choose from {', '.join(EXPORT_FORMATS)})")
    folder = Path(directory)
    frames = {**snapshot.current(), "ltv": ltv_table(snapshot)}
    targets = {name: folder / f"{name}.{fmt}" for name in [*ev.tables(), "ltv"]}
    existing = [path for path in targets.values() if path.exists()]
    if existing and not force:
        raise FilesExist(existing)
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".clv-export-", dir=folder))
        try:
            for name, path in targets.items():
                _write(frames[name], staging / path.name, fmt)
            with uninterrupted():  # once every file is complete, the moves finish together
                _move_all(staging, list(targets.values()))
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            if created and not any(folder.iterdir()):
                folder.rmdir()
    except OSError as exc:
        raise ClvError(f"cannot write to {printable(str(folder))}: {exc.strerror or exc}; "
                       "nothing was exported") from None
    return list(targets.values())
