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
* ``duration`` is the video's length as our video layer measures it (``VideoReader.duration_seconds``),
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
from videotemp_o3.training.swift_media import resolve_media_path
from videotemp_o3.segments import Segment

QA_FILE = "qa.jsonl"
GROUNDING_FILE = "grounding.jsonl"
TASKS = ("mcq", "grounding")
VIDEO_TAG = "<video>"

DURATION_TOLERANCE_S = 1.0
"""An annotated duration may differ from the measured one by this much (or 1 %); beyond it
the annotation is taken to belong to another cut of the video."""


# ---------------------------------------------------------------------------------------------
# Problems
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DataProblem:
    """One thing wrong with one record: ``where`` is ``file:line`` (1-based)."""

    where: str
    field: str | None
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}" if self.field is None else \
            f"{self.where}: field {self.field!r}: {self.reason}"


class RLDataError(ValueError):
    """Raised with every problem found; ``problems`` holds them."""

    def __init__(self, problems: Sequence[DataProblem], what: str = "RL data"):
        self.problems = list(problems)
        shown = "\n  ".join(str(p) for p in self.problems[:50])
        more = f"\n  … and {len(self.problems) - 50} more" if len(self.problems) > 50 else ""
        super().__init__(f"{what}: {len(self.problems)} problem(s):\n  {shown}{more}")


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
# Validation
# ---------------------------------------------------------------------------------------------

class _Checker:
    """Collects the problems of one record."""

    def __init__(self, where: str, record: Mapping[str, Any], *, floats_only: bool = True):
        self.where = where
        self.record = record
        # RL rows must write seconds as floats (column contract); annotations may use ints.
        self.floats_only = floats_only
        self.problems: list[DataProblem] = []

    def fail(self, name: str | None, reason: str) -> None:
        self.problems.append(DataProblem(self.where, name, reason))

    def get(self, name: str, kinds: type | tuple[type, ...], what: str) -> Any:
        if name not in self.record or self.record[name] is None:
            self.fail(name, "missing")
            return None
        value = self.record[name]
        if isinstance(value, bool) or not isinstance(value, kinds):
            self.fail(name, f"expected {what}, got {type(value).__name__} {value!r:.60}")
            return None
        return value

    def seconds(self, name: str, value: Any) -> float | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(name, f"expected seconds as a number, got {value!r:.40}")
            return None
        if isinstance(value, int) and self.floats_only:
            self.fail(name, f"write seconds as JSON floats ({value}.0, not {value}): ms-swift "
                            "types the column from the file, and an int64 column will not "
                            "concatenate with the float64 one of the other file")
            return None
        if not math.isfinite(value):
            self.fail(name, f"expected finite seconds, got {value!r}")
            return None
        return float(value)

    def span(self, name: str) -> Segment | None:
        value = self.get(name, list, "[start, end] in seconds")
        if value is None:
            return None
        if len(value) != 2:
            self.fail(name, f"expected [start, end], got {len(value)} values")
            return None
        s, e = self.seconds(name, value[0]), self.seconds(name, value[1])
        if s is None or e is None:
            return None
        if not s < e:
            self.fail(name, f"start {s} is not before end {e}")
            return None
        return Segment(s, e)


def validate_record(record: Any, where: str, *, check_videos: bool = True) -> list[DataProblem]:
    """Every problem of one parsed jsonl line (an empty list when it is a valid RL row)."""
    if not isinstance(record, dict):
        return [DataProblem(where, None, f"expected a JSON object, got {type(record).__name__}")]
    c = _Checker(where, record)

    videos = c.get("videos", list, "a list with one video path")
    if videos is not None:
        if len(videos) != 1 or not isinstance(videos[0], str) or not videos[0].strip():
            c.fail("videos", f"expected exactly one video path, got {videos!r:.80}")
        elif check_videos and not resolve_media_path(videos[0]).is_file():
            c.fail("videos", f"video not found: {resolve_media_path(videos[0])} (paths are read "
                             "as given, relative to the working directory or to ROOT_IMAGE_DIR)")
    _check_messages(c, n_videos=1)

    task = c.get("task", str, f"one of {TASKS}")
    if task is not None and task not in TASKS:
        c.fail("task", f"expected one of {TASKS}, got {task!r}")
    duration = c.get("duration", (int, float), "seconds")
    if duration is not None:
        duration = c.seconds("duration", duration)
        if duration is not None and duration <= 0:
            c.fail("duration", f"expected a positive length, got {duration}")
            duration = None
    evidence = c.span("timestamp")
    if evidence is not None and duration is not None and (
            evidence.start < 0 or evidence.end > duration + 1e-6):
        c.fail("timestamp", f"span [{evidence.start}, {evidence.end}] is not inside the video "
                            f"[0, {duration}]")
    uid = c.get("uid", str, "a string id")
    if uid is not None and not uid.strip():
        c.fail("uid", "is empty")

    answer = c.get("answer", str, "a string (an option letter, or \"[S, E]\" for grounding)")
    if task == "mcq":
        options = c.get("options", list, "a list of option texts")
        if options is not None:
            if not 2 <= len(options) <= len(protocol.OPTION_LETTERS):
                c.fail("options", f"expected 2–{len(protocol.OPTION_LETTERS)} options, "
                                  f"got {len(options)}")
            elif not all(isinstance(o, str) and o.strip() for o in options):
                c.fail("options", "every option must be a non-empty string")
            elif answer is not None and answer not in protocol.OPTION_LETTERS[:len(options)]:
                c.fail("answer", f"expected one of {list(protocol.OPTION_LETTERS[:len(options)])}"
                                 f", got {answer!r}")
    elif task == "grounding":
        if record.get("options") is not None:
            c.fail("options", "a grounding row has no options (leave the column out)")
        if answer is not None:
            span = protocol.parse_span(answer)
            if span is None or not span.is_valid():
                c.fail("answer", f"expected \"[S, E]\" seconds with S < E, got {answer!r}")
            elif evidence is not None and (abs(span.start - evidence.start) > 1e-6
                                           or abs(span.end - evidence.end) > 1e-6):
                c.fail("answer", f"{answer} differs from timestamp "
                                 f"[{evidence.start}, {evidence.end}]; for grounding the "
                                 "evidence span is the answer")
    return c.problems


