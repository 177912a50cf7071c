"""The subcommands as a shell script uses them: output formats and exit statuses (docs/contract.md)."""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pytest

from clv.store import HELD, TABLE_DIR

from helpers import MESSY, ROOT, SAMPLE, customer, order, run, write_json

SUMMARY_KEYS = {"read", "ingested", "updated", "duplicates", "rejected", "rejected_by_reason", "orphans",
                "store_size_before", "store_size_after", "seconds"}


def held_events(dirs: list[str]) -> list[dict]:
    result = run([*dirs, "rejects", "--format", "json"])
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_ingest_json_summary_has_the_spec_keys(dirs):
    result = run([*dirs, "ingest", str(MESSY), "--format", "json"])
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert SUMMARY_KEYS <= set(figures)
    assert figures["read"] == figures["ingested"] + figures["updated"] + figures["duplicates"] + figures["rejected"]
    assert figures["rejected_by_reason"]["malformed"] == 2
    assert [f["source"] for f in figures["files"]] == [str(MESSY)]  # one shape for one file or many
    assert figures["failed_files"] == 0 and figures["files"][0]["error"] is None


def test_ingest_of_several_files_lists_each(dirs, tmp_path):
    result = run([*dirs, "ingest", str(SAMPLE), str(MESSY), "--format", "json"])
    figures = json.loads(result.stdout)
    assert [f["source"] for f in figures["files"]] == [str(SAMPLE), str(MESSY)]
    assert figures["files"][1]["store_size_before"] == 4
    assert figures["store_size_after"] == figures["files"][1]["store_size_after"] == 10


def test_ingest_text_summary_and_logs(dirs, tmp_path):
    result = run([*dirs, "ingest", str(MESSY)])
    assert result.returncode == 0
    assert "rejected by reason: malformed 2" in result.stdout and "store size: 0 → 6 rows" in result.stdout
    assert f"rejected events are held in the store in {tmp_path / 'data'}; run Reprocess" in " ".join(result.stdout.split())
    log = (tmp_path / "logs" / "process.log").read_text()
    assert "ingest " in log and "read=19 ingested=6 updated=3 duplicates=1 rejected=9" in log
    held = held_events(dirs)
    assert len(held) == 9
    assert {"reason", "message", "source", "position", "time"} <= set(held[0])
    assert not (tmp_path / "logs" / "rejected_events.jsonl").exists()  # held in the store, not in the logs


@pytest.mark.parametrize("args, status, words", [
    (["ingest", "missing.json"], 1, "missing.json: no such file or directory"),
    (["ltv", "3"], 1, "no store in"),
    (["ltv", "abc"], 2, "X must be a positive whole number, got 'abc'"),
    (["ltv", "0"], 2, "positive whole number"),
    (["ltv", "-2"], 2, "positive whole number"),
    (["ltv", "2.5"], 2, "positive whole number"),
    (["ltv"], 2, "required: X"),
    (["frobnicate"], 2, "unknown command 'frobnicate'"),
    (["display", "users"], 2, "unknown table 'users'"),
    (["ltv", "3", "--format", "xml"], 2, "invalid choice"),
    (["ltv", "3", "--wait", "-1"], 2, "--wait must be a number of seconds from 0 to 86,400, got '-1'"),
    (["rollback", "x"], 2, "VERSION must be a whole number from 0 up, got 'x'"),
])
def test_failures_are_one_line_with_the_right_status(dirs, args, status, words):
    result = run([*dirs, *args])
    assert result.returncode == status
    assert words in one_error_line(result)


def test_bad_file_fails_but_rejected_events_do_not(dirs, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"type": "CUSTOMER",\n "key": }]')
    result = run([*dirs, "ingest", str(bad)])
    assert result.returncode == 1 and "line 2, column" in one_error_line(result)
    assert not (tmp_path / "data" / TABLE_DIR).exists()
    assert run([*dirs, "ingest", str(MESSY)]).returncode == 0


def test_global_options_work_after_the_command(tmp_path):
    result = run(["ingest", str(SAMPLE), "--data-dir", str(tmp_path / "d"), "--logs-dir", str(tmp_path / "l")])
    assert result.returncode == 0
    assert (tmp_path / "d" / TABLE_DIR / "_delta_log").is_dir() and (tmp_path / "l" / "process.log").exists()


def test_memory_keeps_nothing_on_disk(tmp_path):
    logs = ROOT / "logs"
    before = sorted((p.name, p.stat().st_mtime_ns) for p in logs.iterdir())
    result = run(["--memory", "--data-dir", str(tmp_path / "d"), "ingest", str(MESSY), "--format", "json"])
    assert result.returncode == 0 and json.loads(result.stdout)["ingested"] == 6
    assert not (tmp_path / "d").exists()
    assert sorted((p.name, p.stat().st_mtime_ns) for p in logs.iterdir()) == before


