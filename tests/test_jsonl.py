"""The one JSONL reader/appender: every bad line reported as file:line, torn tails, streaming."""
import json

import pytest

from videotemp_o3.jsonl import JsonlError, append_jsonl, read_jsonl


def write(tmp_path, data: bytes):
    p = tmp_path / "f.jsonl"
    p.write_bytes(data)
    return p


def test_reads_objects_skips_blank_lines_and_keeps_a_complete_last_line_without_newline(tmp_path):
    p = write(tmp_path, b'{"a": 1}\n\n  \n{"a": 2}')
    lines = read_jsonl(p)
    assert [ln.value["a"] for ln in lines] == [1, 2]
    assert [ln.where for ln in lines] == [f"{p}:1", f"{p}:4"]


@pytest.mark.parametrize("data,line,reason", [
    (b'{"a": 1}\n{"a": \n{"b": 2}\n', 2, "invalid JSON"),
    (b'{"a": 1}\n[1, 2]\n', 2, "expected a JSON object, got list"),
    (b'{"a": 1}\n{"a": "\xff\xfe"}\n', 2, "not UTF-8 text (byte 0xff at column 8)"),
    (b'\x00\x01\x02garbage\n', 1, "invalid JSON"),
    (b'[' * 100000 + b'\n', 1, "invalid JSON"),
])
def test_bad_lines_raise_with_file_and_line(tmp_path, data, line, reason):
    p = write(tmp_path, data)
    with pytest.raises(JsonlError) as e:
        read_jsonl(p)
    assert str(e.value).startswith(f"{p}:{line}: ")
    assert reason in str(e.value)


def test_torn_tail_is_an_error_by_default_and_skipped_on_request(tmp_path):
    p = write(tmp_path, b'{"a": 1}\n{"a": 2, "b"')
    with pytest.raises(JsonlError, match=r":2: .*incomplete"):
        read_jsonl(p)
    assert [ln.value for ln in read_jsonl(p, torn_tail="skip")] == [{"a": 1}]


def test_yield_mode_reports_every_bad_line_and_goes_on(tmp_path):
    p = write(tmp_path, b'{"a": 1}\nnope\n{"a": 3}\n"str"\n')
    lines = read_jsonl(p, on_error="yield")
    assert [(ln.lineno, ln.error is None) for ln in lines] == [(1, True), (2, False), (3, True), (4, False)]


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(JsonlError, match="no such file"):
        read_jsonl(tmp_path / "missing.jsonl")
    with pytest.raises(JsonlError, match="is a directory"):
        read_jsonl(tmp_path)


def test_append_writes_whole_lines_and_refuses_nan(tmp_path):
    p = tmp_path / "sub" / "out.jsonl"
    append_jsonl(p, {"uid": "1", "text": "line\nbreak"})
    append_jsonl(p, {"uid": "2"})
    assert p.read_bytes().count(b"\n") == 2
    assert [ln.value["uid"] for ln in read_jsonl(p)] == ["1", "2"]
    with pytest.raises(ValueError):
        append_jsonl(p, {"x": float("nan")})
    assert json.loads(p.read_text().splitlines()[0])["text"] == "line\nbreak"
