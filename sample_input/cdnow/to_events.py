"""Convert the CDNOW sample (Fader & Hardie) into this tool's events, as JSON Lines.

Each line of CDNOW_sample.txt holds five whitespace-separated fields: the customer id
in the full CDNOW master file, the customer id within the sample, the day (YYYYMMDD),
the number of CDs bought and the dollar value. Out come one CUSTOMER NEW per customer,
dated on its first purchase day, and one ORDER NEW per line, keyed "<customer>-<n>".

    python sample_input/cdnow/to_events.py                 # JSON Lines on stdout
    python sample_input/cdnow/to_events.py events.jsonl    # or into a file
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

SAMPLE = Path(__file__).resolve().parent / "CDNOW_sample.txt"


def _day(text: str) -> str:
    """YYYYMMDD as the ISO instant of that day's midnight, UTC."""
    return f"{text[:4]}-{text[4:6]}-{text[6:8]}T00:00:00Z"


def _lines(path: Path) -> list[tuple[str, str, str]]:
    """(customer id, day, dollar value) per transaction line, in file order."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="ascii").splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 5:
            raise ValueError(f"{path}:{number}: expected 5 fields, found {len(fields)}")
        customer, _, day, _, value = fields
        rows.append((customer, day, value))
    return rows


def events(path: str | Path = SAMPLE) -> list[dict]:
    """The CUSTOMER events (first purchase day) followed by the ORDER events of the sample."""
    rows = _lines(Path(path))
    first: dict[str, str] = {}
    for customer, day, _ in rows:
        first[customer] = min(day, first.get(customer, day))
    customers = [{"type": "CUSTOMER", "verb": "NEW", "key": customer, "event_time": _day(day)}
                 for customer, day in first.items()]
    counts: dict[str, int] = {}
    orders = []
    for customer, day, value in rows:
        counts[customer] = counts.get(customer, 0) + 1
        orders.append({"type": "ORDER", "verb": "NEW", "key": f"{customer}-{counts[customer]}",
                       "event_time": _day(day), "customer_id": customer, "total_amount": f"{value} USD"})
    return customers + orders


def main(argv: list[str]) -> int:
    """Write the events as JSON Lines to the path given, or to stdout."""
    text = "".join(json.dumps(event) + "\n" for event in events())
    if argv:
        Path(argv[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
