"""Every rejection code of docs/contract.md that a single event can earn, with its message."""
from __future__ import annotations

import random

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from clv import validation
from clv.reader import MalformedLine
from clv.validation import validate

from helpers import customer, image, order, visit

T = "2017-01-06T12:46:46Z"


def verdict(event: object) -> tuple[str | None, str | None]:
    row = validate([event]).iloc[0]
    reason = None if pd.isna(row["reason"]) else row["reason"]
    return reason, None if pd.isna(row["message"]) else row["message"]


@pytest.mark.parametrize("event, code, words", [
    ("just a string", "malformed", "JSON string, not an object"),
    ([1, 2], "malformed", "JSON array"),
    (MalformedLine("{oops", "unexpected character (column 2)"), "malformed", "not valid JSON"),
    ({"verb": "NEW", "key": "a", "event_time": T}, "unknown_type", "type is missing"),
    ({"type": "PAYMENT", "verb": "NEW"}, "unknown_type", "'PAYMENT' is not one of"),
    ({"type": "customer", "verb": "NEW"}, "unknown_type", "'customer'"),
    ({"type": 7, "verb": "NEW"}, "unknown_type", "a JSON number"),
    ({"type": [1, "a"], "verb": "NEW"}, "unknown_type", "type a JSON array is not one of"),
    ({"type": {"a": 1}}, "unknown_type", "type a JSON object is not one of"),
    ({"type": "ORDER", "key": "a"}, "invalid_verb", "verb is missing for ORDER"),
    ({"type": "ORDER", "verb": "UPLOAD"}, "invalid_verb", "not allowed for ORDER (allowed: NEW, UPDATE)"),
    ({"type": "ORDER", "verb": ["NEW", "x"]}, "invalid_verb", "verb a JSON array is not allowed for ORDER"),
    ({"type": "SITE_VISIT", "verb": "UPDATE"}, "invalid_verb", "allowed: NEW)"),
    ({"type": "IMAGE", "verb": "NEW"}, "invalid_verb", "allowed: UPLOAD"),
    ({"type": "CUSTOMER", "verb": "NEW", "event_time": T}, "missing_field", "key is required"),
    (customer("a", None), "missing_field", "event_time is required for CUSTOMER"),
    ({"type": "SITE_VISIT", "verb": "NEW", "key": "v", "event_time": T}, "missing_field", "customer_id"),
    (order("o", T, "c", None), "missing_field", "total_amount is required for ORDER"),
    (customer(12, T), "invalid_field", "key must be a non-empty string, got a JSON number"),
    (customer("   ", T), "invalid_field", "key must be a non-empty string"),
    (visit("v", T, ["c"]), "invalid_field", "customer_id must be a non-empty string, got a JSON array"),
    (customer("a", "06/01/2017 12:00"), "invalid_field", "is not in the form YYYY-MM-DD"),
    (customer("a", "2017-01-06"), "invalid_field", "is not in the form"),
    (customer("a", 1483700000), "invalid_field", "event_time must be a string"),
    (customer("a", "2017-02-30T12:00:00Z"), "invalid_field", "not a real date and time"),
    (customer("a", "2017-01-06T25:00:00Z"), "invalid_field", "not a real date and time"),
    (order("o", T, "c", "12.34 EUR"), "invalid_field", "is not in USD"),
    (order("o", T, "c", "-5.00 USD"), "invalid_field", "is negative"),
    (order("o", T, "c", "abc USD"), "invalid_field", "is not a number"),
    (order("o", T, "c", "12.34"), "invalid_field", "is not of the form '<amount> USD'"),
    (order("o", T, "c", 12.34), "invalid_field", "must be a string like '12.34 USD'"),
    (customer("a", T, last_name=5), "invalid_field", "last_name must be a string or null"),
    (image("i", T, "c", camera_make={"x": 1}), "invalid_field", "camera_make must be a string or null"),
    (visit("v", T, "c", tags="red"), "invalid_field", "tags must be null, an object, or an array of one-pair objects"),
    (visit("v", T, "c", tags=[1, 2]), "invalid_field", "tags must be"),
])
def test_each_rejection_code_names_the_field_and_problem(event, code, words):
    reason, message = verdict(event)
    assert reason == code
    assert words in message


def test_codes_are_checked_in_spec_order():
    # Wrong verb and missing fields and a bad time: the verb is reported first.
    assert verdict({"type": "ORDER", "verb": "DELETE", "event_time": "bad"})[0] == "invalid_verb"
    # Missing customer_id beats a malformed amount.
    assert verdict({"type": "ORDER", "verb": "NEW", "key": "o", "event_time": T,
                    "total_amount": "x"})[0] == "missing_field"


@pytest.mark.parametrize("event", [
    customer("a", "2017-01-06:12:46:46.384Z"),
    customer("a", "2017-01-06 12:46:46"),
    customer("a", "2017-01-06T12:46:46.123456+05:30"),
    customer("a", "2017-01-06T12:46:46-08:00", last_name=None, adr_city=None),
    order("o", T, "c", "0 USD"),
    order("o", T, "c", "12 USD"),
    order("o", T, "c", ".5 USD"),
    visit("v", T, "c", tags=None),
    visit("v", T, "c", tags={"a": "b", "n": 3}),
    visit("v", T, "c", tags=[{"name": "a", "value": "b"}]),
    image("i", T, "c", camera_make=None),
])
def test_valid_spellings_are_accepted(event):
    assert verdict(event) == (None, None)


