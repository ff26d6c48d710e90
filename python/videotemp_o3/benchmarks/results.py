"""Results files: ours (JSONL, docs/design.md §8) and the release's output files.

Ours: one JSON object per line, appended atomically by ``eval/run.py`` through
:func:`append_result`::

    {"uid": "301-1", "bench": "videomme", "raw": "<think>…</think><answer>B</answer>",
     "prediction": "B", "segments": [[58.0, 100.0]], "turns": 2, "seconds": 41.3, "error": null,
     "calls": [1]}

``calls``: how many of ``segments`` each valid tool call asked for, in order (``[1, 2]``: the
first call one clip, the second two). Files written before it existed lack it; then every
segment counts as a call of its own.

The release's: a JSON object ``{"<uid>": "<text inside <answer>>", …}`` (its LVBench script
writes it), or the same pairs one per line before it merges them; and, for the benchmarks
whose release script writes its own records (VideoTemp-Bench, Video-MME, MLVU, Video-MMMU),
those records, which carry a ``response`` and no uid — each benchmark module's
:class:`~.base.ReleaseFormat` reads them and matches them to its items. Every format is read
by :func:`read_results` into :class:`Response` s keyed by uid; which one a file is, is
detected (:func:`detect_format`) or named (``eval/score.py --input-format``).

Reading is strict and names the place: ``file:line`` for JSON lines (through
:func:`videotemp_o3.jsonl.iter_jsonl`, so non-UTF-8 bytes and binary garbage are one clear
error), ``file[i]`` or ``file: key`` for whole-file JSON. A torn last line (a writer killed
mid-line) is left out and reported in :attr:`Results.torn_tail`, as ``eval/run.py`` does.

The answer the scorer judges is the text inside the last ``<answer>`` of ``raw`` — the same
text the release keeps — so the official extraction sees what it would see there. Generation
stops at ``</answer>`` and servers drop the stop string, so an unclosed final ``<answer>``
counts too. Without an ``<answer>`` in ``raw`` the parsed ``prediction`` is used (a span
becomes ``"[S, E]"``); without either the answer is empty (unparsed).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Mapping, Optional, Sequence, Union

from ..jsonl import JsonLine, JsonlError, append_jsonl, iter_jsonl
from .base import Item, ResultsError, Span

if TYPE_CHECKING:
    from .base import Benchmark

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
    """``format``: ``jsonl`` (ours) or ``release`` (any of the release's). ``duplicates``:
    uids seen more than once (the last line wins: a re-run appended). ``torn_tail``: the last
    line was incomplete and left out. ``unmatched``: release records that answer no item of
    the benchmark (keyed ``"<unmatched file:line>"`` in ``responses``, so they count as extra)."""

    path: Path
    format: str
    responses: dict[str, Response]
    duplicates: int = 0
    torn_tail: bool = False


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
    """Append one record as a single JSON line (:func:`videotemp_o3.jsonl.append_jsonl`: one
    ``write`` on an append-mode file, then fsync, so a killed run leaves whole lines only)."""
    append_jsonl(path, asdict(record) if isinstance(record, ResultRecord) else dict(record))


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



# --- reading -----------------------------------------------------------------------------

Format = Literal["auto", "ours", "release"]
FORMATS = ("auto", "ours", "release")


@dataclass
class ResultsDocument:
    """A results file parsed once: either one JSON value for the whole file (``value``: the
    release's ``{uid: answer}`` dict or Video-MME list, or a JSON list of our records) or JSON
    lines (``lines``; ``whole`` false). ``torn_tail``: the last line lacked its newline and did
    not parse."""

    path: Path
    value: Any = None
    lines: list[JsonLine] = field(default_factory=list)
    whole: bool = False
    torn_tail: bool = False


# Fields of a result record (ours or the release's): a dict holding any of them is one
# record, never a {uid: answer} map.
_RECORD_FIELDS = frozenset({"uid", "bench", "raw", "prediction", "response", "error", "segments"})


def _answers_only(value: Any) -> bool:
    """A dict whose values are all answers (text, numbers, a span, null) and whose keys are
    not record fields: ``{uid: answer}``."""
    return isinstance(value, dict) and not (_RECORD_FIELDS & value.keys()) and all(
        v is None or isinstance(v, (str, int, float, list)) and not isinstance(v, bool) for v in value.values())


def parse_results_file(path: "str | Path") -> ResultsDocument:
    """Parse ``path`` as one JSON value or as JSON lines (see :class:`ResultsDocument`).

    A one-line file holding one object is a JSON line (one record) unless it is a
    ``{uid: answer}`` dict: every value an answer, no key a record field. Errors are
    :class:`ResultsError` naming the file, and the line for JSON lines.
    """
    path = Path(path)
    if not path.exists():
        raise ResultsError(f"{path}: results file not found; run eval/run.py first or pass --input_file")
    if path.is_dir():
        raise ResultsError(f"{path}: is a directory; pass the results file itself")
    data = path.read_bytes()
    head = data.lstrip()[:1]
    if head in (b"{", b"["):
        try:
            value = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            value = None  # not one JSON value: JSON lines, or damaged (iter_jsonl says where)
        if isinstance(value, list) or _answers_only(value):
            return ResultsDocument(path, value=value, whole=True)
    lines: list[JsonLine] = []
    try:
        lines = list(iter_jsonl(path, torn_tail="skip"))
    except JsonlError as e:
        raise ResultsError(f"{e}; a results file is JSON lines (ours, or the release's) or one JSON "
                           "object/list (the release's)") from None
    tail = data[data.rfind(b"\n") + 1:]
    torn = bool(tail.strip()) and (not lines or lines[-1].lineno != data.count(b"\n") + 1)
    return ResultsDocument(path, lines=lines, torn_tail=torn)


def detect_format(doc: ResultsDocument) -> Literal["ours", "uid-answer", "release"]:
    """``ours`` (records with ``uid``), ``uid-answer`` (``{uid: answer}``, whole or one pair a
    line: the release's LVBench format, accepted for every benchmark) or ``release`` (the
    release's own records, which carry a ``response``)."""
    if doc.whole:
        if isinstance(doc.value, dict):
            return "uid-answer"
        first = next(iter(doc.value), None)
        return "ours" if first is None or (isinstance(first, dict) and "uid" in first and "response" not in first) \
            else "release"
    if not doc.lines:
        return "ours"
    line = doc.lines[0]
    rec = line.value
    if "response" in rec:
        return "release"
    if "uid" in rec or {"raw", "prediction", "bench"} & rec.keys():
        return "ours"
    if len(rec) == 1:
        return "uid-answer"
    raise ResultsError(
        f"{line.where}: not a results record: ours carry 'uid' (and 'raw'), the release's carry 'response'; "
        f"this one has {sorted(rec)[:8]}")


def check_format(doc: ResultsDocument, fmt: Format) -> str:
    """The detected format of ``doc``, after checking it is the one ``fmt`` insists on."""
    kind = detect_format(doc)
    if fmt == "ours" and kind == "release":
        raise ResultsError(f"{doc.path}: holds the release's records ('response', no uid), not ours; "
                           "drop --input-format ours")
    if fmt == "release" and kind == "ours":
        raise ResultsError(f"{doc.path}: holds our result records ('uid', 'raw'), not the release's; "
                           "drop --input-format release")
    return kind


def _ours(obj: Mapping[str, Any], where: str, bench: Optional[str]) -> Response:
    if "uid" not in obj:
        raise ResultsError(f"{where}: result record has no 'uid' (fields: {sorted(obj)[:8]}); "
                           "every line of a results file must name its question")
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


def _release_answer(uid: str, value: Any, where: str) -> Response:
    if value is not None and not isinstance(value, (str, list, int, float)):
        raise ResultsError(f"{where}: answer for uid {uid!r} must be text, got {type(value).__name__}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)  # an open answer written as a bare number
    # The release stores the text inside <answer>; apply the same extraction in case a
    # whole response was stored instead.
    return Response(uid, answer_text(value if isinstance(value, str) else None, value), (), None, where)


def release_response(uid: str, text: Any, where: str) -> Response:
    """A release record's ``response`` (the text inside ``<answer>``, or the whole last reply
    when the model wrote none) as a :class:`Response`."""
    if text is not None and not isinstance(text, str):
        raise ResultsError(f"{where}: field 'response': expected text, got {type(text).__name__}")
    return Response(uid, answer_text(text, text), (), None, where)


def read_results(path: "str | Path", bench: "Benchmark | str | None" = None, items: Sequence[Item] = (),
                 fmt: Format = "auto", doc: Optional[ResultsDocument] = None) -> Results:
    """Read any results format into responses keyed by uid.

    ``bench`` (a benchmark or its name): a record of ours whose ``bench`` differs is an error
    (mixing ``videotemp`` and ``videotemp-g`` results would otherwise score silently wrong);
    the release's own records need the benchmark and its ``items`` to be matched to uids.
    ``fmt``: ``auto`` detects; ``ours`` / ``release`` insist (a file of the other kind is an
    error). ``doc``: the file already parsed.
    """
    from .registry import get_benchmark

    benchmark = get_benchmark(bench) if isinstance(bench, str) else bench
    name = benchmark.name if benchmark is not None else None
    doc = doc or parse_results_file(path)
    kind = check_format(doc, fmt)
    responses: dict[str, Response] = {}
    duplicates = 0

    def add(r: Response) -> None:
        nonlocal duplicates
        duplicates += r.uid in responses
        responses[r.uid] = r

    if kind == "release":
        release = benchmark.release if benchmark is not None else None
        if release is None or release.read is None or release.key is None or release.item_key is None:
            raise ResultsError(f"{doc.path}: looks like the release's output of another benchmark "
                               f"(records with 'response'); {name or 'this benchmark'} has no such format")
        key = release.key
        by_key = {release.item_key(it): it.uid for it in items}
        for rec in release.read(doc):
            uid = by_key.get(key(rec))
            add(release_response(uid if uid is not None else f"<unmatched {rec.where}>",
                                 rec.data.get("response"), rec.where))
        return Results(doc.path, "release", responses, duplicates, doc.torn_tail)
    if kind == "uid-answer":
        if doc.whole:
            for uid, value in doc.value.items():
                add(_release_answer(str(uid), value, f"{doc.path}: key {uid!r}"))
        else:
            for line in doc.lines:
                if len(line.value) != 1:
                    raise ResultsError(f"{line.where}: expected one {{uid: answer}} pair like the lines before it, "
                                       f"got {len(line.value)} fields")
                (uid, value), = line.value.items()
                add(_release_answer(str(uid), value, line.where))
        return Results(doc.path, "release", responses, duplicates, doc.torn_tail)
    if doc.whole:  # a JSON list of our records
        for i, obj in enumerate(doc.value):
            if not isinstance(obj, dict):
                raise ResultsError(f"{doc.path}[{i}]: expected a result object with 'uid'")
            add(_ours(obj, f"{doc.path}[{i}]", name))
    else:
        for line in doc.lines:
            add(_ours(line.value, line.where, name))
    return Results(doc.path, "jsonl", responses, duplicates, doc.torn_tail)
