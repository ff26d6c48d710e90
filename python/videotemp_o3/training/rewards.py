"""GRPO rewards over whole trajectories (docs/design.md §6), as plain functions.

A trajectory is what the model wrote in one conversation — its assistant turns in order — plus,
optionally, the clips its calls asked for; a :class:`GroundTruth` holds what the data row knows.
Every function here reads turns through :mod:`videotemp_o3.protocol`, so the rewards judge the
model exactly as the agent and the RL scheduler treat it. The ms-swift wrappers live in
:mod:`videotemp_o3.training.swift_plugin_rewards`; this module does not import ms-swift.

The three rewards and the reward hacks each one closes:

* :func:`accuracy_reward` — MCQ letter match; grounding ``clip((IoU − 0.2) / 0.6, 0, 1)``.
  Only the final turn's ``<answer>`` counts, and hedges ("B or C") score 0.
* :func:`iou_reward` — penalty-aware IoU of the last tool call with the evidence span. Pays only
  when the answer is right, so grounding never substitutes for answering; charges λ when a right
  answer comes with a useless (or no) look at the evidence, so guessing from the overview and
  calling an arbitrary segment is worth less than grounding.
* :func:`format_reward` — 1 only if every turn is canonical *and every call is one the protocol
  would carry out*: repeated segments, calls past the turn limit, degenerate or out-of-range
  spans and trajectories that never answer all score 0.

A call that covers the whole video needs no special rule: its IoU is ``|evidence| / duration``,
small for the long videos this project is about (checked in the tests).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal, Mapping, Sequence

from videotemp_o3.protocol import (MIN_CLIP_SECONDS, DEFAULT_OPTIONS, DEFAULT_MAX_TURNS, MAX_CLIPS_PER_CALL, OPTION_LETTERS,
                                   RejectedCall, Turn, parse_choice, parse_span, parse_turn,
                                   validate_call)
from videotemp_o3.segments import Segment, SpanLike, iou

Task = Literal["mcq", "grounding", "open"]


@dataclass(frozen=True)
class RewardConfig:
    """Constants of the rewards; the defaults are the release's (docs/design.md §6)."""

    iou_sigma: float = 0.1
    """σ: a last-call IoU below this is a useless look at the evidence."""
    iou_penalty: float = 0.1
    """λ: subtracted from such an IoU when the answer is right."""
    grounding_floor: float = 0.2
    grounding_range: float = 0.6
    """Grounding accuracy is ``clip((IoU − floor) / range, 0, 1)``: 0 to IoU 0.2, 1 from 0.8."""
    grounding_correct_iou: float = 0.5
    """A grounding answer counts as right (for :func:`iou_reward`) from this IoU (R@0.5)."""
    penalize_no_call: bool = True
    """A right answer with no tool call is scored as IoU 0 (→ −λ). False: no call scores 0."""
    max_turns: int = DEFAULT_MAX_TURNS
    max_clips: int = MAX_CLIPS_PER_CALL
    min_clip_seconds: float = MIN_CLIP_SECONDS
    """Shortest clip the format reward accepts: one frame interval at the 2 fps clip rate."""


DEFAULT_CONFIG = RewardConfig()


