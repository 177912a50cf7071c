"""A seeded mutation fuzzer over valid event files (issue #9), used by tests/test_fuzz.py and by hand.

Each mutant is one of the project's valid event files changed by a few mutations: bytes flipped, the file
cut short, a range repeated or removed, NUL/BOM/CR/ESC inserted, a value nested deep, a huge number, a long
string, a field of another JSON type, control characters in a string, a field dropped, an event repeated.
Changes at the JSON level are written both as a JSON array and as JSON Lines; changes to bytes are applied
to each of the two renderings.

check() ingests one mutant into a copy of a store that already holds a valid file and returns what broke
a rule: a traceback, an exit status other than 0 (rejections per event) or 1 (one error line), the count
invariant read = ingested + updated + duplicates + rejected, a store or held rejects changed by a file
that failed, a read that no longer answers, or a log entry that is split or holds a control character.

    python tests/fuzz.py --count 500 --seed 7        # more mutants than CI runs; prints what broke
    python tests/fuzz.py --write 12 --seed 7 DIR     # write mutant 12 (both shapes) to DIR to reproduce it
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from helpers import TookTooLong, within

ROOT = Path(__file__).resolve().parents[1]
SEEDS = [ROOT / "sample_input" / "events.txt", ROOT / "sample_input" / "messy_events.jsonl",
         *sorted((ROOT / "tests" / "data").glob("*.json*"))]
PLACEHOLDER = "@@FUZZ@@"
BOM = b"\xef\xbb\xbf"
FIELDS = ("type", "verb", "key", "event_time", "customer_id", "total_amount", "last_name", "adr_city", "tags",
          "camera_make", "extra")
DEPTHS = (64, 254, 255, 256, 300, 1000, 1023, 1100)
HUGE_NUMBERS = ("1e309", "-1e309", "1" + "0" * 400, "1.7976931348623157e308", "-0", "4.9e-324",
                "18446744073709551616", "-9223372036854775809", "1" + "0" * 5000, "0.1e-400")
HUGE_AMOUNTS = ('"1' + "0" * 400 + ' USD"', '"999999999999.999999 USD"', '"1e400 USD"', '"' + "9" * 5000 + ' USD"',
                '"0.' + "0" * 5000 + '1 USD"')
ODD_TIMES = ('"9999-12-31T23:59:59-12:00"', '"0001-01-01T00:00:00+14:00"', '"9999-12-31T23:59:59.9999999Z"',
             '"2017-01-06T12:00:00.' + "9" * 5000 + 'Z"', '"2017-02-29T00:00:00Z"', '"2017-01-06T12:00:00+99:99"')
CONTROL_STRINGS = ('"\\u0000"', '"\\u001b[2J\\u001b[31mEVIL"', '"ring\\u0007"', '"\\u0085next"', '"\\ud800"',
                   '"\\udcff"', '"line\\u2028sep"', '"=HYPERLINK(\\"x\\")"', '"tab\\tcr\\r"')
OTHER_TYPES = ("[]", "{}", "0", "true", "null", '[1, "a"]', '{"a": {"b": []}}', '""', '" "', "-1.5")
INSERTS = (b"\x00", BOM, b"\r", b"\r\n", b"\x1b", b"\xff", b"\xc3", b"\n\n", b",", b"]", b"{", b'"')
JSON_SPACE = b" \t\r\n"
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")
LOG_ENTRY = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} [A-Z]+ ")
RUN_LIMIT = 20.0


@dataclass
class Mutant:
    """One mutated event file in both shapes."""

    name: str
    array: bytes
    lines: bytes


def _items(path: Path) -> list[tuple[str, bool]]:
    """The entries of a seed file as JSON text, each marked whether it is JSON (a JSON Lines line that is not
    is kept as it is, and left out of the array rendering)."""
    text = path.read_text(encoding="utf-8")
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return [(line, _is_json(line)) for line in text.splitlines() if line.strip()]
    return [(json.dumps(v), True) for v in (value if isinstance(value, list) else [value])]


def _loaded(text: str) -> object:
    """The value of JSON text, or None when Python cannot read it (an earlier mutation made it too deep or big)."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return False
    return True


def _render(items: list[tuple[str, bool]]) -> tuple[bytes, bytes]:
    """(JSON array, JSON Lines)."""
    array = "[\n" + ",\n".join(text for text, is_json in items if is_json) + "\n]\n"
    return array.encode("utf-8"), ("\n".join(text for text, _ in items) + "\n").encode("utf-8")


def _raw_value(rng: random.Random, kind: str) -> str:
    """JSON text for a value, some of which json.dumps could not write (deep, huge, lone surrogates)."""
    if kind == "nest":
        depth = rng.choice(DEPTHS)
        opening, closing = rng.choice((("[", "]"), ('{"a":', "}")))
        return opening * depth + "1" + closing * depth
    if kind == "huge-number":
        return rng.choice(HUGE_NUMBERS + HUGE_AMOUNTS + ODD_TIMES)
    if kind == "long-string":
        return json.dumps(rng.choice("xé\u2603") * rng.choice((1_000, 70_000, 300_000)))
    if kind == "control-string":
        return rng.choice(CONTROL_STRINGS)
    return rng.choice(OTHER_TYPES)


