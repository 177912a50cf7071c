"""The native reader (columnar.py) against the existing orjson path, on hostile bytes: same entries, same verdicts.

Every case is read both ways — reader.parse_bytes(native=True) and
(native=False) — and must give the same shape, positions and entries (or the
same file error), and validation must give the same frame: reasons, messages
and normalised fields, row by row. Cases are read alone and among ordinary
lines, as JSON Lines and, where it makes sense, as JSON arrays.
"""
from __future__ import annotations

import json
import random
import sys
import weakref

import numpy as np
import orjson
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fast_path import ODD, outcomes

from clv import batch as bt
from clv import columnar, reader, validation
from clv.errors import InputError
from clv.tables import empty_tables

import reference
from bench.generate import generate

VISIT = b'{"type":"SITE_VISIT","verb":"NEW","key":"v","event_time":"2017-01-01T00:00:00Z","customer_id":"c",'
GOOD = [
    b'{"type":"CUSTOMER","verb":"NEW","key":"c1","event_time":"2017-01-02:10:00:00.000Z","last_name":"Smith"}',
    VISIT + b'"tags":{"campaign":"winter","a":"b"}}',
    orjson.dumps({"type": "ORDER", "verb": "NEW", "key": "o1", "event_time": "2017-01-05 12:00:00",
                  "customer_id": "c1", "total_amount": "20.00 USD"}, option=orjson.OPT_INDENT_2).replace(b"\n", b""),
]
DEEP = b'{"type":"CUSTOMER","x":' + b"[" * 1100 + b"]" * 1100 + b"}"
EXACTLY_DEEP = b'{"type":"CUSTOMER","x":' + b"[" * 1022 + b"]" * 1022 + b"}"  # 1024 levels alone, 1025 in an array
HOSTILE = [
    # numbers where strings are expected, and numbers orjson refuses
    b'{"type":"CUSTOMER","verb":"NEW","key":7,"event_time":"2017-01-01T00:00:00Z"}',
    b'{"type":"CUSTOMER","verb":"NEW","key":"k","event_time":1e400}',
    b'{"type":"CUSTOMER","verb":"NEW","key":"k","event_time":"2017-01-01T00:00:00Z","n":' + b"9" * 400 + b"}",
    b'{"type":"ORDER","verb":"NEW","key":"o","event_time":"2017-01-01T00:00:00Z","customer_id":"c","total_amount":1}',
    b'{"type":"CUSTOMER","verb":"NEW","key":"k","event_time":"2017-01-01T00:00:00Z","x":NaN}',
    b'{"type":"CUSTOMER","verb":"NEW","key":"k","event_time":"2017-01-01T00:00:00Z","x":-Infinity}',
    b'{"type":"CUSTOMER","verb":"NEW","key":"k","event_time":"2017-01-01T00:00:00Z","x":01}',
    b'{"type":true,"verb":false,"key":null,"event_time":[1]}',
    b'{"type":[1,"a"],"verb":"NEW","key":"k"}', b'{"type":"ORDER","verb":{"a":[]},"key":"k"}',
    # nested objects and arrays in text fields, tags of every shape
    b'{"type":"CUSTOMER","verb":"NEW","key":"k","event_time":"2017-01-01T00:00:00Z","last_name":{"a":"b"}}',
    b'{"type":"CUSTOMER","verb":"NEW","key":"k","event_time":"2017-01-01T00:00:00Z","adr_city":["x"]}',
    VISIT + b'"tags":{}}',
    VISIT + b'"tags":null}',
    VISIT + b'"tags":{"a":null,"b":"x"}}',
    VISIT + b'"tags":{"a":"1","b":"2","a":"3"}}',
    VISIT + b'"tags":{"a":{"b":"c"}}}',
    VISIT + b'"tags":{"n":1,"t":true}}',
    VISIT + b'"tags":[{"name":"a","value":2},{"b":"c"}]}',
    VISIT + b'"tags":"x"}',
    VISIT + b'"tags":{"q\\"uote":"v\\\\"}}',
    VISIT + b'"tags":{"a":"b"},"tags":null}',
    VISIT + b'"tags" : { "a" : "b" , "c" : null } }',
    VISIT + b'"tags":{"}":"{","x":"\\u00e9"}}',
    VISIT + b'"tags":{"a":"b",}}',
    VISIT + b'"meta":{"tags":{"a":"b"}}}',
    VISIT + b'"xtags":{"a":"b"},"tags":{"c":"d"}}',
    VISIT + b'"tags":{' + b",".join(b'"t%d":"%d"' % (i, i) for i in range(100)) + b"}}",
    VISIT + b'"tags":{"":"x","y":""}}', VISIT + b'"tags":{ }}', VISIT + b'"tags":{"a":"b"} ,"type":"ORDER"}',
    # duplicate keys: orjson keeps the last value
    b'{"type":"CUSTOMER","verb":"NEW","key":"a","key":"b","event_time":"2017-01-01T00:00:00Z"}',
    b'{"type":"CUSTOMER","verb":"NEW","key":"a","ke\\u0079":7,"event_time":"2017-01-01T00:00:00Z"}',
    b'{"type":"CUSTOMER","verb":"NEW","key":"a","event_time":"2017-01-01T00:00:00Z","x":1,"x":2}',
    # escapes, control bytes, encodings
    b'{"ty\\u0070e":"CUSTOMER","verb":"NEW","key":"\\u00e9\\ud83d\\ude00\\/\\n","event_time":"2017-01-01T00:00:00Z"}',
    b'{"type":"CUSTOMER","verb":"NEW","key":"\\ud800","event_time":"2017-01-01T00:00:00Z"}',
    b'{"type":"CUSTOMER","verb":"NEW","key":"\\udc00x","event_time":"2017-01-01T00:00:00Z"}',
    b'{"type":"CUSTOMER","verb":"NEW","key":"\\u0000","event_time":"2017-01-01T00:00:00Z"}',
    b'{"type":"CUSTOMER","verb":"NEW","key":"a\x00b","event_time":"2017-01-01T00:00:00Z"}',
    b'{"type":"CUSTOMER","verb":"NEW","key":"a\tb","event_time":"2017-01-01T00:00:00Z"}',
    b'{"type":"CUSTOMER","verb":"NEW","key":"a\rb","event_time":"2017-01-01T00:00:00Z"}',
    b'{"type":"CUSTOMER","verb":"NEW","key":"a\x7fb\xe2\x80\xa8","event_time":"2017-01-01T00:00:00Z"}',
    b'{"type":"CUSTOMER","verb":"NEW","key":"\\x41","event_time":"2017-01-01T00:00:00Z"}',
    b'\xef\xbb\xbf{"type":"CUSTOMER","verb":"NEW","key":"k","event_time":"2017-01-01T00:00:00Z"}',
    b'{"type":"CUSTOMER","verb":"NEW","key":"k","event_time":"2017-01-01T00:00:00Z"}\r',
    b'{"type":"CUSTOMER","verb":"NEW","key":"k"}\r{"type":"ORDER"}',
    b'{"type":"CUSTOMER","verb":"NEW","key":"k"} {"type":"ORDER"}',
    b'{"type":"CUSTOMER","verb":"NEW","key":"k"}\x0c',
    b'\t {"type":"CUSTOMER","verb":"NEW","key":"k"}',
    b'{"type":"CUSTOMER","verb":"NEW","key":"' + "é日本".encode() * 5000 + b'","event_time":"2017-01-01T00:00:00Z"}',
    b'{"type":"CUSTOMER","verb":"NEW","key":"' + b"x" * 200_000 + b'","event_time":"2017-01-01T00:00:00Z"}',
    b'{"type":"CUSTOMER",       "verb"            :            "NEW","key":"k"}',
    b'{"type":"CUSTOMER","verb":"NEW","key":"k","event_time":"2017-01-01T00:00:00Z","x":"a:1,b:2"}',
    b'{"type":"CUSTOMER","verb":"NEW","key":":{x","event_time":": 5"}',
    # deep nesting, and depth right at orjson's limit
    DEEP,
    EXACTLY_DEEP,
    # not objects, not JSON, or JSON that merges with the next line
    b'"just a string"', b"3", b"x", b"[]", b"null", b'["an", "array"]', b"not json at all",
    b'{"type":"CUSTOMER","verb":"NEW","key":"trunc', b'{"type":"CUSTOMER"', b'{"a": 1}, {"b": 2}',
    b'{"a": "x",', b"}", b"]", b'"', b"{", b"[{", b'{"a":"b"}}', b"1, [2", b"3]",
    b"\x0b", b"\x0c  ", b"   ", b"",
]


