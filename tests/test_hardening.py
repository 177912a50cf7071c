"""Broken disks, failed commits and hostile bytes: never a traceback, never a lost or deleted byte.

Damaged and hand-edited stores, and files the tool did not create, are in test_hostile.py (section 8 and 4)."""
from __future__ import annotations

import errno
import importlib
import json
import logging
import os
import threading
import uuid
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from clv import logsetup
from clv import store as store_module
from clv.errors import ClvError, StoreError
from clv.ingest import ingest, reprocess
from clv.store import DeltaStore

from helpers import MESSY, SAMPLE, customer, run, write_json

# The modules themselves: `clv.export` and `clv.ingest` as attributes are the API functions of those names.
export_module = importlib.import_module("clv.export")
ingest_module = importlib.import_module("clv.ingest")


def one_line(text: str) -> str:
    assert "Traceback" not in text
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


@pytest.fixture(autouse=True)
def quiet_log():
    yield
    logsetup.configure(None)


def test_a_logs_dir_that_is_a_file_is_a_warning_not_a_failure(tmp_path, capsys):
    blocker = tmp_path / "logs"
    blocker.write_text("not a folder")
    dirs = ["--data-dir", str(tmp_path / "data"), "--logs-dir", str(blocker)]
    assert run([*dirs, "--memory", "stats"]).returncode == 0
    warning = capsys.readouterr().err
    assert one_line(warning).startswith("warning: cannot write the log in")


def test_a_log_that_fills_the_disk_warns_once_and_the_command_goes_on(tmp_path, capsys, monkeypatch):
    logger = logsetup.configure(tmp_path / "logs")
    handler = next(h for h in logger.handlers if isinstance(h, logging.FileHandler))
    monkeypatch.setattr(handler, "emit", lambda record: _failing_emit(handler, record))
    logging.getLogger("clv.test").info("one")
    logging.getLogger("clv.test").info("two")
    err = capsys.readouterr().err
    assert err.count("warning: cannot write to the log") == 1 and "Logging error" not in err


def _failing_emit(handler: logging.Handler, record: logging.LogRecord) -> None:
    try:
        raise OSError(errno.ENOSPC, "No space left on device")
    except OSError:
        handler.handleError(record)


def test_log_entries_stay_on_one_line_with_controls_escaped(tmp_path, dirs):
    hostile = tmp_path / "evil\x1b[31m\nname.json"
    write_json(hostile, [customer("c1", "2017-01-01T00:00:00Z")])
    assert run([*dirs, "ingest", hostile]).returncode == 0
    log = (tmp_path / "logs" / "process.log").read_text()
    assert "\x1b" not in log and "evil\\x1b[31m\\nname.json" in log
    assert all(line[:4].isdigit() for line in log.splitlines())


T = "2017-01-06T12:00:00Z"


