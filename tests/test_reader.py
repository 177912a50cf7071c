"""File shapes, compression, pipes, directories and file-level errors (docs/contract.md: input files)."""
from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from clv import reader
from clv.errors import InputError
from clv.reader import MalformedLine, expand, expand_paths, parse_bytes, printable, read_file

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


LINES = b'{"a": 1}\n{"b": 2}\n'
ENTRIES = [{"a": 1}, {"b": 2}]
MAGIC = {"gzip": b"\x1f\x8b", "bzip2": b"BZh", "xz": b"\xfd7zXZ\x00", "zstd": b"\x28\xb5\x2f\xfd"}
SUFFIX = {"gzip": ".gz", "bzip2": ".bz2", "xz": ".xz", "zstd": ".zst"}


def compress(codec: str, data: bytes) -> bytes:
    if codec == "zstd":
        return pytest.importorskip("zstandard").ZstdCompressor().compress(data)
    compressors: dict[str, Callable[[bytes], bytes]] = {"gzip": gzip.compress, "bzip2": bz2.compress,
                                                        "xz": lzma.compress}
    return compressors[codec](data)


def fake_stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", SimpleNamespace(buffer=io.BytesIO(data)))


def start_writer(write: Callable[[], object]) -> threading.Thread:
    """A daemon thread, so a failing test cannot keep the run alive on a blocked pipe."""
    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("codec", MAGIC)
def test_compressed_file_is_known_by_its_suffix_and_by_its_magic_bytes(tmp_path: Path, codec: str):
    by_suffix = tmp_path / f"events.jsonl{SUFFIX[codec]}"
    by_magic = tmp_path / "events.json"
    by_suffix.write_bytes(compress(codec, LINES))
    by_magic.write_bytes(compress(codec, LINES))
    for path in (by_suffix, by_magic):
        parsed = read_file(path)
        assert (parsed.source, parsed.shape, parsed.entries, parsed.positions) == (str(path), "lines", ENTRIES, [1, 2])


@pytest.mark.parametrize("codec", MAGIC)
def test_streams_one_after_another_are_all_read(tmp_path: Path, codec: str):
    path = tmp_path / f"events.jsonl{SUFFIX[codec]}"
    path.write_bytes(compress(codec, b'{"a": 1}\n') + compress(codec, b'{"b": 2}\n'))
    assert read_file(path).entries == ENTRIES


def test_magic_bytes_win_over_the_suffix(tmp_path: Path):
    path = tmp_path / "events.json.gz"
    path.write_bytes(lzma.compress(LINES))
    assert read_file(path).entries == ENTRIES


def test_large_compressed_json_lines_keep_the_in_place_parse_and_its_undo(tmp_path: Path):
    clean, dirty = tmp_path / "clean.jsonl.gz", tmp_path / "dirty.jsonl.gz"
    lines = [b'{"n": %d, "pad": "%s"}' % (i, b"x" * 40) for i in range(20_000)]
    clean.write_bytes(gzip.compress(b"\n".join(lines), compresslevel=0))
    dirty.write_bytes(gzip.compress(b"\n".join(lines[:-1] + [b'{"n": 1}, 2']), compresslevel=0))
    assert clean.stat().st_size > 10 * reader.CHUNK_SIZE
    parsed = read_file(clean)
    assert parsed.entries[-1]["n"] == 19_999 and parsed.positions[-1] == 20_000
    parsed = read_file(dirty)
    assert parsed.entries[-2]["n"] == 19_998 and parsed.entries[-1].text == '{"n": 1}, 2'


@pytest.mark.parametrize("codec", MAGIC)
def test_truncated_compressed_file_is_one_input_error(tmp_path: Path, codec: str):
    path = tmp_path / "events.jsonl"
    path.write_bytes(compress(codec, LINES * 50)[:-6])
    with pytest.raises(InputError, match=rf"^{path}: not a valid {codec} file: the data ends too early"):
        read_file(path)


@pytest.mark.parametrize("codec", MAGIC)
def test_corrupt_compressed_file_is_one_input_error(tmp_path: Path, codec: str):
    if codec == "zstd":
        pytest.importorskip("zstandard")
    path = tmp_path / "events.jsonl"
    path.write_bytes(MAGIC[codec] + b"garbage!" * 20)
    with pytest.raises(InputError, match=rf"^{path}: not a valid {codec} file: \S"):
        read_file(path)


