"""Held rejected events: listing and filtering them (`rejects`), and fixing them in an editor (`rejects edit`)."""
from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

import pytest

from clv.rejects import from_edited, select, to_editable
from clv.store import open_store

from helpers import MESSY, PROCESS, ROOT, SAMPLE, order, run, write_lines

EDIT_PROMPT = "Edit them now? [y/N] "
REPROCESS_PROMPT = "Reprocess the held events now? [Y/n] "


def held(dirs: list[str], *filters: str) -> list[dict]:
    result = run([*dirs, "rejects", *filters, "--format", "json"])
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def keys(records: list[dict]) -> list[str | None]:
    return [r["event"].get("key") if isinstance(r.get("event"), dict) else None for r in records]


def editor(tmp_path: Path, body: str) -> dict[str, str]:
    """EDITOR set to a Python script that gets `lines` (the file's lines), may change them, and writes them back.
    It also notes the path it was given in seen.txt."""
    script = tmp_path / "editor.py"
    script.write_text("import pathlib, sys\n"
                      "path = pathlib.Path(sys.argv[1])\n"
                      f"pathlib.Path({str(tmp_path / 'seen.txt')!r}).write_text(str(path))\n"
                      "lines = path.read_text(encoding='utf-8').split('\\n')\n"
                      f"{body}\n"
                      "path.write_text('\\n'.join(lines), encoding='utf-8')\n", encoding="utf-8")
    return {"EDITOR": f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}", "VISUAL": ""}


def version(base: Path) -> int:
    """The store's current version: a command that changed nothing committed nothing."""
    return open_store(base / "data").snapshot().version


def committing(base: Path, change: str) -> str:
    """Editor code that commits `change` (a store.Change, given the store's `snapshot`) to the store in base while
    the editor is open, as another process would."""
    return (f"sys.path.insert(0, {str(ROOT / 'src')!r})\n"
            "from clv.store import Change, open_store\n"
            f"store = open_store({str(base / 'data')!r})\n"
            "with store.writing() as snapshot:\n"
            f"    store.commit({change})")


@pytest.fixture
def messy(dirs: list[str]) -> list[str]:
    """The global options of a store that has ingested messy_events.jsonl: 9 held rejects."""
    assert run([*dirs, "ingest", MESSY]).returncode == 0
    return dirs


def test_the_table_lists_every_held_event_and_counts_them(messy):
    result = run([*messy, "rejects"], env={"COLUMNS": "80"})
    assert result.returncode == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert [cell.strip() for cell in lines[1].split("|")[1:-1]] == ["#", "reason", "message", "source", "event"]
    assert max(len(line) for line in lines) <= 80
    assert "| unknown_type  | type 'PAYMENT' … | …events.jsonl:13 |" in result.stdout
    assert lines[-3:] == ["by reason: malformed 2, unknown_type 1, invalid_verb 1, missing_field 1,",
                          "  invalid_field 2, duplicate_key 1, unknown_key 1", "9 of 9 held rejected events match"]


@pytest.mark.parametrize("columns", [60, 100, 200])
def test_the_table_fits_the_terminal_and_shows_the_time_when_there_is_room(messy, columns):
    out = run([*messy, "rejects"], env={"COLUMNS": str(columns)}).stdout
    table = [line for line in out.splitlines() if line.startswith(("+", "|"))]
    assert max(len(line) for line in table) <= columns
    assert ("| time " in table[1]) == (columns >= 120)


def test_filters_by_reason_source_and_text(messy):
    assert [r["index"] for r in held(messy, "--reason", "invalid_field")] == [6, 7]
    assert len(held(messy, "--source", "messy_events")) == 9
    assert held(messy, "--source", "MESSY") == []
    assert [r["index"] for r in held(messy, "--contains", "eur")] == [6]
    assert [r["index"] for r in held(messy, "--contains", "NOT JSON")] == [1]
    assert [r["index"] for r in held(messy, "--reason", "malformed", "--contains", "array")] == [2]
    out = run([*messy, "rejects", "--reason", "conflict"]).stdout
    assert out == "0 of 9 held rejected events match\n"


