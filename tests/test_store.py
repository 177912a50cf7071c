"""The Delta store: persistence, one transaction per change, damage and locking (docs/contract.md, "Store").

Kills, --wait and the versions themselves are in test_versions.py."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from deltalake import DeltaTable

from clv.errors import StoreError
from clv.ingest import ingest
from clv.store import DeltaStore, open_dataset, source_of, stored_schema
from clv.versions import compact

from bench.generate import generate, write
from helpers import MESSY, PROCESS, ROOT, SAMPLE, run


def canonical(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The tables in arrival order, whatever order the files were read in."""
    return {name: frame.sort_values("seq", kind="stable").reset_index(drop=True) for name, frame in tables.items()}


def assert_same_tables(left: dict, right: dict) -> None:
    left, right = canonical(left), canonical(right)
    assert set(left) == set(right)
    for name, frame in left.items():
        pd.testing.assert_frame_equal(frame, right[name], obj=name)


def files(folder: Path) -> dict[str, bytes]:
    """Every file under folder with its bytes (LOCK aside: it only names the last writer)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "LOCK"}


def test_store_survives_a_new_instance_with_identical_tables_and_held_events(tmp_path):
    first = DeltaStore(tmp_path)
    ingest(first, [MESSY])
    again = DeltaStore(tmp_path).snapshot()
    assert_same_tables(first.snapshot().tables, again.tables)
    assert again.held == first.snapshot().held and len(again.held) == 9
    assert again.next_seq == 19 and again.last_ingest["sources"] == [str(MESSY)]


def test_each_ingestion_is_one_commit_whose_files_are_all_referenced(tmp_path):
    """An ingestion is one new version (one log entry); every Parquet file on disk is one the current version
    references, and nothing else (no temporary file) is left in the data directory."""
    store = DeltaStore(tmp_path)
    ingest(store, [SAMPLE])
    first = DeltaStore(tmp_path).snapshot().version
    ingest(store, [MESSY])
    table = DeltaTable(str(tmp_path / "events"))
    assert table.version() == first + 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["LOCK", "events"]
    log = tmp_path / "events" / "_delta_log"
    assert sorted(p.name for p in log.iterdir()) == [f"{n:020d}.json" for n in range(table.version() + 1)]
    on_disk = {str(p) for p in (tmp_path / "events").rglob("*") if p.is_file() and log not in p.parents}
    assert on_disk == set(table.file_uris())
    assert all(name.endswith(".parquet") for name in on_disk)


def test_a_process_sees_what_another_committed(tmp_path, dirs):
    assert run([*dirs, "ingest", str(SAMPLE)]).returncode == 0
    out = run([*dirs, "ltv", "1", "--format", "csv"])
    assert out.returncode == 0 and "96f55c7d8f42,Smith,12.34" in out.stdout


def last_commit(data: Path) -> Path:
    return max((data / "events" / "_delta_log").glob("*.json"))


def test_a_damaged_log_entry_is_named_and_left_alone(tmp_path, dirs):
    run([*dirs, "ingest", str(SAMPLE)])
    entry = last_commit(tmp_path / "data")
    entry.write_text("{ not json")
    for args in (["ingest", str(MESSY)], ["ltv", "3"], ["display"], ["rejects"]):
        result = run([*dirs, *args])
        assert result.returncode == 1, args
        assert f"the store in {tmp_path / 'data'} is damaged" in result.stderr and "Traceback" not in result.stderr
    assert entry.read_text() == "{ not json"
    with pytest.raises(StoreError, match="is damaged"):
        DeltaStore(tmp_path / "data").snapshot()


def test_a_damaged_table_file_is_named_and_left_alone(tmp_path, dirs):
    """A read, or an ingestion whose keys live in the damaged file's bucket (here: the same events again), stops
    with the file's name; the file stays as it is."""
    run([*dirs, "ingest", str(SAMPLE)])
    table = next((tmp_path / "data" / "events").glob("table_name=orders/*/*.parquet"))
    table.write_bytes(b"garbage")
    for args in (["ingest", str(SAMPLE)], ["display", "orders"]):
        result = run([*dirs, *args])
        assert result.returncode == 1 and "is damaged" in result.stderr and table.name in result.stderr, args
    assert table.read_bytes() == b"garbage"
    with pytest.raises(StoreError, match=table.name):
        DeltaStore(tmp_path / "data").snapshot().tables  # noqa: B018 (reading is what fails)


HOLDER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {src!r})
    from clv.store import DeltaStore
    with DeltaStore({data!r}).writing():
        print("holding", flush=True)
        time.sleep(60)
