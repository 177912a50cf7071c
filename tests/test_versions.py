"""Versions of the store (docs/contract.md, "Versions of the store"): history, rollback, compact, migrate from the
previous format, and what a kill or a second writer leaves behind."""
from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from clv.errors import StoreError
from clv.ingest import ingest
from clv.ltv import ltv_table
from clv.rejects import dumps
from clv.store import DeltaStore, MemoryStore
from clv.versions import COLUMNS, COUNTS, commits

from bench.generate import generate, spoil, write
from helpers import MESSY, PROCESS, SAMPLE, Result, customer, order, run, visit, within, write_lines

# --- helpers --------------------------------------------------------------------------------------------------------


def options(folder: Path) -> list[str]:
    """The global options of a store (and its logs) kept under folder."""
    return ["--data-dir", str(folder / "data"), "--logs-dir", str(folder / "logs")]


def ok(args: list) -> Result:
    result = run(args)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "unexpected" not in result.stderr
    return result


def one_error(result: Result, *statuses: int) -> str:
    """The one line of a failure, whose exit status is one of statuses."""
    assert result.returncode in statuses, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr and "unexpected" not in lines[0], lines[0]
    return lines[0]


def history(dirs: list[str]) -> list[dict]:
    return json.loads(ok([*dirs, "history", "--format", "json"]).stdout)


def ltv(dirs: list[str]) -> str:
    return ok([*dirs, "ltv", "50", "--format", "csv"]).stdout


