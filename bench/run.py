"""Benchmark whole processes on generated data and print the figures.

For each N: (a) the floor, a bare orjson.loads of the file; (b) ingest of the
file into an empty store; (c) `ltv 10` on that store; (d) ingest of 1,000 more
events into it. Each step is a separate process, timed wall-clock with its
peak RSS. Ratios to the floor come first, absolute seconds second.

    python bench/run.py                       # N = 1,000,000, JSON array and JSON Lines
    python bench/run.py --n 1000000 2000000   # also shows how time grows with N
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
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
MORE = 1_000


def timed(command: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one child process; a failing step stops the run."""
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(command)}: {child.stderr.read().decode().strip()}")
    return seconds, usage.ru_maxrss / 1024


def events_file(n: int, fmt: str, seed: int, folder: Path) -> Path:
    """Generate once and reuse: generating takes longer than ingesting."""
    path = folder / f"events-{n}-{seed}.{fmt}"
    if not path.exists():
        subprocess.run([sys.executable, str(HERE / "generate.py"), str(n), str(path), "--format", fmt,
                        "--seed", str(seed)], check=True)
    return path


def best(command: list[str], repeat: int, before=None) -> tuple[float, float]:
    runs = []
    for _ in range(repeat):
        if before:
            before()
        runs.append(timed(command))
    return min(runs)


def measure(n: int, fmt: str, folder: Path, repeat: int) -> dict:
    big, more = events_file(n, fmt, 1, folder), events_file(MORE, fmt, 2, folder)
    work = Path(tempfile.mkdtemp(prefix="clv-bench-"))
    store = ["--data-dir", str(work / "data"), "--logs-dir", str(work / "logs")]
    python = [sys.executable]
    try:
        floor = best([*python, "-c", FLOOR[fmt], str(big)], repeat)
        ingest = best([*python, str(PROCESS), *store, "ingest", str(big)], repeat,
                      before=lambda: shutil.rmtree(work, ignore_errors=True))
        ltv = best([*python, str(PROCESS), *store, "ltv", "10"], repeat)
        snapshot = work.with_name(work.name + "-copy")
        shutil.copytree(work, snapshot)

        def restore() -> None:
            shutil.rmtree(work, ignore_errors=True)
            shutil.copytree(snapshot, work)

        add = best([*python, str(PROCESS), *store, "ingest", str(more)], repeat, before=restore)
        shutil.rmtree(snapshot, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "n": n, "format": fmt, "file_mb": round(big.stat().st_size / 1e6, 1),
        "ingest_over_floor": round(ingest[0] / floor[0], 2),
        "floor_s": round(floor[0], 2), "ingest_s": round(ingest[0], 2), "ltv10_s": round(ltv[0], 2),
        "ingest_1000_more_s": round(add[0], 2),
        "floor_rss_mb": round(floor[1]), "ingest_rss_mb": round(ingest[1]), "ltv10_rss_mb": round(ltv[1]),
        "ingest_1000_more_rss_mb": round(add[1]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1_000_000], help="events per file")
    parser.add_argument("--format", choices=["json", "jsonl", "both"], default="both")
    parser.add_argument("--repeat", type=int, default=1, help="runs per step; the fastest counts")
    parser.add_argument("--data", type=Path, default=HERE / "data", help="where generated files are kept")
    parser.add_argument("--output", type=Path, default=HERE / "results" / "latest.json")
    args = parser.parse_args(argv)
    args.data.mkdir(parents=True, exist_ok=True)
    formats = ["json", "jsonl"] if args.format == "both" else [args.format]
    rows = [measure(n, fmt, args.data, args.repeat) for fmt in formats for n in args.n]
    for fmt in formats:
        runs = [r for r in rows if r["format"] == fmt]
        for smaller, larger in itertools.pairwise(runs):
            larger["growth_vs_previous_n"] = round(larger["ingest_s"] / smaller["ingest_s"], 2)
    print(tabulate(rows, headers="keys", tablefmt="github"))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"python": sys.version.split()[0], "cpus": os.cpu_count(), "runs": rows},
                                      indent=2) + "\n")
    print(f"\nfigures written to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