def test_a_reason_must_be_a_known_code(messy):
    result = run([*messy, "rejects", "--reason", "bogus"])
    assert result.returncode == 2 and "invalid choice: 'bogus'" in result.stderr


def test_json_and_jsonl_hold_the_records_with_their_place(messy):
    records = held(messy)
    assert [r["index"] for r in records] == list(range(1, 10))
    assert records[0] == {"index": 1, "raw": "not json at all", "reason": "malformed",
                          "message": records[0]["message"], "source": str(MESSY), "position": 11,
                          "time": records[0]["time"]}
    lines = run([*messy, "rejects", "--format", "jsonl", "--reason", "invalid_field"]).stdout.splitlines()
    assert [json.loads(line) for line in lines] == held(messy, "--reason", "invalid_field")


def test_nothing_held(dirs):
    assert run([*dirs, "ingest", SAMPLE]).returncode == 0  # a store that holds nothing (no store at all: "no store")
    assert run([*dirs, "rejects"]).stdout == "no rejected events are held\n"
    assert held(dirs) == []
    assert run([*dirs, "rejects", "--format", "jsonl"]).stdout == ""
    result = run([*dirs, "rejects", "edit"], env={"EDITOR": "false"})
    assert result.returncode == 0 and result.stderr == "no rejected events are held; nothing to edit\n"


def test_text_from_files_has_its_control_characters_escaped(dirs, tmp_path):
    source = write_lines(tmp_path / "bad\x1b[2Jname.jsonl", [order("o1", "2017-01-01T00:00:00Z", "c1", "1 USD")])
    source.write_text(source.read_text() + "oops \x1b]0;title\x07\n", encoding="utf-8")
    run([*dirs, "ingest", source])
    out = run([*dirs, "rejects"], env={"COLUMNS": "300"}).stdout
    assert "\x1b" not in out and "\x07" not in out
    assert "bad\\x1b[2Jname.jsonl:2" in out and "oops \\x1b]0;title\\x07" in out


FIX_BREAK_DELETE_ADD = """
fixed = [i for i, line in enumerate(lines) if '"key":"o4"' in line][0]
lines[fixed] = lines[fixed].replace("EUR", "USD")
broken = [i for i, line in enumerate(lines) if '"key":"o3"' in line][0]
lines[broken] = lines[broken].rstrip("}")
deleted = [i for i, line in enumerate(lines) if line.startswith("# 3 ")][0]
del lines[deleted:deleted + 2]
lines.append('{"type": "ORDER", "verb": "NEW", "key": "o5", "event_time": "2017-01-06T00:00:00Z", '
             '"customer_id": "c1", "total_amount": "5 USD"}')
"""


def test_an_edit_round_trip_fixes_keeps_discards_and_adds(messy, tmp_path):
    result = run([*messy, "rejects", "edit", "--no-reprocess"], env=editor(tmp_path, FIX_BREAK_DELETE_ADD))
    assert result.returncode == 0, result.stderr
    assert result.stderr == "2 edited, 1 discarded, 6 unchanged, 1 added as new held lines\n"
    assert result.stdout == ""
    assert not Path((tmp_path / "seen.txt").read_text()).exists()  # the temporary file is gone
    after = held(messy)
    assert keys(after) == [None, None, "o1", None, "o4", "c3", "c1", "c9", None]  # in their order, added last
    broken = after[3]
    assert broken["raw"].startswith('{"type":"ORDER"') and "event" not in broken
    assert broken["reason"] == "missing_field" and broken["position"] == 15  # kept until reprocessing checks it
    assert after[4]["event"]["total_amount"] == "12.34 USD"
    assert after[8]["reason"] == "malformed" and after[8]["source"] == "editor" and '"key": "o5"' in after[8]["raw"]

    reprocessed = json.loads(run([*messy, "reprocess", "--format", "json"]).stdout)
    assert reprocessed["read"] == 9 and reprocessed["ingested"] == 2
    after = held(messy)
    assert "o4" not in keys(after) and len(after) == 7
    assert [r["reason"] for r in after if "o3" in r.get("raw", "")] == ["malformed"]
    orders = run([*messy, "display", "orders"]).stdout
    assert "o4" in orders and "o5" in orders