def canonical(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The tables in one row order, whatever order the files were read in."""
    return {name: frame.sort_values([c for c in ("key", "event_time", "verb", "seq") if c in frame], kind="stable")
            .reset_index(drop=True) for name, frame in tables.items()}


def assert_same_tables(left: dict[str, pd.DataFrame], right: dict[str, pd.DataFrame]) -> None:
    left, right = canonical(left), canonical(right)
    assert set(left) == set(right)
    for name in left:
        pd.testing.assert_frame_equal(left[name], right[name], check_dtype=False, obj=name)


def state(data: Path) -> tuple[dict[str, pd.DataFrame], list[dict]]:
    """The tables and held rejected events of the store's current version, read by a fresh store object."""
    snapshot = DeltaStore(data).snapshot()
    return canonical(snapshot.tables), snapshot.held


def untimed(held: list[dict]) -> list[dict]:
    """Held events without the moment they were rejected (two runs of one ingestion differ only there)."""
    return [{k: v for k, v in h.items() if k != "time"} for h in held]


def fingerprint(data: Path, next_seq: bool = True) -> dict:
    """What a version holds, cheap to compare: every stored row by key and arrival, and every held event."""
    snapshot = DeltaStore(data).snapshot()
    keys = {name: int((frame["verb"] != "UPDATE").sum()) for name, frame in snapshot.tables.items()}
    assert snapshot.rows() == keys  # the figures the version recorded are those of its rows
    rows = {name: sorted(zip(frame["key"], frame["seq"].tolist(), strict=True))
            for name, frame in snapshot.tables.items()}
    out = {"rows": rows, "held": untimed(snapshot.held)}
    if next_seq:
        out["next_seq"] = snapshot.next_seq
    return out


def files(folder: Path) -> dict[str, bytes]:
    """Every file under folder with its bytes (LOCK and process.log aside: they only name the last writer)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name not in ("LOCK", "process.log")}


def table_files(data: Path) -> int:
    """The Parquet files the current version of the Delta table references."""
    return len(DeltaTable(str(data / "events")).file_uris())


def commands_work(dirs: list[str]) -> None:
    """The reading commands answer (none of them trips over what a killed writer left); stats and customer read
    the store the way ltv does."""
    for args in (["ltv", "5"], ["history", "--format", "json"], ["rejects", "--format", "json"],
                 ["display", "--limit", "2", "--format", "json"]):
        ok([*dirs, *args])


def start(args: list) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(PROCESS), *map(str, args)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def holds_lock(data: Path, process: subprocess.Popen) -> Callable[[], bool]:
    """Whether the process holds the store's write lock (it names itself in the lock file then)."""
    def check() -> bool:
        try:
            return f"process {process.pid} " in (data / "LOCK").read_text()
        except FileNotFoundError:
            return False
    return check


def kill_when_due(runs: list[tuple[subprocess.Popen, Callable[[], bool], float]]) -> list[int]:
    """SIGKILL each process `delay` seconds after its trigger first holds; all of them side by side.

    A process that ends on its own first is left to end. Returns the exit statuses (-9: killed).
    """
    due: dict[int, float] = {}
    live = set(range(len(runs)))
    with within(120):
        while live:
            for i in sorted(live):
                process, ready, delay = runs[i]
                if process.poll() is not None:
                    live.discard(i)
                elif i not in due:
                    if ready():
                        due[i] = time.monotonic() + delay
                elif time.monotonic() >= due[i]:
                    process.send_signal(signal.SIGKILL)
                    live.discard(i)
            time.sleep(0.001)
    statuses = []
    for process, _, _ in runs:
        process.wait()
        error = process.stderr.read()
        process.stderr.close()
        assert process.returncode in (0, -signal.SIGKILL), error
        statuses.append(process.returncode)
    return statuses


# Two small files: A, then B, which adds customers and orders, updates A's and holds more rejected events.
FILE_A = [
    customer("ca", "2017-01-02T10:00:00Z", last_name="Ames", adr_city="Salem", adr_state="MA"),
    customer("cb", "2017-01-02T11:00:00Z", last_name="Bell"),
    visit("va", "2017-01-03T10:00:00Z", "ca", tags=[{"name": "campaign", "value": "winter"}]),
    visit("vb", "2017-01-03T11:00:00Z", "cb"),
    order("oa", "2017-01-04T10:00:00Z", "ca", "10.00 USD"),
    order("ob", "2017-01-04T11:00:00Z", "cb", "20.00 USD"),
    {"type": "ORDER", "verb": "NEW", "key": "no-customer", "event_time": "2017-01-05T10:00:00Z"},
    customer("bad-time", "2017-02-30T10:00:00Z"),
]
FILE_B = [
    customer("cc", "2017-01-09T10:00:00Z", last_name="Cole"),
    visit("vc", "2017-01-09T11:00:00Z", "cc"),
    visit("va2", "2017-01-10T11:00:00Z", "ca"),
    order("oc", "2017-01-10T10:00:00Z", "cc", "30.00 USD"),
    order("oa", "2017-01-11T10:00:00Z", "ca", "100.00 USD", verb="UPDATE"),
    customer("ca", "2017-01-11T10:00:00Z", verb="UPDATE", last_name="Amos"),
    {"type": "PAYMENT", "verb": "NEW", "key": "p1", "event_time": "2017-01-06T12:00:00Z"},
    "not an event",
]


# --- history --------------------------------------------------------------------------------------------------------


def test_history_lists_every_version_newest_first_with_its_command_sources_and_counts(tmp_path, dirs):
    extra = write_lines(tmp_path / "extra.jsonl", FILE_A)
    first = json.loads(ok([*dirs, "ingest", SAMPLE, "--format", "json"]).stdout)
    second = json.loads(ok([*dirs, "ingest", MESSY, extra, "--format", "json"]).stdout)
    third = json.loads(ok([*dirs, "reprocess", "--format", "json"]).stdout)
    rows = history(dirs)
    assert [list(row) for row in rows] == [COLUMNS] * len(rows)
    versions = [row["version"] for row in rows]
    assert versions == sorted(set(versions), reverse=True)
    assert versions[0] == DeltaTable(str(tmp_path / "data" / "events")).version()
    newest = rows[:3]
    assert [row["command"] for row in newest] == ["reprocess", "ingest", "ingest"]
    assert [row["sources"] for row in newest] == ["", f"{MESSY}, {extra}", str(SAMPLE)]
    for row, result in zip(newest, [third, second, first], strict=True):
        assert {name: row[name] for name in COUNTS} == {name: result[name] for name in COUNTS}
    assert second["read"] == second["ingested"] + second["updated"] + second["duplicates"] + second["rejected"]
    assert third["read"] == third["rejected"] > 0  # nothing held could be accepted: all of it held again
    assert len(rows) == 3  # the table and its first version are one commit: no empty version before it
    times = [row["time"] for row in rows]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", t) for t in times)
    assert times == sorted(times, reverse=True)

    assert json.loads(ok([*dirs, "history", "--limit", "2", "--format", "json"]).stdout) == rows[:2]
    table = list(csv.reader(io.StringIO(ok([*dirs, "history", "--format", "csv"]).stdout)))
    assert table[0] == COLUMNS
    assert table[1:] == [["" if row[c] is None else str(row[c]) for c in COLUMNS] for row in rows]
    limited = list(csv.reader(io.StringIO(ok([*dirs, "history", "--limit", "1", "--format", "csv"]).stdout)))
    assert limited == table[:2]


def test_history_numbers_the_versions_it_read_while_another_process_commits(tmp_path):
    """A history read from a table opened at version 0, after another process committed version 1, lists version 0
    alone, with its own figures (delta-rs would number the newer commit 0 and this one -1)."""
    store = DeltaStore(tmp_path / "data")
    ingest(store, [SAMPLE])
    opened = DeltaTable(str(store.path))
    ingest(store, [MESSY])
    listed = commits(opened, str(store.path))
    assert [entry["version"] for entry in listed] == [0]
    assert listed[0]["meta"]["sources"] == [str(SAMPLE)]
    assert [entry["version"] for entry in commits(DeltaTable(str(store.path)), str(store.path))] == [1, 0]


@pytest.mark.parametrize("info", [None, {"operation": "WRITE"}, {"timestamp": "soon"}, {"timestamp": 10 ** 30}],
                         ids=["no-commit-info", "no-time", "a-string", "out-of-range"])
def test_history_lists_a_commit_whose_log_entry_gives_no_usable_time(tmp_path, dirs, info):
    """The Delta protocol makes commitInfo optional (other writers may leave it out), and a hand may put anything
    in it: the version is listed with no time, never a failure."""
    ok([*dirs, "ingest", SAMPLE])
    ok([*dirs, "ingest", MESSY])
    log = tmp_path / "data" / "events" / "_delta_log" / f"{1:020d}.json"
    lines = [line for line in log.read_text().splitlines() if "commitInfo" not in line]
    log.write_text("\n".join([*lines, *([json.dumps({"commitInfo": info})] if info else [])]) + "\n")
    rows = history(dirs)
    assert [row["version"] for row in rows] == [1, 0]
    assert rows[0]["time"] is None and rows[1]["time"] is not None
    assert rows[1]["sources"] == str(SAMPLE)


def test_history_as_a_table_for_a_person(tmp_path, dirs):
    """Versions that count nothing (a rollback, a compaction, a migration) show with blank counts."""
    ok([*dirs, "ingest", SAMPLE])
    ok([*dirs, "ingest", MESSY])
    ok([*dirs, "reprocess"])
    first = history(dirs)[-1]["version"]
    ok([*dirs, "rollback", first])
    result = ok([*dirs, "history"])
    for word in ("version", "reprocess", "ingest", f"rollback to {first}"):
        assert word in result.stdout, word
    newest = history(dirs)[0]["version"]
    assert re.search(rf"\b{newest}\b", result.stdout)


def test_history_without_a_store_is_one_line_and_creates_nothing(tmp_path, dirs):
    data, logs = tmp_path / "data", tmp_path / "logs"
    for fmt in ("table", "json", "csv"):
        assert "no store" in one_error(run([*dirs, "history", "--format", fmt]), 1)
    assert not data.exists() and not logs.exists()

    one_error(run([*dirs, "ingest", tmp_path / "missing.json"]), 1)  # takes the lock, commits nothing
    before = files(tmp_path)
    assert "no store" in one_error(run([*dirs, "history"]), 1)
    (data / "events").mkdir()  # a writer killed before it created the table leaves its folder
    assert "no store" in one_error(run([*dirs, "history", "--format", "json"]), 1)
    assert files(tmp_path) == before and not (data / "events" / "_delta_log").exists()
    assert "no versions" in one_error(run(["--memory", "history"]), 2)


# --- rollback -------------------------------------------------------------------------------------------------------


def test_rollback_restores_the_events_and_the_held_rejects_of_a_version_and_can_be_undone(tmp_path, dirs):
    data = tmp_path / "data"
    file_a = write_lines(tmp_path / "a.jsonl", FILE_A)
    file_b = write_lines(tmp_path / "b.jsonl", FILE_B)
    ok([*dirs, "ingest", file_a])
    after_a = state(data)
    ltv_a, version_a = ltv(dirs), history(dirs)[0]["version"]
    assert len(after_a[1]) == 2
    ok([*dirs, "ingest", file_b])
    ok([*dirs, "reprocess"])  # rewrites the held events: the files of A's held events leave the table
    after_b = state(data)
    version_b = history(dirs)[0]["version"]
    assert len(after_b[1]) == 4

    result = ok([*dirs, "rollback", version_a, "--format", "json"])
    restored = json.loads(result.stdout)
    assert restored["restored"] == version_a and restored["version"] == version_b + 1
    tables, held = state(data)
    assert_same_tables(tables, after_a[0])
    assert held == after_a[1]
    assert ltv(dirs) == ltv_a
    assert DeltaStore(data).snapshot().last_ingest["sources"] == [str(file_a)]
    rows = history(dirs)
    assert rows[0]["version"] == version_b + 1 and rows[0]["command"] == f"rollback to {version_a}"
    assert [row["version"] for row in rows[1:]] == list(range(version_b, -1, -1))  # nothing was rewritten

    ok([*dirs, "rollback", version_b])  # the version before the rollback: the rollback undone
    tables, held = state(data)
    assert_same_tables(tables, after_b[0])
    assert held == after_b[1]
    assert history(dirs)[0]["command"] == f"rollback to {version_b}"

    ok([*dirs, "rollback", version_a])  # and the store goes on from a restored version as from any other
    ok([*dirs, "ingest", file_b])
    tables, held = state(data)
    assert_same_tables({t: f.drop(columns="seq") for t, f in tables.items()},
                       {t: f.drop(columns="seq") for t, f in after_b[0].items()})
    assert len(held) == len(after_b[1])


def test_rollback_to_a_version_that_is_not_there_changes_nothing(tmp_path, dirs):
    data = tmp_path / "data"
    ok([*dirs, "ingest", SAMPLE])
    ok([*dirs, "ingest", MESSY])
    before, rows, on_disk = fingerprint(data), history(dirs), files(tmp_path / "data")
    current = rows[0]["version"]
    for version in ("-1", "abc", "1.5", "", "99", str(current + 1), str(current), "99999999999999999999999"):
        line = one_error(run([*dirs, "rollback", version]), 1, 2)
        assert "version" in line.lower()
    assert fingerprint(data) == before and history(dirs) == rows and files(tmp_path / "data") == on_disk
    assert "no versions" in one_error(run(["--memory", "rollback", "0"]), 2)


def test_rollback_and_compact_without_a_store_are_one_line(tmp_path, dirs):
    assert "no store" in one_error(run([*dirs, "rollback", "0"]), 1)
    assert "no store" in one_error(run([*dirs, "compact"]), 1)
    assert not (tmp_path / "data" / "events").exists()


# --- compact --------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_ingests(tmp_path_factory) -> tuple[Path, list[tuple[int, dict]]]:
    """A store built by several small ingestions (each holds a rejected event), and each one's version and content."""
    folder = tmp_path_factory.mktemp("small")
    data = folder / "data"
    versions = []
    for seed in range(3):
        path = folder / f"small-{seed}.jsonl"
        write(generate(100, seed=seed), path, "jsonl")
        ingest(DeltaStore(data), [path])
        versions.append((DeltaStore(data).snapshot().version, fingerprint(data)))
    return folder, versions


def test_compact_merges_small_files_and_no_answer_changes(tmp_path, small_ingests):
    shutil.copytree(small_ingests[0], tmp_path, dirs_exist_ok=True)
    dirs, data, versions = options(tmp_path), tmp_path / "data", small_ingests[1]
    mine = {data / "notes.txt": b"my notes", data / "backup" / "old.parquet": b"not the tool's",
            data / "events" / "README.txt": b"about this table"}
    for path, content in mine.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    tables, held = state(data)
    answer, before = ltv(dirs), table_files(data)
    assert len(held) >= 3

    result = json.loads(ok([*dirs, "compact", "--format", "json"]).stdout)  # the default retention: a week
    after = table_files(data)
    assert after < before and (result["files_before"], result["files_after"]) == (before, after)
    assert result["files_removed"] == 0  # every older version stays restorable
    compacted = state(data)
    assert_same_tables(compacted[0], tables)
    assert compacted[1] == held
    assert history(dirs)[0]["command"] == "compact"

    first_version, first_content = versions[0]
    ok([*dirs, "rollback", first_version])
    assert fingerprint(data, next_seq=False) == {k: v for k, v in first_content.items() if k != "next_seq"}
    ok([*dirs, "rollback", history(dirs)[0]["version"] - 1])
    assert_same_tables(state(data)[0], tables)

    result = json.loads(ok([*dirs, "compact", "--retain", "0", "--format", "json"]).stdout)
    assert result["files_removed"] > 0
    on_disk = [p for p in (data / "events").rglob("*.parquet") if "_delta_log" not in p.parts]
    assert len(on_disk) == table_files(data)  # the files of older versions are gone
    compacted = state(data)
    assert_same_tables(compacted[0], tables)
    assert compacted[1] == held and ltv(dirs) == answer
    assert all(path.read_bytes() == content for path, content in mine.items())

    rows, content = history(dirs), fingerprint(data)
    line = one_error(run([*dirs, "rollback", first_version]), 1)
    assert f"version {first_version} cannot be restored" in line
    assert history(dirs) == rows and fingerprint(data) == content
    ok([*dirs, "ingest", SAMPLE])
    assert history(dirs)[0]["command"] == "ingest"


# --- migrate --------------------------------------------------------------------------------------------------------

STORE_ID = "0ddba11a"
TORN = b'{"event": {"type": "ORDER", "verb": "NE'  # a last line the old tool was killed while writing


def write_legacy(folder: Path, snapshot, held: list[dict]) -> None:
    """A store as the previous version of the tool left it: one Parquet file per table in a generation folder named
    by the CURRENT manifest (and a lock file), and the held rejected events in the logs folder."""
    data, logs = folder / "data", folder / "logs"
    generation = f"gen-000003-{STORE_ID}5eed5eed"
    (data / generation).mkdir(parents=True)
    (data / "LOCK").write_bytes(b"")
    for name, frame in snapshot.tables.items():
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), data / generation / f"{name}.parquet",
                       compression="zstd")
    manifest = {"format": 1, "store_id": STORE_ID, "generation": 3, "next_seq": snapshot.next_seq,
                "tables": {name: f"{generation}/{name}.parquet" for name in snapshot.tables},
                "last_ingest": snapshot.last_ingest}
    (data / "CURRENT").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    logs.mkdir(parents=True)
    (logs / "rejected_events.jsonl").write_bytes(b"".join(dumps(h) + b"\n" for h in held) + TORN)


