"""Benchmark whole processes on generated data and print the figures.

For each N: (a) the floor, a bare orjson.loads of the file; (b) ingest of the
file into an empty store; (c) `ltv 10` on that store; (d) ingest of 1,000 more
events into it. Each step is a separate process, timed wall-clock with its
peak RSS, run --repeat times (3 by default): the median time counts, and the
highest peak. Ratios to the floor, measured in the same run, come first.

    python bench/run.py                       # N = 1,000,000, JSON array and JSON Lines
    python bench/run.py --n 1000000 2000000   # also shows how time grows with N
    python bench/run.py --baseline            # also ingest through the orjson path (CLV_NATIVE_JSON=0)
    python bench/run.py --bad 0.8             # also ingest a file where 80% of the events are bad
    python bench/run.py --alternatives        # other JSON readers on the same files (those installed)
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tabulate import tabulate

HERE = Path(__file__).resolve().parent
PROCESS = HERE.parent / "src" / "process.py"
# The floor: parse the file and nothing else (JSON Lines: one loads per line, as orjson has no lines mode).
FLOOR = {
    "json": "import sys, orjson; orjson.loads(open(sys.argv[1], 'rb').read())",
    "jsonl": "import sys, orjson; [orjson.loads(line) for line in open(sys.argv[1], 'rb').read().splitlines()]",
}
FIELDS = ["type", "verb", "key", "event_time", "customer_id", "total_amount", "last_name", "adr_city", "adr_state",
          "camera_make", "camera_model", "tags"]
# Other ways to read the known fields into columns, each a whole process: (formats, module, code).
ALTERNATIVES = {
    "pyarrow.json, typed (coerces)": ("jsonl", "pyarrow", """
