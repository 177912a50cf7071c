"""Write N realistic, deterministic events for benchmarks and large tests.

The mix follows what the web sites export: mostly site visits, customers and
orders, a few late order updates, exact repeats and invalid events, shuffled.
--bad F replaces a share F of the events by bad ones of every kind (wrong JSON
types, nested objects, bad values, non-objects, and in JSON Lines lines that
are not JSON), to measure what a mostly bad file costs.
"""
from __future__ import annotations

import argparse
import gc
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

START = datetime(2017, 1, 1, tzinfo=UTC)
SPAN_SECONDS = 26 * 7 * 24 * 3600
CITIES = [("Middletown", "AK"), ("Springfield", "IL"), ("Fairview", "OR"), ("Franklin", "TN"), ("Salem", "MA")]
NAMES = ["Smith", "Jones", "Garcia", "Brown", "Miller", "Davis", "Lopez", "Wilson", "Moore", "Taylor"]
CAMERAS = [("Canon", "EOS 80D"), ("Nikon", "D750"), ("Sony", "A7 III"), ("Apple", "iPhone 8")]
# Share of each kind of event, in events per 1,000.
MIX = {"customer": 100, "visit": 550, "image": 150, "order": 170, "update": 20, "repeat": 10}
INVALID = [
    {"type": "PAYMENT", "verb": "NEW", "key": "x", "event_time": "2017-01-06T12:00:00Z"},
    {"type": "ORDER", "verb": "DELETE", "key": "x", "event_time": "2017-01-06T12:00:00Z"},
    {"type": "ORDER", "verb": "NEW", "key": "x", "event_time": "2017-01-06T12:00:00Z", "customer_id": "c"},
    {"type": "ORDER", "verb": "NEW", "key": "x", "event_time": "2017-01-06T12:00:00Z", "customer_id": "c",
     "total_amount": "12.34 EUR"},
    {"type": "CUSTOMER", "verb": "NEW", "key": "x", "event_time": "2017-02-30T12:00:00Z"},
    "not an event",
]


# Bad events of every kind the rules know, with their JSON types as they come.
BAD = [
    {"type": "ORDER", "verb": "NEW", "key": 7, "event_time": "2017-01-06T12:00:00Z", "customer_id": "c",
     "total_amount": "1 USD"},
    {"type": "ORDER", "verb": "NEW", "key": "b", "event_time": "2017-01-06T12:00:00Z", "customer_id": "c",
     "total_amount": 12.5},
    {"type": "CUSTOMER", "verb": "NEW", "key": "b", "event_time": "2017-01-06T12:00:00Z", "last_name": {"a": "b"}},
    {"type": "IMAGE", "verb": "UPLOAD", "key": "b", "event_time": 1483700000, "customer_id": "c"},
    {"type": "SITE_VISIT", "verb": "NEW", "key": "b", "event_time": "2017-01-06T12:00:00Z", "customer_id": "c",
     "tags": [{"name": "a", "value": 2}, {"b": "c"}]},
    {"type": "SITE_VISIT", "verb": "NEW", "key": "b", "event_time": "2017-01-06T12:00:00Z", "customer_id": "c",
     "tags": "red"},
    {"type": ["ORDER"], "verb": "NEW"}, {"type": "ORDER", "verb": None, "key": "b"}, None, 3, [1, 2],
    {"type": "CUSTOMER", "verb": "NEW", "key": "  ", "event_time": "2017-01-06 12:00:00"},
    {"type": "ORDER", "verb": "NEW", "key": "b", "event_time": "2017-13-06T12:00:00Z", "customer_id": "c",
     "total_amount": "-3 USD"},
    *INVALID,
]
NOT_JSON = [b'{"type": "ORDER", "verb": "NEW", "key": "trunc', b"not json at all", b'{"type": "CUSTOMER",}']