def test_plain_text_named_gz_is_not_a_valid_gzip_file(tmp_path: Path):
    path = tmp_path / "events.jsonl.gz"
    path.write_bytes(LINES)
    with pytest.raises(InputError, match="not a valid gzip file: incorrect header check"):
        read_file(path)


def test_empty_compressed_file_is_an_empty_file(tmp_path: Path):
    path = tmp_path / "events.json.gz"
    path.write_bytes(gzip.compress(b"  \n"))
    with pytest.raises(InputError, match="file is empty"):
        read_file(path)


def test_zstd_without_zstandard_is_one_line_saying_what_to_install(tmp_path: Path, monkeypatch):
    monkeypatch.setitem(sys.modules, "zstandard", None)
    path = tmp_path / "events.json"
    path.write_bytes(MAGIC["zstd"] + b"anything")
    with pytest.raises(InputError, match=r"zstandard package \(pip install zstandard\)$"):
        read_file(path)


def test_tiny_plain_file_shorter_than_any_magic(tmp_path: Path):
    path = tmp_path / "events.json"
    path.write_bytes(b"{}")
    assert read_file(path).entries == [{}]


def test_dash_reads_standard_input(monkeypatch):
    fake_stdin(monkeypatch, LINES)
    parsed = read_file("-")
    assert (parsed.source, parsed.entries) == ("<stdin>", ENTRIES)


@pytest.mark.parametrize("codec", MAGIC)
def test_compressed_standard_input_is_known_by_its_magic_bytes(monkeypatch, codec: str):
    fake_stdin(monkeypatch, compress(codec, LINES))
    assert read_file("-").entries == ENTRIES


