"""GRPO data: the two jsonl files of the release's layout, their builder and their validator.

Layout (``rl/data/``)::

    qa.jsonl          video QA: question, options, answer letter, evidence span
    grounding.jsonl   temporal grounding: query, answer span

Each line is one ms-swift GRPO row: the prompt as ``messages`` (our system prompt, then one
user turn holding a ``<video>`` tag for the overview and the question) plus the columns the
rewards read (:meth:`videotemp_o3.training.rewards.GroundTruth.from_row`)::

    {"messages": [{"role": "system", "content": "..."},
                  {"role": "user", "content": "<video>The video is 540.0 seconds long.\\n..."}],
     "videos": ["/data/videos/a.mp4"],
     "task": "mcq", "answer": "B", "options": ["red", "green", "blue", "white"],
     "timestamp": [212.3, 221.9], "duration": 540.0, "uid": "a", "question": "..."}

    {"messages": [...], "videos": [...], "task": "grounding", "answer": "[212.3, 221.9]",
     "timestamp": [212.3, 221.9], "duration": 540.0, "uid": "a", "query": "..."}

Column contract (checked by :func:`validate_file`):

* ``answer`` is a string in both files — an option letter, or ``"[S, E]"`` for grounding —
  and ``timestamp``/``duration`` are JSON floats (``12.0``, not ``12``). ms-swift loads each
  file with ``datasets`` and concatenates them; a column typed string in one file and list (or
  int64 in one, float64 in the other) in the other cannot be concatenated, and the error it
  raises names neither file nor line.
* ``timestamp`` is the evidence span in seconds, ``0 ≤ S < E ≤ duration``: the IoU reward
  compares the last tool call with it. For grounding it equals the answer.
* ``videos`` holds exactly one path, which ms-swift and the RL scheduler read the same way:
  absolute, or relative to the working directory (or to ``ROOT_IMAGE_DIR`` when set — ms-swift's
  rule). The builder writes absolute paths.
* ``duration`` is the video's length as our video layer measures it (``VideoReader.duration``),
  so that the rewards clamp spans exactly as the scheduler clamps clips.

Build from annotations (our format, documented at :func:`read_annotations`) with::

    python -m videotemp_o3.training.rl_data build ANNOTATIONS.jsonl... --out rl/data
    python -m videotemp_o3.training.rl_data validate rl/data/qa.jsonl rl/data/grounding.jsonl

Every problem is reported as ``file:line: field 'x': reason`` — all of them, not only the first.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from videotemp_o3 import protocol
from videotemp_o3.jsonl import iter_jsonl
from videotemp_o3.training.swift_media import resolve_media_path
from videotemp_o3.segments import Segment
from videotemp_o3.training.rl_check import (GROUNDING_FILE, QA_FILE, VIDEO_TAG, Checker,
                                            DataProblem, RLDataError, validate_file,
                                            validate_files)


DURATION_TOLERANCE_S = 1.0
"""An annotated duration may differ from the measured one by this much (or 1 %); beyond it
the annotation is taken to belong to another cut of the video."""


# ---------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------

def _prompt_messages(user_text: str, system: str | None) -> list[dict]:
    messages = [] if system == "" else [{"role": "system",
                                         "content": system or protocol.system_prompt()}]
    messages.append({"role": "user", "content": VIDEO_TAG + user_text})
    return messages


def _span(seg: Segment) -> list[float]:
    # float(): a span read as ints must still be written as JSON floats (column contract).
    return [float(seg.start), float(seg.end)]


def qa_record(*, video: str, question: str, options: Sequence[str], answer: str,
              evidence: Segment, duration: float, uid: str, system: str | None = None) -> dict:
    """One ``qa.jsonl`` row. ``answer``: the option letter. ``system``: None for our system
    prompt, ``""`` for none (the model's template default then applies)."""
    return {
        "messages": _prompt_messages(protocol.mcq_prompt(question, options, duration=duration),
                                     system),
        "videos": [video],
        "task": "mcq",
        "answer": answer,
        "options": list(options),
        "timestamp": _span(evidence),
        "duration": float(duration),
        "uid": uid,
        "question": question,
    }


def grounding_record(*, video: str, query: str, span: Segment, duration: float, uid: str,
                     system: str | None = None) -> dict:
    """One ``grounding.jsonl`` row. The answer is the span written ``"[S, E]"`` (a string:
    see the column contract in the module docstring)."""
    return {
        "messages": _prompt_messages(protocol.grounding_prompt(query, duration=duration), system),
        "videos": [video],
        "task": "grounding",
        "answer": f"[{float(span.start)}, {float(span.end)}]",
        "timestamp": _span(span),
        "duration": float(duration),
        "uid": uid,
        "query": query,
    }


# ---------------------------------------------------------------------------------------------
# Annotations → RL rows
# ---------------------------------------------------------------------------------------------

@dataclass
class Annotation:
    """One annotation, normalised. ``question``/``options``/``answer``/``evidence`` make a QA
    row; ``query``/``span`` a grounding row; a record may give both."""

    where: str
    uid: str
    video: Path
    duration: float | None = None
    question: str | None = None
    options: list[str] = field(default_factory=list)
    answer: str | None = None
    evidence: Segment | None = None
    query: str | None = None
    span: Segment | None = None


def _annotation_span(c: Checker, *names: str) -> Segment | None:
    for name in names:
        if c.record.get(name) is not None:
            return c.span_value(name, c.record[name])
    return None


def _split_options(text: str) -> tuple[str, list[str]]:
    """A question with inline ``"A. …"`` option lines → stem and options (VideoTemp-Bench's
    style; the one parser lives with the benchmark readers)."""
    from videotemp_o3.benchmarks.files import Record, split_inline_options

    return split_inline_options(text, "dot", Record({}, ""), "question", required=False)


def read_annotations(path: os.PathLike | str, video_root: os.PathLike | str | None = None
                     ) -> tuple[list[Annotation], list[DataProblem]]:
    """Read an annotation jsonl. Fields of each record:

    * ``video`` (a path) or ``videos`` (a list; the first is used): relative to ``video_root``
      (default: the annotation file's folder) or absolute;
    * QA: ``question``; ``options`` (a list of texts, from 2 up to the protocol's letters), or
      the options written inside the question as ``"A. …"`` lines (VideoTemp-Bench's style);
      ``answer`` — the letter, or the text of one option; the evidence span ``timestamp`` (or
      ``evidence``) ``[S, E]`` seconds;
    * grounding: ``query`` and its span ``span`` (or ``timestamp``);
    * ``duration`` (seconds, optional: the video is measured anyway), ``uid`` (or ``id``;
      default ``<file name>:<line>``).

    A record with both a question and a query gives both rows — the synthetic benchmark's
    records (:mod:`videotemp_o3.synthetic`) are of this kind.
    """
    path = Path(path)
    root = Path(video_root) if video_root is not None else path.parent
    out: list[Annotation] = []
    problems: list[DataProblem] = []
    for line in iter_jsonl(path, on_error="yield"):
        where, record = line.where, line.value
        if line.error is not None:
            problems.append(DataProblem(where, None, line.error))
            continue
        c = Checker(where, record, floats_only=False)
        uid = record.get("uid", record.get("id"))
        uid = str(uid) if uid is not None else f"{path.name}:{where.rsplit(':', 1)[1]}"
        video = record.get("video")
        if video is None and isinstance(record.get("videos"), list) and record["videos"]:
            video = record["videos"][0]
        if not isinstance(video, str) or not video.strip():
            c.fail("video", "expected a video path in 'video' or 'videos'")
            problems += c.problems
            continue
        ann = Annotation(where, uid, (root / video) if not os.path.isabs(video) else Path(video))
        if record.get("duration") is not None:
            d = record["duration"]
            if isinstance(d, (int, float)) and not isinstance(d, bool) and math.isfinite(d) \
                    and d > 0:
                ann.duration = float(d)
            else:
                c.fail("duration", f"expected positive seconds, got {d!r:.40}")
        if record.get("question") is not None:
            _read_qa(c, ann)
        if record.get("query") is not None:
            query = record["query"]
            if isinstance(query, str) and query.strip():
                ann.query = query.strip()
                ann.span = _annotation_span(c, "span", "timestamp")
                if ann.span is None and not any(record.get(k) is not None
                                                for k in ("span", "timestamp")):
                    c.fail("span", "a grounding query needs its span [S, E] ('span' or "
                                   "'timestamp')")
            else:
                c.fail("query", "expected a non-empty string")
        if ann.question is None and ann.query is None and not c.problems:
            c.fail(None, "neither a question (QA) nor a query (grounding)")
        problems += c.problems
        if not c.problems:
            out.append(ann)
    return out, problems


def _read_qa(c: Checker, ann: Annotation) -> None:
    record = c.record
    question = record["question"]
    if not isinstance(question, str) or not question.strip():
        c.fail("question", "expected a non-empty string")
        return
    options = record.get("options")
    if options is None:
        question, options = _split_options(question)
        if not options:
            c.fail("options", "missing: give 'options' or write them in the question as "
                              "'A. …' lines")
            return
    if not isinstance(options, list) or not all(isinstance(o, str) and o.strip()
                                                 for o in options):
        c.fail("options", "expected a list of non-empty strings")
        return
    if not 2 <= len(options) <= len(protocol.OPTION_LETTERS):
        c.fail("options", f"expected 2–{len(protocol.OPTION_LETTERS)} options, got {len(options)}")
        return
    letters = protocol.OPTION_LETTERS[:len(options)]
    answer = record.get("answer")
    texts = [re.sub(rf"^\(?[{letters}][.):]\s*", "", o).strip() for o in options]
    if isinstance(answer, str) and answer.strip().upper() in letters and len(answer.strip()) == 1:
        letter = answer.strip().upper()
    elif isinstance(answer, str) and answer.strip() in texts:
        letter = letters[texts.index(answer.strip())]
    else:
        c.fail("answer", f"expected one of {list(letters)} or the text of an option, "
                         f"got {answer!r:.60}")
        return
    evidence = _annotation_span(c, "timestamp", "evidence")
    if evidence is None:
        if not any(record.get(k) is not None for k in ("timestamp", "evidence")):
            c.fail("timestamp", "a QA record needs its evidence span [S, E] ('timestamp' or "
                                "'evidence'): the IoU reward is computed against it")
        return
    ann.question, ann.options, ann.answer, ann.evidence = question.strip(), options, letter, \
        evidence


@dataclass
class BuildReport:
    qa: Path
    grounding: Path
    n_qa: int
    n_grounding: int
    problems: list[DataProblem]


def measure_duration(video: Path) -> float:
    """The video's length as the scheduler will clamp to it (``VideoReader.duration``)."""
    from videotemp_o3.video import VideoReader

    return VideoReader(video, num_threads=1).duration


def build_rl_data(annotations: Iterable[os.PathLike | str], out_dir: os.PathLike | str, *,
                  video_root: os.PathLike | str | None = None, system: str | None = None,
                  progress: bool = False) -> BuildReport:
    """Write ``qa.jsonl`` and ``grounding.jsonl`` under ``out_dir`` from annotation files.

    Records with problems (bad fields, missing or unreadable video, a span outside the video,
    an annotated duration that disagrees with the file) are left out and listed in the
    report; the files are written atomically and validated before they replace old ones.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    qa_rows: list[dict] = []
    grounding_rows: list[dict] = []
    problems: list[DataProblem] = []
    durations: dict[Path, float | str] = {}
    for path in annotations:
        anns, bad = read_annotations(path, video_root)
        problems += bad
        for k, ann in enumerate(anns):
            if progress:
                print(f"\r{path}: {k + 1}/{len(anns)}", end="", file=sys.stderr, flush=True)
            duration = _duration(ann, durations, problems)
            if duration is None:
                continue
            video = str(ann.video.absolute())
            if ann.question is not None and _inside(ann, "timestamp", ann.evidence, duration,
                                                    problems):
                qa_rows.append(qa_record(video=video, question=ann.question, options=ann.options,
                                         answer=ann.answer or "", evidence=ann.evidence,
                                         duration=duration, uid=ann.uid, system=system))
            if ann.query is not None and _inside(ann, "span", ann.span, duration, problems):
                grounding_rows.append(grounding_record(video=video, query=ann.query,
                                                       span=ann.span, duration=duration,
                                                       uid=ann.uid, system=system))
        if progress and anns:
            print(file=sys.stderr)
    qa_path, g_path = out / QA_FILE, out / GROUNDING_FILE
    for target, rows in ((qa_path, qa_rows), (g_path, grounding_rows)):
        tmp = target.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                       encoding="utf-8")
        if rows:
            # Our own output must pass our own validator; a failure here is a bug, not data.
            own = validate_file(tmp, check_videos=True, expect_task=rows[0]["task"])
            if own:
                raise RLDataError(own, f"builder output {target}")
        tmp.replace(target)
    return BuildReport(qa_path, g_path, len(qa_rows), len(grounding_rows), problems)


def _duration(ann: Annotation, cache: dict, problems: list[DataProblem]) -> float | None:
    if ann.video not in cache:
        if not ann.video.is_file():
            cache[ann.video] = f"video not found: {ann.video}"
        else:
            try:
                cache[ann.video] = measure_duration(ann.video)
            except Exception as e:  # noqa: BLE001 — any unreadable video is a data problem
                cache[ann.video] = f"unreadable video {ann.video}: {e}"
    measured = cache[ann.video]
    if isinstance(measured, str):
        problems.append(DataProblem(ann.where, "video", measured))
        return None
    if ann.duration is not None and abs(ann.duration - measured) > max(
            DURATION_TOLERANCE_S, 0.01 * measured):
        problems.append(DataProblem(ann.where, "duration",
                                    f"annotated {ann.duration} s but {ann.video} lasts "
                                    f"{measured:.3f} s"))
        return None
    return measured


def _inside(ann: Annotation, name: str, seg: Segment | None, duration: float,
            problems: list[DataProblem]) -> bool:
    if seg is None:
        return False
    if seg.start < 0 or seg.end > duration + 1e-6:
        problems.append(DataProblem(ann.where, name, f"span [{seg.start}, {seg.end}] is not "
                                                     f"inside the video [0, {duration:.3f}]"))
        return False
    return True


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m videotemp_o3.training.rl_data",
                                description="Build or validate the GRPO data files.")
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="annotations → rl/data/{qa,grounding}.jsonl")
    b.add_argument("annotations", nargs="+")
    b.add_argument("--out", default="rl/data")
    b.add_argument("--video-root", default=None,
                   help="folder the annotations' video paths are relative to "
                        "(default: each annotation file's folder)")
    v = sub.add_parser("validate", help="check RL jsonl files; lists every problem")
    v.add_argument("files", nargs="+")
    v.add_argument("--no-video-check", action="store_true",
                   help="do not check that the videos exist (e.g. on a machine without them)")
    a = p.parse_args(argv)
    if a.cmd == "build":
        print(f"building RL data from {len(a.annotations)} annotation file(s) into {a.out} ...",
              file=sys.stderr)
        report = build_rl_data(a.annotations, a.out, video_root=a.video_root, progress=True)
        for problem in report.problems:
            print(f"skipped: {problem}", file=sys.stderr)
        print(f"wrote {report.n_qa} rows to {report.qa} and {report.n_grounding} rows to "
              f"{report.grounding}; {len(report.problems)} record(s) skipped")
        return 0 if report.n_qa + report.n_grounding else 1
    problems = validate_files(a.files, check_videos=not a.no_video_check)
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{len(a.files)} file(s): {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