def _check_messages(c: _Checker, n_videos: int) -> None:
    messages = c.get("messages", list, "a list of messages")
    if messages is None:
        return
    if not messages:
        c.fail("messages", "is empty")
        return
    roles = []
    tags = 0
    for k, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) \
                or not isinstance(m.get("content"), str):
            c.fail("messages", f"message {k} must be {{\"role\": str, \"content\": str}}")
            return
        roles.append(m["role"])
        tags += m["content"].count(VIDEO_TAG)
        if "<image>" in m["content"]:
            c.fail("messages", f"message {k} has an <image> tag; RL rows carry one video only")
    # A GRPO row is a prompt: the policy writes every assistant turn itself.
    if roles not in (["system", "user"], ["user"]):
        c.fail("messages", f"expected [system,] user — the prompt only — got roles {roles}")
    if tags != n_videos:
        c.fail("messages", f"expected {n_videos} {VIDEO_TAG} tag(s) (one per video), got {tags}")


def iter_jsonl(path: os.PathLike | str) -> Iterator[tuple[str, Any, DataProblem | None]]:
    """``(where, record, problem)`` per non-blank line; ``problem`` is set for invalid JSON."""
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{n}"
            try:
                yield where, json.loads(line), None
            except json.JSONDecodeError as e:
                yield where, None, DataProblem(where, None, f"invalid JSON: {e.msg} "
                                                            f"(column {e.colno})")


def validate_file(path: os.PathLike | str, *, check_videos: bool = True,
                  expect_task: str | None = None) -> list[DataProblem]:
    """Every problem in one RL jsonl file; ``expect_task``: the task every row must have
    (``qa.jsonl`` → mcq, ``grounding.jsonl`` → grounding; inferred from the file name)."""
    path = Path(path)
    if not path.is_file():
        return [DataProblem(str(path), None, "file not found")]
    if expect_task is None:
        expect_task = {QA_FILE: "mcq", GROUNDING_FILE: "grounding"}.get(path.name)
    problems: list[DataProblem] = []
    seen: dict[str, str] = {}
    rows = 0
    for where, record, bad in iter_jsonl(path):
        rows += 1
        if bad is not None:
            problems.append(bad)
            continue
        problems += validate_record(record, where, check_videos=check_videos)
        if isinstance(record, dict):
            task, uid = record.get("task"), record.get("uid")
            if expect_task and task in TASKS and task != expect_task:
                problems.append(DataProblem(where, "task", f"{task!r} row in {path.name}, "
                                                           f"which holds {expect_task!r} rows"))
            if isinstance(uid, str):
                if uid in seen:
                    problems.append(DataProblem(where, "uid", f"{uid!r} repeats {seen[uid]}"))
                seen.setdefault(uid, where)
    if rows == 0:
        problems.append(DataProblem(str(path), None, "no records"))
    return problems


def load_rl_file(path: os.PathLike | str, *, check_videos: bool = True) -> list[dict]:
    """The rows of a valid RL file; :class:`RLDataError` listing every problem otherwise."""
    problems = validate_file(path, check_videos=check_videos)
    if problems:
        raise RLDataError(problems, str(path))
    return [r for _, r, _ in iter_jsonl(path)]


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


def _annotation_span(c: _Checker, *names: str) -> Segment | None:
    for name in names:
        if c.record.get(name) is not None:
            return c.span(name)
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
    for where, record, bad in iter_jsonl(path):
        if bad is not None:
            problems.append(bad)
            continue
        if not isinstance(record, dict):
            problems.append(DataProblem(where, None, "expected a JSON object"))
            continue
        c = _Checker(where, record, floats_only=False)
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


def _read_qa(c: _Checker, ann: Annotation) -> None:
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
    """The video's length as the scheduler will clamp to it (``VideoReader.duration_seconds``)."""
    from videotemp_o3.video import VideoReader

    return VideoReader(video, num_threads=1).duration_seconds


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
    problems = []
    for f in a.files:
        problems += validate_file(f, check_videos=not a.no_video_check)
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{len(a.files)} file(s): {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
