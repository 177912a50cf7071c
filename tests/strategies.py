"""Generated batches of events for the hypothesis tests: customers and orders in several versions, visits, invalid
events and repeats."""
from __future__ import annotations

import json

from hypothesis import strategies as st

DAYS = [f"2017-01-{day:02d}" for day in range(1, 29)]
SPELLINGS = ["{d}T12:00:00Z", "{d}:12:00:00.000Z", "{d} 12:00:00", "{d}T13:00:00+01:00"]


def spell(day: int, variant: int) -> str:
    return SPELLINGS[variant % len(SPELLINGS)].format(d=DAYS[day])


@st.composite
def versioned(draw, type_name: str, key: str, extra) -> list[dict]:
    """A NEW (maybe) and UPDATEs of one key, each at its own instant."""
    days = draw(st.lists(st.integers(0, len(DAYS) - 1), min_size=1, max_size=4, unique=True))
    events = []
    for i, day in enumerate(days):
        verb = "NEW" if i == 0 and draw(st.booleans()) else "UPDATE"
        events.append({"type": type_name, "verb": verb, "key": key,
                       "event_time": spell(day, draw(st.integers(0, 3))), **draw(extra)})
    return events


customer_fields = st.fixed_dictionaries({}, optional={
    "last_name": st.sampled_from(["Smith", "Jones", None]), "adr_city": st.sampled_from(["Salem", "Troy"])})
order_fields = st.fixed_dictionaries({
    "customer_id": st.sampled_from(["c0", "c1", "c2", "c9"]),
    "total_amount": st.sampled_from(["1.00 USD", "12.34 USD", "7 USD", "5 EUR"])})
invalid = st.sampled_from([
    "junk", {"type": "PAYMENT"}, {"type": "ORDER", "verb": "DELETE"},
    {"type": "SITE_VISIT", "verb": "NEW", "key": "vx", "event_time": "2017-02-30T00:00:00Z", "customer_id": "c0"},
])


@st.composite
def batches(draw) -> list:
    events: list = []
    for key in ("c0", "c1", "c2"):
        events += draw(versioned("CUSTOMER", key, customer_fields))
    for key in ("o0", "o1", "o2"):
        events += draw(versioned("ORDER", key, order_fields))
    for n in range(draw(st.integers(0, 6))):
        events.append({"type": "SITE_VISIT", "verb": "NEW", "key": f"v{n}",
                       "event_time": spell(draw(st.integers(0, 27)), n),
                       "customer_id": draw(st.sampled_from(["c0", "c1", "c3"]))})
    events += draw(st.lists(invalid, max_size=3))
    repeats = draw(st.lists(st.sampled_from(events), max_size=3)) if events else []
    return events + [json.loads(json.dumps(e)) for e in repeats]