def legacy_gone(folder: Path) -> bool:
    data = folder / "data"
    return not (data / "CURRENT").exists() and not list(data.glob("gen-*"))


@pytest.fixture(scope="module")
def old_store(tmp_path_factory) -> MemoryStore:
    """What the previous tool held after ingesting the sample files and a file of A's events."""
    memory = MemoryStore()
    path = write_lines(tmp_path_factory.mktemp("old") / "a.jsonl", FILE_A)
    ingest(memory, [SAMPLE, MESSY, path])
    return memory


def test_a_store_of_the_previous_format_is_never_read_as_empty_and_migrate_converts_it(tmp_path, old_store):
    old = old_store.snapshot()
    write_legacy(tmp_path, old, old.held)
    dirs, data, logs = options(tmp_path), tmp_path / "data", tmp_path / "logs"
    (data / "notes.txt").write_bytes(b"mine")
    untouched, rejects = files(tmp_path), (logs / "rejected_events.jsonl").read_bytes()
    for args in (["ltv", "3"], ["stats"], ["display"], ["rejects"], ["history"], ["ingest", SAMPLE], ["reprocess"],
                 ["rollback", "0"], ["compact", "--retain", "0"], ["customer", "ca"]):
        line = one_error(run([*dirs, *args]), 1)
        assert "previous format" in line and "migrate" in line, args
    assert files(tmp_path) == untouched and not (data / "events").exists()

    ok([*dirs, "migrate"])
    assert legacy_gone(tmp_path) and not (logs / "rejected_events.jsonl").exists()
    assert (logs / "rejected_events.jsonl.migrated").read_bytes() == rejects
    assert (data / "notes.txt").read_bytes() == b"mine"
    snapshot = DeltaStore(data).snapshot()
    assert_same_tables(snapshot.tables, old.tables)
    assert snapshot.held == old.held  # the torn last line was never held
    assert snapshot.next_seq == old.next_seq and snapshot.last_ingest == old.last_ingest
    pd.testing.assert_frame_equal(ltv_table(snapshot), ltv_table(old), check_dtype=False)
    assert history(dirs)[0]["command"] == "migrate"

    rows, content, converted = history(dirs), fingerprint(data), files(tmp_path)
    ok([*dirs, "migrate"])  # again: nothing to do, nothing changes
    assert history(dirs) == rows and fingerprint(data) == content and files(tmp_path) == converted

    ok([*dirs, "ingest", write_lines(tmp_path / "b.jsonl", FILE_B)])  # and the store goes on where it stood
    customers = DeltaStore(data).snapshot().tables["customers"]
    assert (customers.loc[customers["key"] == "cc", "seq"] >= old.next_seq).all()