import sys, pyarrow as pa, pyarrow.json as pj
schema = pa.schema([(f, pa.string()) for f in FIELDS if f != "tags"])
pj.read_json(sys.argv[1], parse_options=pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"))
"""),
    "duckdb read_json, JSON kind + text (skips non-objects)": ("both", "duckdb", """
import sys, duckdb
fmt = "array" if sys.argv[1].endswith(".json") else "newline_delimited"
columns = "{" + ",".join(f"'{f}': 'JSON'" for f in FIELDS) + "}"
select = ", ".join(f"json_type({f}) AS {f}_kind, {f}->>'$' AS {f}_text" for f in FIELDS)
duckdb.sql(f"SELECT {select} FROM read_json('{sys.argv[1]}', format='{fmt}', columns={columns}, "
           "ignore_errors=true, maximum_object_size=1000000000)").to_arrow_table()
"""),
    "duckdb read_json, typed (coerces, skips)": ("both", "duckdb", """
import sys, duckdb
fmt = "array" if sys.argv[1].endswith(".json") else "newline_delimited"
columns = "{" + ",".join(f"'{f}': 'VARCHAR'" for f in FIELDS) + "}"
duckdb.sql(f"SELECT * FROM read_json('{sys.argv[1]}', format='{fmt}', columns={columns}, ignore_errors=true, "
           "maximum_object_size=1000000000)").to_arrow_table()
"""),
    "msgspec, Raw per field (decode only)": ("both", "msgspec", """
import sys, msgspec
Event = msgspec.defstruct("Event", [(f, msgspec.Raw, None) for f in FIELDS])
data = open(sys.argv[1], "rb").read()
if sys.argv[1].endswith(".json"):
    msgspec.json.Decoder(list[Event | str | int | list | None]).decode(data)
else:
    msgspec.json.Decoder(Event | str | int | list | None).decode_lines(data)
"""),
    "pysimdjson: DOM, one field per event (lines: loads)": ("both", "simdjson", """
import sys, simdjson
data, parser = open(sys.argv[1], "rb").read(), simdjson.Parser()  # a lazy DOM: fields read per event
if sys.argv[1].endswith(".json"):
    [e.get("type") for e in parser.parse(data) if isinstance(e, simdjson.Object)]
else:
    [d.get("type") if isinstance(d := simdjson.loads(line), dict) else None for line in data.splitlines()]
"""),
}
MORE = 1_000


class Failed(Exception):
    """A step that exited with an error (its last line of stderr)."""


def timed(command: list[str], env: dict | None = None) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one child process."""
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise Failed((child.stderr.read().decode().strip().splitlines() or ["?"])[-1])
    return seconds, usage.ru_maxrss / 1024


def events_file(n: int, fmt: str, seed: int, folder: Path, bad: float = 0.0) -> Path:
    """Generate once and reuse: generating takes longer than ingesting."""
    path = folder / f"events-{n}-{seed}{f'-bad{bad:g}' if bad else ''}.{fmt}"
    if not path.exists():
        subprocess.run([sys.executable, str(HERE / "generate.py"), str(n), str(path), "--format", fmt,
                        "--seed", str(seed), "--bad", str(bad)], check=True)
    return path


def median(command: list[str], repeat: int, before=None, env: dict | None = None) -> tuple[float, float]:
    """The median wall time and the highest peak RSS of `repeat` runs."""
    runs = []
    for _ in range(repeat):
        if before:
            before()
        runs.append(timed(command, env))
    return statistics.median(t for t, _ in runs), max(m for _, m in runs)


def measure(n: int, fmt: str, folder: Path, repeat: int, baseline: bool, bad: float) -> dict:
    big, more = events_file(n, fmt, 1, folder), events_file(MORE, fmt, 2, folder)
    work = Path(tempfile.mkdtemp(prefix="clv-bench-"))
    store = ["--data-dir", str(work / "data"), "--logs-dir", str(work / "logs")]
    python = [sys.executable]

    def fresh() -> None:
        shutil.rmtree(work, ignore_errors=True)

    row: dict = {"n": n, "format": fmt, "file_mb": round(big.stat().st_size / 1e6, 1)}
    try:
        floor = median([*python, "-c", FLOOR[fmt], str(big)], repeat)
        ingest = median([*python, str(PROCESS), *store, "ingest", str(big)], repeat, before=fresh)
        ltv = median([*python, str(PROCESS), *store, "ltv", "10"], repeat)
        snapshot = work.with_name(work.name + "-copy")
        shutil.copytree(work, snapshot)

        def restore() -> None:
            shutil.rmtree(work, ignore_errors=True)
            shutil.copytree(snapshot, work)

        add = median([*python, str(PROCESS), *store, "ingest", str(more)], repeat, before=restore)
        shutil.rmtree(snapshot, ignore_errors=True)
        row.update({"ingest_over_floor": round(ingest[0] / floor[0], 2), "floor_s": round(floor[0], 2),
                    "ingest_s": round(ingest[0], 2), "ltv10_s": round(ltv[0], 2),
                    "ingest_1000_more_s": round(add[0], 2), "floor_rss_mb": round(floor[1]),
                    "ingest_rss_mb": round(ingest[1]), "ltv10_rss_mb": round(ltv[1]),
                    "ingest_1000_more_rss_mb": round(add[1])})
        if baseline:  # the same ingest through the orjson path, for before/after in one run
            old = median([*python, str(PROCESS), *store, "ingest", str(big)], repeat, before=fresh,
                         env={**os.environ, "CLV_NATIVE_JSON": "0"})
            row.update({"orjson_path_over_floor": round(old[0] / floor[0], 2), "orjson_path_s": round(old[0], 2),
                        "orjson_path_rss_mb": round(old[1])})
        if bad:
            spoiled = events_file(n, fmt, 1, folder, bad)
            worse = median([*python, str(PROCESS), *store, "ingest", str(spoiled)], repeat, before=fresh)
            row.update({"bad_share": bad, "bad_ingest_s": round(worse[0], 2),
                        "bad_over_clean": round(worse[0] / ingest[0], 2), "bad_rss_mb": round(worse[1])})
            if baseline:
                old = median([*python, str(PROCESS), *store, "ingest", str(spoiled)], repeat, before=fresh,
                             env={**os.environ, "CLV_NATIVE_JSON": "0"})
                row.update({"bad_orjson_path_s": round(old[0], 2)})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return row


def alternatives(n: int, fmt: str, folder: Path, repeat: int, interpreter: str) -> list[dict]:
    """Other readers on the same file, each as a whole process, against the floor measured alongside."""
    big = events_file(n, fmt, 1, folder)
    floor = median([sys.executable, "-c", FLOOR[fmt], str(big)], repeat)
    rows = []
    for name, (formats, module, code) in ALTERNATIVES.items():
        if formats not in ("both", fmt):
            continue
        if subprocess.run([interpreter, "-c", f"import {module}"], check=False, capture_output=True).returncode:
            rows.append({"n": n, "format": fmt, "reader": name, "note": f"{module} not installed"})
            continue
        try:
            seconds, rss = median([interpreter, "-c", f"FIELDS = {FIELDS!r}" + code, str(big)], repeat)
        except Failed as exc:
            rows.append({"n": n, "format": fmt, "reader": name, "note": f"fails on this file: {exc}"[:110]})
            continue
        rows.append({"n": n, "format": fmt, "reader": name, "seconds": round(seconds, 2),
                     "over_floor": round(seconds / floor[0], 2), "rss_mb": round(rss), "floor_s": round(floor[0], 2)})
    return rows


def machine() -> dict:
    memory = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")), 0) if Path("/proc/meminfo").exists() else 0
    return {"python": sys.version.split()[0], "cpus": os.cpu_count(), "memory_gb": round(memory / 2**20)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1_000_000], help="events per file")
    parser.add_argument("--format", choices=["json", "jsonl", "both"], default="both")
    parser.add_argument("--repeat", type=int, default=3, help="runs per step; the median counts (at least 3)")
    parser.add_argument("--baseline", action="store_true", help="also ingest through the orjson path")
    parser.add_argument("--bad", type=float, default=0.0, metavar="SHARE",
                        help="also ingest a file where this share of the events is bad")
    parser.add_argument("--alternatives", action="store_true", help="also time other JSON readers")
    parser.add_argument("--alt-python", default=sys.executable,
                        help="interpreter that has the other readers installed (duckdb, msgspec, pysimdjson)")
    parser.add_argument("--data", type=Path, default=HERE / "data", help="where generated files are kept")
    parser.add_argument("--output", type=Path, default=HERE / "results" / "latest.json")
    args = parser.parse_args(argv)
    args.data.mkdir(parents=True, exist_ok=True)
    formats = ["json", "jsonl"] if args.format == "both" else [args.format]
    try:
        rows = [measure(n, fmt, args.data, args.repeat, args.baseline, args.bad) for fmt in formats for n in args.n]
    except Failed as exc:
        sys.exit(f"a step failed: {exc}")
    for fmt in formats:
        runs = [r for r in rows if r["format"] == fmt]
        for smaller, larger in itertools.pairwise(runs):
            larger["growth_vs_previous_n"] = round(larger["ingest_s"] / smaller["ingest_s"], 2)
    print(tabulate(rows, headers="keys", tablefmt="github"))
    others = [r for fmt in formats for r in alternatives(args.n[0], fmt, args.data, args.repeat, args.alt_python)] \
        if args.alternatives else []
    if others:
        print()
        print(tabulate(others, headers="keys", tablefmt="github"))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({**machine(), "repeat": args.repeat, "runs": rows, "alternatives": others},
                                      indent=2) + "\n")
    print(f"\nfigures written to {args.output} ({machine()})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