def test_ltv_formats(dirs, tmp_path):
    run([*dirs, "ingest", str(MESSY)])
    table = run([*dirs, "ltv", "5"]).stdout
    assert "4,333.33" in table and "1,300.00" in table
    rows = json.loads(run([*dirs, "ltv", "5", "--format", "json"]).stdout)
    assert list(rows[0]) == ["rank", "customer_id", "last_name", "total_revenue", "site_visits",
                             "revenue_per_visit", "visits_per_week", "weekly_value", "ltv"]
    assert rows[1]["last_name"] is None and rows[0]["ltv"] == pytest.approx(52 * 25 / 3 * 10)
    parsed = list(csv.DictReader(io.StringIO(run([*dirs, "ltv", "1", "--format", "csv"]).stdout)))
    assert len(parsed) == 1 and parsed[0]["customer_id"] == "c1"
    out = tmp_path / "top.csv"
    result = run([*dirs, "ltv", "2", "--format", "csv", "--output", str(out)])
    assert result.returncode == 0 and out.read_text().startswith("rank,customer_id")
    result = run([*dirs, "ltv", "2", "--output", str(tmp_path / "no" / "such" / "dir.txt")])
    assert result.returncode == 1 and "cannot write" in one_error_line(result)


def test_display_shows_titles_counts_and_a_footer_when_cut(dirs, tmp_path):
    events = [customer(f"c{i:03d}", "2017-01-06T00:00:00Z") for i in range(60)]
    run([*dirs, "ingest", str(write_json(tmp_path / "many.json", events))])
    shown = run([*dirs, "display", "customers"]).stdout
    assert "customers (60 rows)" in shown and "10 more rows not shown" in shown and "--all" in shown
    assert "c049" in shown and "c050" not in shown
    everything = run([*dirs, "display", "customers", "--all"]).stdout
    assert "c059" in everything and "more rows" not in everything
    assert "orders (0 rows)" in run([*dirs, "display"]).stdout
    assert run([*dirs, "display", "customers", "--limit", "5"]).stdout.count(" c0") == 5


def test_reprocess_command(dirs, tmp_path):
    write_json(tmp_path / "a.json", [order("o1", "2017-01-08T00:00:00Z", "c1", "9 USD", verb="UPDATE")])
    run([*dirs, "ingest", str(tmp_path / "a.json")])
    write_json(tmp_path / "b.json", [order("o1", "2017-01-06T00:00:00Z", "c1", "5 USD")])
    run([*dirs, "ingest", str(tmp_path / "b.json")])
    result = run([*dirs, "reprocess", "--format", "json"])
    assert result.returncode == 0
    assert json.loads(result.stdout)["updated"] == 1 and json.loads(result.stdout)["still_held"] == 0
    assert held_events(dirs) == []
    assert "nothing to reprocess" in run([*dirs, "reprocess"]).stdout


def test_help_of_every_command_has_an_example():
    for command in ("ingest", "ltv", "display", "reprocess", "rejects", "stats", "customer", "export", "predict",
                    "history", "rollback", "compact", "migrate", "menu"):
        result = run([command, "--help"])
        assert result.returncode == 0 and "example: clv " + command in result.stdout


def test_damaged_held_events_stop_ingestion_before_anything_is_written(dirs, tmp_path):
    assert run([*dirs, "ingest", str(MESSY)]).returncode == 0
    files = sorted((tmp_path / "data" / TABLE_DIR / f"table_name={HELD}").rglob("*.parquet"))
    assert files
    files[0].write_bytes(b"{broken\n")
    before = {p: p.read_bytes() for p in (tmp_path / "data").rglob("*") if p.is_file() and p.name != "LOCK"}
    result = run([*dirs, "ingest", str(SAMPLE)])
    assert result.returncode == 1 and "is damaged" in one_error_line(result)
    assert {p: p.read_bytes() for p in (tmp_path / "data").rglob("*") if p.is_file() and p.name != "LOCK"} == before


POOL_PROBE = ("from clv.cli import main; status = main(['--memory', 'stats']); import pyarrow; "
              "print(pyarrow.default_memory_pool().backend_name, status)")  # pyarrow first loads within main


@pytest.mark.parametrize("given, used", [(None, "system"), ("mimalloc", "mimalloc")])
def test_a_command_runs_on_the_system_allocator_unless_the_environment_names_one(given, used):
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if given:
        env["ARROW_DEFAULT_MEMORY_POOL"] = given
    probe = subprocess.run([sys.executable, "-c", POOL_PROBE], check=False, capture_output=True, text=True, env=env,
                           timeout=60)
    assert probe.stdout.split()[-2:] == [used, "0"], probe.stderr