# --- kills ----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> Path:
    """A file whose ingestion takes a while, with bad events (held) and lines that are not JSON."""
    path = tmp_path_factory.mktemp("big") / "big.jsonl"
    write(spoil(generate(3_000, seed=7), 0.03, seed=7), path, "jsonl", not_json=0.003, seed=7)
    return path


def copies(base: Path, tmp_path: Path, seeds: tuple[int, ...]) -> list[tuple[int, Path, Path, random.Random]]:
    """A copy of the base folder per seed: (seed, folder, its data folder, the seed's own random draws)."""
    out = []
    for seed in seeds:
        folder = tmp_path / f"run-{seed}"
        shutil.copytree(base, folder)
        out.append((seed, folder, folder / "data", random.Random(seed)))
    return out


def new_file(data: Path) -> Callable[[], bool]:
    """Whether a Parquet file that was not there before has appeared in the store: a commit is being written."""
    events = data / "events"
    known = set(events.rglob("*.parquet"))
    return lambda: any(path not in known for path in events.rglob("*.parquet"))


@pytest.mark.slow
def test_a_killed_ingestion_leaves_the_version_before_or_after_with_its_held_rejects(tmp_path, big):
    base = tmp_path / "base"
    ok([*options(base), "ingest", SAMPLE, MESSY])
    before, version_before = fingerprint(base / "data"), DeltaStore(base / "data").snapshot().version
    shutil.copytree(base, tmp_path / "reference")
    started = time.perf_counter()
    ingest(DeltaStore(tmp_path / "reference" / "data"), [big])
    duration = time.perf_counter() - started
    after = fingerprint(tmp_path / "reference" / "data")
    assert len(after["held"]) > len(before["held"]) > 0

    runs, copied = [], copies(base, tmp_path, (1, 2, 3))
    folders = [folder for _, folder, _, _ in copied]
    for seed, folder, data, chance in copied:
        process = start([*options(folder), "ingest", big])
        if seed == 1:  # at a random moment of the run, parsing, validating and saving included
            runs.append((process, holds_lock(data, process), chance.uniform(0, 1.5 * duration)))
        elif seed == 2:  # while it writes the files of its commit
            runs.append((process, new_file(data), chance.uniform(0, 0.05)))
        else:  # once it has committed, before it has let go of the store
            log = data / "events" / "_delta_log"
            runs.append((process, lambda log=log: (log / f"{version_before + 1:020d}.json").exists(), 0.0))
    kill_when_due(runs)

    small = write_lines(tmp_path / "small.jsonl", FILE_A)
    checked = set()
    for folder in folders:
        dirs, data = options(folder), folder / "data"
        found = fingerprint(data)
        assert found in (before, after), f"{folder.name}: neither the version before nor the one after"
        outcome = "before" if found == before else "after"
        if outcome not in checked:  # once for each outcome (equal fingerprints, equal answers): it is slow
            checked.add(outcome)
            commands_work(dirs)
        ok([*dirs, "ingest", small])
        assert len(fingerprint(data)["held"]) == len(found["held"]) + 2
    dirs = options(folders[-1])
    ok([*dirs, "rollback", version_before])
    assert fingerprint(folders[-1] / "data", next_seq=False) == {k: v for k, v in before.items() if k != "next_seq"}