@dataclass(frozen=True)
class GroundTruth:
    """What a data row says about the right answer.

    ``answer``: the option letter (mcq), the span in seconds (grounding) or the text (open).
    ``evidence``: the annotated span in seconds where the answer can be seen; for grounding
    it defaults to the answer span. ``duration``: the video's length in seconds (None:
    unknown, spans are then not clamped and not range-checked).
    """

    task: Task
    answer: str | Segment
    evidence: Segment | None = None
    duration: float | None = None
    n_options: int = DEFAULT_OPTIONS

    @property
    def evidence_span(self) -> Segment | None:
        if self.evidence is not None:
            return self.evidence
        return self.answer if isinstance(self.answer, Segment) else None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "GroundTruth":
        """From a dataset row (the RL jsonl's columns):

        ``answer`` (or ms-swift's conventional ``solution``): letter, ``[S, E]`` or text;
        ``task``: "mcq" | "grounding" | "open" (inferred from the answer when absent);
        ``timestamp`` (or ``evidence``): the evidence span ``[S, E]`` in seconds;
        ``duration``: seconds; ``options``: their count bounds the letters accepted.
        Raises ValueError when the row has no answer — a data error, not a model error.
        """
        answer = _first(row, "answer", "solution")
        if answer is None:
            raise ValueError(f"row has no 'answer' or 'solution' column: {sorted(row)}")
        task = _first(row, "task")
        if task is None:
            task = _infer_task(answer)
        if task not in ("mcq", "grounding", "open"):
            raise ValueError(f"unknown task {task!r}; expected mcq, grounding or open")
        if task == "grounding":
            span = _as_span(answer)
            if span is None:
                raise ValueError(f"grounding answer is not a span [S, E]: {answer!r}")
            answer = span
        elif task == "mcq":
            answer = str(answer).strip().upper()
        else:
            answer = str(answer)
        evidence = _first(row, "timestamp", "evidence")
        duration = _first(row, "duration")
        options = _first(row, "options", "candidates")
        return cls(task=task, answer=answer,
                   evidence=_as_span(evidence) if evidence is not None else None,
                   duration=float(duration) if duration is not None else None,
                   n_options=len(options) if isinstance(options, (list, tuple)) and options
                   else DEFAULT_OPTIONS)


