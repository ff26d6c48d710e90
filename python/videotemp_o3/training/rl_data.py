"""GRPO data: the two JSONL files of the release's layout and their builder (the validator is
:mod:`videotemp_o3.training.rl_check`).

Layout (``rl/data/``)::

    qa.jsonl          video QA: question, options, answer letter, evidence span
    grounding.jsonl   temporal grounding: query, answer span

Each line is one ms-swift GRPO row: the prompt as ``messages`` (the profile's system prompt, then
one user turn holding a ``<video>`` tag for the overview and the question) plus the columns the
rewards read (:meth:`videotemp_o3.training.rewards.GroundTruth.from_row`)::

    {"messages": [{"role": "system", "content": "..."},
                  {"role": "user", "content": "<video>The video is 540.0 seconds long.\\n..."}],
     "videos": ["/data/videos/a.mp4"],
     "task": "mcq", "answer": "B", "options": ["red", "green", "blue", "white"],
     "timestamp": [212.3, 221.9], "duration": 540.0, "uid": "a", "question": "..."}

    {"messages": [...], "videos": [...], "task": "grounding", "answer": "[212.3, 221.9]",
     "timestamp": [212.3, 221.9], "duration": 540.0, "uid": "a", "query": "..."}

Column contract (checked by :mod:`~videotemp_o3.training.rl_check`, which also reads the
release's own rows):

* ``answer`` is a string in both files — an option letter, or ``"[S, E]"`` for grounding —
  and ``timestamp``/``duration`` are JSON floats (``12.0``, not ``12``). ms-swift loads each
  file with ``datasets`` and concatenates them; a column typed string in one file and list (or
  int64 in one, float64 in the other) in the other cannot be concatenated, and the error it
  raises names neither file nor line.
* ``timestamp`` is the evidence span in seconds, ``0 ≤ S < E ≤ duration``: the IoU reward
  compares the last tool call with it. For grounding it equals the answer.
* ``videos`` holds exactly one path (or, with ``build --overview-times``, a timed overview's
  two-frame pieces, one ``<video>`` tag each after its time, whose sidecars name the source the
  environment clips), which ms-swift and the RL environment read the same way:
  absolute, or relative to the working directory (or to ``ROOT_IMAGE_DIR`` when set — ms-swift's
  rule). The builder writes absolute paths.
* ``duration`` is the video's length as our video layer measures it (``VideoReader.duration_seconds``),
  so that the rewards clamp spans exactly as the environment clamps clips.

Build from annotations (:mod:`videotemp_o3.training.annotations`, the schema the SFT builder
reads too) with::

    python -m videotemp_o3.training.rl_data build ANNOTATIONS.jsonl... --out rl/data
        [--prompt-profile FILE]
    python -m videotemp_o3.training.rl_data validate rl/data/qa.jsonl rl/data/grounding.jsonl

Every problem is reported as ``file:line: field 'x': reason`` — all of them, not only the first.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from videotemp_o3.jsonl import dumps_line
from videotemp_o3.protocol import (DEFAULT_PROFILE, PromptProfile, PromptProfileError,
                                   timed_overview_text)
from videotemp_o3.segments import Segment
from videotemp_o3.training.annotations import Annotation, measured_duration, read_annotations
from videotemp_o3.training.problems import DataError, DataProblem
from videotemp_o3.training.rl_check import GROUNDING_FILE, QA_FILE, validate_file, validate_files
from videotemp_o3.training.swift_media import (VIDEO_TAG, MediaFiles, SwiftClip,
                                               overview_for_swift)
from videotemp_o3.video import VideoReader


def prompt_messages(question_text: str, profile: PromptProfile = DEFAULT_PROFILE,
                    overview_times: Sequence[float] | None = None) -> list[dict]:
    """The prompt of a GRPO row: the profile's system prompt (none when it is empty), then the
    first user turn — the overview's ``<video>`` tag and the question; with ``overview_times``
    (the first frame time of each piece, seconds) a timed overview's labels and tags instead
    (:func:`videotemp_o3.protocol.timed_overview_text`)."""
    system = profile.system_text()
    messages = [{"role": "system", "content": system}] if system else []
    overview = VIDEO_TAG if overview_times is None else timed_overview_text(overview_times, VIDEO_TAG)
    messages.append({"role": "user", "content": overview + profile.first_turn(question_text)})
    return messages


def _floats(seg: Segment) -> list[float]:
    # float(): a span read as ints must still be written as JSON floats (column contract).
    return [float(seg.start), float(seg.end)]


def row(ann: Annotation, video: str, duration: float,
        profile: PromptProfile = DEFAULT_PROFILE, pieces: Sequence[SwiftClip] | None = None) -> dict:
    """The GRPO row of one annotation with one span (mcq or grounding; module docstring).
    ``pieces``: a timed overview's pieces (:func:`~videotemp_o3.training.swift_media.overview_for_swift`
    of ``video``), which then take the source's place in ``videos``."""
    if pieces is None:
        messages, videos = prompt_messages(ann.prompt(duration), profile), [video]
    else:
        messages = prompt_messages(ann.prompt(duration), profile, [p.start for p in pieces])
        videos = [p.path for p in pieces]
    out = {"messages": messages, "videos": videos, "task": ann.task}
    if ann.task == "mcq":
        out.update(answer=ann.answer, options=list(ann.options))
    else:
        out["answer"] = f"[{float(ann.span.start)}, {float(ann.span.end)}]"
    out.update(timestamp=_floats(ann.span), duration=float(duration), uid=ann.uid)
    out["question" if ann.task == "mcq" else "query"] = ann.text
    return out


