"""The menu driven through standard input, as a person (or a here-document) would (docs/contract.md)."""
from __future__ import annotations

import shutil

import pytest

from clv.menu import choose, menu_text
from clv.prompt import pasted_paths, positive_int

from helpers import MESSY, SAMPLE, run


def test_menu_lists_the_seed_options_with_their_numbers():
    assert menu_text().startswith("1. Ingest  2. LTV  3. Display  4. Exit  5. Reprocess")


@pytest.mark.parametrize("answer, name", [("1", "Ingest"), (" ltv ", "LTV"), ("DISPLAY", "Display"),
                                          ("4", "Exit"), ("exit", "Exit"), ("q", "Exit"), ("QUIT", "Exit"),
                                          ("5", "Reprocess"), ("stats", "Stats"), ("Overview", "Stats")])
def test_options_by_number_or_name_in_any_case(answer, name):
    assert choose(answer)[0] == name


def test_a_whole_session_through_stdin(dirs):
    result = run(dirs, stdin=f"1\n{SAMPLE}\n2\n3\n3\n4\n")
    assert result.returncode == 0 and "Traceback" not in result.stderr
    out = result.stdout
    assert "store size: 0 → 4 rows" in out
    assert "96f55c7d8f42" in out and "6,416.80" in out
    assert "customers (1 row)" in out
    assert out.count("1. Ingest") == 4


def test_names_work_and_wrong_input_brings_the_menu_back(dirs):
    result = run(dirs, stdin="99\nfrobnicate\n\ningest\n\nEXIT\n")
    assert result.returncode == 0
    assert "'99' is not an option" in result.stderr and "'frobnicate' is not an option" in result.stderr
    assert result.stdout.count("1. Ingest") == 5


@pytest.mark.parametrize("typed", [
    "'{path}'", '"{path}"', "  {path}  ", "{escaped}", "~/{name}", "$EVENTS_DIR/{name}", "\"$EVENTS_DIR/{name}\"",
])
def test_pasted_paths_with_quotes_spaces_tilde_and_variables(dirs, tmp_path, typed):
    folder = tmp_path / "my events"
    folder.mkdir()
    target = folder / "day one.txt"
    shutil.copy(SAMPLE, target)
    text = typed.format(path=target, escaped=str(target).replace(" ", "\\ "), name="day one.txt")
    result = run(dirs, stdin=f"1\n{text}\n4\n", env={"HOME": str(folder), "EVENTS_DIR": str(folder)})
    assert "store size: 0 → 4 rows" in result.stdout, result.stderr


def test_end_of_input_leaves_cleanly_at_any_prompt(dirs):
    for stdin in ("", "1\n", "2\n", "2\nabc\n"):
        result = run(dirs, stdin=stdin)
        assert result.returncode == 0 and "Traceback" not in result.stderr


def test_errors_in_an_action_bring_the_menu_back(dirs, tmp_path):
    result = run(dirs, stdin=f"2\n3\n1\n{tmp_path / 'nope.json'}\n\n2\nzero\n0\n\n4\n")
    assert result.returncode == 0
    assert "no data" in result.stderr
    assert "nope.json: no such file or directory" in result.stderr
    assert "X must be a positive whole number, got 'zero'" in result.stderr
    assert "got '0'" in result.stderr
    assert result.stdout.count("1. Ingest") == 4


def test_reprocess_from_the_menu(dirs):
    result = run(dirs, stdin=f"1\n{MESSY}\nreprocess\n4\n")
    assert "reprocessed 9 held events" in result.stdout and "9 events remain held" in result.stdout


def test_pasted_paths_split_like_a_shell_when_not_one_existing_path(tmp_path):
    assert pasted_paths("  ") == []
    assert pasted_paths("a.json 'b c.json'") == ["a.json", "b c.json"]
    assert pasted_paths("unbalanced 'quote") == ["unbalanced 'quote"]


@pytest.mark.parametrize("text, value", [("5", 5), (" 12 ", 12), ("1,000", 1000)])
def test_positive_int_accepts(text, value):
    assert positive_int(text) == value


@pytest.mark.parametrize("text", ["0", "-1", "1.5", "ten", "", "1e3"])
def test_positive_int_rejects(text):
    with pytest.raises(ValueError, match="positive whole number"):
        positive_int(text)
