"""Training annotations: the one schema and reader that the SFT and the RL data builders start from.

An annotation file is JSONL (read by :func:`videotemp_o3.jsonl.iter_jsonl`), one record per line:

* ``video`` (a path) or ``videos`` (a list; the first is used): relative to ``video_root``
  (default: the annotation file's folder) or absolute;
* a question part — ``question``; ``options`` (a list of texts) or the options written inside
  the question as ``"A. …"`` lines (VideoTemp-Bench's style), none for an open question;
  ``answer`` (the letter, or the text of one option; the text for an open question); and its
  evidence span ``timestamp`` (or ``evidence`` or ``span``) ``[S, E]`` seconds;
* and/or a grounding part — ``query`` and its span ``span`` (or ``timestamp``);
* optional: ``duration`` (seconds; the video is measured anyway), ``uid`` (or ``id``; default
  ``<file name>:<line>``).

A span may also be a list of spans ``[[S, E], …]`` (as the release's rows write them). A record
with both a question and a query gives two annotations (the synthetic benchmark's records are
of this kind). Every problem is reported with ``file:line``, and the records without problems
are still read.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from videotemp_o3 import protocol
from videotemp_o3.jsonl import JsonlError, iter_jsonl
from videotemp_o3.protocol import Task
from videotemp_o3.options import answer_letter, letters, options_problem, split_inline_options
from videotemp_o3.segments import Segment
from videotemp_o3.training.problems import Checker, DataProblem
from videotemp_o3.training.swift_media import MediaFiles

QUESTION_SPAN_KEYS = ("timestamp", "evidence", "span")
"""Where a question's evidence span may be written, in order of precedence."""
QUERY_SPAN_KEYS = ("span", "timestamp")
"""Where a grounding query's span may be written, in order of precedence."""


@dataclass(frozen=True)
class Annotation:
    """One training item, normalised.

    ``where``: ``file:line`` of its record. ``task``: "mcq" | "grounding" | "open". ``text``:
    the question (mcq, open) or the event to find (grounding). ``options``: the option texts
    (mcq). ``answer``: the option letter (mcq) or the answer text (open); None for grounding.
    ``spans``: seconds of the original video — the evidence of a question, the answer of a
    query. ``duration``: as annotated (None when not given).
    """

    where: str
    uid: str
    video: Path
    task: Task
    text: str
    spans: tuple[Segment, ...]
    options: tuple[str, ...] = ()
    answer: str | None = None
    duration: float | None = None

    @property
    def span(self) -> Segment:
        """The one span of an annotation that has one (builders that need exactly one check
        ``len(spans) == 1`` first)."""
        return self.spans[0]

    def prompt(self, duration: float | None) -> str:
        """The question as the first user turn states it (:mod:`videotemp_o3.protocol`)."""
        if self.task == "grounding":
            return protocol.grounding_prompt(self.text, duration=duration)
        if self.task == "mcq":
            return protocol.mcq_prompt(self.text, self.options, duration=duration)
        return protocol.open_prompt(self.text, duration=duration)


def read_annotations(path: os.PathLike | str, video_root: os.PathLike | str | None = None
                     ) -> tuple[list[Annotation], list[DataProblem]]:
    """The annotations of one file (module docstring) and every problem found, with ``file:line``.
    A record with a problem gives no annotation."""
    path = Path(path)
    root = Path(video_root) if video_root is not None else path.parent
    out: list[Annotation] = []
    try:
        lines = list(iter_jsonl(path, on_error="yield"))
    except JsonlError as e:
        return [], [DataProblem(e.where, None, e.reason)]
    problems: list[DataProblem] = []
    for line in lines:
        if line.error is not None:
            problems.append(DataProblem(line.where, None, line.error))
            continue
        c = Checker(line.where, line.value, floats_only=False)
        found = _read_record(c, root, f"{path.name}:{line.lineno}")
        problems += c.problems
        if not c.problems:
            out += found
    return out, problems


