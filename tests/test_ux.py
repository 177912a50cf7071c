"""The tool as analysts and scripts use it (issue #13) and the terminal and spreadsheet rules (issue #9):
tables that fit the terminal, one output shape per format, progress, forgiving command lines and prompts,
read-only commands that create nothing, and no raw control character on a terminal."""
from __future__ import annotations

import csv
import io
import json
import re
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from clv import commands, progress
from clv.menu import help_text, menu_text
from clv.output import csv_safe, csv_text, frame_records
from clv.prompt import completer_of, pasted_paths, positive_int
from clv.terminal import EscapingStream, cut, escape

from helpers import MESSY, SAMPLE, Stream, customer, image, order, run, visit, write_json, write_lines

T = "2017-01-06T12:00:00Z"
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")  # newline aside
LONG_ID = "3f2b8c1e-9a4d-4e7b-8c2a-1d5e6f7a8b9c"  # an id wider than a comfortable column


def options(base: Path) -> list[str]:
    return ["--data-dir", str(base / "data"), "--logs-dir", str(base / "logs")]


@pytest.fixture(scope="module")
def wide(tmp_path_factory) -> list[str]:
    """A store (shared, read only) whose ids, names and paths are long enough to be too wide for 80 columns."""
    base = tmp_path_factory.mktemp("wide")
    folder = base / "a-folder-with-a-rather-long-name-for-the-exports-of-january"
    folder.mkdir()
    events = [customer(LONG_ID, T, last_name="Featherstonehaugh-Cholmondeley", adr_city="Llanfairpwllgwyngyll",
                       adr_state="WA"),
              customer("c2", "2017-01-02T10:00:00Z", last_name="Smith"),
              visit("v1", T, LONG_ID, tags={"campaign": "a very long campaign name indeed"}),
              visit("v2", T, "c2"), image("i1", T, LONG_ID, camera_make="Canon", camera_model="EOS 80D"),
              order("o1", T, LONG_ID, "1234.56 USD"), order("o2", "2017-01-20T09:00:00Z", "c2", "0.10 USD"),
              order("o3", "2017-01-20T09:00:00Z", "c2", "0.20 USD")]
    write_json(folder / "day-one-of-the-events-with-a-long-file-name.json", events)
    result = run([*options(base), "ingest", folder])
    assert result.returncode == 0, result.stderr
    return options(base)


def table_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(("+", "|"))]


def widest(text: str) -> int:
    return max((len(line) for line in text.splitlines()), default=0)


# --- 1. Every table fits the terminal ------------------------------------------------------------------------


@pytest.mark.parametrize("columns", [80, 200])
def test_the_ltv_table_fits_and_always_shows_its_key_columns(wide, columns):
    out = run([*wide, "ltv", "2"], env={"COLUMNS": str(columns)}).stdout
    assert widest(out) <= columns
    header = table_lines(out)[1]
    assert all(f" {name} " in header for name in ("rank", "customer_id", "last_name", "ltv"))
    assert LONG_ID in out  # an id is cut only when nothing else is left to give way
    if columns == 80:
        assert "columns not shown, to fit 80 characters: total_revenue" in out.replace("\n  ", " ")
    else:
        assert "weekly_value" in header and "not shown" not in out


@pytest.mark.parametrize("columns", [80, 200])
def test_display_customer_stats_and_the_ingest_summary_fit(wide, tmp_path, monkeypatch, columns):
    env = {"COLUMNS": str(columns)}
    for args in (["display"], ["customer", LONG_ID], ["stats"], ["rejects"]):
        result = run([*wide, *args], env=env)
        assert result.returncode == 0, result.stderr
        assert widest(result.stdout) <= columns, (args, result.stdout)
    shown = run([*wide, "display", "customers"], env=env).stdout
    assert ("created" in table_lines(shown)[1]) == (columns == 200)
    assert ("columns not shown" in shown) == (columns == 80)
    folder = next(Path(wide[1]).parent.glob("a-folder-*"))
    monkeypatch.chdir(folder.parent)
    summary = run([*options(tmp_path), "ingest", folder.name], env=env).stdout
    assert widest(summary) <= columns
    file_cell = table_lines(summary)[3].split("|")[1].strip()
    assert file_cell.endswith("long-file-name.json")  # shortened from the left: the file name stays
    assert file_cell.startswith("…") == (columns == 80)