def _structural(rng: random.Random, items: list[tuple[str, bool]], kind: str) -> list[tuple[str, bool]]:
    """One event changed (or repeated) at the JSON level."""
    candidates = [i for i, (text, is_json) in enumerate(items) if is_json and text.startswith("{")]
    rng.shuffle(candidates)
    for index in candidates:
        event = _loaded(items[index][0])
        if isinstance(event, dict):
            break
    else:
        return items
    out = list(items)
    if kind == "drop-field":
        if event:
            del event[rng.choice(list(event))]
        out[index] = (json.dumps(event), True)
    elif kind == "repeat-event":
        changed = dict(event)
        if rng.random() < 0.5 and changed:
            changed[rng.choice(list(changed))] = "changed"
        out.insert(rng.randrange(len(out) + 1), (json.dumps(changed), True))
    else:
        event[rng.choice(FIELDS + tuple(event))] = PLACEHOLDER
        out[index] = (json.dumps(event).replace(json.dumps(PLACEHOLDER), _raw_value(rng, kind), 1), True)
    return out


def _bytes(rng: random.Random, data: bytes, kind: str) -> bytes:
    """One change to a file's bytes."""
    size = len(data)
    if not size:
        return data
    if kind == "flip":
        buffer = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            buffer[rng.randrange(size)] ^= 1 << rng.randrange(8)
        return bytes(buffer)
    if kind == "truncate":
        return data[:rng.randrange(size)]
    if kind == "repeat-range":
        start = rng.randrange(size)
        piece = data[start:start + rng.randint(1, 200)]
        at = rng.randrange(size + 1)
        return data[:at] + piece * rng.randint(1, 3) + data[at:]
    if kind == "delete-range":
        start = rng.randrange(size)
        return data[:start] + data[start + rng.randint(1, 50):]
    if kind == "insert":
        at = rng.randrange(size + 1)
        return data[:at] + rng.choice(INSERTS) * rng.randint(1, 2) + data[at:]
    if kind == "bom":
        return BOM * rng.randint(1, 2) + data
    return data.replace(b"\n", b"\r\n")  # crlf


STRUCTURAL = ("nest", "huge-number", "long-string", "control-string", "other-type", "drop-field", "repeat-event")
BYTES = ("flip", "truncate", "repeat-range", "delete-range", "insert", "bom", "crlf")


def mutants(count: int, seed: int) -> Iterator[Mutant]:
    """count mutants, the same ones for the same seed."""
    rng = random.Random(seed)
    seeds = [(path, _items(path)) for path in SEEDS]
    for number in range(count):
        path, items = rng.choice(seeds)
        if rng.random() < 0.5:  # one to three events changed at the JSON level
            kinds = [rng.choice(STRUCTURAL) for _ in range(rng.randint(1, 3))]
            for kind in kinds:
                items = _structural(rng, items, kind)
            array, lines = _render(items)
        else:  # one or two changes to the bytes of each rendering
            kinds = [rng.choice(BYTES) for _ in range(rng.randint(1, 2))]
            array, lines = _render(items)
            for kind in kinds:
                array, lines = _bytes(rng, array, kind), _bytes(rng, lines, kind)
        yield Mutant(f"#{number} {'+'.join(kinds)} of {path.name} (seed {seed})", array, lines)




def state(base: Path) -> dict[str, bytes]:
    """The store's files (LOCK aside), byte for byte: its Delta table holds the held rejects too."""
    return {str(p.relative_to(base)): p.read_bytes() for p in sorted((base / "data").rglob("*"))
            if p.is_file() and p.name != "LOCK"}


def prepare(base: Path, run: Callable) -> dict[str, bytes]:
    """A store in base holding sample_input/events.txt; returns its state."""
    result = run(["--data-dir", base / "data", "--logs-dir", base / "logs", "ingest", SEEDS[0]])
    if result.returncode != 0:
        raise RuntimeError(f"the base store could not be made: {result.stderr}")
    return state(base)


def _invariant(summary: dict) -> list[str]:
    wrong = []
    for part in [summary, *summary.get("files", [])]:
        if part["read"] != part["ingested"] + part["updated"] + part["duplicates"] + part["rejected"]:
            wrong.append(f"read != ingested + updated + duplicates + rejected in {part}")
        if sum(part["rejected_by_reason"].values()) != part["rejected"]:
            wrong.append(f"rejected_by_reason does not add up to rejected in {part}")
    return wrong


def _log_problems(logs: Path) -> list[str]:
    log = logs / "process.log"
    if not log.is_file():
        return []
    try:
        text = log.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        return [f"process.log is not UTF-8: {exc}"]
    problems = [f"split log entry: {line[:120]!r}" for line in text.splitlines() if not LOG_ENTRY.match(line)]
    if CONTROL.search(text):
        problems.append(f"raw control character in process.log: {CONTROL.search(text).group()!r}")
    return problems[:3]