def _first(row: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if row.get(key) is not None:
            return row[key]
    return None


def _infer_task(answer: Any) -> Task:
    if _as_span(answer) is not None:
        return "grounding"
    if isinstance(answer, str) and re.fullmatch(r"\s*[A-J]\s*", answer, re.I):
        return "mcq"
    return "open"


def _as_span(value: Any) -> Segment | None:
    if isinstance(value, Segment):
        return value
    if isinstance(value, (list, tuple)) and len(value) == 2:
        try:
            return Segment(float(value[0]), float(value[1]))
        except (TypeError, ValueError):
            return None
    if isinstance(value, str):
        return parse_span(value) if value.strip().startswith("[") else None
    return None


@dataclass(frozen=True)
class Trajectory:
    """The assistant turns of one conversation, in order, as the model wrote them.

    ``calls``: the spans each tool call asked for, in seconds, one tuple per call, when the
    caller recorded them (e.g. the RL scheduler); None → read from the turns.
    """

    turns: Sequence[str]
    calls: Sequence[Sequence[SpanLike]] | None = None

    def parsed(self) -> list[Turn]:
        return [parse_turn(t) for t in self.turns]


# ---------------------------------------------------------------------------------------------
# Accuracy
# ---------------------------------------------------------------------------------------------

def final_answer(traj: Trajectory) -> str | None:
    """The text inside the last turn's ``<answer>``; None when the last turn does not answer.

    Earlier turns are ignored on purpose: an answer that is then followed by more turns was
    not the final one.
    """
    if not traj.turns:
        return None
    return parse_turn(traj.turns[-1]).answer


def _clamp(seg: Segment, duration: float | None) -> Segment:
    if duration is None or not (math.isfinite(seg.start) and math.isfinite(seg.end)):
        return seg
    return Segment(max(seg.start, 0.0), min(seg.end, duration))


def answer_iou(traj: Trajectory, gt: GroundTruth) -> float:
    """Grounding only: IoU of the final answer span (clamped to the video) with the truth."""
    span = parse_span(final_answer(traj))
    if span is None or not isinstance(gt.answer, Segment):
        return 0.0
    return iou(_clamp(span, gt.duration), gt.answer)


def accuracy_reward(traj: Trajectory, gt: GroundTruth,
                    cfg: RewardConfig = DEFAULT_CONFIG) -> float:
    """Accuracy of the final answer, in [0, 1].

    MCQ: 1 if the letter matches. Hacks closed: a letter outside ``<answer>`` counts for
    nothing; a hedge naming several letters, or a letter beyond the options, is no answer.
    Grounding: ``clip((IoU − 0.2) / 0.6, 0, 1)``. The floor closes the "answer with the whole
    video" hack: such a span has IoU ``|truth| / duration``, below 0.2 unless the truth fills a
    fifth of the video. Open: normalised text match, or numbers equal to 1e-6 relative.
    A correct answer in a broken format still scores here; :func:`format_reward` charges for
    the format, so that the two signals stay separate in the logs.
    """
    answer = final_answer(traj)
    if gt.task == "mcq":
        letter = parse_choice(answer, gt.n_options)
        return 1.0 if letter is not None and letter == str(gt.answer).strip().upper() else 0.0
    if gt.task == "grounding":
        value = (answer_iou(traj, gt) - cfg.grounding_floor) / cfg.grounding_range
        return min(1.0, max(0.0, value))
    return 1.0 if answer is not None and _open_match(answer, str(gt.answer)) else 0.0


def _open_match(answer: str, truth: str) -> bool:
    a, t = _as_number(answer), _as_number(truth)
    if a is not None and t is not None:
        return math.isclose(a, t, rel_tol=1e-6, abs_tol=1e-9)
    return _normalise(answer) == _normalise(truth)


def _as_number(text: str) -> float | None:
    try:
        return float(text.strip().rstrip(".").replace(",", ""))
    except ValueError:
        return None


def _normalise(text: str) -> str:
    words = re.sub(r"[^\w\s]", " ", text.lower()).split()
    return " ".join(w for w in words if w not in ("a", "an", "the"))


def answer_is_correct(traj: Trajectory, gt: GroundTruth,
                      cfg: RewardConfig = DEFAULT_CONFIG) -> bool:
    """Right answer: MCQ/open accuracy 1; grounding IoU ≥ ``cfg.grounding_correct_iou``."""
    if gt.task == "grounding":
        return answer_iou(traj, gt) >= cfg.grounding_correct_iou
    return accuracy_reward(traj, gt, cfg) == 1.0


# ---------------------------------------------------------------------------------------------
# Penalty-aware IoU
# ---------------------------------------------------------------------------------------------

def requested_calls(traj: Trajectory) -> list[tuple[Segment, ...]]:
    """The spans of every tool call, one tuple per call, in order, as written (seconds).

    A call that could not be read contributes an empty tuple: it still *is* the model's last
    call, and it shows nothing.
    """
    if traj.calls is not None:
        return [tuple(Segment.of(s) for s in call) for call in traj.calls]
    return [t.tool_call.spans if t.tool_call.error is None else ()
            for t in traj.parsed() if t.tool_call is not None]


def call_span(spans: Sequence[SpanLike], duration: float | None) -> Segment | None:
    """What one call covers: the hull of its clips, clamped to the video; None if any clip is
    not a valid span after clamping (the protocol rejects such a call whole).

    The hull, not the best clip, is scored: otherwise spreading three clips over the video
    would be a free lottery ticket.
    """
    segs = []
    for s in map(Segment.of, spans):
        c = _clamp(s, duration)
        if not c.is_valid():
            return None
        segs.append(c)
    if not segs:
        return None
    return Segment(min(s.start for s in segs), max(s.end for s in segs))


def last_call_iou(traj: Trajectory, evidence: SpanLike,
                  duration: float | None = None) -> float | None:
    """IoU of the last call's span with ``evidence``; None when the trajectory has no call.

    The last call, not the best: the reward is for where the model finally looked, so a
    sequence of scattered guesses earns nothing for the lucky one.
    """
    calls = requested_calls(traj)
    if not calls:
        return None
    span = call_span(calls[-1], duration)
    return 0.0 if span is None else iou(span, evidence)


def iou_reward(traj: Trajectory, gt: GroundTruth,
               cfg: RewardConfig = DEFAULT_CONFIG) -> float | None:
    """Penalty-aware IoU, in [−λ, 1]; None when the row has no evidence span (not applicable).

    Right answer: the last call's IoU if it is ≥ σ, else IoU − λ. Wrong answer: 0, so that
    good grounding never pays for a wrong answer. No tool call: scored as IoU 0 (→ −λ when the
    answer is right) with ``cfg.penalize_no_call``; without that, skipping the tool would dodge
    the penalty that a poor call draws, and the policy would learn to stop looking.
    """
    evidence = gt.evidence_span
    if evidence is None:
        return None
    if not answer_is_correct(traj, gt, cfg):
        return 0.0
    value = last_call_iou(traj, evidence, gt.duration)
    if value is None:
        if not cfg.penalize_no_call:
            return 0.0
        value = 0.0
    return value if value >= cfg.iou_sigma else value - cfg.iou_penalty


# ---------------------------------------------------------------------------------------------
# Format
# ---------------------------------------------------------------------------------------------

def format_violations(traj: Trajectory, gt: GroundTruth | None = None,
                      cfg: RewardConfig = DEFAULT_CONFIG) -> list[str]:
    """Every reason the trajectory is not in the canonical format; empty when it is.

    Per turn: :attr:`Turn.well_formed` (think, then exactly one JSON tool call or answer, no
    sloppiness). Calls: each must be one :func:`validate_call` would carry out given the
    clips before it — this is what makes repeated segments and calls past the turn limit
    cost something. Whole: every turn but the last calls the tool, the last one answers (and
    its answer is readable for the task when ``gt`` is given), at most ``cfg.max_turns`` turns.
    """
    problems: list[str] = []
    turns = traj.parsed()
    if not turns:
        return ["no assistant turn"]
    if len(turns) > cfg.max_turns:
        problems.append(f"{len(turns)} turns, more than {cfg.max_turns}")
    duration = gt.duration if gt is not None else None
    shown: list[Segment] = []
    for k, turn in enumerate(turns, 1):
        if not turn.well_formed:
            bad = [i.value for i in turn.issues] or ["not think + answer/tool call"]
            problems.append(f"turn {k}: " + "; ".join(bad))
        last = k == len(turns)
        if turn.action == "answer" and not last:
            problems.append(f"turn {k}: answers before the last turn")
        if turn.tool_call is not None:
            if last:
                problems.append(f"turn {k}: the last turn does not answer")
            result = validate_call(turn.tool_call, duration, cfg.min_clip_seconds, shown,
                                   cfg.max_clips, turn=k, max_turns=cfg.max_turns)
            if isinstance(result, RejectedCall):
                problems.append(
                    f"turn {k}: call rejected ({result.problem.value}: {result.detail})")
            else:
                shown.extend(c.segment for c in result)
    if gt is not None and turns[-1].action == "answer" and not _answer_readable(turns[-1], gt):
        problems.append(f"final answer is not a valid {gt.task} answer")
    return problems


def _answer_readable(turn: Turn, gt: GroundTruth) -> bool:
    if gt.task == "mcq":
        return parse_choice(turn.answer, gt.n_options) is not None
    if gt.task == "grounding":
        span = parse_span(turn.answer)
        return span is not None and span.is_valid()
    return bool(turn.answer)


def format_reward(traj: Trajectory, gt: GroundTruth | None = None,
                  cfg: RewardConfig = DEFAULT_CONFIG) -> float:
    """1.0 if :func:`format_violations` finds nothing, else 0.0."""
    return 0.0 if format_violations(traj, gt, cfg) else 1.0


# ---------------------------------------------------------------------------------------------
# All together
# ---------------------------------------------------------------------------------------------

REWARD_NAMES = ("accuracy", "iou", "format")


def reward_breakdown(traj: Trajectory, gt: GroundTruth,
                     cfg: RewardConfig = DEFAULT_CONFIG) -> dict[str, float | None]:
    """All rewards of one trajectory by name (None: not applicable to this row)."""
    return {"accuracy": accuracy_reward(traj, gt, cfg),
            "iou": iou_reward(traj, gt, cfg),
            "format": format_reward(traj, gt, cfg)}


def total_reward(rewards: Mapping[str, float | None],
                 weights: Mapping[str, float] | None = None) -> float:
    """Weighted sum, a None counting as 0 — what ms-swift does (``nansum``) with its weights."""
    weights = weights or {}
    return sum(weights.get(k, 1.0) * v for k, v in rewards.items() if v is not None)