def test_the_menu_bar_takes_two_lines_at_80_columns_and_one_at_200():
    narrow = menu_text(80).splitlines()
    assert len(narrow) == 2 and all(len(line) <= 80 for line in narrow)
    assert narrow[0].startswith("1. Ingest  2. LTV  3. Display  4. Exit") and "10. Predict" in narrow[1]
    assert len(menu_text(200).splitlines()) == 1
    assert all(len(line) <= 80 for line in help_text().splitlines())


def test_a_long_value_is_cut_with_an_ellipsis_that_keeps_the_end_of_a_path():
    assert cut("abcdefghij", 5) == "abcd…" and cut("abcdefghij", 5, keep_end=True) == "…ghij"
    assert cut("日本語のテキスト", 7) == "日本語…"  # wide characters take two cells
    assert cut("short", 10) == "short"


# --- 2. One documented shape per format; data on stdout, the rest on stderr ---------------------------------


def test_customer_and_display_as_json_and_csv(wide):
    data = json.loads(run([*wide, "customer", "c2", "--format", "json"]).stdout)
    assert data["record"]["last_name"] == "Smith" and data["rank"] == 2 and data["customers_ranked"] == 2
    assert data["ltv"]["total_revenue"] == 0.3  # 0.1 + 0.2 without float noise
    assert [o["key"] for o in data["orders"]] == ["o2", "o3"]
    assert data["orders"][0]["created"] == "2017-01-20T09:00:00.000000Z"  # the one ISO form
    row = next(csv.DictReader(io.StringIO(run([*wide, "customer", "c2", "--format", "csv"]).stdout)))
    assert (row["customer_id"], row["last_name"], row["total_revenue"], row["orders"]) == ("c2", "Smith", "0.30", "2")
    assert row["visits_per_week"] == f"{1 / 3:.6f}"  # fractions to six places
    assert float(row["ltv"]) == round(data["ltv"]["ltv"], 2)  # JSON rounded as CSV rounds gives the CSV cell

    tables = json.loads(run([*wide, "display", "--format", "json"]).stdout)
    assert list(tables) == ["customers", "site_visits", "images", "orders"]
    assert tables["orders"]["rows"] == 3 and tables["site_visits"]["records"][0]["tags"]["campaign"]
    orders = list(csv.DictReader(io.StringIO(run([*wide, "display", "orders", "--format", "csv"]).stdout)))
    assert [o["amount"] for o in orders] == ["1234.56", "0.10", "0.20"]
    several = run([*wide, "display", "orders", "customers", "--format", "csv"])
    assert several.returncode == 2 and "--format csv writes one table at a time" in several.stderr
    assert run([*wide, "display", "orders", "--format", "csv", "--limit", "1"]).stderr.startswith(
        "rows left out by --limit 1: orders 2")


def test_ltv_csv_and_json_agree_without_float_noise(wide):
    rows = json.loads(run([*wide, "ltv", "2", "--format", "json"]).stdout)
    cells = list(csv.DictReader(io.StringIO(run([*wide, "ltv", "2", "--format", "csv"]).stdout)))
    assert rows[1]["total_revenue"] == 0.3 and cells[1]["total_revenue"] == "0.30"
    for record, cell in zip(rows, cells):
        assert float(cell["ltv"]) == round(record["ltv"], 2)
        assert float(cell["visits_per_week"]) == round(record["visits_per_week"], 6)
    assert "e-" not in "".join(c["ltv"] for c in cells) and "000000000" not in json.dumps(rows)


