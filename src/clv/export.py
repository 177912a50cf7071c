"""Write the store's tables and the full LTV ranking to files a spreadsheet opens."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import events as ev
from .atomic import staged
from .defaults import EXPORT_FORMATS
from .display import tags_json
from .errors import ClvError
from .ltv import ltv_table
from .store import Snapshot
from .timefmt import iso_column


class FilesExist(ClvError):
    """Export would replace files; the caller decides (--force, or asking the person)."""

    def __init__(self, paths: list[Path]) -> None:
        more = f" ({len(paths)} files would be replaced)" if len(paths) > 1 else ""
        super().__init__(f"{paths[0]} already exists; use --force to overwrite{more}")
        self.paths = paths


def _for_csv(frame: pd.DataFrame) -> pd.DataFrame:
    """Times as ISO 8601 UTC text and tags as JSON text, so a spreadsheet shows them as they are."""
    out = frame.copy()
    for name, column in frame.items():
        if isinstance(column.dtype, pd.DatetimeTZDtype):
            out[name] = iso_column(column, "microseconds")  # one fixed form for scripts and spreadsheets
        elif name in ev.fields_of_kind(ev.TAGS):
            out[name] = [tags_json(v) for v in column.to_numpy(dtype=object, na_value=None)]
    return out


def _write(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    with staged(path) as temporary:
        if fmt == "csv":
            _for_csv(frame).to_csv(temporary, index=False)
        else:
            pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), temporary)


def export(snapshot: Snapshot, directory: Path | str, fmt: str = "csv", force: bool = False) -> list[Path]:
    """customers, site_visits, images, orders and ltv (every customer, ranked) into directory.

    Existing files are never overwritten unless force is set; then each file is replaced atomically.
    """
    if fmt not in EXPORT_FORMATS:
        raise ClvError(f"unknown export format {fmt!r} (choose from {', '.join(EXPORT_FORMATS)})")
    folder = Path(directory)
    frames = {**snapshot.current(), "ltv": ltv_table(snapshot)}
    targets = {name: folder / f"{name}.{fmt}" for name in [*ev.tables(), "ltv"]}
    existing = [path for path in targets.values() if path.exists()]
    if existing and not force:
        raise FilesExist(existing)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, path in targets.items():
            _write(frames[name], path, fmt)
    except OSError as exc:
        raise ClvError(f"cannot write to {folder}: {exc.strerror or exc}") from None
    return list(targets.values())
