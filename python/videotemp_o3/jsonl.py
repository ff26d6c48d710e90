"""The one reader and the one appender of JSON Lines files in the project.

Every JSONL file the project reads (benchmark annotations, results, SFT and RL data, training
annotations) goes through :func:`iter_jsonl`, so every bad line is reported the same way: one
message that starts with ``file:line`` (1-based, as editors count) and says what is wrong.

Rules, in the order a line meets them:

- Lines are split on ``\\n`` and read as bytes, so one bad byte does not hide the rest of the
  file; a line that is not UTF-8 is an error naming the first bad byte and its column.
- Blank lines (only white space) are skipped.
- A line must be one JSON value; with ``objects_only`` (the default) it must be an object.
- The last line may lack its newline. If it parses, it is a complete record like any other.
  If it does not, it is a *torn tail*: what a process killed in the middle of a write leaves
  behind. ``torn_tail="skip"`` drops it (a resumable run does that and appends after it);
  ``"error"`` (the default) reports it.

Appending (:func:`append_jsonl`) writes a whole line in one ``write`` on a file opened for
appending, then flushes and fsyncs it, so that a crash at any byte leaves every completed line
readable and at most one torn tail.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator, Literal, Mapping, NamedTuple, Optional, Union

__all__ = ["JsonlError", "JsonLine", "iter_jsonl", "read_jsonl", "append_jsonl", "dumps_line"]

PathLike = Union[str, "os.PathLike[str]"]


class JsonlError(ValueError):
    """A JSONL file or one of its lines is unreadable. ``str(e)`` starts with ``file:line``."""

    def __init__(self, where: str, reason: str):
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


class JsonLine(NamedTuple):
    """One non-blank line: ``where`` is ``file:line``; ``value`` the parsed JSON (None when
    ``error`` is set, which happens only with ``on_error="yield"``)."""

    where: str
    lineno: int
    value: Any
    error: Optional[str] = None


def _decode(raw: bytes) -> tuple[Optional[str], Optional[str]]:
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as e:
        return None, (f"not UTF-8 text (byte 0x{raw[e.start]:02x} at column {e.start + 1}); "
                      "save the file as UTF-8")


def _parse(text: str, objects_only: bool) -> tuple[Any, Optional[str]]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        return None, f"invalid JSON: {e.msg} (column {e.colno})"
    except RecursionError:
        return None, "invalid JSON: nested too deeply"
    if objects_only and not isinstance(value, dict):
        return None, f"expected a JSON object, got {type(value).__name__}"
    return value, None


def iter_jsonl(path: PathLike, *, objects_only: bool = True,
               torn_tail: Literal["error", "skip"] = "error",
               on_error: Literal["raise", "yield"] = "raise") -> Iterator[JsonLine]:
    """Yield one :class:`JsonLine` per non-blank line of ``path``, streaming (the file is never
    held in memory whole).

    ``on_error="raise"`` raises :class:`JsonlError` at the first bad line; ``"yield"`` yields it
    with ``error`` set and goes on (validators that list every problem use this). A missing
    file or a directory raises :class:`JsonlError` naming it.
    """
    p = Path(path)
    if not p.exists():
        raise JsonlError(str(p), "no such file")
    if p.is_dir():
        raise JsonlError(str(p), "is a directory, not a JSONL file")
    with open(p, "rb") as f:
        lineno = 0
        for raw in f:
            lineno += 1
            complete = raw.endswith(b"\n")
            text, error = _decode(raw)
            if text is not None:
                if not text.strip():
                    continue
                value, error = _parse(text, objects_only)
            if error is None:
                yield JsonLine(f"{p}:{lineno}", lineno, value)
                continue
            if not complete:  # the last line, without its newline, and unreadable
                if torn_tail == "skip":
                    return
                error = f"{error}; the last line is incomplete (a writer was killed mid-line?)"
            if on_error == "raise":
                raise JsonlError(f"{p}:{lineno}", error)
            yield JsonLine(f"{p}:{lineno}", lineno, None, error)


def read_jsonl(path: PathLike, **kwargs: Any) -> list[JsonLine]:
    """All lines of :func:`iter_jsonl` as a list."""
    return list(iter_jsonl(path, **kwargs))


def dumps_line(record: Mapping[str, Any]) -> str:
    """One record as one JSON line (newline included). Non-finite floats are refused, since
    JSON has no spelling for them and other readers would choke on ``NaN``."""
    return json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n"


def append_jsonl(path: PathLike, record: Mapping[str, Any]) -> None:
    """Append ``record`` as one line: one ``write`` on an append-mode file, flushed and fsynced,
    so a killed writer leaves whole lines and at most one torn tail (which
    ``iter_jsonl(..., torn_tail="skip")`` drops)."""
    line = dumps_line(record).encode("utf-8")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        view = memoryview(line)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
