"""The menu in a real pseudo-terminal (pexpect): Tab completion, the progress bar, Ctrl-C during a large
ingestion, the pager for a long table, and Ctrl-D to leave."""
from __future__ import annotations

import io
import os
import re
import shutil
import sys
from pathlib import Path

import pexpect
import pytest

from clv.ingest import ingest
from clv.store import DeltaStore

from bench.generate import generate, write
from helpers import DATA, MESSY, PROCESS, SAMPLE, customer, run, write_json

MENU = "Choose an option: "
PATH_PROMPT = r"go back\): "


def spawn(tmp_path, **env) -> pexpect.spawn:
    child = pexpect.spawn(sys.executable, [str(PROCESS), "--data-dir", str(tmp_path / "data"), "--logs-dir",
                                           str(tmp_path / "logs")],
                          env={**os.environ, "TERM": "xterm", **env}, encoding="utf-8", dimensions=(24, 120),
                          timeout=60, cwd=str(tmp_path))
    child.expect(MENU)
    return child


def leave(child: pexpect.spawn) -> None:
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_tab_completes_a_path_at_the_ingest_prompt(tmp_path):
    shutil.copy(SAMPLE, tmp_path / "only-one-file-like-this.json")
    child = spawn(tmp_path)
    child.send("1\r")
    child.expect(PATH_PROMPT)
    child.send("only-one\t")
    child.expect("only-one-file-like-this.json")
    child.send("\r")
    child.expect("store size: 0 → 4 rows")
    child.expect(MENU)
    child.send("2\r")
    child.expect(r"\(X\)\? ")
    child.send("\x1b[A")  # each prompt has its own history: nothing typed here before, no path
    child.send("1\r")
    child.expect("96f55c7d8f42")
    child.expect(MENU)
    child.send("\x1b[A")  # at the menu, Up brings back the last menu answer ("2"), never a path
    child.expect("2")
    child.send("\x15only-one\t\r")  # and Tab completes nothing at the menu
    child.expect("'only-one' is not an option")
    child.expect(MENU)
    child.send("1\r")
    child.expect(PATH_PROMPT)
    child.send("\x1b[A")  # at the path prompt, Up brings back the path
    child.expect("only-one-file-like-this.json")
    child.send("\x15\r")
    child.expect(MENU)
    assert "only-one-file-like-this" not in child.before
    leave(child)


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> Path:
    """A file whose ingestion lasts over a second: made once for the tests that need one."""
    path = tmp_path_factory.mktemp("big") / "big.json"
    write(generate(150_000, seed=21), path, "json")
    return path


@pytest.mark.slow
def test_ctrl_c_during_a_large_ingestion_keeps_the_store_and_returns_to_the_menu(tmp_path, big):
    store = DeltaStore(tmp_path / "data")
    ingest(store, [SAMPLE])
    child = spawn(tmp_path)
    child.send("1\r")
    child.expect(PATH_PROMPT)
    child.send(f"{big}\r")
    lock = tmp_path / "data" / "LOCK"
    while f"process {child.pid} " not in (lock.read_text() if lock.exists() else ""):
        assert child.isalive()  # until the run holds the store's lock, i.e. is reading the file
    child.sendintr()
    child.expect("cancelled; the store is as it was")
    child.expect(MENU)
    child.send("6\r")
    child.expect(r"store size\s+4\r")
    child.expect(MENU)
    leave(child)
    assert DeltaStore(tmp_path / "data").snapshot().size() == 4


def test_a_long_table_goes_through_the_pager(tmp_path):
    events = [customer(f"c{i:03d}", "2017-01-06T00:00:00Z") for i in range(40)]
    assert run(["--data-dir", str(tmp_path / "data"), "--logs-dir", str(tmp_path / "logs"), "ingest",
                str(write_json(tmp_path / "many.json", events))]).returncode == 0
    child = spawn(tmp_path, PAGER="sh -c 'echo PAGER-START; cat'")
    child.send("3\r")
    child.expect("PAGER-START")
    child.expect("c039")
    child.expect(MENU)
    child.send("display\r")
    leave_after_pager = child.expect(["PAGER-START", MENU])
    assert leave_after_pager == 0
    child.expect(MENU)
    leave(child)


def test_no_progress_bar_when_output_is_piped(tmp_path, big):
    result = run(["--data-dir", str(tmp_path / "data"), "--logs-dir", str(tmp_path / "logs"), "ingest", str(big)])
    assert result.returncode == 0 and result.stderr == ""


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]")


def test_an_analyst_session_at_80_columns(tmp_path):
    """Ingest a file and a folder, rank, look a customer up, list the rejects, export and quit, in an 80-column
    terminal: every line the tool draws fits, and the session ends cleanly."""
    folder = tmp_path / "dumps"
    shutil.copytree(DATA / "folder_dump", folder)
    child = pexpect.spawn(sys.executable, [str(PROCESS), "--data-dir", str(tmp_path / "data"), "--logs-dir",
                                           str(tmp_path / "logs")],
                          env={**os.environ, "TERM": "xterm", "PAGER": "cat", "COLUMNS": "80"}, encoding="utf-8",
                          dimensions=(24, 80), timeout=30, cwd=str(tmp_path))
    screen = io.StringIO()
    child.logfile_read = screen
    child.expect(MENU)
    child.send("1\r")
    child.expect(PATH_PROMPT)
    child.send(f"{MESSY}\r")
    child.expect("store size: 0 → 6 rows")
    child.expect(MENU)
    child.send("ingest\r")
    child.expect(PATH_PROMPT)
    child.send("dumps\r")
    child.expect("skipped: ")
    child.expect(MENU)
    child.send("LTV\r")
    child.expect(r"\(X\)\? ")
    child.send("5\r")
    child.expect(r"the top \d+ holds? ")
    child.expect(MENU)
    child.send("7\r")
    child.expect(r"go back\): ")
    child.send("c1\r")
    child.expect("rank 1 of")
    child.expect(MENU)
    child.send("rejects\r")
    child.expect(r"held rejected events match")
    child.expect(r"Edit them now\? \[y/N\] ")
    child.send("n\r")
    child.expect(MENU)
    child.send("8\r")
    child.expect(PATH_PROMPT)
    child.send("out\r")
    child.expect(r"\[csv\]: ")
    child.send("\r")
    child.expect("wrote out/ltv.csv")
    child.expect(MENU)
    child.send("q\r")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    lines = ANSI.sub("", screen.getvalue()).replace("\r\n", "\n").split("\n")
    drawn = [line.split("\r")[-1] for line in lines]
    too_wide = [line for line in drawn if len(line) > 80 and "(empty to go back): " not in line]  # typed
    assert not too_wide, too_wide
    assert sum(line.startswith("+--") for line in drawn) >= 10  # the tables were drawn
    assert (tmp_path / "out" / "ltv.csv").exists()