def outcome(data: bytes, native: bool, frames: bool) -> tuple:
    """What reading gives: the file error, or (shape, positions, entries, validation frame)."""
    try:
        parsed = reader.parse_bytes(data, "f", native=native)
    except InputError as exc:
        return ("error", str(exc))
    frame = validation.validate(parsed.entries) if frames else None
    return parsed.shape, list(parsed.positions), list(parsed.entries), frame


def same(data: bytes, frames: bool = True) -> bool:
    """Assert both paths agree on these bytes (and validation too, unless frames is False).

    True when the bytes are not a file error.
    """
    fast, slow = outcome(data, True, frames), outcome(data, False, frames)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(10_000)  # deeply nested entries are compared level by level
    try:
        assert fast[:3] == slow[:3], data[:300]
    finally:
        sys.setrecursionlimit(limit)
    if fast[0] != "error" and frames:
        pd.testing.assert_frame_equal(fast[3], slow[3])
    return fast[0] != "error"


def natively_read(data: bytes) -> bool:
    framed = reader._framed(len(data))
    framed[1:-1] = np.frombuffer(data, dtype=np.uint8)
    text, first, end = reader._content(framed)
    return first < end and columnar.read(framed, text, first, end, reader.MalformedLine) is not None


def as_array(lines: list[bytes]) -> bytes:
    return b"[" + b",\n".join(lines) + b"]\n"


