"""The menu in a real pseudo-terminal (pexpect): Tab completion, the progress bar, Ctrl-C during a large
ingestion, the pager for a long table, and Ctrl-D to leave."""
from __future__ import annotations

import os
import shutil
import sys

import pexpect
import pytest

from clv.ingest import ingest
from clv.rejects import MemoryRejects
from clv.store import ParquetStore

from bench.generate import generate, write
from helpers import PROCESS, SAMPLE, customer, run, write_json

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
    child.send("\x1b[A\x1b[A")  # arrow up twice recalls the path typed before
    child.expect("only-one-file-like-this.json")
    child.send("\x15")  # Ctrl-U clears the line again
    child.send("1\r")
    child.expect("96f55c7d8f42")
    child.expect(MENU)
    leave(child)


@pytest.mark.slow
def test_ctrl_c_during_a_large_ingestion_keeps_the_store_and_returns_to_the_menu(tmp_path):
    store = ParquetStore(tmp_path / "data")
    ingest(store, [SAMPLE], MemoryRejects())
    big = tmp_path / "big.json"
    write(generate(400_000, seed=21), big, "json")
    child = spawn(tmp_path)
    child.send("1\r")
    child.expect(PATH_PROMPT)
    child.send(f"{big}\r")
    child.expect("events/s")  # the progress bar, shown because this is a terminal
    child.sendintr()
    child.expect("cancelled; the store is as it was")
    child.expect(MENU)
    child.send("6\r")
    child.expect(r"store size\s+4\r")
    child.expect(MENU)
    leave(child)
    assert ParquetStore(tmp_path / "data").snapshot().size() == 4


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


def test_no_progress_bar_when_output_is_piped(tmp_path):
    big = tmp_path / "mid.json"
    write(generate(150_000, seed=22), big, "json")
    result = run(["--data-dir", str(tmp_path / "data"), "--logs-dir", str(tmp_path / "logs"), "ingest", str(big)])
    assert result.returncode == 0 and result.stderr == ""
