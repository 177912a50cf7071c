"""Broken disks, damaged stores and hostile bytes: never a traceback, never a lost or deleted byte."""
from __future__ import annotations

import errno
import importlib
import json
import logging
import os
from pathlib import Path

import pytest

from clv import logsetup
from clv import store as store_module
from clv.errors import ClvError, StoreError
from clv.ingest import ingest
from clv.rejects import FileRejects, MemoryRejects
from clv.store import ParquetStore

from helpers import MESSY, SAMPLE, customer, run, write_json

# The modules themselves: `clv.export` and `clv.ingest` as attributes are the API functions of those names.
export_module = importlib.import_module("clv.export")
ingest_module = importlib.import_module("clv.ingest")


def one_line(text: str) -> str:
    assert "Traceback" not in text
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def stats(dirs: list[str]) -> dict:
    result = run([*dirs, "stats", "--format", "json"])
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


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


def test_a_store_without_its_manifest_is_an_error_not_an_empty_store(tmp_path, dirs):
    assert run([*dirs, "ingest", SAMPLE]).returncode == 0
    (tmp_path / "data" / "CURRENT").unlink()
    generations = sorted(p.name for p in (tmp_path / "data").glob("gen-*"))
    for command in (["stats"], ["ltv", "1"], ["ingest", MESSY]):
        result = run([*dirs, *command])
        assert result.returncode == 1 and "has table files but no CURRENT manifest" in one_line(result.stderr)
    assert sorted(p.name for p in (tmp_path / "data").glob("gen-*")) == generations


def test_nothing_the_tool_did_not_create_is_deleted(tmp_path, dirs):
    assert run([*dirs, "ingest", SAMPLE]).returncode == 0
    data = tmp_path / "data"
    foreign = [data / "gen-000001-notours", data / "gen-backup", data / ".CURRENT.1234abcd.tmp"]
    foreign[0].mkdir()
    foreign[1].mkdir()
    foreign[2].write_text("someone else's")
    first = {p.name for p in data.glob("gen-*")} - {f.name for f in foreign}
    assert run([*dirs, "ingest", MESSY]).returncode == 0
    assert all(path.exists() for path in foreign)
    now = {p.name for p in data.glob("gen-*")} - {f.name for f in foreign}
    assert len(now) == 1 and now.isdisjoint(first)  # the tool's own previous generation is gone


def test_a_crash_leftover_of_this_store_is_swept_but_a_look_alike_of_another_is_not(tmp_path, dirs):
    assert run([*dirs, "ingest", SAMPLE]).returncode == 0
    data = tmp_path / "data"
    store_id = json.loads((data / "CURRENT").read_text())["store_id"]
    leftover, other = data / f"gen-000007-{store_id}deadbeef", data / "gen-000007-0123abcddeadbeef"
    leftover.mkdir()
    other.mkdir()
    assert run([*dirs, "ingest", MESSY]).returncode == 0
    assert not leftover.exists() and other.exists()


@pytest.mark.parametrize("change, words", [
    (lambda m: {**m, "generation": "seven"}, "generation and next_seq must be whole numbers"),
    (lambda m: {**m, "tables": {"customers": 5}}, "table paths are not generation files"),
    (lambda m: {**m, "tables": {"customers": "../../etc/passwd"}}, "table paths are not generation files"),
    (lambda m: {**m, "last_ingest": {"time": 1, "sources": "x"}}, "last_ingest is not a time"),
    (lambda m: [m], "damaged"),
])
def test_a_hand_edited_manifest_is_one_line_naming_the_file(tmp_path, dirs, change, words):
    assert run([*dirs, "ingest", SAMPLE]).returncode == 0
    manifest = tmp_path / "data" / "CURRENT"
    manifest.write_text(json.dumps(change(json.loads(manifest.read_text()))))
    result = run([*dirs, "stats"])
    line = one_line(result.stderr)
    assert result.returncode == 1 and "CURRENT is damaged" in line and words in line


def test_a_missing_table_file_is_reported_under_its_own_name(tmp_path, dirs):
    assert run([*dirs, "ingest", SAMPLE]).returncode == 0
    orders = next((tmp_path / "data").glob("gen-*/orders.parquet"))
    orders.unlink()
    result = run([*dirs, "ltv", "1"])
    assert result.returncode == 1 and f"store file {orders} is missing" in one_line(result.stderr)


def test_a_damaged_table_file_is_one_line(tmp_path, dirs):
    assert run([*dirs, "ingest", SAMPLE]).returncode == 0
    images = next((tmp_path / "data").glob("gen-*/images.parquet"))
    images.write_bytes(b"PAR1" + b"\x00" * 64 + b"PAR1")
    result = run([*dirs, "stats"])
    assert result.returncode == 1 and "images.parquet is damaged" in one_line(result.stderr)


def test_a_torn_last_held_line_is_not_a_damaged_file_and_the_next_ingest_mends_it(tmp_path, dirs):
    assert run([*dirs, "ingest", MESSY]).returncode == 0
    held = tmp_path / "logs" / "rejected_events.jsonl"
    whole = held.read_bytes()
    held.write_bytes(whole + b'{"event": {"type": "ORD')  # a crash in the middle of an append
    assert stats(dirs)["rejected_held"] == 9
    bad = write_json(tmp_path / "bad.json", [{"type": "PAYMENT"}])
    assert run([*dirs, "ingest", bad]).returncode == 0
    lines = held.read_bytes().splitlines()
    assert len(lines) == 10 and held.read_bytes().startswith(whole)


def test_a_full_disk_while_holding_rejects_leaves_the_held_file_and_the_store_as_they_were(tmp_path, monkeypatch):
    store, rejects = ParquetStore(tmp_path / "data"), FileRejects(tmp_path / "logs" / "rejected_events.jsonl")
    ingest(store, [MESSY], rejects)
    before = rejects.path.read_bytes()
    real_write = FileRejects._write

    def half_then_full(self, records, mode, path):
        with open(path, mode) as out:
            out.write(b'{"event": {"half')
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(FileRejects, "_write", half_then_full)
    bad = write_json(tmp_path / "bad.json", [{"type": "PAYMENT"}, customer("new", "2017-01-01T00:00:00Z")])
    with pytest.raises(StoreError, match="No space left on device; nothing was stored"):
        ingest(store, [bad], rejects)
    monkeypatch.setattr(FileRejects, "_write", real_write)
    assert rejects.path.read_bytes() == before
    assert ParquetStore(tmp_path / "data").snapshot().size() == 6


def test_a_full_disk_while_saving_leaves_the_store_as_it_was(tmp_path, monkeypatch):
    store = ParquetStore(tmp_path / "data")
    ingest(store, [SAMPLE], MemoryRejects())
    generations = sorted((tmp_path / "data").glob("gen-*"))

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_module.pq, "write_table", full)
    with pytest.raises(StoreError, match="No space left on device; it is as it was"):
        ingest(store, [MESSY], MemoryRejects())
    assert sorted((tmp_path / "data").glob("gen-*")) == generations
    assert ParquetStore(tmp_path / "data").snapshot().size() == 4


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
    held = json.loads((tmp_path / "logs" / "rejected_events.jsonl").read_text())
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


def test_an_interrupted_export_leaves_the_folder_as_it_was(tmp_path, store, rejects, monkeypatch):
    ingest(store, [MESSY], rejects)
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


def test_an_export_that_cannot_write_says_nothing_was_exported(tmp_path, store, rejects, monkeypatch):
    ingest(store, [MESSY], rejects)

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