@pytest.mark.slow
def test_a_killed_first_ingestion_leaves_no_store_or_the_whole_first_version(tmp_path, big):
    """The first commit writes its files before the table's first commit exists: killed then, there is no store."""
    runs, folders = [], []
    for seed in (1, 2):
        folder = tmp_path / f"run-{seed}"
        folders.append(folder)
        runs.append((start([*options(folder), "ingest", big]), new_file(folder / "data"),
                     random.Random(seed).uniform(0, 0.05)))
    kill_when_due(runs)

    small = write_lines(tmp_path / "small.jsonl", FILE_A)
    for folder in folders:
        dirs, data = options(folder), folder / "data"
        if (data / "events" / "_delta_log" / f"{0:020d}.json").exists():  # committed before the kill: all of it
            reference = tmp_path / "reference" / "data"
            if not reference.exists():
                ingest(DeltaStore(reference), [big])
            assert fingerprint(data) == fingerprint(reference), folder.name
        else:
            line = one_error(run([*dirs, "ltv", "5"]), 1)
            assert "no store" in line or "no data" in line, line
        ok([*dirs, "ingest", small])


@pytest.mark.slow
def test_a_killed_compaction_changes_no_answer(tmp_path, small_ingests):
    base = tmp_path / "base"
    shutil.copytree(small_ingests[0], base)
    before = fingerprint(base / "data")
    version = DeltaStore(base / "data").snapshot().version

    runs, copied = [], copies(base, tmp_path, (1, 2, 3))
    folders = [folder for _, folder, _, _ in copied]
    for seed, folder, data, chance in copied:
        process = start([*options(folder), "compact", "--retain", "0"])
        if seed == 1:  # at a random moment once it holds the store
            runs.append((process, holds_lock(data, process), chance.uniform(0, 0.5)))
        elif seed == 2:  # while it writes the merged files
            runs.append((process, new_file(data), chance.uniform(0, 0.02)))
        else:  # once the merged files are committed: while it removes the old ones
            log = data / "events" / "_delta_log"
            runs.append((process, lambda log=log: (log / f"{version + 1:020d}.json").exists(), chance.uniform(0, 0.02)))
    kill_when_due(runs)

    for n, folder in enumerate(folders):
        dirs, data = options(folder), folder / "data"
        assert fingerprint(data) == before, folder.name
        if not n:  # the same answers in every folder (their fingerprints are equal): checked once, it is slow
            commands_work(dirs)
        ok([*dirs, "ingest", SAMPLE])
        assert history(dirs)[0]["sources"] == str(SAMPLE)