def test_the_filters_choose_what_is_edited_and_the_rest_stays(messy, tmp_path):
    before = held(messy)
    result = run([*messy, "rejects", "edit", "--reason", "invalid_field", "--reprocess"],
                 env=editor(tmp_path, "lines = [line.replace('EUR', 'USD') for line in lines]"))
    assert result.stderr.startswith("1 edited, 0 discarded, 1 unchanged\n")
    assert "reprocessed 9 held events: 1 ingested" in result.stdout
    assert keys(held(messy)) == [k for k in keys(before) if k != "o4"]


@pytest.mark.parametrize("environment", [{"EDITOR": "false"}, {"EDITOR": "no-such-editor-here"},
                                         {"VISUAL": "'unbalanced"}])
def test_an_editor_that_fails_changes_nothing(messy, tmp_path, environment):
    before = held(messy), version(tmp_path)
    result = run([*messy, "rejects", "edit", "--reprocess"], env=environment)
    assert result.returncode == 1 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and result.stderr.endswith("nothing was changed\n")
    assert (held(messy), version(tmp_path)) == before


def test_an_editor_exiting_1_after_saving_changes_nothing(messy, tmp_path):
    before = held(messy), version(tmp_path)
    environment = editor(tmp_path, "lines = []\npath.write_text('')\nsys.exit(1)")
    result = run([*messy, "rejects", "edit"], env=environment)
    assert result.returncode == 1 and "exited with status 1; nothing was changed" in result.stderr
    assert (held(messy), version(tmp_path)) == before
    assert not Path((tmp_path / "seen.txt").read_text()).exists()


def test_visual_comes_before_editor(messy, tmp_path):
    script = editor(tmp_path, "lines = [line for line in lines if 'PAYMENT' not in line]")["EDITOR"]
    result = run([*messy, "rejects", "edit"], env={"VISUAL": script, "EDITOR": "false"})
    assert result.returncode == 0 and result.stderr == "0 edited, 1 discarded, 8 unchanged\n"


def test_held_events_changed_during_the_edit_stop_the_commit_and_keep_the_edits(messy, tmp_path):
    meanwhile = committing(tmp_path, "Change('rejects edit', hold=snapshot.held[1:], release_held=True)")
    result = run([*messy, "rejects", "edit"], env=editor(tmp_path, meanwhile + "\nlines = lines[:-3]"))
    assert result.returncode == 1
    kept = (tmp_path / "seen.txt").read_text()
    assert result.stderr == ("error: the held rejected events changed while they were being edited; "
                             f"nothing was changed; your edits are kept in {kept}\n")
    assert len(held(messy)) == 8 and Path(kept).exists()
    Path(kept).unlink()


def test_events_held_during_the_edit_are_kept(messy, tmp_path):
    late = {"raw": "late", "reason": "malformed", "message": "m", "source": "s", "position": 1, "time": "t"}
    meanwhile = committing(tmp_path, f"Change('ingest', hold=[{late!r}])")
    result = run([*messy, "rejects", "edit"], env=editor(tmp_path, meanwhile + "\nlines = lines[:-3]"))
    assert result.returncode == 0 and result.stderr == "0 edited, 1 discarded, 8 unchanged\n"
    assert [r.get("raw") for r in held(messy)][-2:] == [None, "late"]