def timestamp(rng: random.Random, iso: bool) -> str:
    """Half the times in the sample's form, half in ISO form with an offset or Z."""
    moment = START + timedelta(seconds=rng.random() * SPAN_SECONDS)
    if not iso:
        return moment.strftime("%Y-%m-%d:%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def generate(n: int, seed: int) -> list:
    """Return n events; the same (n, seed) always gives the same list."""
    rng = random.Random(seed)
    n_invalid = max(1, n // 1000) if n >= 100 else 0
    counts = {kind: n * share // 1000 for kind, share in MIX.items()}
    counts["customer"] = max(1, counts["customer"])
    counts["visit"] += n - n_invalid - sum(counts.values())
    customers = [f"{rng.getrandbits(48):012x}" for _ in range(counts["customer"])]
    events: list = []
    for cid in customers:
        city, state = rng.choice(CITIES)
        events.append({"type": "CUSTOMER", "verb": "NEW", "key": cid, "event_time": timestamp(rng, rng.random() < 0.5),
                       "last_name": rng.choice(NAMES), "adr_city": city, "adr_state": state})
    for _ in range(counts["visit"]):
        events.append({"type": "SITE_VISIT", "verb": "NEW", "key": f"{rng.getrandbits(48):012x}",
                       "event_time": timestamp(rng, rng.random() < 0.5), "customer_id": rng.choice(customers),
                       "tags": {"some key": "some value"}})
    for _ in range(counts["image"]):
        make, model = rng.choice(CAMERAS)
        events.append({"type": "IMAGE", "verb": "UPLOAD", "key": f"{rng.getrandbits(48):012x}",
                       "event_time": timestamp(rng, rng.random() < 0.5), "customer_id": rng.choice(customers),
                       "camera_make": make, "camera_model": model})
    orders = []
    for _ in range(counts["order"]):
        order = {"type": "ORDER", "verb": "NEW", "key": f"{rng.getrandbits(48):012x}",
                 "event_time": timestamp(rng, rng.random() < 0.5), "customer_id": rng.choice(customers),
                 "total_amount": f"{rng.uniform(1, 500):.2f} USD"}
        orders.append(order)
        events.append(order)
    for _ in range(counts["update"]):
        update = dict(rng.choice(orders), verb="UPDATE", event_time=timestamp(rng, True),
                      total_amount=f"{rng.uniform(1, 500):.2f} USD")
        events.append(update)
    events.extend(dict(rng.choice(events)) for _ in range(counts["repeat"]))
    events.extend(rng.choice(INVALID) for _ in range(n_invalid))
    rng.shuffle(events)
    return events


def spoil(events: list, share: float, seed: int) -> list:
    """Replace a share of the events by bad ones (keys made unique so they are not merely duplicates)."""
    rng = random.Random(seed)
    out = list(events)
    for i in rng.sample(range(len(out)), int(len(out) * share)):
        bad = rng.choice(BAD)
        out[i] = {**bad, "key": f"{bad['key']}-{i}"} if isinstance(bad, dict) and isinstance(bad.get("key"), str) \
            else bad
    return out


def write(events: list, path: Path, fmt: str, not_json: float = 0.0, seed: int = 1) -> None:
    """Write as a JSON array (one event a line, like the sample) or JSON Lines.

    In JSON Lines, a share not_json of the lines are replaced by text that is not JSON.
    """
    lines = [orjson.dumps(event) for event in events]
    if fmt == "jsonl" and not_json:
        rng = random.Random(seed)
        for i in rng.sample(range(len(lines)), int(len(lines) * not_json)):
            lines[i] = rng.choice(NOT_JSON)
    with open(path, "wb") as out:
        if fmt == "jsonl":
            out.write(b"\n".join(lines) + b"\n")
        else:
            out.write(b"[" + b",\n".join(lines) + b"]\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, help="number of events")
    parser.add_argument("output", type=Path, help="file to write")
    parser.add_argument("--format", choices=["json", "jsonl"], default="json")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--bad", type=float, default=0.0, metavar="SHARE",
                        help="share of events replaced by bad ones (a tenth of those, in JSON Lines, not JSON)")
    args = parser.parse_args(argv)
    gc.disable()  # millions of small dicts: the cyclic GC would rescan them over and over
    events = generate(args.n, args.seed)
    if args.bad:
        events = spoil(events, args.bad * 0.9 if args.format == "jsonl" else args.bad, args.seed)
    write(events, args.output, args.format, args.bad * 0.1, args.seed)
    print(f"wrote {args.n:,} events to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