def test_a_kill_during_the_first_commit_leaves_no_store(tmp_path, dirs):
    """The first commit makes the log folder, then writes its first entry beside it and links it in: a kill in
    between leaves the folder with at most that unlinked, torn entry. No version was committed: there is no store."""
    log = tmp_path / "data" / "events" / "_delta_log"
    log.mkdir(parents=True)
    (log / "00000000000000000000.json#1").write_bytes(b'{"protocol":{"minReaderVersion":1,"minWri')
    line = one_error(run([*dirs, "ltv", "3"]), 1)
    assert "damaged" not in line
    result = ok([*dirs, "ingest", SAMPLE])
    assert "store size: 0 → 4" in result.stdout
    assert DeltaStore(tmp_path / "data").snapshot().size() == 4


def test_a_torn_log_entry_of_a_killed_commit_is_ignored(tmp_path, dirs):
    data = tmp_path / "data"
    ok([*dirs, "ingest", SAMPLE])
    before = fingerprint(data)
    version = DeltaStore(data).snapshot().version
    (data / "events" / "_delta_log" / f"{version + 1:020d}.json#1").write_bytes(b'{"commitInfo":{"timest')
    assert fingerprint(data) == before
    commands_work(dirs)
    ok([*dirs, "ingest", MESSY])
    assert DeltaStore(data).snapshot().version == version + 1 and history(dirs)[0]["sources"] == str(MESSY)