def test_the_menu_lists_asks_edits_and_reprocesses(dirs, tmp_path):
    stdin = f"1\n{MESSY}\n9\ny\n\n4\n"
    result = run(dirs, stdin=stdin, env=editor(tmp_path, "lines = [l.replace('EUR', 'USD') for l in lines]"))
    assert result.returncode == 0, result.stderr
    assert "9. Rejects" in result.stdout
    assert "9 of 9 held rejected events match" in result.stdout
    assert EDIT_PROMPT in result.stdout and REPROCESS_PROMPT in result.stdout
    assert "1 edited, 0 discarded, 8 unchanged" in result.stderr
    assert "reprocessed 9 held events: 1 ingested" in result.stdout


def test_the_menu_does_not_edit_unless_asked_to(dirs, tmp_path):
    result = run(dirs, stdin=f"1\n{MESSY}\nrejects\n\n4\n", env={"EDITOR": "false"})
    assert result.returncode == 0 and "error" not in result.stderr
    assert EDIT_PROMPT in result.stdout and REPROCESS_PROMPT not in result.stdout


def test_memory_store(tmp_path):
    assert run(["--memory", "rejects"]).stdout == "no rejected events are held\n"
    stdin = f"1\n{MESSY}\n9\ny\nn\n9\n\n4\n"
    result = run(["--memory"], stdin=stdin, env=editor(tmp_path, "lines = [l for l in lines if 'PAYMENT' not in l]"))
    assert result.returncode == 0, result.stderr
    assert "0 edited, 1 discarded, 8 unchanged" in result.stderr
    assert "8 of 8 held rejected events match" in result.stdout
    assert not (tmp_path / "logs").exists()


def selected_of(*records: dict) -> list[tuple[int, dict]]:
    return select(list(records))


RAW = {"raw": "# not a comment", "reason": "malformed", "message": "m\nn", "source": "s", "position": 1, "time": "t"}
EVENT = {"event": {"key": "k"}, "reason": "missing_field", "message": "m", "source": "s", "position": 2, "time": "t"}


def test_an_untouched_file_changes_nothing_even_with_windows_line_ends():
    selected = selected_of(RAW, EVENT)
    text = to_editable(selected)
    assert "# 1 malformed: m\\nn  (s:1)\n # not a comment\n" in text
    for edited in (text, text.replace("\n", "\r\n")):
        result = from_edited(edited, selected)
        assert not result.changed and result.unchanged == 2


def test_a_comment_belongs_to_one_line_and_a_line_without_one_is_new():
    selected = selected_of(RAW, EVENT)
    text = to_editable(selected).replace('{"key":"k"}', '{"key":"k"}\n{"key":"extra"}')
    result = from_edited(text.replace("# 1 malformed", "# removed"), selected)
    assert result.discarded == {1} and result.unchanged == 1
    assert [a["raw"] for a in result.added] == ["# not a comment", '{"key":"extra"}']
    assert all(a["reason"] == "malformed" and a["message"] == "added in the editor" for a in result.added)


def test_apply_keeps_the_order_and_what_was_not_selected():
    other = dict(EVENT, event={"key": "other"})
    records = [RAW, other, EVENT]
    selected = select(records, reason="missing_field", contains='"k"')
    assert [place for place, _ in selected] == [3]
    result = from_edited(to_editable(selected).replace('"k"', '"fixed"'), selected)
    assert result.apply(records) == [RAW, other, dict(EVENT, event={"key": "fixed"})]


def test_in_a_terminal_the_editor_gets_the_terminal_and_reprocessing_is_offered(messy, tmp_path):
    pexpect = pytest.importorskip("pexpect")
    environment = editor(tmp_path, "assert sys.stdin.isatty()\nlines = [l.replace('EUR', 'USD') for l in lines]")
    child = pexpect.spawn(sys.executable, [str(PROCESS), *messy, "rejects", "edit"], encoding="utf-8", timeout=60,
                          env={**os.environ, **environment})
    child.expect_exact("1 edited, 0 discarded, 8 unchanged")
    child.expect_exact(REPROCESS_PROMPT)
    child.send("\r")
    child.expect_exact("reprocessed 9 held events: 1 ingested")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
