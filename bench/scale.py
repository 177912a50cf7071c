"""Measure how the tool scales with the store: whole processes on one store that grows file by file.

Generates --files K files of --per-file N events (distinct seeds, so no key repeats across files)
and ingests them one after another into ONE fresh store. After each file (a stop) it times, each
as a separate process, wall-clock with the child's peak RSS: the ingest of that file, then
`ltv 10`, `stats`, `customer ID` (a customer of the first file, the same at every stop) and the
ingest of 1,000 more events (a new small file per stop). The queries run --repeat times (the
median time counts, and the highest peak); each ingest runs once, as it changes the store.
Prints one row per stop and the ratios the targets use: peak RSS of the last file's ingest over
the first's, and `ltv 10` time at the last stop over its time at the 2,000,000-event stop.

    python bench/scale.py                                 # 4 files of 2,000,000 events, JSON Lines
    python bench/scale.py --files 2 --per-file 20000      # a quick check that it runs
    python -m bench.scale --repeat 3 --format json        # queries 3 times each; JSON array files
    python bench/scale.py --scheduler 127.0.0.1:8786      # every command gets --scheduler ADDRESS
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

import orjson
from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # as a script, `bench` is not importable otherwise

from bench.run import HERE, MORE, PROCESS, Failed, events_file, machine, median

# The ltv10 ratio compares the last stop with the stop where the files have brought this many events.
REFERENCE_EVENTS = 2_000_000
# How generate.py names customers (12 hex digits); its invalid events use other ids ("c").
CUSTOMER_ID = re.compile(r"[0-9a-f]{12}")
QUERIES = {"ltv10": ["ltv", "10"], "stats": ["stats"]}
HEADERS = {"events": "events in store", "ingest_s": "ingest s", "ingest_mb": "ingest MB", "ltv10_s": "ltv10 s",
           "ltv10_mb": "ltv10 MB", "stats_s": "stats s", "stats_mb": "stats MB", "customer_s": "customer s",
           "customer_mb": "customer MB", "more_s": f"+{MORE} s", "more_mb": f"+{MORE} MB"}


def customer_of(path: Path) -> str:
    """The customer of the file's first order: `customer` then has orders to show, and it is in every stop's store."""
    with path.open("rb") as lines:
        for line in lines:
            event = orjson.loads(line.strip().lstrip(b"[").rstrip(b",]"))  # a JSON array has one event a line
            if isinstance(event, dict) and event.get("type") == "ORDER" \
                    and CUSTOMER_ID.fullmatch(str(event.get("customer_id"))):
                return event["customer_id"]
    raise Failed(f"no order of a generated customer in {path.name}")


def step(name: str, command: list[str], repeat: int = 1) -> tuple[float, float]:
    """(seconds, peak MB) of one step; a failure names the step, so the run stops on one readable line."""
    try:
        return median(command, repeat)
    except Failed as exc:
        raise Failed(f"{name}: {exc}") from None


def record(row: dict, key: str, figures: tuple[float, float]) -> None:
    """Rounded once here, so the table, the JSON and the ratios use the same numbers."""
    row[f"{key}_s"], row[f"{key}_mb"] = round(figures[0], 3), round(figures[1], 1)


def measure_stop(cli: list[str], stop: int, big: Path, more: Path, customer: str, repeat: int) -> dict:
    """One stop: ingest the next file, query the grown store, then add a few events to it."""
    row: dict = {}
    record(row, "ingest", step(f"stop {stop}: ingest {big.name}", [*cli, "ingest", str(big)]))
    for key, command in QUERIES.items():
        record(row, key, step(f"stop {stop}: {' '.join(command)}", [*cli, *command], repeat))
    record(row, "customer", step(f"stop {stop}: customer {customer}", [*cli, "customer", customer], repeat))
    record(row, "more", step(f"stop {stop}: ingest {more.name}", [*cli, "ingest", str(more)]))
    return row


def measure(bigs: list[Path], mores: list[Path], per_file: int, repeat: int, scheduler: str | None) -> list[dict]:
    """All stops on one fresh store in a temporary folder, removed afterwards."""
    customer = customer_of(bigs[0])
    work = Path(tempfile.mkdtemp(prefix="clv-scale-"))
    cli = [sys.executable, str(PROCESS), "--data-dir", str(work / "data"), "--logs-dir", str(work / "logs"),
           *(["--scheduler", scheduler] if scheduler else [])]
    rows = []
    try:
        for stop, (big, more) in enumerate(zip(bigs, mores, strict=True), start=1):
            # What the queries see: the files so far and the small files of the earlier stops.
            events = stop * per_file + (stop - 1) * MORE
            rows.append({"events": events, **measure_stop(cli, stop, big, more, customer, repeat)})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


def ratios(rows: list[dict], per_file: int) -> dict:
    """The targets' two ratios; None where the run has no stop to compare with."""
    ingest = round(rows[-1]["ingest_mb"] / rows[0]["ingest_mb"], 2) if len(rows) > 1 else None
    reference = REFERENCE_EVENTS // per_file  # the stop (from 1) where the files have brought that many events
    ltv = round(rows[-1]["ltv10_s"] / rows[reference - 1]["ltv10_s"], 2) \
        if REFERENCE_EVENTS % per_file == 0 and reference <= len(rows) else None
    return {"ingest_peak_last_over_first": ingest, "ltv10_s_last_over_reference": ltv,
            "reference_events": REFERENCE_EVENTS}


def describe(ingest: float | None, ltv: float | None) -> str:
    """The ratios as two lines, saying why one is missing."""
    return (f"ingest peak RSS, last file over first: {'n/a (one file)' if ingest is None else f'{ingest}×'}\n"
            f"ltv 10 time, last stop over the {REFERENCE_EVENTS:,}-event stop: "
            f"{'n/a (no stop at that size)' if ltv is None else f'{ltv}×'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=4, help="files ingested one after another (stops)")
    parser.add_argument("--per-file", type=int, default=2_000_000, help="events per file")
    parser.add_argument("--format", choices=["json", "jsonl"], default="jsonl")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each query; the median counts")
    parser.add_argument("--scheduler", metavar="ADDRESS", help="passed to every command as --scheduler ADDRESS")
    parser.add_argument("--data", type=Path, default=HERE / "data", help="where generated files are kept")
    parser.add_argument("--output", type=Path, default=HERE / "results" / "scale.json")
    args = parser.parse_args(argv)
    args.data.mkdir(parents=True, exist_ok=True)
    # Seeds 1..K for the files and K+1..2K for the small ones: the same seed would repeat customer keys.
    bigs = [events_file(args.per_file, args.format, seed, args.data) for seed in range(1, args.files + 1)]
    mores = [events_file(MORE, args.format, args.files + seed, args.data) for seed in range(1, args.files + 1)]
    try:
        rows = measure(bigs, mores, args.per_file, args.repeat, args.scheduler)
    except Failed as exc:
        sys.exit(f"a step failed: {exc}")
    figures = ratios(rows, args.per_file)
    print(tabulate([[row[key] for key in HEADERS] for row in rows], headers=list(HEADERS.values()),
                   tablefmt="github", intfmt=","))
    print("\n" + describe(figures["ingest_peak_last_over_first"], figures["ltv10_s_last_over_reference"]))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({**machine(), "files": args.files, "per_file": args.per_file,
                                       "format": args.format, "repeat": args.repeat, "scheduler": args.scheduler,
                                       "stops": rows, "ratios": figures}, indent=2) + "\n")
    print(f"\nfigures written to {args.output} ({machine()})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