def _read_record(c: Checker, root: Path, default_uid: str) -> list[Annotation]:
    record = c.record
    uid = record.get("uid", record.get("id"))
    uid = str(uid) if uid is not None else default_uid
    video = record.get("video")
    if video is None and isinstance(record.get("videos"), list) and record["videos"]:
        video = record["videos"][0]
    if not isinstance(video, str) or not video.strip():
        c.fail("video", "expected a video path in 'video' or 'videos'")
        return []
    path = Path(video) if os.path.isabs(video) else (root / video).absolute()
    duration = None
    if record.get("duration") is not None:
        d = record["duration"]
        if isinstance(d, (int, float)) and not isinstance(d, bool) and math.isfinite(d) and d > 0:
            duration = float(d)
        else:
            c.fail("duration", f"expected positive seconds, got {d!r:.40}")
    base: dict[str, Any] = dict(where=c.where, uid=uid, video=path, duration=duration)
    out = []
    if record.get("question") is not None:
        ann = _question(c, base)
        if ann is not None:
            out.append(ann)
    if record.get("query") is not None:
        query = record["query"]
        if isinstance(query, str) and query.strip():
            spans = _spans(c, QUERY_SPAN_KEYS, "a grounding query needs its span [S, E]")
            if spans:
                out.append(Annotation(task="grounding", text=query.strip(), spans=spans, **base))
        else:
            c.fail("query", "expected a non-empty string")
    if record.get("question") is None and record.get("query") is None:
        c.fail(None, "neither a question (QA) nor a query (grounding)")
    return out


def _question(c: Checker, base: dict) -> Annotation | None:
    record = c.record
    question = record["question"]
    if not isinstance(question, str) or not question.strip():
        c.fail("question", "expected a non-empty string")
        return None
    options = record.get("options")
    if options is None:
        question, options, problem = split_inline_options(question)
        if problem is not None:
            c.fail("question", problem)
            return None
    elif options_problem(options) is None:
        options = list(options)
    spans = _spans(c, QUESTION_SPAN_KEYS, "a question needs its evidence span [S, E]: the "
                                          "IoU reward and the masking are computed against it")
    answer = record.get("answer")
    if not options:
        if not isinstance(answer, (str, int, float)) or isinstance(answer, bool) \
                or not str(answer).strip():
            c.fail("answer", f"expected the answer of the open question, got {answer!r:.60}")
            return None
        return Annotation(task="open", text=question.strip(), spans=spans,
                          answer=str(answer).strip(), **base) if spans else None
    problem = options_problem(options)
    if problem is not None:
        c.fail("options", problem)
        return None
    letter = answer_letter(answer, options)
    if letter is None:
        c.fail("answer", f"expected one of {list(letters(len(options)))} or the text of an option, "
                         f"got {answer!r:.60}")
        return None
    if not spans:
        return None
    return Annotation(task="mcq", text=question.strip(), spans=spans, options=tuple(options),
                      answer=letter, **base)


def _spans(c: Checker, keys: tuple[str, ...], why: str) -> tuple[Segment, ...]:
    """The first of ``keys`` the record gives, read as one span or a list of them."""
    for key in keys:
        value = c.record.get(key)
        if value is None:
            continue
        if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
            spans = [c.span_value(key, v) for v in value]
            return tuple(spans) if None not in spans else ()  # type: ignore[arg-type]
        span = c.span_value(key, value)
        return (span,) if span is not None else ()
    c.fail(keys[0], f"missing: {why} ({' or '.join(repr(k) for k in keys)})")
    return ()


DURATION_TOLERANCE_S = 1.0
"""An annotated duration may differ from the measured one by this much (or 1 %); beyond it the
annotation is taken to belong to another cut of the video."""


def measured_duration(ann: Annotation, media: MediaFiles) -> float | DataProblem:
    """The annotation's video length as our video layer measures it (what the agent and the RL
    environment clamp to), or the problem: the video is missing or unreadable, its annotated
    duration disagrees, or a span lies outside it."""
    info = media.info(ann.video)
    if isinstance(info, str):
        return DataProblem(ann.where, "video", info)
    measured = info.duration
    if ann.duration is not None and abs(ann.duration - measured) > max(
            DURATION_TOLERANCE_S, 0.01 * measured):
        return DataProblem(ann.where, "duration", f"annotated {ann.duration} s but {ann.video} "
                                                  f"lasts {measured:.3f} s")
    for seg in ann.spans:
        if seg.start < 0 or seg.end > measured + 1e-6:
            field = "span" if ann.task == "grounding" else "timestamp"
            return DataProblem(ann.where, field, f"span [{seg.start}, {seg.end}] is not inside "
                                                 f"the video [0, {measured:.3f}]")
    return measured