def _parses(chunk: bytes) -> bool | None:
    """Whether chunk is JSON; None when parsers disagree (a number beyond a double, a lone surrogate escape):
    the contract does not say whether such a value spoils its event or its file."""
    try:
        orjson.loads(chunk)
        return True
    except orjson.JSONDecodeError:
        pass
    try:
        json.loads(chunk.decode("utf-8"))
    except json.JSONDecodeError:
        return False
    except (ValueError, RecursionError):  # beyond Python's limits (digits, depth), not bad JSON
        return None
    return None


def expected_status(data: bytes) -> int | None:
    """0 when the contract makes every problem of the file a rejected event, 1 when it is a file error, None when
    it leaves that open. A file is one JSON value (array, object or any other) or JSON Lines; bytes that are not
    UTF-8, an empty file, an array with a syntax error and text with no JSON line at all are file errors."""
    body = data.removeprefix(BOM)
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return 1
    if not body.strip(JSON_SPACE):
        return 1
    whole = _parses(body)
    if whole is None:
        return None
    if whole:
        return None if orjson.loads(body) == [] else 0
    if body.lstrip(JSON_SPACE).startswith(b"["):
        return 1
    lines = [_parses(line) for line in body.split(b"\n") if line.strip(JSON_SPACE)]
    if any(lines):
        return 0
    return 1 if all(line is False for line in lines) else None


def check(data: bytes, suffix: str, base: Path, base_state: dict[str, bytes], work: Path, run: Callable,
          reads: bool = True) -> list[str]:
    """Ingest data (as a file ending in suffix) into a copy of the store in base; what broke a rule."""
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(base, work, symlinks=True)
    path = work / f"mutant{suffix}"
    path.write_bytes(data)
    options = ["--data-dir", work / "data", "--logs-dir", work / "logs"]
    with contextlib.redirect_stderr(io.StringIO()) as leaked, within(RUN_LIMIT):
        result = run([*options, "ingest", path, "--format", "json"])
    problems = []
    for where, text in (("stdout", result.stdout), ("stderr", result.stderr), ("sys.stderr", leaked.getvalue())):
        if "Traceback" in text or "--- Logging error ---" in text:
            problems.append(f"traceback on {where}: {text[-400:]!r}")
    errors = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("warning:")]
    if result.returncode == 0:
        if errors:
            problems.append(f"exit 0 with error lines: {errors[:2]}")
    elif result.returncode == 1:
        if len(errors) != 1 or not errors[0].startswith("error: "):
            problems.append(f"exit 1 without exactly one error line: {result.stderr[-400:]!r}")
        if state(work) != base_state:
            problems.append("the file failed but the store or the held rejects changed")
    else:
        problems.append(f"exit status {result.returncode}: {result.stderr[-400:]!r}")
    expected = expected_status(data)
    if expected is not None and result.returncode in (0, 1) and result.returncode != expected:
        problems.append(f"exit {result.returncode} where the contract says {expected}: {result.stderr[-300:]!r}")
    if result.returncode in (0, 1) and result.stdout.strip():
        try:
            problems += _invariant(json.loads(result.stdout))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            problems.append(f"ingest --format json printed no summary ({exc}): {result.stdout[:200]!r}")
    if reads and result.returncode == 0:
        for args in (["ltv", "3"], ["rejects", "--format", "json"]):
            with contextlib.redirect_stderr(io.StringIO()), within(RUN_LIMIT):
                answer = run([*options, *args])
            if answer.returncode != 0 or "Traceback" in answer.stdout + answer.stderr:
                problems.append(f"{args[0]} no longer answers: {answer.stderr[-300:]!r}")
    problems += _log_problems(work / "logs")
    return problems


def fuzz(count: int, seed: int, folder: Path, run: Callable, reads: bool = True) -> list[str]:
    """Every problem of count mutants, each line naming the mutant and its shape."""
    base = folder / "base"
    base_state = prepare(base, run)
    problems = []
    for mutant in mutants(count, seed):
        for shape, data, suffix in (("array", mutant.array, ".json"), ("lines", mutant.lines, ".jsonl")):
            try:
                found = check(data, suffix, base, base_state, folder / "work", run, reads)
            except TookTooLong as exc:
                found = [str(exc)]
            problems += [f"{mutant.name} as {shape}: {problem}" for problem in found]
    shutil.rmtree(folder / "work", ignore_errors=True)
    return problems


def main() -> int:
    import tempfile

    sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]
    from helpers import run

    parser = argparse.ArgumentParser(description="Mutate the valid event files and ingest every mutant.")
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--write", type=int, metavar="N", help="only write mutant N to DIR")
    parser.add_argument("dir", nargs="?", type=Path)
    args = parser.parse_args()
    if args.write is not None:
        mutant = list(mutants(args.write + 1, args.seed))[args.write]
        args.dir.mkdir(parents=True, exist_ok=True)
        (args.dir / f"mutant-{args.write}.json").write_bytes(mutant.array)
        (args.dir / f"mutant-{args.write}.jsonl").write_bytes(mutant.lines)
        print(mutant.name)
        return 0
    with tempfile.TemporaryDirectory() as folder:
        problems = fuzz(args.count, args.seed, Path(folder), run)
    print("\n".join(problems) or f"{args.count} mutants, no problem")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
