"""Results files: ours (JSONL, docs/design.md §8) and the release's ``{uid: answer}`` dict.

Ours: one JSON object per line, appended atomically by ``eval/run.py`` through
:func:`append_result`::

    {"uid": "301-1", "bench": "videomme", "raw": "<think>…</think><answer>B</answer>",
     "prediction": "B", "segments": [[58.0, 100.0]], "turns": 2, "seconds": 41.3, "error": null,
     "calls": [1]}

``calls``: how many of ``segments`` each valid tool call asked for, in order (``[1, 2]``: the
first call one clip, the second two). Files written before it existed lack it; then every
segment counts as a call of its own.

The release's: a JSON object ``{"<uid>": "<text inside <answer>>", …}`` (its LVBench script
writes it), or the same pairs one per line before it merges them. Both are read by
:func:`read_results` into :class:`Response` s keyed by uid.

The answer the scorer judges is the text inside the last ``<answer>`` of ``raw`` — the same
text the release keeps — so the official extraction sees what it would see there. Generation
stops at ``</answer>`` and servers drop the stop string, so an unclosed final ``<answer>``
counts too. Without an ``<answer>`` in ``raw`` the parsed ``prediction`` is used (a span
becomes ``"[S, E]"``); without either the answer is empty (unparsed).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

from .base import ResultsError, Span

_ANSWER = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.DOTALL)


@dataclass(frozen=True)
class Response:
    """What a results file says for one uid: the answer text, the clips requested (in order;
    empty for the release's format) grouped into ``calls`` (clips per call), the number of
    assistant ``turns`` (None where the file does not say), the run's error message if any,
    and ``file:line``."""

    uid: str
    answer: str
    segments: tuple[Span, ...] = ()
    error: Optional[str] = None
    source: str = ""
    calls: tuple[int, ...] = ()
    turns: Optional[int] = None

    def call_segments(self) -> list[tuple[Span, ...]]:
        """``segments`` split into the calls that asked for them (:func:`group_by_call`)."""
        return group_by_call(self.segments, self.calls)


def group_by_call(segments: Sequence[Any], calls: Sequence[int]) -> list[tuple[Any, ...]]:
    """``segments`` (every clip, in order) split by ``calls`` (clips per call); one call per
    segment when ``calls`` is empty or does not add up to ``segments`` (files written before
    ``calls`` existed, or damaged)."""
    if not (sum(calls) == len(segments) and all(isinstance(n, int) and n > 0 for n in calls)):
        calls = (1,) * len(segments)
    out, at = [], 0
    for n in calls:
        out.append(tuple(segments[at:at + n]))
        at += n
    return out


@dataclass
class Results:
    path: Path
    format: str  # "jsonl" (ours) or "release"
    responses: dict[str, Response]
    duplicates: int = 0  # uids seen more than once; the last line wins (a re-run appended)


@dataclass
class ResultRecord:
    """One finished item, as ``eval/run.py`` appends it (docs/design.md §8)."""

    uid: str
    bench: str
    raw: str
    prediction: Union[str, list[float], None]
    segments: list[list[float]] = field(default_factory=list)
    turns: int = 0
    seconds: float = 0.0
    error: Optional[str] = None
    calls: list[int] = field(default_factory=list)  # last: positional construction keeps working


def append_result(path: "str | Path", record: "ResultRecord | Mapping[str, Any]") -> None:
    """Append one record as a single JSON line: one ``write`` on an append-mode file, then
    flush and fsync, so a killed run leaves whole lines only."""
    obj = asdict(record) if isinstance(record, ResultRecord) else dict(record)
    line = json.dumps(obj, ensure_ascii=False) + "\n"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def answer_text(raw: Any, prediction: Any = None) -> str:
    """The text the official extraction is applied to (see the module docstring)."""
    if isinstance(raw, str):
        found = _ANSWER.findall(raw)
        if found:
            return found[-1].strip()
    if isinstance(prediction, str):
        return prediction.strip()
    if (isinstance(prediction, (list, tuple)) and len(prediction) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in prediction)):
        return f"[{prediction[0]}, {prediction[1]}]"
    return ""


def _segments(value: Any, where: str) -> tuple[Span, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ResultsError(f"{where}: field 'segments': expected a list of [start, end], got {type(value).__name__}")
    out = []
    for i, seg in enumerate(value):
        if isinstance(seg, dict):  # {"start_time": S, "end_time": E}, the tool call's own shape
            seg = [seg.get("start_time", seg.get("start")), seg.get("end_time", seg.get("end"))]
        if (not isinstance(seg, (list, tuple)) or len(seg) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in seg)):
            raise ResultsError(f"{where}: field 'segments': element {i} is not [start, end] seconds: {seg!r:.80}")
        out.append((float(seg[0]), float(seg[1])))
    return tuple(out)


def _ours(obj: Mapping[str, Any], where: str, bench: Optional[str]) -> Response:
    uid = obj["uid"]
    if isinstance(uid, bool) or not isinstance(uid, (str, int)):
        raise ResultsError(f"{where}: field 'uid': expected a string, got {uid!r:.60}")
    other = obj.get("bench")
    if bench is not None and other is not None and other != bench:
        raise ResultsError(
            f"{where}: this result is for benchmark {other!r}, not {bench!r}; score it with "
            f"'eval/score.py {other}' or pass the right --input_file")
    error = obj.get("error")
    calls = obj.get("calls") or []
    if not isinstance(calls, list) or not all(isinstance(n, int) and not isinstance(n, bool) for n in calls):
        raise ResultsError(f"{where}: field 'calls': expected a list of clip counts per call, got {calls!r:.80}")
    turns = obj.get("turns")
    turns = turns if isinstance(turns, int) and not isinstance(turns, bool) else None
    return Response(str(uid), answer_text(obj.get("raw"), obj.get("prediction")),
                    _segments(obj.get("segments"), where), None if error is None else str(error), where,
                    tuple(calls), turns)


def _release(uid: str, value: Any, where: str) -> Response:
    if value is not None and not isinstance(value, (str, list, int, float)):
        raise ResultsError(f"{where}: answer for uid {uid!r} must be text, got {type(value).__name__}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)  # an open answer written as a bare number
    # The release stores the text inside <answer>; apply the same extraction in case a
    # whole response was stored instead.
    return Response(uid, answer_text(value if isinstance(value, str) else None, value), (), None, where)


def read_results(path: "str | Path", bench: Optional[str] = None) -> Results:
    """Read either format into responses keyed by uid.

    ``bench``: when given, a record of ours whose ``bench`` differs is an error (mixing
    ``videotemp`` and ``videotemp-g`` results would otherwise score silently wrong).
    """
    path = Path(path)
    if not path.is_file():
        raise ResultsError(f"{path}: results file not found; run eval/run.py first or pass --input_file")
    text = path.read_text(encoding="utf-8")
    responses: dict[str, Response] = {}
    duplicates = 0

    def add(r: Response) -> None:
        nonlocal duplicates
        duplicates += r.uid in responses
        responses[r.uid] = r

    whole: Any = None
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        pass  # JSONL (several objects), read line by line below
    if isinstance(whole, dict) and "uid" not in whole:  # the release's {uid: answer}
        for uid, value in whole.items():
            add(_release(str(uid), value, f"{path}: key {uid!r}"))
        return Results(path, "release", responses, duplicates)
    if isinstance(whole, list):  # a JSON list of our records
        for i, obj in enumerate(whole):
            if not isinstance(obj, dict) or "uid" not in obj:
                raise ResultsError(f"{path}[{i}]: expected a result object with 'uid'")
            add(_ours(obj, f"{path}[{i}]", bench))
        return Results(path, "jsonl", responses, duplicates)

    fmt = None
    for index, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        where = f"{path}:{index + 1}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise ResultsError(f"{where}: invalid JSON ({e.msg}); each line must be one result object") from None
        if not isinstance(obj, dict):
            raise ResultsError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        if "uid" in obj:
            fmt = fmt or "jsonl"
            add(_ours(obj, where, bench))
        elif len(obj) == 1:  # the release's per-line {uid: answer}, before its merge step
            fmt = fmt or "release"
            (uid, value), = obj.items()
            add(_release(str(uid), value, where))
        else:
            raise ResultsError(f"{where}: neither a result record (no 'uid') nor a {{uid: answer}} pair")
    return Results(path, fmt or "jsonl", responses, duplicates)