@pytest.mark.slow
def test_a_killed_migration_loses_nothing(tmp_path, old_store):
    """Killed while the conversion writes its files, or once it has committed them (before the old files went):
    the old store is never read as empty, and migrate run again converts it whole."""
    old = old_store.snapshot()
    runs, folders = [], []
    for when in ("writing", "committed"):
        folder = tmp_path / when
        write_legacy(folder, old, old.held)
        folders.append(folder)
        data = folder / "data"
        ready = new_file(data) if when == "writing" else (data / "events" / "_delta_log" / f"{0:020d}.json").exists
        runs.append((start([*options(folder), "migrate"]), ready, 0.0))
    kill_when_due(runs)

    for folder in folders:
        data = folder / "data"
        try:
            read: dict | str = DeltaStore(data).snapshot().tables
        except StoreError as exc:
            read = str(exc)
        ok([*options(folder), "migrate"])
        snapshot = DeltaStore(data).snapshot()
        assert_same_tables(snapshot.tables, old.tables)  # nothing of the old store was lost
        assert snapshot.held == old.held and legacy_gone(folder)
        if isinstance(read, str):  # before migrate finished: not converted yet, and said so
            assert "migrate" in read
        else:  # or converted, all of it (never an empty store)
            assert_same_tables(read, old.tables)


