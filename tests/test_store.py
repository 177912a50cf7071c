"""The Parquet store: persistence, atomic commits, damage and locking (docs/contract.md)."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from clv.errors import StoreError
from clv.ingest import ingest
from clv.rejects import MemoryRejects
from clv.store import ParquetStore

from bench.generate import generate, write
from helpers import MESSY, PROCESS, ROOT, SAMPLE, run


def assert_same_tables(left: dict, right: dict) -> None:
    assert set(left) == set(right)
    for name, frame in left.items():
        pd.testing.assert_frame_equal(frame.reset_index(drop=True), right[name].reset_index(drop=True))


def test_store_survives_a_new_instance_with_identical_tables(tmp_path):
    first = ParquetStore(tmp_path)
    ingest(first, [MESSY], MemoryRejects())
    again = ParquetStore(tmp_path).snapshot()
    assert_same_tables(first.snapshot().tables, again.tables)
    assert again.next_seq == 19 and again.last_ingest["sources"] == [str(MESSY)]


def test_a_commit_leaves_one_generation_and_no_temporary_files(tmp_path):
    store = ParquetStore(tmp_path)
    ingest(store, [SAMPLE], MemoryRejects())
    ingest(store, [MESSY], MemoryRejects())
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names[:2] == ["CURRENT", "LOCK"] and len(names) == 3 and names[2].startswith("gen-000002-")


def test_a_process_sees_what_another_committed(tmp_path, dirs):
    assert run([*dirs, "ingest", str(SAMPLE)]).returncode == 0
    out = run([*dirs, "ltv", "1", "--format", "csv"])
    assert out.returncode == 0 and "96f55c7d8f42,Smith,12.34" in out.stdout


def test_damaged_manifest_is_named_and_left_alone(tmp_path, dirs):
    run([*dirs, "ingest", str(SAMPLE)])
    manifest = tmp_path / "data" / "CURRENT"
    manifest.write_text("{ not json")
    for args in (["ingest", str(MESSY)], ["ltv", "3"], ["display"]):
        result = run([*dirs, *args])
        assert result.returncode == 1
        assert f"store file {manifest} is damaged" in result.stderr and "Traceback" not in result.stderr
    assert manifest.read_text() == "{ not json"


def test_damaged_table_file_is_named_and_left_alone(tmp_path, dirs):
    run([*dirs, "ingest", str(SAMPLE)])
    table = next((tmp_path / "data").glob("gen-*/orders.parquet"))
    table.write_bytes(b"garbage")
    result = run([*dirs, "ingest", str(MESSY)])
    assert result.returncode == 1 and f"store file {table} is damaged" in result.stderr
    assert table.read_bytes() == b"garbage"
    with pytest.raises(StoreError, match="orders.parquet"):
        ParquetStore(tmp_path / "data").snapshot()


HOLDER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {src!r})
    from clv.store import ParquetStore
    with ParquetStore({data!r}).writing():
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
        assert run([*dirs, "ltv", "1"]).returncode == 1  # reading is not blocked: it just finds no data
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert run([*dirs, "ingest", str(SAMPLE)]).returncode == 0


def wait_for_writer(data: Path, process: subprocess.Popen) -> None:
    """Until the process holds the store's write lock (it names itself in the lock file), i.e. is ingesting."""
    lock = data / "LOCK"
    while f"process {process.pid} " not in (lock.read_text() if lock.exists() else ""):
        assert process.poll() is None, "the writer ended before taking the lock"


def _state(data: Path) -> dict:
    return ParquetStore(data).snapshot().tables


@pytest.mark.slow
def test_kill_during_a_large_ingestion_leaves_the_old_or_the_new_state(tmp_path, dirs):
    big = tmp_path / "big.json"
    write(generate(40_000, seed=3), big, "json")
    data = tmp_path / "data"
    assert run([*dirs, "ingest", str(SAMPLE)]).returncode == 0
    old = _state(data)
    new_store = ParquetStore(tmp_path / "reference")
    ingest(new_store, [SAMPLE], MemoryRejects())
    ingest(new_store, [big], MemoryRejects())
    new = new_store.snapshot().tables
    chance = random.Random(3)
    for _ in range(2):  # killed at a random moment of the ingestion, parsing and saving included
        process = subprocess.Popen([sys.executable, str(PROCESS), *dirs, "ingest", str(big)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_writer(data, process)
        time.sleep(chance.uniform(0, 2.5))
        process.send_signal(signal.SIGKILL)
        process.wait()
        state = _state(data)
        assert_same_tables(state, old if state["site_visits"].shape == old["site_visits"].shape else new)
    assert run([*dirs, "ingest", str(big)]).returncode == 0
    assert_same_tables(_state(data), new)


def test_ctrl_c_during_ingestion_changes_nothing(tmp_path, dirs):

    big = tmp_path / "big.json"
    write(generate(100_000, seed=4), big, "json")
    assert run([*dirs, "ingest", str(SAMPLE)]).returncode == 0
    before = _state(tmp_path / "data")
    process = subprocess.Popen([sys.executable, str(PROCESS), *dirs, "ingest", str(big)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_writer(tmp_path / "data", process)
    process.send_signal(signal.SIGINT)
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "interrupted; nothing was changed" in err and "Traceback" not in err
    assert_same_tables(_state(tmp_path / "data"), before)
    assert len(list((tmp_path / "data").glob("gen-*"))) == 1


def test_ctrl_c_once_saving_has_begun_lets_the_run_finish(tmp_path, monkeypatch):
    store = ParquetStore(tmp_path / "data")
    commit = store.commit

    def interrupted_commit(snapshot):
        os.kill(os.getpid(), signal.SIGINT)
        commit(snapshot)

    monkeypatch.setattr(store, "commit", interrupted_commit)
    result = ingest(store, [SAMPLE], MemoryRejects())
    assert result.total.ingested == 4
    assert ParquetStore(tmp_path / "data").snapshot().size() == 4


def test_a_long_lived_store_sees_commits_of_another_writer(tmp_path):
    reader = ParquetStore(tmp_path / "data")
    assert reader.snapshot().size() == 0
    ingest(ParquetStore(tmp_path / "data"), [SAMPLE], MemoryRejects())
    assert reader.snapshot().size() == 4