@pytest.mark.parametrize("case", HOSTILE, ids=range(len(HOSTILE)))
def test_a_hostile_line_reads_the_same_alone_and_among_good_lines(case):
    """Entries and positions here; the verdicts of all of them together in the next test."""
    for data in (case + b"\n", b"\n".join([case, *GOOD]), b"\n\n".join([*GOOD, case, *GOOD]), as_array([case, *GOOD]),
                 as_array([*GOOD, case, *GOOD])):
        same(data, frames=False)


def test_every_hostile_line_in_one_file_reads_the_same_and_natively():
    """Validation agrees with the existing path row by row, and the outcomes with the reference implementation."""
    lines = [line for case in HOSTILE for line in (*GOOD, case)]
    valid = [case for case in HOSTILE if natively_read(as_array([*GOOD, case]))]  # no file error, one a line
    for data in (b"\n".join(lines), as_array([line for case in valid for line in (*GOOD, case)])):
        assert natively_read(data) and same(data)
        entries = reader.parse_bytes(data, "f").entries
        applied = bt.apply(empty_tables(), entries, 0)
        assert outcomes(applied) == reference.Store().ingest(list(entries))


def test_a_clean_file_and_a_messy_one_are_read_natively():
    events = [orjson.dumps(e) for e in generate(2_000, seed=3)]
    assert natively_read(b"\n".join(events)) and natively_read(as_array(events))
    messy = b"\n".join([*GOOD, b'{"a": 1}, {"b": 2}', b'"text"', b"", b'{"type":7}', *GOOD])
    assert natively_read(messy) and same(messy)


def test_a_truncated_line_is_proven_bad_without_reading_the_file_whole():
    lines = [*GOOD * 3, b'{"type":"CUSTOMER","verb":"NEW","key":"trunc', *GOOD * 3]
    data = b"\n".join(lines)
    assert natively_read(data) and same(data)
    assert isinstance(reader.parse_bytes(data, "f").entries[9], reader.MalformedLine)


@pytest.mark.parametrize("data", [
    b'1,[2\n3]\n',  # the lines joined into an array are valid: the existing path keeps that
    b'"a\nb", 3\n',
    b'{\n"type": "CUSTOMER",\n"key": "a"\n}\n',  # one pretty-printed object
    b'[{"a":"b"},\n{"c":"d"}\n]',
    b'[\n  {"type": "CUSTOMER"},\n  {"type": "ORDER"}\n]\n',
    b'[{"type": "CUSTOMER"}, {"type": "ORDER"}]',  # several elements on one line
    b'[{"type":"CUSTOMER"},\n{"type":"ORDER"},\n]',  # trailing comma
    b'[{"type":"CUSTOMER"},\n{"type":"ORDER"}\n,{"type":"IMAGE"}]',
    b'[{"type":"CUSTOMER"},\n\x0b{"type":"ORDER"}]',
    b'[{"type":"CUSTOMER"},\n' + EXACTLY_DEEP + b"]",
    b'{"a":"\xff"}\n{"b":"c"}\n',
    b'[{"a":"\xc3"}, {"b":"c"}]',
    b'{"a":"b"}\n' + b'{"c":"d"}\n' * 3 + b'{"e":\n',
    b'{"e":\n{"c":"d"}\n{"c":"d"}\n',
    b'\n\n{"a": "\n}\n\n{"b": "c"}\n',
])
def test_layouts_the_native_path_leaves_to_the_existing_one_read_the_same(data):
    same(data)