def test_times_are_utc_instants_and_spellings_of_one_instant_agree():
    frame = validate([customer("a", "2017-01-06:12:46:46.000Z"), customer("b", "2017-01-06 07:46:46-05:00"),
                      customer("c", "2017-01-06T12:46:46")])
    assert frame["event_time"].nunique() == 1
    assert str(frame["event_time"].iloc[0]) == "2017-01-06 12:46:46+00:00"


def test_ids_are_trimmed_and_amounts_parsed():
    frame = validate([order("  o1 ", T, " c1", " 12.50 USD ")])
    assert (frame.at[0, "key"], frame.at[0, "customer_id"], frame.at[0, "amount"]) == ("o1", "c1", 12.5)


def test_amounts_parse_to_the_nearest_double_as_python_does():
    """Long and odd decimals round as Python's float rounds them, the same number whatever its spelling."""
    rng = random.Random(11)
    numbers = [f"{rng.randrange(10 ** rng.randrange(1, 13))}.{rng.randrange(10 ** rng.randrange(0, 30))}"
               for _ in range(3_000)]
    numbers += ["5.", ".5", "0.1000000000000000055511151231257827021181583404541015625", "999999999999.99",
                "0" * 40 + "1.25", "123456789012.3456789", "2.675", "0.30000000000000004"]
    frame = validate([order(f"o{i}", T, "c", f" {n}{rng.choice([' usd', 'USD', ' UsD '])}")
                      for i, n in enumerate(numbers)])
    assert frame["reason"].isna().all()
    assert frame["amount"].tolist() == [float(n) for n in numbers]


def test_unknown_fields_and_other_types_fields_are_ignored():
    event = customer("a", T, total_amount="not money", tags=5, camera_make=7, customer_id=3, extra={"x": 1})
    assert verdict(event) == (None, None)


def test_both_tag_shapes_become_one_name_value_map():
    frame = validate([visit("v1", T, "c", tags={"campaign": "winter"}),
                      visit("v2", T, "c", tags=[{"name": "campaign", "value": "winter"}])])
    assert list(frame.at[0, "tags"]) == list(frame.at[1, "tags"]) == [("campaign", "winter")]


def test_one_bad_event_does_not_affect_its_neighbours():
    frame = validate([customer("a", T), "junk", customer(5, T), customer("b", T)])
    assert frame["reason"].isna().tolist() == [True, False, False, True]
    assert frame.at[3, "key"] == "b"


@pytest.mark.parametrize("block", [validation.TIME_BLOCK, 1_000])
def test_times_read_straight_from_bytes_agree_with_arrows_parse(block, monkeypatch):
    """The fixed-width reading of the usual spellings gives what Arrow's regex and strptime give, on odd ones too
    (read in one block, and in many)."""
    monkeypatch.setattr(validation, "TIME_BLOCK", block)
    rng = random.Random(3)
    parts = {"year": ["2017", "0000", "0001", "9999", "1900", "2000", "0999", "12a4"],
             "month": ["01", "02", "12", "13", "00"], "day": ["01", "28", "29", "30", "31", "32", "00"],
             "sep": ["T", " ", ":", "t"], "hour": ["00", "23", "24"], "minute": ["00", "59", "60"],
             "second": ["00", "59", "60"],
             "fraction": ["", ".", ".5", ".123456", ".123456789", ".1234567890", ".99999999999999"],
             "zone": ["", "Z", "z", "+01:00", "-01:30", "+23:59", "+24:00", "-00:60", "+1:00", "+0100"]}
    texts = []
    for _ in range(20_000):
        p = {name: rng.choice(options) for name, options in parts.items()}
        text = f"{p['year']}-{p['month']}-{p['day']}{p['sep']}{p['hour']}:{p['minute']}:{p['second']}" \
               f"{p['fraction']}{p['zone']}"
        texts.append(text[:rng.randrange(len(text))] if rng.random() < 0.1 else text)
    texts += [None, "", "٠٠١٧-01-06T12:46:46Z", "2017-01-06T12:46:46Z\n"]
    arrow = pa.array(texts, pa.string()).slice(1)  # a slice: its offsets do not start at the first value
    read, shaped, real, micros = validation._fast_times(arrow)
    assert len(micros) == len(arrow)
    expected_shaped = validation._fullmatch(arrow, validation.TIME_PATTERN)
    expected_micros, expected_real = validation._utc_micros(
        pc.if_else(pa.array(expected_shaped), arrow, pa.scalar(None, pa.string())))
    assert read.mean() > 0.2
    assert (shaped[read] == expected_shaped[read]).all()
    assert (real[read] == (expected_real & expected_shaped)[read]).all()
    both = read & real
    assert (micros[both] == expected_micros[both]).all()
