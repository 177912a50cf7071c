"""File shapes and file-level errors (docs/contract.md: input files)."""
from __future__ import annotations

from pathlib import Path

import pytest

from clv.errors import InputError
from clv.reader import MalformedLine, expand_paths, parse_bytes, read_file

from helpers import SAMPLE


def test_sample_is_an_array_of_four_events():
    parsed = read_file(SAMPLE)
    assert parsed.shape == "array"
    assert [e["type"] for e in parsed.entries] == ["CUSTOMER", "SITE_VISIT", "IMAGE", "ORDER"]
    assert parsed.positions == [1, 2, 3, 4]


def test_single_object_even_when_pretty_printed():
    parsed = parse_bytes(b'{\n  "type": "CUSTOMER",\n  "key": "a"\n}\n', "f")
    assert parsed.shape == "object"
    assert parsed.entries == [{"type": "CUSTOMER", "key": "a"}]


def test_json_lines_with_blank_lines_keep_their_line_numbers():
    parsed = parse_bytes(b'{"a": 1}\n\n{"b": 2}\n', "f")
    assert parsed.shape == "lines"
    assert parsed.entries == [{"a": 1}, {"b": 2}]
    assert parsed.positions == [1, 3]


def test_bad_json_line_is_one_malformed_entry_and_the_rest_goes_on():
    parsed = parse_bytes(b'{"a": 1}\n{"b": \n{"c": 3}\n', "f")
    assert parsed.entries[0] == {"a": 1} and parsed.entries[2] == {"c": 3}
    assert isinstance(parsed.entries[1], MalformedLine)
    assert parsed.entries[1].text == '{"b":'
    assert parsed.positions == [1, 2, 3]


def test_lines_that_would_merge_into_valid_json_are_still_checked_one_by_one():
    parsed = parse_bytes(b'{"a": 1}, {"b": 2}\n{"c": 3}\n', "f")
    assert isinstance(parsed.entries[0], MalformedLine)
    assert parsed.entries[1] == {"c": 3}


def test_utf8_byte_order_mark_is_accepted():
    assert parse_bytes(b'\xef\xbb\xbf[{"a": 1}]', "f").entries == [{"a": 1}]


@pytest.mark.parametrize("data, expected", [
    (b"", "file is empty"),
    (b'[{"a": 1},\n {"b": ]', "not a valid JSON array"),
    (b"hello world\nstill not json\n", "not JSON: line 1"),
    (b'[{"name": "caf\xe9"}]', "not UTF-8 text (line 1, column 15)"),
])
def test_file_level_errors_name_the_file_and_where(data, expected):
    with pytest.raises(InputError) as error:
        parse_bytes(data, "dump.json")
    assert str(error.value).startswith("dump.json: ")
    assert expected in str(error.value)


def test_array_syntax_error_gives_line_and_column():
    with pytest.raises(InputError, match=r"line 2, column \d+"):
        parse_bytes(b'[{"a": 1},\n {"b": ]', "dump.json")


def test_directory_means_its_event_files_in_name_order(tmp_path: Path):
    for name in ("b.jsonl", "a.json", "c.txt", "notes.md"):
        (tmp_path / name).write_text("{}")
    assert [p.name for p in expand_paths([tmp_path])] == ["a.json", "b.jsonl", "c.txt"]


def test_directory_without_event_files_and_missing_path_are_errors(tmp_path: Path):
    with pytest.raises(InputError, match="no \\*.json"):
        expand_paths([tmp_path])
    with pytest.raises(InputError, match="no such file"):
        expand_paths([tmp_path / "missing.json"])


def test_unreadable_file_is_an_input_error(tmp_path: Path):
    with pytest.raises(InputError, match="cannot read"):
        read_file(tmp_path)


@pytest.mark.parametrize("data, positions", [
    (b'\n\n{"a": 1}\n{"b": 2}\n\n', [3, 4]),
    (b'\xef\xbb\xbf{"a": 1}\n{"b": 2}', [1, 2]),
    (b'{"a": 1}\r\n{"b": 2}\r\n', [1, 2]),
    (b'  {"a": 1}\n  {"b": 2}  ', [1, 2]),
    (b'\n{"a": 1}\n\n{"b": 2}', [2, 4]),
])
def test_json_lines_positions_are_line_numbers_whatever_the_blank_space(data, positions):
    parsed = parse_bytes(data, "f")
    assert parsed.shape == "lines" and parsed.entries == [{"a": 1}, {"b": 2}] and parsed.positions == positions


def test_a_bad_line_after_the_fast_attempt_still_reads_the_original_text(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": 2}, 3\n{"c": 3}\n')
    parsed = read_file(path)
    assert parsed.entries[0] == {"a": 1} and parsed.entries[2] == {"c": 3}
    assert parsed.entries[1].text == '{"b": 2}, 3'
