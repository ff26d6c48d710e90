"""Cold-start SFT data in ms-swift's format: the release's layout and the trajectory builder
(the validator is :mod:`videotemp_o3.training.sft_check`).

A record is one line of jsonl::

    {"messages": [{"role": "system", "content": ...},
                  {"role": "user", "content": "<video>The video is 312.0 seconds long.\\nQuestion: ..."},
                  {"role": "assistant", "content": "<think>…</think>\\n<tool_call>{…}</tool_call>", "loss": false},
                  {"role": "user", "content": "<video>This clip is 40.0 s – 100.0 s of the original video. …"},
                  {"role": "assistant", "content": "<think>…</think>\\n<tool_call>{…}</tool_call>", "loss": true},
                  {"role": "user", "content": "<video>This clip is … No more clips can be requested. …"},
                  {"role": "assistant", "content": "<think>…</think>\\n<answer>B</answer>", "loss": true}],
     "videos": ["/data/v.mp4", "/data/clips/v_40.00-100.00_….mkv", "/data/clips/v_52.30-61.80_….mkv"],
     "evidence": [52.5, 61.0], "duration": 312.0, "task": "mcq", "id": "…"}

One ``<video>`` tag per entry of ``videos``, in order: the whole video first (ms-swift samples
it under its environment's budget), then each clip a tool call asked for, written by
:mod:`videotemp_o3.training.swift_media`. With ``--overview-times`` (a timed overview, opt-in) the
whole video is instead the frames ms-swift's environment samples from it, as consecutive two-frame
files, each tag after the time of its piece's first frame (``0.0 s<video>56.3 s<video>…``; the
wording is :func:`videotemp_o3.protocol.timed_overview`'s). Tool feedback is a *user* turn, exactly the text the
agent sends at inference: each call is answered by the agent's own clip tool
(:class:`videotemp_o3.clip_tool.ClipTool`), and every text comes from the prompt profile
(:class:`videotemp_o3.protocol.PromptProfile`; ours by default). ``loss`` on the assistant
messages is the masking of :mod:`videotemp_o3.training.masking`; ``evidence`` (seconds) lets
that masking be recomputed; ms-swift ignores the extra fields.

Recovery turns (``--recovery P``): with probability P a trajectory starts with a tool call the
clip tool rejects — the mistakes small models make: an empty span ``[t, t]``, a reversed one
``[b, a]``, one shorter than the protocol's shortest clip — answered by the tool's own
rejection feedback, then the accurate call and the answer (three assistant turns, the protocol's
limit). The rejected call is always ``"loss": false``: it stays in the context so the model
learns what to do after a rejection, and is never itself trained. Without it a model that
makes such a call meets feedback it never saw in training and derails.

The release's files (the real data is not downloadable here; scripts take these paths)::

    sft/data/wo_tool_call/{activitynet,charades,vidchapters,video_r1_image_mc,video_r1_video}.jsonl
    sft/data/wi_tool_call/{activitynet,longvila,qvhighlight}.jsonl

Command line::

    python -m videotemp_o3.training.sft_data validate FILE...      # every bad record, file:line
    python -m videotemp_o3.training.sft_data build ANNOTATIONS.jsonl -o OUT.jsonl [options]

Annotations for ``build`` are the training annotations of
:mod:`videotemp_o3.training.annotations` (the RL builder reads the same): grounding
``{"video", "query", "span"}`` or grounded QA ``{"video", "question", "options", "answer",
"span"}`` (``options`` omitted for an open question), the span being the evidence
``[start, end]`` in seconds; ``id`` optional.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional, Sequence

from videotemp_o3 import protocol
from videotemp_o3.clip_tool import ClipTool
from videotemp_o3.jsonl import dumps_line
from videotemp_o3.protocol import (DEFAULT_PROFILE, CallProblem, PromptProfile,
                                   PromptProfileError, RejectedCall, format_seconds, parse_turn)
from videotemp_o3.segments import Segment, iou
from videotemp_o3.training.annotations import Annotation, measured_duration, read_annotations
from videotemp_o3.training.masking import DEFAULT_TAU, POLICIES, MaskingPolicy, apply_masking
from videotemp_o3.training.problems import DataProblem
from videotemp_o3.training.sft_check import validate_files
from videotemp_o3.budgets import CLIP_MAX_FRAMES, TRAINING_VIDEO_ENV
from videotemp_o3.training.swift_media import (VIDEO_TAG, Codec, MediaFiles, clip_budget,
                                               clip_for_swift, overview_for_swift,
                                               overview_tag_count, video_for_swift)
from videotemp_o3.video import VideoError, VideoReader

Wording = Literal["varied", "fixed"]
WORDINGS: tuple[Wording, ...] = ("varied", "fixed")

__all__ = ["WO_TOOL_CALL", "WI_TOOL_CALL", "release_files", "BuildConfig", "SftBuildReport",
           "build_record", "build_file", "calls_not_carried_out", "MISTAKES", "main"]

MISTAKES: tuple[CallProblem, ...] = (CallProblem.EMPTY, CallProblem.REVERSED, CallProblem.TOO_SHORT)
"""The rejected first calls a recovery trajectory starts with (:attr:`BuildConfig.recovery`)."""

WO_TOOL_CALL = ("activitynet", "charades", "vidchapters", "video_r1_image_mc", "video_r1_video")
WI_TOOL_CALL = ("activitynet", "longvila", "qvhighlight")


def release_files(root: os.PathLike | str = "sft/data") -> list[Path]:
    """The release's eight SFT files under ``root``, without tool calls first."""
    root = Path(root)
    return ([root / "wo_tool_call" / f"{n}.jsonl" for n in WO_TOOL_CALL]
            + [root / "wi_tool_call" / f"{n}.jsonl" for n in WI_TOOL_CALL])