def test_ingest_has_one_json_shape_and_a_file_error_is_said_once_on_stderr(tmp_path):
    dirs = options(tmp_path)
    result = run([*dirs, "ingest", SAMPLE, tmp_path / "missing.json"])
    assert result.returncode == 1
    assert "missing.json" not in result.stdout and result.stderr.count("missing.json") == 1
    one = json.loads(run([*dirs, "ingest", MESSY, "--format", "json"]).stdout)
    many = json.loads(run([*dirs, "ingest", SAMPLE, MESSY, "--format", "json"]).stdout)
    assert set(one) == set(many) and len(one["files"]) == 1 and len(many["files"]) == 2
    assert one["failed_files"] == 0 and one["notes"] == []
    rows = list(csv.DictReader(io.StringIO(run([*dirs, "ingest", SAMPLE, "--format", "csv"]).stdout)))
    assert rows[0]["source"] == str(SAMPLE) and rows[0]["duplicates"] == "4"


def test_status_lines_go_to_stderr_and_the_grammar_counts(tmp_path):
    dirs = options(tmp_path)
    write_json(tmp_path / "one.json", [order("o1", T, "solo", "5 USD")])
    ingested = run([*dirs, "ingest", tmp_path / "one.json"]).stdout
    assert "orphans: 1 new row refers to a customer" in ingested and "store size: 0 → 1 row\n" in ingested
    shown = run([*dirs, "ltv", "1"]).stdout
    assert "LTV over 1 customer: the top 1 holds 100.0% of the total" in shown
    exported = run([*dirs, "export", tmp_path / "out"])
    assert exported.stdout == "" and exported.stderr.count("wrote ") == 5
    written = run([*dirs, "ltv", "1", "--output", tmp_path / "top.txt"])
    assert written.stdout == "" and written.stderr == f"wrote {tmp_path / 'top.txt'}\n"
    assert "customers (0 rows)" in run([*dirs, "display", "customers"]).stdout
    assert "orders (1 row)" in run([*dirs, "display", "orders"]).stdout


def test_a_csv_cell_never_starts_a_formula_but_a_number_stays_a_number():
    frame = pd.DataFrame({"name": ["=1+1", "+cmd", "-2", "@SUM(1)", "\t=x", "\r=x", "plain", None],
                          "amount": [-2.5, 1.0, 0.1 + 0.2, 3.0, 4.0, 5.0, 6.0, 7.0]})
    safe = csv_safe(frame)
    assert safe["name"].tolist()[:7] == ["'=1+1", "'+cmd", "'-2", "'@SUM(1)", "'\t=x", "'\r=x", "plain"]
    cells = list(csv.reader(io.StringIO(csv_text(frame), newline="")))
    assert cells[1] == ["'=1+1", "-2.50"] and cells[3][1] == "0.30"
    assert cells[6][0] == "'\r=x"  # a lone carriage return is quoted, so it does not end the row
    assert frame_records(frame)[2]["amount"] == 0.3


