"""The validator of GRPO data rows: ours and the release's, every problem as ``file:line``.

Two row formats are read (:mod:`videotemp_o3.training.rl_data` documents ours, which its builder
writes). Both are an ms-swift GRPO prompt — ``messages`` ([system,] user with one ``<video>``
tag) and ``videos`` (one path) — plus the columns the rewards read:

* **ours**: ``task`` "mcq" | "grounding", ``answer`` (the option letter, or ``"[S, E]"``),
  ``options`` (mcq), ``timestamp`` the evidence ``[S, E]`` (for grounding: the answer span),
  ``duration``, ``uid``. Seconds are JSON floats (see the column contract in ``rl_data``).
* **the release's** (its ``rl/data/{qa,grounding}.jsonl``): ``data_type`` "qa" | "grounding",
  ``solution`` (qa: its first letter is the answer), ``timestamp`` a *list* of ``[S, E]``
  spans (qa: the evidence; grounding: the answer). ``duration``, ``uid`` optional.

A row that :meth:`~videotemp_o3.training.rewards.GroundTruth.from_row` cannot read is an error
here — so that a reward never meets it during training. Across the files given together, the
``timestamp`` column must have one shape (one span per row, or a list of spans per row):
ms-swift loads each file with ``datasets`` and concatenates them, and a column that is
``list<double>`` in one file and ``list<list<double>>`` in another cannot be concatenated (the
error it raises names neither file nor line).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Mapping

from videotemp_o3 import protocol
from videotemp_o3.jsonl import JsonlError, iter_jsonl
from videotemp_o3.options import letters, options_problem
from videotemp_o3.segments import Segment
from videotemp_o3.training.problems import Checker, DataError, DataProblem
from videotemp_o3.training.rewards import DATA_TYPES, GroundTruth, UnscorableRow
from videotemp_o3.training.swift_media import VIDEO_TAG, overview_source, resolve_media_path

QA_FILE = "qa.jsonl"
GROUNDING_FILE = "grounding.jsonl"
TASKS = ("mcq", "grounding")
FILE_TASK = {QA_FILE: "mcq", GROUNDING_FILE: "grounding"}
"""The task every row of a file with this name must have (the release's layout)."""


def _check_videos(c: Checker, check_videos: bool) -> None:
    videos = c.get("videos", list, "a list with one video path")
    if videos is None:
        return
    if not videos or not all(isinstance(v, str) and v.strip() for v in videos):
        c.fail("videos", f"expected exactly one video path, got {videos!r:.80}")
        return
    if len(videos) > 1 and check_videos:
        # Only a timed overview has several: its pieces, all of one source (swift_media).
        sources = {overview_source(v) for v in videos}
        if len(sources) != 1 or sources == {videos[0]}:
            c.fail("videos", f"expected exactly one video path (or a timed overview's pieces, "
                             f"written by rl_data build --overview-times), got {videos!r:.80}")
            return
    for v in videos:
        if check_videos and not resolve_media_path(v).is_file():
            c.fail("videos", f"video not found: {resolve_media_path(v)} (paths are read "
                             "as given, relative to the working directory or to ROOT_IMAGE_DIR)")
            return


def _check_messages(c: Checker) -> None:
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
    videos = c.record.get("videos")
    want = len(videos) if isinstance(videos, list) and videos else 1
    if tags != want:
        what = "tag (the overview)" if want == 1 else "tags (the timed overview's pieces)"
        c.fail("messages", f"expected {want} {VIDEO_TAG} {what}, got {tags}")


def _check_duration(c: Checker, required: bool) -> float | None:
    if not required and c.record.get("duration") is None:
        return None
    duration = c.get("duration", (int, float), "seconds")
    if duration is None:
        return None
    duration = c.seconds("duration", duration)
    if duration is not None and duration <= 0:
        c.fail("duration", f"expected a positive length, got {duration}")
        return None
    return duration


def _check_inside(c: Checker, spans: list[Segment] | None, duration: float | None) -> None:
    for span in spans or ():
        if duration is not None and (span.start < 0 or span.end > duration + 1e-6):
            c.fail("timestamp", f"span [{span.start}, {span.end}] is not inside the video "
                                f"[0, {duration}]")


def row_format(record: Mapping[str, Any]) -> str:
    """"release" for rows with ``data_type``, else "ours"."""
    return "release" if "data_type" in record else "ours"


def row_task(record: Mapping[str, Any]) -> str | None:
    """The row's task ("mcq" | "grounding"), in either format; None if it names none."""
    if "data_type" in record:
        return DATA_TYPES.get(record["data_type"])
    task = record.get("task")
    return task if task in TASKS else None


def validate_record(record: Any, where: str, *, check_videos: bool = True
                    ) -> tuple[list[DataProblem], str | None]:
    """Every problem of one parsed jsonl line (empty for a valid RL row), and the shape of its
    ``timestamp`` column ("span", "spans", or None when unreadable)."""
    if not isinstance(record, dict):
        return [DataProblem(where, None, f"expected a JSON object, got {type(record).__name__}")], None
    if row_format(record) == "release":
        c = Checker(where, record, floats_only=False)
        shape = _check_release(c)
    else:
        c = Checker(where, record)
        shape = _check_ours(c)
    _check_videos(c, check_videos)
    _check_messages(c)
    uid = record.get("uid")
    if uid is not None and (not isinstance(uid, str) or not uid.strip()):
        c.fail("uid", f"expected a non-empty string id, got {uid!r:.40}")
    if not c.problems:
        # What the rewards will read: must work on every row that passed the checks above.
        try:
            GroundTruth.from_row(record)
        except UnscorableRow as e:
            c.fail(None, f"the rewards cannot score this row: {e}")
    return c.problems, shape


def _check_release(c: Checker) -> str | None:
    record = c.record
    data_type = record["data_type"]
    if data_type not in DATA_TYPES:
        c.fail("data_type", f"expected 'qa' or 'grounding', got {data_type!r:.40}")
        return None
    task = record.get("task")
    if task is not None and task != DATA_TYPES[data_type]:
        c.fail("task", f"{task!r} disagrees with data_type {data_type!r}")
    duration = _check_duration(c, required=False)
    spans, shape = c.spans("timestamp")
    _check_inside(c, spans, duration)
    if data_type == "qa":
        solution = c.get("solution", str, "the answer's text (its first letter is the option)")
        if solution is not None:
            first = next((ch for ch in solution.strip() if ch.isalpha()), "")
            letters = protocol.OPTION_LETTERS
            if first not in letters:
                c.fail("solution", f"its first letter must be an option letter "
                                   f"{letters[0]}–{letters[-1]} (the release compares first "
                                   f"letters as written), got {solution!r:.40}")
    return shape


def _check_ours(c: Checker) -> str | None:
    record = c.record
    task = c.get("task", str, f"one of {TASKS}")
    if task is not None and task not in TASKS:
        c.fail("task", f"expected one of {TASKS}, got {task!r}")
    duration = _check_duration(c, required=True)
    spans, shape = c.spans("timestamp")
    _check_inside(c, spans, duration)
    uid = c.get("uid", str, "a string id")
    if uid is not None and not uid.strip():
        c.fail("uid", "is empty")

    answer = c.get("answer", str, "a string (an option letter, or \"[S, E]\" for grounding)")
    if task == "mcq":
        options = c.get("options", list, "a list of option texts")
        if options is not None:
            problem = options_problem(options)
            if problem is not None:
                c.fail("options", problem)
            elif answer is not None and answer not in letters(len(options)):
                c.fail("answer", f"expected one of {list(letters(len(options)))}, got {answer!r}")
    elif task == "grounding":
        if record.get("options") is not None:
            c.fail("options", "a grounding row has no options (leave the column out)")
        if answer is not None:
            span = protocol.parse_span(answer)
            if span is None or not span.is_valid():
                c.fail("answer", f"expected \"[S, E]\" seconds with S < E, got {answer!r}")
            elif spans is not None and not any(
                    abs(span.start - s.start) <= 1e-6 and abs(span.end - s.end) <= 1e-6
                    for s in spans):
                shown = ", ".join(f"[{s.start}, {s.end}]" for s in spans)
                c.fail("answer", f"{answer} differs from timestamp {shown}; for grounding the "
                                 "evidence span is the answer")
    return shape


def validate_file(path: os.PathLike | str, *, check_videos: bool = True,
                  expect_task: str | None = None) -> list[DataProblem]:
    """Every problem in one RL jsonl file; ``expect_task``: the task every row must have
    (inferred from the file name: ``qa.jsonl`` → mcq, ``grounding.jsonl`` → grounding)."""
    return validate_files([path], check_videos=check_videos,
                          expect_tasks={str(path): expect_task} if expect_task else None)


def validate_files(paths: Iterable[os.PathLike | str], *, check_videos: bool = True,
                   expect_tasks: Mapping[str, str] | None = None) -> list[DataProblem]:
    """Every problem in RL jsonl files used together (one GRPO run's ``--dataset``), including
    a ``timestamp`` shape that differs between rows (module docstring)."""
    problems: list[DataProblem] = []
    first_shape: tuple[str, str] | None = None  # (shape, where)
    for path in map(Path, paths):
        expect = (expect_tasks or {}).get(str(path)) or FILE_TASK.get(path.name)
        seen: dict[str, str] = {}
        rows = 0
        try:
            lines = list(iter_jsonl(path, on_error="yield"))
        except JsonlError as e:
            problems.append(DataProblem(e.where, None, e.reason))
            continue
        for line in lines:
            rows += 1
            if line.error is not None:
                problems.append(DataProblem(line.where, None, line.error))
                continue
            record = line.value
            found, shape = validate_record(record, line.where, check_videos=check_videos)
            problems += found
            if shape is not None:
                if first_shape is None:
                    first_shape = (shape, line.where)
                elif shape != first_shape[0]:
                    problems.append(DataProblem(line.where, "timestamp", _shape_clash(
                        shape, *first_shape)))
            task, uid = row_task(record), record.get("uid")
            if expect and task is not None and task != expect:
                problems.append(DataProblem(line.where, "task", f"{task!r} row in {path.name}, "
                                                                f"which holds {expect!r} rows"))
            if isinstance(uid, str):
                if uid in seen:
                    problems.append(DataProblem(line.where, "uid", f"{uid!r} repeats {seen[uid]}"))
                seen.setdefault(uid, line.where)
        if rows == 0:
            problems.append(DataProblem(str(path), None, "no records"))
    return problems


def _shape_clash(shape: str, other: str, where: str) -> str:
    what = {"span": "one span [S, E]", "spans": "a list of spans [[S, E], …]"}
    return (f"is {what[shape]}, but {where} gives {what[other]}; ms-swift cannot concatenate "
            "the two column types: write every row of the files used together in one shape")


def load_rl_file(path: os.PathLike | str, *, check_videos: bool = True) -> list[dict]:
    """The rows of a valid RL file; :class:`~videotemp_o3.training.problems.DataError` listing every problem otherwise."""
    problems = validate_file(path, check_videos=check_videos)
    if problems:
        raise DataError(problems, str(path))
    return [line.value for line in iter_jsonl(path)]