def target(ann: Annotation) -> str:
    """How the reasoning refers to what is sought."""
    if ann.task == "grounding":
        return f'the moment "{ann.text.strip().rstrip(".")}"'
    return "the part of the video the question is about"


# =============================================================================================
# Builder
# =============================================================================================

@dataclass(frozen=True)
class BuildConfig:
    """How trajectories are made. Defaults: the release's protocol and masking."""

    with_tool_calls: bool = True
    """False: one assistant turn that answers directly (the ``wo_tool_call`` files)."""
    refine_fraction: float = 0.5
    """Share of tool-call trajectories that start from a deliberately imprecise clip and
    refine it (three assistant turns); the rest call the evidence directly (two turns)."""
    seed: int = 0
    policy: MaskingPolicy = "unified"
    tau: float = DEFAULT_TAU
    """The masking threshold; also the bound the imprecise first call stays below."""
    max_turns: int = protocol.DEFAULT_MAX_TURNS
    clip_max_frames: int = CLIP_MAX_FRAMES
    """Frames per clip at most (2 fps, at least 4: the release's clip budget)."""
    codec: Codec = "ffv1"
    system_prompt_path: Optional[str] = None
    """A file whose text replaces the profile's system prompt."""
    prompt_profile: PromptProfile = DEFAULT_PROFILE
    """The wording of the system prompt, the first turn's prefix and the tool feedback."""
    wording: Wording = "varied"
    """The reasoning's phrasing: ``varied`` draws one of several per step (a real model should
    not learn one string); ``fixed`` always takes the first, for a model too small to keep
    several apart (the miniature's 10 M-parameter agent mixed them into garbled sentences). The
    draws happen either way, so both give the same spans and clips for a seed."""
    recovery: float = 0.0
    """Probability, in [0, 1], that a tool-call trajectory starts with a call the clip tool
    rejects (one of :data:`MISTAKES`, drawn at random), followed by the tool's rejection
    feedback, the accurate call and the answer; the rejected call never carries loss. Needs
    ``max_turns`` ≥ 3. Its draws come after all others, so 0 (the default) builds the records
    it always did for a seed, and with P > 0 a trajectory that draws no recovery is the one
    P = 0 gives."""

    overview_times: bool = False
    """A timed overview (:func:`videotemp_o3.protocol.timed_overview`): the first user turn
    holds the overview as two-frame videos, each after the time of its first frame, written by
    :func:`~videotemp_o3.training.swift_media.overview_for_swift` (the frames ms-swift's
    environment samples) and listed first in ``videos``; the agent needs ``--overview-times``
    to match. Off (the default): one ``<video>`` for the source video."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.recovery <= 1.0:  # also refuses NaN
            raise ValueError(f"recovery must be a probability in [0, 1], got {self.recovery}")

    def phrase(self, rng: random.Random, options: Sequence[str]) -> str:
        drawn = rng.choice(options)
        return options[0] if self.wording == "fixed" else drawn

    def clip_tool(self) -> ClipTool:
        """The agent's clip tool with this data's clip budget and limits."""
        return ClipTool(clip_budget(max_frames=self.clip_max_frames), max_turns=self.max_turns,
                        profile=self.prompt_profile)

    def system_text(self) -> str:
        if self.system_prompt_path is not None:
            return protocol.system_prompt(self.system_prompt_path)
        return self.prompt_profile.system_text()


@dataclass
class SftBuildReport:
    """What :func:`build_file` wrote, and every annotation it left out (with the reason)."""

    records: int = 0
    refined: int = 0
    direct_calls: int = 0
    recovered: int = 0
    """Trajectories that start with a rejected call (:attr:`BuildConfig.recovery`)."""
    no_tool: int = 0
    clips: int = 0
    problems: list[DataProblem] = field(default_factory=list)


# Wording of the reasoning. Several phrasings per step so the model does not learn one string;
# the choice is seeded per record.
_THINK_CALL = (
    "The overview suggests that {target} happens around {a} s to {b} s, but it shows too few "
    "frames there to be sure. I will look at that segment closely.",
    "In the overview, {target} seems to fall between {a} s and {b} s. A denser clip of that "
    "part will confirm it.",
)
_THINK_EXPLORE = (
    "From the overview I can only tell that {target} lies somewhere between {a} s and {b} s. "
    "I will look at this stretch first.",
    "The overview is too coarse to locate {target} precisely; it is probably within {a} s to "
    "{b} s, so I will start there.",
)
_THINK_REFINE = (
    "The clip from {p} s to {q} s shows {target} in only part of it, from about {a} s to {b} s. "
    "A tighter clip of that part will show it in more detail.",
    "Within {p} s to {q} s, {target} happens roughly between {a} s and {b} s. I will narrow the "
    "clip to that segment.",
)
_THINK_RETRY = (
    "That call was not carried out. In the overview, {target} seems to fall between {a} s and "
    "{b} s, so I will ask for that segment, starting at {a} s and ending at {b} s.",
    "The tool refused the segment I asked for. The overview places {target} between {a} s and "
    "{b} s; I will request the clip from {a} s to {b} s.",
)
_THINK_ANSWER = {
    "grounding": "The clip shows {target} from {s} s to {e} s.",
    "mcq": "The clip shows {target}. Comparing what happens there with the options, option "
           "{answer} matches.",
    "open": "The clip shows {target}, and it answers the question: {answer}.",
}
_THINK_DIRECT = {
    "grounding": "Watching the video, {target} happens from {s} s to {e} s.",
    "mcq": "The relevant part of the video is around {s} s to {e} s. What happens there "
           "matches option {answer}.",
    "open": "The relevant part of the video is around {s} s to {e} s, and it answers the "
            "question: {answer}.",
}


def build_record(ann: Annotation, reader: VideoReader, rng: random.Random,
                 clips_dir: os.PathLike | str, config: BuildConfig = BuildConfig(),
                 *, refine: Optional[bool] = None) -> dict:
    """One ms-swift record for ``ann``. ``refine`` forces the refinement trajectory (True) or
    the direct call (False); None draws it with ``config.refine_fraction``. With probability
    ``config.recovery`` (drawn after everything else) the trajectory is instead a rejected call,
    the accurate call and the answer.

    Raises ``ValueError`` when the annotation has several spans, the evidence lies outside the
    video, or no valid clip can be made from it.
    """
    duration = reader.duration_seconds
    if len(ann.spans) != 1:
        raise ValueError(f"{len(ann.spans)} evidence spans; a trajectory is built for one")
    ev = ann.span
    if ev.start < 0 or ev.end > duration + 1e-6:
        raise ValueError(f"evidence [{format_seconds(ev.start)}, {format_seconds(ev.end)}] lies "
                         f"outside the video (0 – {format_seconds(duration)} s)")
    system = config.system_text()
    messages: list[dict] = [{"role": "system", "content": system}] if system else []
    question = config.prompt_profile.first_turn(ann.prompt(duration))
    if config.overview_times:
        pieces = overview_for_swift(reader, clips_dir, codec=config.codec)
        messages.append({"role": "user", "content": protocol.timed_overview_text(
            [p.start for p in pieces], VIDEO_TAG) + question})
        videos = [p.path for p in pieces]
    else:
        messages.append({"role": "user", "content": VIDEO_TAG + question})
        videos = [video_for_swift(reader.path)]
    sought = target(ann)
    answer = ev if ann.task == "grounding" else ann.answer
    fmt = {"target": sought, "answer": ann.answer, "s": format_seconds(ev.start),
           "e": format_seconds(ev.end)}

    if not config.with_tool_calls:
        messages.append({"role": "assistant", "content": protocol.render_turn(
            _sentence(_THINK_DIRECT[ann.task].format(**fmt)), answer=answer)})
        return _finish(ann, messages, videos, duration, config)

    if config.max_turns < 2:
        raise ValueError(f"max_turns {config.max_turns} leaves no turn for a tool call")
    tool = config.clip_tool()
    min_length = tool.min_length(reader)
    if refine is None:
        refine = rng.random() < config.refine_fraction
    refine = refine and config.max_turns >= 3  # two calls and the answer
    accurate = precise = _accurate_span(ev, duration, rng, config.tau, min_length)
    plan: list[tuple[Segment, str]] = []
    explore = _imprecise_span(ev, duration, rng, config.tau, min_length) if refine else None
    if explore is not None:
        if explore.start <= ev.start and ev.end <= explore.end:
            # The refined clip is said to lie within the first one: keep it there (this only
            # trims margins outside the evidence, so its IoU can only grow).
            accurate = Segment(max(accurate.start, explore.start), min(accurate.end, explore.end))
        plan.append((explore, config.phrase(rng, _THINK_EXPLORE)))
        plan.append((accurate, config.phrase(rng, _THINK_REFINE)))
    else:
        plan.append((accurate, config.phrase(rng, _THINK_CALL)))
    mistake: Optional[CallProblem] = None
    # Drawn last and only when asked for, so that recovery 0 leaves every other draw as it was.
    if config.recovery > 0 and rng.random() < config.recovery and config.max_turns >= 3:
        mistake = rng.choice(MISTAKES)
        plan = [(_mistaken_span(mistake, precise, duration, rng, min_length),
                 config.phrase(rng, _THINK_CALL)),
                (precise, config.phrase(rng, _THINK_RETRY))]

    shown: list[Segment] = []
    previous: Optional[Segment] = None
    for turn, (span, wording) in enumerate(plan, 1):
        think = wording.format(target=sought, a=format_seconds(span.start), b=format_seconds(span.end),
                               p=format_seconds(previous.start) if previous else "",
                               q=format_seconds(previous.end) if previous else "")
        text = protocol.render_turn(_sentence(think), segments=[span])
        # The call as the model would read it back, answered by the agent's clip tool: it must
        # be carried out, or the trajectory would teach a call the agent rejects.
        call = parse_turn(text).tool_call
        if call is None:
            raise ValueError(f"built turn {text!r:.80} reads back without a tool call")
        checked = tool.answer(call, reader, shown, turn)
        if mistake is not None and turn == 1:
            # The mistake must be one the protocol itself rejects (what the agent, the RL
            # environment and the validator all apply), for the reason drawn; its feedback is
            # the clip tool's observation, as the agent sends it on this turn.
            verdict = protocol.validate_call(call, duration, min_length, shown, tool.max_clips,
                                             turn=turn, max_turns=tool.max_turns)
            if not (isinstance(verdict, RejectedCall) and verdict.problem is mistake
                    and checked == verdict):
                raise ValueError(f"built mistake {span} is not rejected as {mistake.value}: "
                                 f"{verdict}")
            messages.append({"role": "assistant", "content": text, "loss": False})
            messages.append({"role": "user", "content": tool.observation(checked, turn,
                                                                         video_tag=VIDEO_TAG)})
            continue
        if isinstance(checked, RejectedCall):
            raise ValueError(f"built call {span} rejected: {checked.problem.value} ({checked.detail})")
        messages.append({"role": "assistant", "content": text})
        clips = [clip_for_swift(reader, c.segment.start, c.segment.end, tool.budget, clips_dir,
                                codec=config.codec) for c in checked]
        videos += [c.path for c in clips]
        messages.append({"role": "user",
                         "content": tool.observation(checked, turn, video_tag=VIDEO_TAG)})
        shown += [c.segment for c in checked]
        previous = span
    messages.append({"role": "assistant", "content": protocol.render_turn(
        _sentence(_THINK_ANSWER[ann.task].format(**fmt)), answer=answer)})
    return _finish(ann, messages, videos, duration, config)


def _finish(ann: Annotation, messages: list[dict], videos: list[str], duration: float,
            config: BuildConfig) -> dict:
    record = {"messages": messages, "videos": videos, "evidence": ann.span.as_list(),
              "duration": duration, "task": ann.task, "id": ann.uid}
    masked, _ = apply_masking(record, policy=config.policy, tau=config.tau)
    return masked


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _round(t: float) -> float:
    return round(t, 1)  # the model writes tenths of a second; finer looks arbitrary


def _accurate_span(ev: Segment, duration: float, rng: random.Random, tau: float,
                   min_length: float) -> Segment:
    """A call a careful model would make: the evidence with small random margins (each side
    −10 % … +20 % of its length), IoU ≥ max(τ, 0.7); the evidence itself if rounding breaks that."""
    length = ev.length
    for _ in range(20):
        s = _round(max(0.0, ev.start - rng.uniform(-0.1, 0.2) * length))
        e = _round(min(duration, ev.end + rng.uniform(-0.1, 0.2) * length))
        span = Segment(s, e)
        if span.length >= min_length and iou(span, ev) >= max(tau, 0.7):
            return span
    return ev


def _mistaken_span(kind: CallProblem, near: Segment, duration: float, rng: random.Random,
                   min_length: float) -> Segment:
    """A call the protocol rejects as ``kind``, inside ``[0, duration]`` and about ``near`` (the
    span the model meant): empty ``[t, t]`` with t inside it, its ends swapped, or a span
    shorter than ``min_length`` (seconds) starting inside it."""
    if kind is CallProblem.EMPTY:
        t = _round(rng.uniform(near.start, near.end))
        return Segment(t, t)
    if kind is CallProblem.REVERSED:
        return Segment(near.end, near.start)
    if kind is CallProblem.TOO_SHORT:
        # Whole tenths of a second as the model writes them, at least one and below the minimum.
        tenths = rng.randint(1, max(1, math.ceil(min_length * 10) - 1))
        length = tenths / 10 if tenths / 10 < min_length else min_length / 2
        latest = min(near.end, duration - length)
        start = math.floor(rng.uniform(min(near.start, latest), latest) * 10) / 10
        return Segment(start, round(start + length, 2))
    raise ValueError(f"no mistaken span of kind {kind.value}")


def _imprecise_span(ev: Segment, duration: float, rng: random.Random, tau: float,
                    min_length: float) -> Optional[Segment]:
    """A first look that a coarse overview would suggest: a window 2.5–5× the evidence's
    length that contains it at a random place, so its IoU is well below τ while the evidence is
    in view. None when the video is too short for such a window (the evidence is most of it)."""
    length = ev.length
    for _ in range(20):
        width = length * rng.uniform(2.5, 5.0)
        lo = max(0.0, ev.end - width)
        hi = min(ev.start, duration - width)
        if hi < lo:
            start = max(0.0, min(ev.start, duration - width))
        else:
            start = rng.uniform(lo, hi)
        span = Segment(_round(max(0.0, start)), _round(min(duration, start + width)))
        overlap = iou(span, ev)
        if 0.0 < overlap < min(tau, 0.45) and span.length >= min_length:
            return span
    return None


def calls_not_carried_out(messages: Sequence[dict]) -> list[int]:
    """Indices into ``messages`` of the assistant tool calls that were not carried out: those
    whose feedback (the next user turn) holds no clip. Every carried-out call is answered with
    at least one clip, so this tells a rejected call from any other by the record alone (without
    the video, whose frame rate the protocol's shortest clip depends on)."""
    found = []
    for k, m in enumerate(messages[:-1]):
        nxt = messages[k + 1]
        if (m.get("role") == "assistant" and nxt.get("role") == "user"
                and parse_turn(str(m.get("content", ""))).tool_call is not None
                and VIDEO_TAG not in str(nxt.get("content", ""))):
            found.append(k)
    return found


def build_file(annotations: os.PathLike | str, out: os.PathLike | str,
               clips_dir: os.PathLike | str | None = None, config: BuildConfig = BuildConfig(),
               *, video_root: os.PathLike | str | None = None,
               progress: bool = True) -> SftBuildReport:
    """Build ``out`` (jsonl) from the annotations file; clips go to ``clips_dir`` (default: a
    ``clips`` folder next to ``out``). Each record's randomness is seeded from ``config.seed``
    and its line number, so a record does not change when others are added or removed. An
    annotation that cannot be built is left out and reported (``file:line: reason``)."""
    from tqdm import tqdm

    out = Path(out)
    clips_dir = Path(clips_dir) if clips_dir is not None else out.parent / "clips"
    anns, problems = read_annotations(annotations, video_root)
    report = SftBuildReport(problems=problems)
    media = MediaFiles()
    readers: dict[Path, VideoReader] = {}
    lines = []
    for ann in tqdm(anns, desc=f"building {out.name}", disable=not progress):
        checked = measured_duration(ann, media)
        if isinstance(checked, DataProblem):
            report.problems.append(checked)
            continue
        try:
            reader = readers.get(ann.video)
            if reader is None:
                reader = readers[ann.video] = VideoReader(ann.video)
            rng = random.Random(f"{config.seed}:{ann.where.rsplit(':', 1)[-1]}")
            record = build_record(ann, reader, rng, clips_dir, config)
        except (ValueError, OSError, VideoError) as e:
            report.problems.append(DataProblem(ann.where, None, str(e)))
            continue
        calls = sum(1 for m in record["messages"] if m["role"] == "assistant") - 1
        rejected = len(calls_not_carried_out(record["messages"]))
        report.records += 1
        report.clips += len(record["videos"]) - overview_tag_count(record["messages"])
        report.no_tool += calls == 0
        report.recovered += rejected > 0
        report.direct_calls += calls == 1 and not rejected
        report.refined += calls >= 2 and not rejected
        lines.append(dumps_line(record))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("".join(lines), encoding="utf-8")
    tmp.replace(out)
    return report


# =============================================================================================
# Command line
# =============================================================================================

def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m videotemp_o3.training.sft_data",
                                description="Build and check SFT data in ms-swift's format.")
    sub = p.add_subparsers(dest="command", required=True)

    v = sub.add_parser("validate", help="report every bad record as file:line: reason")
    v.add_argument("files", nargs="+")
    v.add_argument("--max-turns", type=int, default=protocol.DEFAULT_MAX_TURNS)
    v.add_argument("--max-clips", type=int, default=protocol.MAX_CLIPS_PER_CALL)

    b = sub.add_parser("build", help="turn annotations into trajectories with real clips")
    b.add_argument("annotations", help="jsonl: grounding {video, query, span} or QA "
                                       "{video, question, options, answer, span}")
    b.add_argument("-o", "--output", required=True)
    b.add_argument("--clips-dir", help="where clip files go (default: OUTPUT's folder/clips)")
    b.add_argument("--video-root", help="base of relative video paths (default: the "
                                        "annotations' folder)")
    b.add_argument("--no-tool-calls", action="store_true", help="answer directly (wo_tool_call data)")
    b.add_argument("--refine-fraction", type=float, default=BuildConfig.refine_fraction)
    b.add_argument("--seed", type=int, default=BuildConfig.seed)
    b.add_argument("--policy", choices=POLICIES, default=BuildConfig.policy)
    b.add_argument("--tau", type=float, default=BuildConfig.tau)
    b.add_argument("--max-turns", type=int, default=BuildConfig.max_turns)
    b.add_argument("--clip-max-frames", type=int, default=BuildConfig.clip_max_frames)
    b.add_argument("--codec", choices=("ffv1", "mjpeg"), default=BuildConfig.codec)
    b.add_argument("--wording", choices=WORDINGS, default=BuildConfig.wording,
                   help="the reasoning's phrasing: several per step drawn per record (varied), "
                        "or always the first (fixed: for very small models)")
    b.add_argument("--recovery", type=float, default=BuildConfig.recovery, metavar="P",
                   help="share of tool-call trajectories that start with a call the clip tool "
                        "rejects (empty, reversed or too short), its rejection feedback, then the "
                        "accurate call and the answer; the rejected call is never trained "
                        "(default 0)")
    b.add_argument("--overview-times", action="store_true",
                   help="timed overview: the overview as two-frame videos, each after the time of "
                        "its first frame in text (written next to the clips); evaluate with "
                        "--overview-times")
    b.add_argument("--prompt-profile", metavar="FILE",
                   help="JSON prompt profile: the wording of the system prompt, the first turn's "
                        "prefix and the tool feedback (default: ours; README: prompt profiles)")
    b.add_argument("--system-prompt", help="file whose text replaces the profile's system prompt")
    a = p.parse_args(argv)

    if a.command == "validate":
        bad = total = 0
        for name, n, problems in validate_files(a.files, max_turns=a.max_turns, max_clips=a.max_clips):
            for problem in problems:
                print(problem)
            lines = len({pr.where for pr in problems})
            bad += lines
            total += n
            print(f"{name}: {n} records, {lines} bad", file=sys.stderr)
        return 1 if bad else 0

    if not 0.0 <= a.recovery <= 1.0:
        print(f"error: --recovery {a.recovery}: expected a probability in [0, 1] (the share of "
              "trajectories that start with a rejected call)", file=sys.stderr)
        return 2
    for key, value in TRAINING_VIDEO_ENV.items():
        if key not in os.environ:
            if key == "VIDEO_MIN_PIXELS" and "VIDEO_MAX_PIXELS" in os.environ:
                value = os.environ["VIDEO_MAX_PIXELS"]  # as sft/sft.sh: the minimum follows the maximum
            os.environ[key] = value
            print(f"{key} not set: using the training default {value} (set it as for sft/sft.sh)",
                  file=sys.stderr)
    try:
        profile = PromptProfile.load(a.prompt_profile) if a.prompt_profile else DEFAULT_PROFILE
    except PromptProfileError as e:
        print(f"error: --prompt-profile: {e}", file=sys.stderr)
        return 2
    config = BuildConfig(with_tool_calls=not a.no_tool_calls, refine_fraction=a.refine_fraction,
                         seed=a.seed, policy=a.policy, tau=a.tau, max_turns=a.max_turns,
                         clip_max_frames=a.clip_max_frames, codec=a.codec,
                         system_prompt_path=a.system_prompt, prompt_profile=profile,
                         wording=a.wording, recovery=a.recovery,
                         overview_times=a.overview_times)
    print(f"prompt profile: {profile.name}", file=sys.stderr)
    print(f"clip budget: {clip_budget(max_frames=config.clip_max_frames)}", file=sys.stderr)
    try:
        report = build_file(a.annotations, a.output, a.clips_dir, config, video_root=a.video_root)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for problem in report.problems:
        print(f"skipped {problem}", file=sys.stderr)
    print(f"wrote {a.output}: {report.records} records ({report.no_tool} without tool call, "
          f"{report.direct_calls} with one call, {report.refined} refined, {report.recovered} "
          f"recovering from a rejected call), {report.clips} clips, "
          f"{len(report.problems)} skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