def test_ordinary_and_odd_events_read_the_same_in_any_layout():
    events = generate(3_000, seed=21) + ODD * 3
    random.Random(2).shuffle(events)
    lines = [orjson.dumps(e) for e in events]
    pretty = [json.dumps(e).encode() for e in events]
    for data in (b"\n".join(lines), as_array(lines), b"\r\n".join(pretty) + b"\r\n", as_array(pretty)):
        assert natively_read(data)
        same(data)


def test_many_pieces_in_parallel_and_refused_runs_halved(monkeypatch):
    monkeypatch.setattr(columnar, "PIECE_BYTES", 4096)
    monkeypatch.setattr(columnar, "SMALLEST_SPLIT", 2)
    events = generate(1_000, seed=5) + ODD * 4
    random.Random(9).shuffle(events)
    lines = [orjson.dumps(e) for e in events]
    lines[100:100] = [b'{"type":"CUSTOMER","key":"a","key":"b"}', b'{"type":"ORDER","key":"c","key":7}']
    assert natively_read(as_array(lines)) and same(as_array(lines))
    lines[200:200] = [b'{"a":"b"} {"c":"d"}', b'{"a":"b" x}']  # bad lines: JSON Lines only
    for data in (b"\n".join(lines), b"\n\n".join(lines)):
        assert natively_read(data)
        same(data)


def test_the_file_buffer_goes_with_its_entries_while_the_cyclic_gc_is_paused(monkeypatch):
    """Ingestion pauses the cyclic GC: nothing the reader leaves behind may hold the file's bytes in a cycle."""
    monkeypatch.setattr(columnar, "PIECE_BYTES", 4096)
    lines = [orjson.dumps(e) for e in generate(500, seed=8)]
    lines[50:50] = [b'{"type":"CUSTOMER","key":"a","key":"b"}', b"{oops"]  # refused runs: the row reader recurses
    with reader.gc_paused():
        parsed = reader.parse_bytes(b"\n".join(lines), "f")
        assert isinstance(parsed.entries, columnar.ColumnarEntries)
        buffer = weakref.ref(parsed.entries._buffer)
        validation.validate(parsed.entries)
        del parsed
        assert buffer() is None


def test_rejected_events_are_parsed_again_only_when_asked_for():
    data = b"\n".join([*GOOD, b'{"type":"PAYMENT","verb":"NEW"}', b'"text"', b"{oops"])
    entries = reader.parse_bytes(data, "f").entries
    assert isinstance(entries, columnar.ColumnarEntries) and len(entries.routed) == 2
    assert entries[3] == {"type": "PAYMENT", "verb": "NEW"} and entries[-2] == "text"
    assert entries[-1] == reader.parse_bytes(data, "f", native=False).entries[-1]
    assert isinstance(entries[-1], reader.MalformedLine) and entries[-1].text == "{oops"
    assert entries[1:3] == list(entries)[1:3]
    with pytest.raises(IndexError):
        entries[6]


FIELDS = ["type", "verb", "key", "event_time", "customer_id", "total_amount", "last_name", "tags", "x"]
VALUES = [b'"CUSTOMER"', b'"ORDER"', b'"SITE_VISIT"', b'"NEW"', b'"UPDATE"', b'"k"', b'" "', b'""', b"null",
          b'"2017-01-01T00:00:00Z"', b'"2017-02-30 10:00:00"', b'"1 USD"', b'"-1 usd"', b"7", b"1.5e3", b"true",
          b'{"a":"b"}', b"{}", b'{"a":null}', b'["x"]', b'"\\u00e9"', b'"\\"', b"1e400"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.tuples(st.sampled_from(FIELDS), st.sampled_from(VALUES)), max_size=7), min_size=1,
                max_size=12),
       st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from([b"", b"\n", b" ", b",", b"}", b'"', b"\\",
                                                                   b":", b"{", b"\x00", b"\xff"])), max_size=3))
def test_random_events_and_damage_read_the_same(events, damage):
    lines = [b"{" + b",".join(b'"' + f.encode() + b'":' + v for f, v in event) + b"}" for event in events]
    data = bytearray(b"\n".join([*GOOD, *lines]) + b"\n")
    for at, chunk in damage:
        data[at % len(data):at % len(data)] = chunk
    same(bytes(data))
    same(as_array([*GOOD, *lines]), frames=False)