@dataclass
class RlBuildReport:
    """What :func:`build_rl_data` wrote, and every annotation it left out (with the reason)."""

    qa: Path
    grounding: Path
    n_qa: int
    n_grounding: int
    problems: list[DataProblem]


def build_rl_data(annotations: Iterable[os.PathLike | str], out_dir: os.PathLike | str, *,
                  video_root: os.PathLike | str | None = None,
                  profile: PromptProfile = DEFAULT_PROFILE, progress: bool = False,
                  overview_times: bool = False) -> RlBuildReport:
    """Write ``qa.jsonl`` and ``grounding.jsonl`` under ``out_dir`` from annotation files.
    ``overview_times``: rows with a timed overview, its pieces written under
    ``out_dir/overviews`` with the frames ms-swift's environment samples (as ``sft_data build
    --overview-times``).

    Annotations with problems (bad fields, missing or unreadable video, a span outside the
    video, an annotated duration that disagrees with the file, an open question, several
    spans, a uid already used for the same task) are left out and listed in the report; the files are written atomically and
    validated before they replace old ones.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows: dict[str, list[dict]] = {"mcq": [], "grounding": []}
    problems: list[DataProblem] = []
    media = MediaFiles()
    pieces_of: dict[str, list[SwiftClip]] = {}  # source -> its timed overview's pieces
    # uid -> where it was first used, per output file: GRPO groups and results are keyed by uid,
    # so a repeat is left out here (with its line) rather than failing the finished file.
    first_use: dict[str, dict[str, str]] = {"mcq": {}, "grounding": {}}
    for path in annotations:
        anns, bad = read_annotations(path, video_root)
        problems += bad
        for k, ann in enumerate(anns):
            if progress:
                print(f"\r{path}: {k + 1}/{len(anns)}", end="", file=sys.stderr, flush=True)
            if ann.task == "open":
                problems.append(DataProblem(ann.where, "options", "an open question: RL rows "
                                            "are multiple choice or grounding (the rewards "
                                            "score nothing else)"))
                continue
            if len(ann.spans) != 1:
                problems.append(DataProblem(ann.where, "timestamp", f"{len(ann.spans)} spans; "
                                            "our RL rows carry one span each"))
                continue
            if ann.uid in first_use[ann.task]:
                problems.append(DataProblem(ann.where, "uid", f"{ann.uid!r} repeats "
                                            f"{first_use[ann.task][ann.uid]} (uids must be unique)"))
                continue
            duration = measured_duration(ann, media)
            if isinstance(duration, DataProblem):
                problems.append(duration)
                continue
            first_use[ann.task][ann.uid] = ann.where
            source, pieces = str(ann.video.absolute()), None
            if overview_times:
                if source not in pieces_of:
                    pieces_of[source] = overview_for_swift(VideoReader(source, num_threads=1),
                                                           out / "overviews")
                pieces = pieces_of[source]
            rows[ann.task].append(row(ann, source, duration, profile, pieces))
        if progress and anns:
            print(file=sys.stderr)
    qa_path, g_path = out / QA_FILE, out / GROUNDING_FILE
    for target, task in ((qa_path, "mcq"), (g_path, "grounding")):
        tmp = target.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(dumps_line(r) for r in rows[task]), encoding="utf-8")
        if rows[task]:
            # Our own output must pass our own validator; a failure here is a bug, not data.
            own = validate_file(tmp, check_videos=True, expect_task=task)
            if own:
                raise DataError(own, f"builder output {target}")
        tmp.replace(target)
    return RlBuildReport(qa_path, g_path, len(rows["mcq"]), len(rows["grounding"]), problems)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m videotemp_o3.training.rl_data",
                                description="Build or validate the GRPO data files.")
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="annotations → rl/data/{qa,grounding}.jsonl")
    b.add_argument("annotations", nargs="+")
    b.add_argument("--out", default="rl/data")
    b.add_argument("--video-root", default=None,
                   help="folder the annotations' video paths are relative to "
                        "(default: each annotation file's folder)")
    b.add_argument("--prompt-profile", metavar="FILE", default=None,
                   help="JSON prompt profile for the system prompt and the first turn's prefix "
                        "(default: our wording); give the RL environment the same file "
                        "(PROMPT_PROFILE=FILE for rl/rollout.sh and rl/grpo.sh)")
    b.add_argument("--overview-times", action="store_true",
                   help="timed overview: the overview as two-frame videos, each after the time of "
                        "its first frame in text (written under OUT/overviews; as sft_data build "
                        "--overview-times)")
    v = sub.add_parser("validate", help="check RL jsonl files (ours or the release's); lists "
                                        "every problem")
    v.add_argument("files", nargs="+")
    v.add_argument("--no-video-check", action="store_true",
                   help="do not check that the videos exist (e.g. on a machine without them)")
    a = p.parse_args(argv)
    if a.cmd == "build":
        try:
            profile = PromptProfile.load(a.prompt_profile) if a.prompt_profile \
                else DEFAULT_PROFILE
        except PromptProfileError as e:
            print(f"error: --prompt-profile: {e}", file=sys.stderr)
            return 2
        print(f"building RL data from {len(a.annotations)} annotation file(s) into {a.out} "
              f"(prompt profile {profile.name}) ...", file=sys.stderr)
        report = build_rl_data(a.annotations, a.out, video_root=a.video_root, profile=profile,
                               progress=True, overview_times=a.overview_times)
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