def files(folder: Path) -> dict[str, bytes]:
    """Every file under folder with its bytes (LOCK aside: it only names the last writer)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "LOCK"}


def canonical(tables: dict) -> dict:
    return {name: frame.sort_values("seq", kind="stable").reset_index(drop=True) for name, frame in tables.items()}


def _full_mid_file(monkeypatch) -> None:
    """Writing a table file stores half of it, then the disk is full."""
    real = pq.write_table

    def half_then_full(table, where, *args, **kwargs):
        real(table, where, *args, **kwargs)
        os.truncate(where, os.path.getsize(where) // 2)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_module.pq, "write_table", half_then_full)


def _full_at_the_transaction(monkeypatch) -> None:
    """Every file is written, then the disk is full when the log entry that adds them is."""
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(DeltaTable, "create_write_transaction", full)


def _while_summing(error: Exception):
    """Files of the change are written while its per-customer figures are summed, and the sum meets the error."""
    def setup(monkeypatch) -> None:
        written = threading.Event()
        real = pq.write_table

        def write(*args, **kwargs):
            real(*args, **kwargs)
            written.set()

        def figures(*args, **kwargs):
            written.wait(5)
            raise error

        monkeypatch.setattr(store_module.pq, "write_table", write)
        monkeypatch.setattr(store_module, "_figures_after", figures)

    return setup


FULL = "No space left on device; it is as it was"
COMMIT_FAILURES = {
    "full-while-writing-a-file": (_full_mid_file, FULL),
    "full-at-the-log-entry": (_full_at_the_transaction, FULL),
    "full-while-summing-the-figures": (_while_summing(OSError(errno.ENOSPC, "No space left on device")), FULL),
    "damaged-while-summing-the-figures": (_while_summing(StoreError("the store is damaged")), "damaged"),
}


@pytest.mark.parametrize("operation", ["ingest", "reprocess"])
@pytest.mark.parametrize(("failure", "error"), COMMIT_FAILURES.values(), ids=COMMIT_FAILURES.keys())
def test_a_failing_commit_leaves_the_events_and_the_held_rejects_as_they_were(tmp_path, monkeypatch, failure, error,
                                                                              operation):
    """Events and held rejects are committed together: a disk that fills up while the files of a change, its
    per-customer figures or its log entry are written (or a store found damaged meanwhile) leaves both as they
    were, and no file of the change behind (referenced or not). Once that is over the change goes in whole, each
    rejected event held once."""
    data = tmp_path / "data"
    ingest(DeltaStore(data), [SAMPLE, MESSY])
    before = DeltaStore(data).snapshot()
    tables, held, version, on_disk = canonical(before.tables), before.held, before.version, files(data)
    more = write_json(tmp_path / "more.json", [customer("c-new", T), {"type": "PAYMENT", "key": "p1"}])

    def change() -> None:
        if operation == "ingest":
            ingest(DeltaStore(data), [more])
        else:
            reprocess(DeltaStore(data))

    with monkeypatch.context() as patch:
        failure(patch)
        with pytest.raises(StoreError, match=error):
            change()
    after = DeltaStore(data).snapshot()
    assert after.version == version and after.held == held
    for name, frame in canonical(after.tables).items():
        pd.testing.assert_frame_equal(frame, tables[name], obj=name)
    assert files(data) == on_disk
    change()
    again = DeltaStore(data).snapshot()
    assert again.version == version + 1
    if operation == "ingest":
        assert again.size() == before.size() + 1 and len(again.held) == len(held) + 1
    else:
        assert sorted(h["position"] for h in again.held) == sorted(h["position"] for h in held)


def test_a_crash_leftover_of_this_store_is_swept_by_compact_but_a_look_alike_is_not(tmp_path, dirs):
    """A commit killed before its log entry leaves files named as the tool names them that no version ever added:
    compact removes them. Files the tool cannot have written (other names, another folder) stay, and every answer
    is the same."""
    assert run([*dirs, "ingest", SAMPLE]).returncode == 0
    data = tmp_path / "data"
    folder = next((data / "events").glob("table_name=orders/bucket=*"))
    whole = next(folder.glob("*.parquet"))
    leftover = folder / f"part-{uuid.uuid4().hex}.zstd.parquet"
    leftover.write_bytes(whole.read_bytes())
    look_alikes = [folder / "part-0123abcd.zstd.parquet", folder / "part-00000-0123abcd.c000.snappy.parquet",
                   data / "events.bak" / folder.relative_to(data) / leftover.name]
    for path in look_alikes:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(whole.read_bytes())
    ranked = run([*dirs, "ltv", "5", "--format", "csv"]).stdout
    assert run([*dirs, "ingest", MESSY]).returncode == 0
    assert run([*dirs, "compact", "--retain", "0"]).returncode == 0
    assert not leftover.exists()
    assert [path for path in look_alikes if not path.exists()] == []
    assert run([*dirs, "rollback", "0"]).returncode == 0
    assert run([*dirs, "ltv", "5", "--format", "csv"]).stdout == ranked


def test_an_event_nested_300_deep_is_held_and_the_other_file_still_goes_in(tmp_path, dirs):
    deep: list = []
    inner = deep
    for _ in range(300):
        inner.append([])
        inner = inner[0]
    bad = write_json(tmp_path / "deep.json", [{"type": "ORDER", "verb": "NEW", "key": "o", "customer_id": "c",
                                              "event_time": "2017-01-01T00:00:00Z", "total_amount": deep}])
    result = run([*dirs, "ingest", bad, SAMPLE, "--format", "json"])
    figures = json.loads(result.stdout)
    assert result.returncode == 0 and (figures["ingested"], figures["rejected"]) == (4, 1)
    [held] = json.loads(run([*dirs, "rejects", "--format", "json"]).stdout)
    assert held["reason"] == "invalid_field" and held["event"]["total_amount"] == deep


def test_an_unexpected_error_in_one_file_does_not_stop_the_others(tmp_path, dirs, monkeypatch):
    real = ingest_module.read_file
    monkeypatch.setattr(ingest_module, "read_file",
                        lambda path, **options: (_ for _ in ()).throw(RuntimeError("boom")) if "messy" in str(path)
                        else real(path, **options))
    result = run([*dirs, "ingest", MESSY, SAMPLE, "--format", "json"])
    figures = json.loads(result.stdout)
    assert result.returncode == 1 and figures["ingested"] == 4
    assert "unexpected RuntimeError: boom" in result.stderr and "Traceback" not in result.stderr


def test_an_interrupted_export_leaves_the_folder_as_it_was(tmp_path, store, monkeypatch):
    ingest(store, [MESSY])
    out = tmp_path / "report"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    real = export_module._write
    calls = []

    def interrupted(frame, path, fmt):
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        real(frame, path, fmt)

    monkeypatch.setattr(export_module, "_write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        export_module.export(store.snapshot(), out)
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    fresh = tmp_path / "fresh" / "report"
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        export_module.export(store.snapshot(), fresh)
    assert not fresh.exists()


def test_an_export_that_cannot_write_says_nothing_was_exported(tmp_path, store, monkeypatch):
    ingest(store, [MESSY])

    def full(frame, path, fmt):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(export_module, "_write", full)
    with pytest.raises(ClvError, match="No space left on device; nothing was exported"):
        export_module.export(store.snapshot(), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_undecodable_bytes_in_a_path_argument_are_one_line(tmp_path, dirs):
    name = os.fsdecode(b"dump\xff.json")
    result = run([*dirs, "ingest", str(tmp_path / name)])
    assert result.returncode == 1 and "dump\\xff.json: no such file or directory" in one_line(result.stderr)
    assert run([*dirs, "ingest", SAMPLE]).returncode == 0
    assert not Path(tmp_path / "data" / "LOCK").read_text()  # the lock note is cleared once released
