"""Reading published benchmark files exactly as downloaded, with errors that name the place.

Every reader yields :class:`Record` s that remember where they came from (``file:line`` for
text formats, ``file row N`` for parquet, ``file[i]`` for JSON lists), so a malformed record
is reported as "file:line: field 'x': problem" — never as a bare ``KeyError``. JSON lines go
through :func:`videotemp_o3.jsonl.iter_jsonl`, the project's one JSONL reader.

Paths taken from annotation fields go through :func:`safe_join`, which refuses absolute paths
and ``..`` escapes from the data root.
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Iterator, Mapping, NoReturn, Sequence

from ..jsonl import JsonlError, iter_jsonl
from ..options import split_inline_options as _split_options
from .base import BenchmarkDataError, BenchmarkError


@dataclass(frozen=True)
class Record:
    """One record (of an annotation file, or of the release's output file) and where it was
    read, for messages. ``error`` is the exception class its problems raise."""

    data: Mapping[str, Any]
    where: str
    error: type[BenchmarkError] = BenchmarkDataError

    def fail(self, name: str, problem: str) -> NoReturn:
        raise self.error(f"{self.where}: field {name!r}: {problem}")

    def has(self, name: str) -> bool:
        return name in self.data and self.data[name] is not None

    def get(self, name: str, default: Any = None) -> Any:
        value = self.data.get(name, default)
        return default if value is None else value

    def require(self, name: str) -> Any:
        if name not in self.data:
            self.fail(name, f"missing (the record has {sorted(self.data)[:12]})")
        if self.data[name] is None:
            self.fail(name, "is null")
        return self.data[name]

    def text(self, name: str, *, allow_empty: bool = False) -> str:
        """A string field. Integer ids (LVBench ``uid``, NExT-GQA ``qid``) are accepted and
        stringified, since docs/design.md §8 keys every uid as a string."""
        value = self.require(name)
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            self.fail(name, f"expected a string, got {type(value).__name__} {value!r:.60}")
        value = str(value)
        if not allow_empty and not value.strip():
            self.fail(name, "is empty")
        return value

    def number(self, name: str) -> float:
        value = self.require(name)
        try:
            if isinstance(value, bool):
                raise TypeError
            x = float(value)
        except (TypeError, ValueError):
            self.fail(name, f"expected a number, got {value!r:.60}")
        if not math.isfinite(x):
            self.fail(name, f"expected a finite number, got {value!r}")
        return x

    def strings(self, name: str, *, min_len: int = 0) -> list[str]:
        value = self.require(name)
        # pyarrow hands list<string> columns back as Python lists; numpy arrays would come from
        # pandas, which we do not use, but accept any sequence of strings.
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            self.fail(name, f"expected a list of strings, got {type(value).__name__}")
        out = list(value)
        for i, v in enumerate(out):
            if not isinstance(v, str):
                self.fail(name, f"element {i} is {type(v).__name__}, expected a string")
        if len(out) < min_len:
            self.fail(name, f"expected at least {min_len} element(s), got {len(out)}")
        return out

    def span(self, name: str, value: Any = None) -> tuple[float, float]:
        """``[start, end]`` seconds: two finite numbers, start ≤ end (a reversed span would
        score IoU 0 against every answer, silently)."""
        value = self.require(name) if value is None else value
        if (isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
            self.fail(name, f"expected [start, end] seconds, got {value!r:.80}")
        return checked_span(float(value[0]), float(value[1]), lambda problem: self.fail(name, problem))


def checked_span(start: float, end: float, fail) -> tuple[float, float]:
    """``(start, end)`` after the checks every annotated span gets: finite, start ≤ end.
    ``fail(problem)`` raises (it names the place)."""
    if not (math.isfinite(start) and math.isfinite(end)):
        fail(f"expected finite seconds, got [{start}, {end}]")
    if start > end:
        fail(f"start {start:g} s is after end {end:g} s; a span is [start, end]")
    return start, end


def split_inline_options(text: str, style: str, rec: Record, name: str,
                         required: bool = True) -> tuple[str, list[str]]:
    """:func:`videotemp_o3.options.split_inline_options` for a benchmark record: a problem, or no
    options where they are ``required``, is reported as ``rec``'s field ``name``. Callers without
    a record use :func:`videotemp_o3.options.split_inline_options` itself (problems as values)."""
    stem, options, problem = _split_options(text, style)  # type: ignore[arg-type]
    if not options and required:
        example = "(A) …" if style == "paren" else "A. …"
        rec.fail(name, f"no inline options found (expected lines like {example!r}): {text!r:.120}")
    if problem is not None:
        rec.fail(name, problem)
    return (stem, options) if options else (text.strip(), [])


def lettered(texts: Sequence[str]) -> tuple[str, ...]:
    """``["x", "y"]`` → ``("A. x", "B. y")``: how every benchmark here renders options."""
    return tuple(f"{chr(ord('A') + i)}. {t}" for i, t in enumerate(texts))


def first_existing(root: Path, names: Sequence[str], what: str) -> Path:
    """The first of ``names`` (relative to ``root``) that exists; a clear error otherwise."""
    for name in names:
        p = root / name
        if p.is_file():
            return p
    looked = ", ".join(str(root / n) for n in names)
    raise BenchmarkDataError(f"{what}: no annotation file found; looked for {looked}")


def safe_join(root: Path, rel: str, where: str, field: str) -> Path:
    """``root / rel``, refusing absolute paths and ``..`` escapes from ``root``.

    The check is lexical on purpose: a data root whose ``videos/`` is a symlink to a big disk
    is a common, legitimate layout, and resolving symlinks would refuse it.
    """
    if not rel or "\x00" in rel:
        raise BenchmarkDataError(f"{where}: field {field!r}: empty or invalid video path {rel!r}")
    posix = rel.replace("\\", "/")
    if os.path.isabs(rel) or PurePosixPath(posix).is_absolute() or (len(posix) > 1 and posix[1] == ":"):
        raise BenchmarkDataError(
            f"{where}: field {field!r}: video path {rel!r} is absolute; paths must stay under the data root {root}")
    norm = os.path.normpath(posix)
    if norm == ".." or norm.startswith("../") or norm.startswith("..\\"):
        raise BenchmarkDataError(
            f"{where}: field {field!r}: video path {rel!r} escapes the data root {root}")
    return root / norm


def resolve_video(root: Path, value: str, patterns: Sequence[str], where: str, field: str) -> Path:
    """The video for an annotation ``value`` (an id or a relative path): the first of
    ``patterns`` (``"{}"`` stands for the value; relative to ``root``) that exists, else the
    first pattern.

    The value itself must be a relative path that stays where it is put (no absolute path, no
    ``..`` climbing out), and every candidate is checked by :func:`safe_join` before anything
    touches the disk. A missing video is not an error here: annotations load, and score,
    without the videos.
    """
    safe_join(root, value, where, field)  # the value on its own: absolute or "../" is refused
    paths = [safe_join(root, p.replace("{}", value), where, field) for p in patterns]
    for p in paths:
        if p.is_file():
            return p
    return paths[0]


def read_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise BenchmarkDataError(f"{path}:{e.lineno}: invalid JSON: {e.msg}") from None
    except UnicodeDecodeError as e:
        raise BenchmarkDataError(
            f"{path}: not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start}); save it as UTF-8") from None


def read_json_records(path: Path) -> list[Record]:
    """A JSON file holding a list of objects (MLVU)."""
    data = read_json(path)
    if not isinstance(data, list):
        raise BenchmarkDataError(f"{path}: expected a JSON list of records, got {type(data).__name__}")
    out = []
    for i, rec in enumerate(data):
        if not isinstance(rec, dict):
            raise BenchmarkDataError(f"{path}[{i}]: expected an object, got {type(rec).__name__}")
        out.append(Record(rec, f"{path}[{i}]"))
    return out


def read_jsonl(path: Path) -> Iterator[tuple[int, Record]]:
    """Yield ``(0-based line index, record)`` for each non-blank line; messages use 1-based
    line numbers, as editors do. Every problem (invalid JSON, not an object, not UTF-8, a torn
    last line) is a :class:`BenchmarkDataError` naming ``file:line``."""
    try:
        for line in iter_jsonl(path):
            yield line.lineno - 1, Record(line.value, line.where)
    except JsonlError as e:
        raise BenchmarkDataError(str(e)) from None


def read_text_lines(path: Path) -> Iterator[tuple[int, str, str]]:
    """``(0-based index, text, "file:line")`` for each line of a text annotation file; a line
    that is not UTF-8 is an error naming it."""
    with open(path, "rb") as f:
        for index, raw in enumerate(f):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise BenchmarkDataError(
                    f"{path}:{index + 1}: not UTF-8 text (byte 0x{raw[e.start]:02x} at column {e.start + 1}); "
                    "save the file as UTF-8") from None
            yield index, text, f"{path}:{index + 1}"


def read_parquet(path: Path, columns: Sequence[str]) -> list[Record]:
    """All rows of a parquet file (pyarrow), after checking that ``columns`` exist."""
    try:
        import pyarrow.parquet as pq
    except ImportError as e:  # pragma: no cover - the eval extra provides it
        raise BenchmarkDataError(f"{path}: reading parquet needs pyarrow (pip install 'videotemp-o3[eval]')") from e
    try:
        table = pq.read_table(path)
    except Exception as e:  # noqa: BLE001 — pyarrow raises several types for a bad file
        raise BenchmarkDataError(f"{path}: not a readable parquet file: {e}") from None
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise BenchmarkDataError(
            f"{path}: missing column(s) {missing}; the file has {table.column_names}")
    return [Record(row, f"{path} row {i}") for i, row in enumerate(table.to_pylist())]


def read_csv(path: Path, columns: Sequence[str]) -> list[Record]:
    """All rows of a CSV file with a header line; ``where`` is ``file:line`` (1-based)."""
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise BenchmarkDataError(f"{path}:1: missing column(s) {missing}; the header has {reader.fieldnames}")
        return [Record(row, f"{path}:{reader.line_num}") for row in reader]
