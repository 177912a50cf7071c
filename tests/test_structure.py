"""The shape of the code: one registry of event types, no import cycles, a light and interruptible start."""
from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from clv import events as ev
from clv.ingest import ingest
from clv.ltv import ltv_table
from clv.store import open_store

from helpers import PROCESS, ROOT, customer, order, write_json

PACKAGE = ROOT / "src" / "clv"
SRC = {**os.environ, "PYTHONPATH": str(ROOT / "src")}


@pytest.fixture
def reviews():
    """A fifth event type, registered for one test only."""
    ev.register(ev.EventType("REVIEW", (ev.NEW,), "reviews",
                             (ev.Field(ev.CUSTOMER_FIELD, ev.ID, required=True), ev.Field("text", ev.TEXT))))
    yield
    ev.unregister("REVIEW")


def review(key: str, time: str, customer_id: str, **fields) -> dict:
    return {"type": "REVIEW", "verb": "NEW", "key": key, "event_time": time, "customer_id": customer_id, **fields}


@pytest.mark.parametrize("on_disk", [False, True])
def test_a_registered_event_type_is_validated_stored_and_ranked(reviews, on_disk, tmp_path):
    store = open_store(tmp_path / "data" if on_disk else None)  # on disk, its columns join the Delta table
    events = [customer("c1", "2017-01-02T00:00:00Z"), order("o1", "2017-01-02T00:00:00Z", "c1", "10 USD"),
              review("r1", "2017-01-21T00:00:00Z", "critic", text="great"),  # the Saturday: 3 weeks in all
              review("r2", "2017-01-03T00:00:00Z", "c1", text=5),
              review("r3", "2017-01-03T00:00:00Z", "c1", verb="UPDATE")]
    run = ingest(store, [write_json(tmp_path / "e.json", events)])
    assert run.total.rejected_by_reason == {"invalid_verb": 1, "invalid_field": 1}
    assert run.total.orphans == 1
    held = {h["event"]["key"]: h["message"] for h in store.snapshot().held}
    assert held["r2"] == "text must be a string or null, got a JSON number"
    stored = store.snapshot().current()["reviews"]
    assert stored[["key", "customer_id", "text"]].values.tolist() == [["r1", "critic", "great"]]
    ranked = ltv_table(store.snapshot())
    assert ranked["customer_id"].tolist() == ["c1", "critic"]
    assert ranked.loc[0, "ltv"] == pytest.approx(10 / 3 * 52 * 10)


def test_a_field_must_keep_its_kind_across_types():
    with pytest.raises(ValueError, match="customer_id is a id"):
        ev.register(ev.EventType("BAD", (ev.NEW,), "bad", (ev.Field(ev.CUSTOMER_FIELD, ev.TEXT),)))
    assert "BAD" not in ev.type_names()


@pytest.mark.parametrize("table", ["orders", ev.HELD_TABLE, ev.FIGURES_TABLE])
def test_a_new_type_cannot_take_a_table_of_another_type_or_of_the_store(table):
    with pytest.raises(ValueError, match=f"table {table} belongs to another type, or to the store"):
        ev.register(ev.EventType("CLASH", (ev.NEW,), table, (ev.Field("note", ev.TEXT),)))
    assert "CLASH" not in ev.type_names()


def _imports(path: Path) -> set[str]:
    """The clv modules a module imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names = [node.module] if node.module else [alias.name for alias in node.names]
            found.update(name.split(".")[0] for name in names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("clv."):
            found.add(node.module.split(".")[1])
    return found


def test_no_import_cycles():
    graph = {path.stem: _imports(path) & {p.stem for p in PACKAGE.glob("*.py")} for path in PACKAGE.glob("*.py")}

    def reach(start: str, node: str, seen: set[str]) -> bool:
        for nxt in graph.get(node, ()):
            if nxt == start:
                return True
            if nxt not in seen:
                seen.add(nxt)
                if reach(start, nxt, seen):
                    return True
        return False

    assert [name for name in graph if name != "__init__" and reach(name, name, set())] == []


def test_help_and_version_do_not_load_pandas():
    code = "import sys; from clv.cli import main; main(sys.argv[1:]); assert 'pandas' not in sys.modules, 'pandas'"
    for args in (["--help"], ["--version"], ["ltv", "--help"]):
        result = subprocess.run([sys.executable, "-c", code, *args], check=False, capture_output=True, text=True, env=SRC)
        assert result.returncode == 0, result.stderr
    version = subprocess.run([sys.executable, str(PROCESS), "--version"], check=False, capture_output=True, text=True)
    assert version.stdout.strip() == "process.py 0.4.0"


def test_a_missing_dependency_is_one_line_saying_how_to_install():
    code = "import sys; sys.modules['pandas'] = None; from clv.cli import main; sys.exit(main(['stats']))"
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, env=SRC)
    assert result.returncode == 1
    assert result.stderr == "error: missing dependency pandas: install the tool first: pip install -r requirements.txt\n"


def _loading_numpy(pid: int) -> bool:
    """Whether the tool is importing its libraries: numpy's compiled core is mapped into the process."""
    try:
        return "numpy" in Path(f"/proc/{pid}/maps").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc")
def test_ctrl_c_during_start_up_is_one_line_and_status_130(tmp_path):
    process = subprocess.Popen([sys.executable, str(PROCESS), "--memory", "stats"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    while not _loading_numpy(process.pid) and process.poll() is None:
        pass
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert err.strip() == "interrupted; nothing was changed" and out == ""