""")


def test_a_second_writer_gets_a_clear_error_and_no_stale_lock_after_a_crash(tmp_path, dirs):
    data = tmp_path / "data"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER.format(src=str(ROOT / "src"), data=str(data))],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        result = run([*dirs, "ingest", str(SAMPLE)])
        assert result.returncode == 1
        assert f"being written by process {holder.pid}" in result.stderr
        assert run([*dirs, "ltv", "1"]).returncode == 1  # reading is not blocked: it just finds no store
    finally:
        holder.send_signal(signal.SIGKILL)  # a crash: the kernel drops the lock with the process
        holder.wait()
    assert run([*dirs, "ingest", str(SAMPLE)]).returncode == 0


def wait_for_writer(data: Path, process: subprocess.Popen) -> None:
    """Until the process holds the store's write lock (it names itself in the lock file), i.e. is ingesting."""
    lock = data / "LOCK"
    while f"process {process.pid} " not in (lock.read_text() if lock.exists() else ""):
        assert process.poll() is None, "the writer ended before taking the lock"


def test_ctrl_c_during_ingestion_changes_nothing(tmp_path, dirs):
    big = tmp_path / "big.json"
    write(generate(100_000, seed=4), big, "json")
    data = tmp_path / "data"
    assert run([*dirs, "ingest", str(MESSY)]).returncode == 0
    before, on_disk = DeltaStore(data).snapshot(), files(data)
    process = subprocess.Popen([sys.executable, str(PROCESS), *dirs, "ingest", str(big)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_writer(data, process)
    process.send_signal(signal.SIGINT)
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "interrupted; nothing was changed" in err and "Traceback" not in err
    after = DeltaStore(data).snapshot()
    assert_same_tables(after.tables, before.tables)
    assert after.held == before.held and after.version == before.version
    assert files(data) == on_disk  # no new version, and no file of one


def test_ctrl_c_once_saving_has_begun_lets_the_run_finish(tmp_path, monkeypatch):
    store = DeltaStore(tmp_path / "data")
    commit = store.commit

    def interrupted_commit(change):
        os.kill(os.getpid(), signal.SIGINT)
        commit(change)

    monkeypatch.setattr(store, "commit", interrupted_commit)
    result = ingest(store, [MESSY])
    assert result.total.ingested == 6
    again = DeltaStore(tmp_path / "data").snapshot()
    assert again.size() == 6 and len(again.held) == 9


def test_a_long_lived_store_sees_commits_of_another_writer(tmp_path):
    reader = DeltaStore(tmp_path / "data")
    assert reader.snapshot().size() == 0 and reader.snapshot().held == []
    ingest(DeltaStore(tmp_path / "data"), [SAMPLE])
    assert reader.snapshot().size() == 4
    ingest(DeltaStore(tmp_path / "data"), [MESSY])
    assert reader.snapshot().size() == 10 and len(reader.snapshot().held) == 9


def test_the_store_reads_exactly_the_rows_delta_lake_reads(tmp_path):
    """The store opens plain tables itself (files and partition values from the log); every row and column read
    that way is what Delta Lake's own reader gives for the same version, after several commits and a compaction."""
    store = DeltaStore(tmp_path / "data")
    for path in (SAMPLE, MESSY):
        ingest(store, [path])
    compact(store, 0)
    write(generate(300, seed=5), tmp_path / "more.json", "json")
    ingest(store, [tmp_path / "more.json"])
    snapshot = store.snapshot()
    mine = open_dataset(source_of(str(store.path), snapshot.version))
    theirs = DeltaTable(str(store.path)).to_pyarrow_dataset(schema=stored_schema())
    order = [("table_name", "ascending"), ("seq", "ascending"), ("customer_id", "ascending")]
    assert mine.to_table().sort_by(order).equals(theirs.to_table().sort_by(order))
    assert len(mine.files) == len(theirs.files)


def test_a_version_is_read_with_its_own_figures_while_newer_commits_arrive(tmp_path):
    """A reader that opened version 0 while another process committed version 1 takes version 0's figures (its
    row counts, span and count of change rows), never the newer commit's: they would not match its files."""
    store = DeltaStore(tmp_path / "data")
    ingest(store, [SAMPLE])
    first = dict(store.snapshot().delta_table.history()[0])
    ingest(store, [MESSY])
    meta = store._meta(DeltaTable(str(store.path), version=0))
    assert meta["next_seq"] == json.loads(first["clv"])["next_seq"]
    assert meta["figure_rows"] == json.loads(first["clv"])["figure_rows"] != store.snapshot().figure_rows