# --- 3. Progress: on stderr, only in a terminal, after a second, never frozen --------------------------------


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _until(condition, seconds: float = 10.0) -> None:
    """Wait for what the test expects to happen (not a fixed time), failing after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "it did not happen"
        time.sleep(0.01)


def test_a_read_only_command_shows_a_working_clock_in_a_terminal_and_wipes_it(monkeypatch):
    monkeypatch.setattr(progress, "DELAY_SECONDS", 0.0)
    screen = FakeTerminal()
    real = commands.ltv_figures

    def slow(snapshot):
        _until(lambda: "ranking customers by LTV" in screen.getvalue())  # shown while the work goes on
        return real(snapshot)

    monkeypatch.setattr(commands, "ltv_figures", slow)
    out = Stream()
    from clv.cli import main
    status = main(["--memory", "ltv", "1"], stdin=Stream(), stdout=out, stderr=screen)
    assert status == 1 and "no data" in screen.getvalue()  # an empty store, said after the clock is wiped
    drawn = screen.getvalue()
    assert "\r" in drawn and drawn.index("\r") < drawn.index("error: no data")


def test_the_clock_keeps_moving_while_a_phase_reports_nothing(monkeypatch):
    monkeypatch.setattr(progress, "DELAY_SECONDS", 0.0)
    monkeypatch.setattr(progress, "TICK_SECONDS", 0.01)
    screen = FakeTerminal()
    bar = progress.TerminalProgress(screen)
    bar.start("events.json")
    bar.parsed(10)
    bar.advance(10)  # every event converted: batch checking now runs with no updates at all
    _until(lambda: screen.getvalue().count(progress.KEYS_STAGE) >= 3)  # redrawn by the ticker alone
    bar.close()
    assert screen.getvalue().endswith("\r")


def test_no_indicator_off_a_terminal_or_for_quick_work():
    piped = io.StringIO()
    with progress.working(piped, "nothing to see"):
        pass
    assert piped.getvalue() == ""
    screen = FakeTerminal()
    with progress.working(screen, "quick"):
        pass
    assert "quick" not in screen.getvalue()


# --- 4. Forgiving command lines and prompts -----------------------------------------------------------------


@pytest.mark.parametrize("args, words", [
    (["ingset", "x"], "unknown command 'ingset'; did you mean 'ingest'?"),
    (["ltv", "1", "--form", "json"], "unknown option '--form'; did you mean --format?"),
    (["ltv", "1", "--format", "jsn"], "did you mean 'json'?"),
    (["display", "custmers"], "did you mean 'customers'?"),
    (["ltv", "9" * 5000], "X must be a positive whole number below 10^18"),
    (["predict", "--horizon", "1000000000"], "--horizon must be at most 5,200 weeks"),
])
def test_usage_errors_say_what_was_meant(args, words):
    result = run(["--memory", *args])
    assert result.returncode == 2 and words in result.stderr and len(result.stderr.splitlines()) == 1
    assert len(result.stderr) < 500


def test_command_names_and_formats_in_any_case(wide):
    assert run([*wide, "LTV", "1", "--format", "JSON"]).returncode == 0
    assert run([*wide, "Display", "ORDERS"]).returncode == 0


def test_menu_words_help_and_aliases(wide):
    result = run(wide, stdin="help\n?\noverview\nstats\nq\n")
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.count("what the store holds, at a glance") == 2 and result.stdout.count("store size") == 2
    assert run(wide, stdin="quit\n").returncode == 0
    typo = run(wide, stdin="ingets\nexit\n")
    assert "'ingets' is not an option" in typo.stderr and "did you mean Ingest?" in typo.stderr


def test_every_prompt_asks_again_after_a_wrong_answer(wide, tmp_path):
    out = tmp_path / "report"
    script = (f"7\nnobody\nc2\n"  # an unknown customer, then a known one
              f"8\n{out}\nxlsx\ncsv\n"  # a format that does not exist, then csv
              f"8\n{out}\ncsv\nmaybe\nn\n"  # overwrite? neither yes nor no, then no
              f"1\n{tmp_path / 'nope.json'}\n\n"  # a path that does not exist, then back
              "4\n")
    result = run(wide, stdin=script)
    assert result.returncode == 0
    err = result.stderr
    assert "no customer 'nobody' in the store" in err and "try again" in err and "customer c2" in result.stdout
    assert "the format is csv or parquet, got 'xlsx'" in err and err.count("wrote ") == 5
    assert "please answer y or n, got 'maybe'" in err
    assert "nope.json: no such file or directory; try again" in err
    assert result.stdout.count("Choose an option") == 5


def test_completion_and_long_answers():
    complete = completer_of(lambda: ["c2", "c10", "c1", "d1"])
    assert [complete("c1", i) for i in range(3)] == ["c1", "c10", None]
    started = time.monotonic()
    with pytest.raises(ValueError, match="a path has at most 4,096"):
        pasted_paths("a" * (1 << 20))
    with pytest.raises(ValueError, match=r"got 'xxxxxxxxxx.*… \(1,048,576 characters\)"):
        positive_int("x" * (1 << 20))
    assert time.monotonic() - started < 1


# --- 5. A read-only command on a folder that holds no store creates nothing ---------------------------------


@pytest.mark.parametrize("args", [["ltv", "3"], ["stats"], ["display"], ["customer", "c1"], ["rejects"], ["history"],
                                  ["predict"], ["export", "out"]])
def test_a_read_only_command_without_a_store_says_so_and_creates_nothing(tmp_path, args):
    typo = tmp_path / "dta"
    result = run(["--data-dir", str(typo), "--logs-dir", str(tmp_path / "logs"), *args])
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith(f"error: no store in {typo}") and len(result.stderr.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_memory_is_an_empty_store_on_purpose():
    assert run(["--memory", "stats"]).returncode == 0
    assert run(["--memory", "ltv", "1"]).returncode == 1  # "no data", as for any empty store


# --- issue #9: nothing raw reaches a terminal ---------------------------------------------------------------


def test_the_escaping_stream_keeps_layout_and_escapes_the_rest():
    target = Stream(encoding="ascii")
    stream = EscapingStream(target)
    stream.write("a\tb\nc\x1b[2J\x07\r\x9b\udcff → done\n")
    assert target.getvalue() == "a\tb\nc\\x1b[2J\\x07\\r\\x9b\\xff → done\n"
    assert stream.encoding == "ascii" and not stream.isatty()
    assert escape("new\nline\ttab") == "new\\nline\\ttab"


def test_hostile_text_is_escaped_everywhere_it_is_shown(tmp_path):
    evil = "\x1b[2J\x1b[31mEVIL\x07"
    source = tmp_path / "dump\x1b[31m\nname.jsonl"
    write_lines(source, [customer("c1", T, last_name=evil), order("o1", T, "c1", "5 USD"),
                         {"type": evil, "key": "x"}])
    dirs = options(tmp_path)
    shown = [run([*dirs, "ingest", source], env={"COLUMNS": "200"})]
    shown += [run([*dirs, *args], env={"COLUMNS": "200"}) for args in (["display"], ["customer", "c1"], ["ltv", "3"], ["rejects"],
                                                ["customer", "no" + evil], ["ingest", str(source) + "x"])]
    shown.append(run(dirs, stdin=f"{evil}\n7\n{evil}\n\n4\n"))
    for result in shown:
        for text in (result.stdout, result.stderr):
            found = RAW_CONTROL.search(text)
            assert found is None, text
    assert "\\x1b[2J\\x1b[31mEVIL\\x07" in shown[1].stdout and "dump\\x1b[31m\\nname.jsonl" in shown[0].stdout


def test_bytes_that_are_not_utf8_on_stdin_or_in_an_argument_keep_the_session(wide):
    stdin = io.TextIOWrapper(io.BytesIO(b"7\ncaf\xe9\n\n6\n4\n"), encoding="utf-8")  # strict, as a terminal's
    out, err = Stream(), Stream()
    from clv.cli import main
    assert main(wide, stdin=stdin, stdout=out, stderr=err) == 0
    assert "no customer 'caf\\xe9'" in err.getvalue() and "store size" in out.getvalue()
    result = run([*wide, "customer", "caf\udce9"])
    assert result.returncode == 1 and "caf\\xe9" in result.stderr


def test_a_megabyte_pasted_at_the_menu_is_answered_at_once(wide):
    started = time.monotonic()
    result = run(wide, stdin="1\n" + "a" * (1 << 20) + "\n\n" + "b" * (1 << 20) + "\n7\n" + "c" * (1 << 20) + "\n\n4\n")
    assert result.returncode == 0 and time.monotonic() - started < 3
    assert len(result.stderr) < 2000


def ours() -> set[threading.Thread]:
    """The live threads, but tqdm's monitor: the first bar of a process starts it and it lives on."""
    return {t for t in threading.enumerate() if t.name != "tqdm_monitor"}


def test_the_working_indicator_thread_stops(monkeypatch):
    before = ours()
    with progress.working(FakeTerminal(), "x"):
        pass
    _until(lambda: ours() <= before)


# --- 6. The README shows what the program prints -------------------------------------------------------------


def test_the_readme_shows_the_menu_and_the_formats_as_the_program_has_them():
    from clv.cli import build_parser

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert menu_text(80) in readme and help_text() in readme
    usage: dict[str, str] = {}
    name = None
    for line in readme.splitlines():
        if line.startswith("clv "):
            name = line.split()[1]
        elif not line.startswith("    "):
            name = None
        if name:
            usage[name] = usage.get(name, "") + line
    for command, sub in build_parser().commands.items():
        formats = next((a.choices for a in sub._actions if "--format" in a.option_strings), None)
        if formats:
            assert f"--format {'|'.join(formats)}" in usage[command], command