def test_dash_stays_standard_input_through_expand_but_a_path_named_dash_is_a_file(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("-").write_bytes(b'[{"file": 1}]')
    fake_stdin(monkeypatch, b'[{"stdin": 1}]')
    assert expand(["-", Path("-")]).files == ["-", Path("-")]
    assert read_file(Path("-")).entries == [{"file": 1}]
    assert read_file("-").entries == [{"stdin": 1}]


def test_closed_standard_input_is_an_input_error(monkeypatch):
    monkeypatch.setattr(sys, "stdin", None)
    with pytest.raises(InputError, match="^<stdin>: cannot read: standard input is closed$"):
        read_file("-")


def test_named_pipe_is_streamed_not_sized(tmp_path: Path):
    fifo = tmp_path / "events.jsonl"
    os.mkfifo(fifo)
    data = gzip.compress(LINES * 50_000)
    writer = start_writer(lambda: fifo.write_bytes(data))
    assert expand([fifo]).files == [fifo]
    parsed = read_file(fifo)
    writer.join()
    assert len(parsed.entries) == 100_000 and parsed.positions[-1] == 100_000


@pytest.mark.skipif(not Path("/dev/fd").is_dir(), reason="no /dev/fd on this system")
def test_dev_fd_of_a_pipe_like_process_substitution():
    read_end, write_end = os.pipe()
    data = LINES * 50_000

    def feed() -> None:
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(data)

    writer = start_writer(feed)
    try:
        path = Path(f"/dev/fd/{read_end}")
        assert expand([str(path)]).files == [path]
        parsed = read_file(path)
    finally:
        os.close(read_end)
    writer.join()
    assert parsed.source == str(path) and len(parsed.entries) == 100_000


def test_directory_notes_say_what_was_skipped(tmp_path: Path):
    for name in ("b.jsonl", "a.json", "notes.md", ".hidden.json"):
        (tmp_path / name).write_text("{}")
    for name in ("tmp", "old"):
        (tmp_path / name).mkdir()
    expansion = expand([tmp_path])
    assert [p.name for p in expansion.files] == ["a.json", "b.jsonl"]
    assert expansion.notes == [f"{tmp_path}/: skipped 2 subfolders (old, tmp) and 2 other files (.hidden.json, notes.md)"]


def test_directory_notes_name_only_the_first_few(tmp_path: Path):
    (tmp_path / "a.json").write_text("{}")
    for i in range(8):
        (tmp_path / f"n{i}.md").write_text("")
    assert expand([tmp_path]).notes == [f"{tmp_path}/: skipped 8 other files (n0.md, n1.md, n2.md, n3.md, n4.md, …)"]


def test_plain_directory_has_no_notes(tmp_path: Path):
    (tmp_path / "a.json").write_text("{}")
    assert expand([tmp_path]).notes == []


def test_directory_without_event_files_says_what_it_holds(tmp_path: Path):
    (tmp_path / "old").mkdir()
    with pytest.raises(InputError, match=r"no \*\.json.*; skipped 1 subfolder \(old\)$"):
        expand([tmp_path])


def test_compressed_event_files_in_a_directory(tmp_path: Path):
    contents = {"a.json.gz": gzip.compress(LINES), "b.jsonl.BZ2": bz2.compress(LINES), "c.txt.xz": lzma.compress(LINES),
                "d.jsonl.zst": b"", "e.gz": b"", "f.md.gz": b"", "g.json.gz.txt": b""}
    for name, data in contents.items():
        (tmp_path / name).write_bytes(data)
    expansion = expand([tmp_path])
    assert [p.name for p in expansion.files] == ["a.json.gz", "b.jsonl.BZ2", "c.txt.xz", "d.jsonl.zst", "g.json.gz.txt"]
    assert expansion.notes == [f"{tmp_path}/: skipped 2 other files (e.gz, f.md.gz)"]
    assert [read_file(p).entries for p in expansion.files[:3]] == [ENTRIES] * 3


def test_unreadable_directory_is_an_input_error_simulated(tmp_path: Path, monkeypatch):
    def refuse(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(reader.os, "scandir", refuse)
    with pytest.raises(InputError, match=rf"^{tmp_path}: cannot list directory: Permission denied$"):
        expand([tmp_path])


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads directories whatever their mode")
def test_unreadable_directory_is_an_input_error(tmp_path: Path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        with pytest.raises(InputError, match=rf"^{locked}: cannot list directory: Permission denied$"):
            expand([locked])
    finally:
        locked.chmod(0o700)


def test_name_too_long_is_an_input_error(tmp_path: Path):
    path = tmp_path / ("x" * 300 + ".json")
    with pytest.raises(InputError, match=rf"^{path}: cannot open: File name too long$"):
        expand([path])
    with pytest.raises(InputError, match=rf"^{path}: cannot read: File name too long$"):
        read_file(path)


def test_nul_in_a_name_is_an_input_error():
    with pytest.raises(InputError, match=r"^a\\x00b\.json: cannot open: embedded null byte$"):
        expand(["a\0b.json"])
    with pytest.raises(InputError, match=r"^a\\x00b\.json: cannot read: embedded null byte$"):
        read_file("a\0b.json")


def test_undecodable_byte_in_a_file_name_inside_a_directory(tmp_path: Path):
    name = os.fsdecode(b"caf\xff.json")
    (tmp_path / name).write_bytes(b"[{\"a\": 1}]")
    (tmp_path / os.fsdecode(b"bad\xff.json")).write_bytes(b"[oops")
    (tmp_path / os.fsdecode(b"old\xff")).mkdir()
    expansion = expand([tmp_path])
    assert expansion.files == [tmp_path / os.fsdecode(b"bad\xff.json"), tmp_path / name]
    assert expansion.notes == [f"{tmp_path}/: skipped 1 subfolder (old\\xff)"]
    assert read_file(expansion.files[1]).source == f"{tmp_path}/caf\\xff.json"
    with pytest.raises(InputError) as error:
        read_file(expansion.files[0])
    assert str(error.value).startswith(f"{tmp_path}/bad\\xff.json: not a valid JSON array")
    str(error.value).encode("utf-8")


def test_missing_path_with_control_characters_is_escaped_in_the_message(tmp_path: Path):
    path = tmp_path / os.fsdecode(b"\x1b[31mred\xff\n.json")
    with pytest.raises(InputError) as error:
        expand([path])
    assert str(error.value) == f"{tmp_path}/\\x1b[31mred\\xff\\n.json: no such file or directory"


@pytest.mark.parametrize("text, shown", [
    ("plain/café ✓.json", "plain/café ✓.json"),
    ("tab\there\r\n", "tab\\there\\r\\n"),
    ("\x00\x1f\x7f\x85\x9f\xa0", "\\x00\\x1f\\x7f\\x85\\x9f\xa0"),
    (os.fsdecode(b"\xff\x80"), "\\xff\\x80"),
    ("lone \ud800", "lone \\ud800"),
])
def test_printable_escapes_only_what_a_terminal_or_utf8_cannot_take(text: str, shown: str):
    assert printable(text) == shown