# --- a second writer ------------------------------------------------------------------------------------------------


class Holder:
    """The store's write lock, held by the test as another process would hold it (its note names the holder)."""

    NOTE = "process 4242 (process.py ingest elsewhere.json), since 2017-01-01T00:00:00Z"

    def __init__(self, data: Path) -> None:
        data.mkdir(parents=True, exist_ok=True)
        self._guard = threading.Lock()
        self.fd: int | None = os.open(data / "LOCK", os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"{self.NOTE}\n".encode(), 0)

    def release(self) -> None:
        with self._guard:
            if self.fd is not None:
                os.ftruncate(self.fd, 0)
                fcntl.flock(self.fd, fcntl.LOCK_UN)
                os.close(self.fd)
                self.fd = None


def test_a_second_writer_fails_at_once_naming_the_holder(tmp_path, dirs):
    data = tmp_path / "data"
    ok([*dirs, "ingest", SAMPLE])
    before, rows = fingerprint(data), history(dirs)
    holder = Holder(data)
    try:
        for args in (["ingest", MESSY], ["reprocess"], ["rollback", "0"], ["compact", "--retain", "0"], ["migrate"]):
            started = time.monotonic()
            line = one_error(run([*dirs, *args]), 1)
            assert time.monotonic() - started < 5, args
            assert f"is being written by {Holder.NOTE}" in line and "--wait" in line, args
        ok([*dirs, "ltv", "3"])  # reading is not blocked
        started = time.monotonic()
        line = one_error(run([*dirs, "--wait", "0.3", "ingest", MESSY]), 1)
        assert time.monotonic() - started >= 0.3 and "waited 0.3 s" in line and Holder.NOTE in line
    finally:
        holder.release()
    assert fingerprint(data) == before and history(dirs) == rows


def test_wait_takes_the_lock_once_it_is_released(tmp_path, dirs):
    data = tmp_path / "data"
    ok([*dirs, "ingest", SAMPLE])
    holder = Holder(data)
    timer = threading.Timer(0.5, holder.release)
    started = time.monotonic()
    timer.start()
    try:
        ok([*dirs, "ingest", MESSY, "--wait", "5"])
        waited = time.monotonic() - started
    finally:
        timer.cancel()
        holder.release()
    assert waited >= 0.5  # it waited for the release (and took the lock then: the ingestion succeeded)
    assert history(dirs)[0]["sources"] == str(MESSY)
    assert not (data / "LOCK").read_text()  # the note is cleared once the lock is released


@pytest.mark.parametrize("value", ["abc", "-1", "nan", "inf", "-inf", "86401", "", "1e400", "5s"])
def test_wait_with_a_bad_value_is_a_usage_error(tmp_path, dirs, value):
    for args in (["--wait", value, "ingest", SAMPLE], ["ingest", SAMPLE, f"--wait={value}"]):
        line = one_error(run([*dirs, *args]), 2)
        assert "--wait" in line
    assert "--wait" in one_error(run([*dirs, "ingest", SAMPLE, "--wait"]), 2)
    assert not (tmp_path / "data").exists() and not (tmp_path / "logs").exists()
