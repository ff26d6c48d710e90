"""GRPO rewards over whole trajectories, as plain functions (no ms-swift here).

A trajectory is what the model wrote in one conversation — its assistant turns in order — and a
:class:`GroundTruth` is what the data row knows. Two reward sets are defined; the ms-swift
plug-ins (:mod:`videotemp_o3.training.swift_plugin`) register both:

``release`` (the default) — the VideoTemp-o3 release's definitions (its ``rl/video_crop_plugin.py``),
registered under the release's names ``acc_reward``, ``iou_reward``, ``format_reward``:

* :func:`accuracy_reward` — MCQ rows: the first letter of the answer equals the first letter of
  the solution. Grounding rows: every pair of numbers in the answer is a predicted span; the
  spans are matched one-to-one to the ground-truth spans (:func:`~videotemp_o3.segments.
  matched_mean_iou`) and the mean IoU is normalised, ``clip((mean − 0.2) / 0.6, 0, 1)``.
* :func:`iou_reward` — penalty-aware IoU. MCQ rows: the clips of the call made in the turn
  before the answer, matched to the ground-truth spans the same way and normalised the same
  way (``v``); a right answer earns ``v`` when ``v ≥ σ`` and ``v − λ`` otherwise (σ = λ = 0.1, on
  the normalised scale: a raw IoU of about 0.26 is the threshold); a wrong answer earns 0.
  Grounding rows score no call (``v = 0``), so they get 0, or −λ when their accuracy is exactly 1.
* :func:`format_reward` — 1 if every assistant turn is exactly ``<think>…</think>`` followed by
  one ``<tool_call>…</tool_call>`` (JSON naming the tool, numeric start/end) or by
  ``<answer>…</answer>``, else 0.

``videotemp`` (a variant, registered as ``videotemp_accuracy``, ``videotemp_iou``,
``videotemp_format``) reads every turn through :mod:`videotemp_o3.protocol`, so it judges the
model exactly as the agent and the clip environment treat it, and closes reward hacks the
release's rules leave open:

* :func:`videotemp_accuracy_reward` — the answer's option letter as the protocol reads it
  (hedges such as "B or C" and letters beyond the options score 0); grounding: the first span
  of the answer, clamped to the video, against the best ground-truth span, normalised as above;
  open questions by normalised text or number.
* :func:`videotemp_iou_reward` — the *raw* IoU of the hull of the last call's clips (clamped to the
  video) with the best evidence span; right answer: that IoU if ≥ σ, else IoU − λ; a right
  answer without any call counts as IoU 0; a grounding answer is right from answer IoU 0.5.
  The hull, not the best clip, so that spreading three clips over the video is no lottery.
* :func:`videotemp_format_reward` — every turn canonical *and every call one the protocol would
  carry out*: repeated segments, calls past the turn limit, degenerate or out-of-range spans
  and trajectories that never answer all score 0.

A call that covers the whole video needs no special rule in either set: its IoU is
``|evidence| / duration``, small for the long videos this project is about.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Sequence

from videotemp_o3.protocol import (DEFAULT_MAX_TURNS, DEFAULT_OPTIONS, MAX_CLIPS_PER_CALL,
                                   MIN_CLIP_SECONDS, OPTION_LETTERS, TASKS, TOOL_NAME, RejectedCall,
                                   Task, Turn, is_task, parse_choice, parse_span, parse_turn, validate_call)
from videotemp_o3.segments import Segment, SpanLike, best_iou, matched_mean_iou

DATA_TYPES = {"qa": "mcq", "grounding": "grounding"}
"""The release's ``data_type`` column and the task each value names."""


class UnscorableRow(ValueError):
    """A data row the rewards cannot score (no answer, no spans, an unknown task): a data
    error, reported as such rather than scored as None (which ms-swift would turn into NaN)."""


@dataclass(frozen=True)
class RewardConfig:
    """Constants of the rewards; the defaults are the release's."""

    iou_sigma: float = 0.1
    """σ: an IoU below this is a useless look at the evidence (release set: normalised IoU;
    videotemp set: raw IoU)."""
    iou_penalty: float = 0.1
    """λ: subtracted from such an IoU when the answer is right."""
    iou_floor: float = 0.2
    iou_range: float = 0.6
    """Normalised IoU: ``clip((IoU − floor) / range, 0, 1)``: 0 up to IoU 0.2, 1 from 0.8."""
    grounding_correct_iou: float = 0.5
    """videotemp set: a grounding answer counts as right (for the IoU reward) from this IoU."""
    penalize_no_call: bool = True
    """videotemp set: a right answer with no tool call is scored as IoU 0 (→ −λ); False: 0."""
    max_turns: int = DEFAULT_MAX_TURNS
    max_clips: int = MAX_CLIPS_PER_CALL
    min_clip_seconds: float = MIN_CLIP_SECONDS
    """videotemp set: the shortest clip the format reward accepts (the protocol's)."""


DEFAULT_CONFIG = RewardConfig()


def normalised_iou(value: float, cfg: RewardConfig = DEFAULT_CONFIG) -> float:
    """``clip((value − floor) / range, 0, 1)``."""
    return min(1.0, max(0.0, (value - cfg.iou_floor) / cfg.iou_range))


# ---------------------------------------------------------------------------------------------
# What a data row knows
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GroundTruth:
    """What a data row says about the right answer.

    ``task``: "mcq" | "grounding" | "open". ``answer``: the solution as written — an option
    letter (or a text starting with it) for mcq, the text for open; for grounding it is not
    used (the spans are the answer). ``spans``: the ground-truth spans in seconds — for
    grounding the answer span(s), otherwise the evidence span(s) a tool call should find.
    ``duration``: the video's length in seconds (None: unknown; the videotemp set then
    neither clamps nor range-checks). ``n_options``: how many letters an mcq answer may use.
    """

    task: Task
    answer: str | None = None
    spans: tuple[Segment, ...] = ()
    duration: float | None = None
    n_options: int = DEFAULT_OPTIONS

    @property
    def letter(self) -> str | None:
        """The solution's option letter (its first letter, upper case); mcq only."""
        first = _first_letter(self.answer or "")
        return first.upper() if first else None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "GroundTruth":
        """From an RL data row, in either format (:mod:`videotemp_o3.training.rl_data`):

        * the release's: ``data_type`` "qa" | "grounding", ``solution``, ``timestamp`` a list of
          ``[S, E]`` spans;
        * ours: ``task`` "mcq" | "grounding" | "open", ``answer`` (a letter, ``"[S, E]"`` or
          text), ``timestamp`` (or ``evidence``) one ``[S, E]`` span or a list of them.

        Also read: ``duration`` (seconds) and ``options`` (their count bounds the letters).
        Raises :class:`UnscorableRow` naming what is missing.
        """
        data_type = row.get("data_type")
        task = row.get("task")
        if data_type is not None:
            if data_type not in DATA_TYPES:
                raise UnscorableRow(f"data_type {data_type!r} is neither 'qa' nor 'grounding'")
            if task is not None and task != DATA_TYPES[data_type]:
                raise UnscorableRow(f"data_type {data_type!r} and task {task!r} disagree")
            task = DATA_TYPES[data_type]
        answer = _first(row, "solution", "answer")
        if task is None:
            if answer is None:
                raise UnscorableRow("the row has neither 'task' nor 'data_type'")
            task = "grounding" if _span_list(answer) else "mcq" if _is_letter(answer) else "open"
        if not is_task(task):
            raise UnscorableRow(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
        raw_spans = _first(row, "timestamp", "evidence")
        if raw_spans is None and task == "grounding":
            raw_spans = answer  # ours: a grounding answer "[S, E]" is its own span
        spans = _span_list(raw_spans) if raw_spans is not None else None
        if not spans:
            what = "its answer span" if task == "grounding" else "its evidence span"
            raise UnscorableRow(f"no usable 'timestamp' ({what} [S, E] or a list of them), "
                                f"got {raw_spans!r:.60}; the IoU rewards are computed against it")
        if task != "grounding":
            if answer is None or not str(answer).strip():
                raise UnscorableRow("no 'solution' (or 'answer') to score the answer against")
            answer = str(answer).strip()
            if task == "mcq" and not _first_letter(answer):
                raise UnscorableRow(f"the mcq solution {answer!r:.40} holds no letter")
        duration = row.get("duration")
        options = _first(row, "options", "candidates")
        try:
            duration = float(duration) if duration is not None else None
        except (TypeError, ValueError):
            raise UnscorableRow(f"duration {duration!r:.40} is not a number of seconds") from None
        return cls(task=task, answer=None if task == "grounding" else answer, spans=spans,
                   duration=duration,
                   n_options=len(options) if isinstance(options, (list, tuple)) and options
                   else DEFAULT_OPTIONS)


def _first(row: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if row.get(key) is not None:
            return row[key]
    return None


def _is_letter(answer: Any) -> bool:
    return isinstance(answer, str) and re.fullmatch(
        rf"\s*[{OPTION_LETTERS}]\s*", answer, re.I) is not None


def _as_span(value: Any) -> Segment | None:
    if isinstance(value, Segment):
        return value
    if isinstance(value, (list, tuple)) and len(value) == 2 and not any(
            isinstance(v, (bool, list, tuple, dict)) for v in value):
        try:
            return Segment(float(value[0]), float(value[1]))
        except (TypeError, ValueError):
            return None
    return None


def _span_list(value: Any) -> tuple[Segment, ...]:
    """``[S, E]``, ``[[S, E], …]`` or ``"[S, E]"`` → spans; () when it is none of them."""
    if isinstance(value, str):
        span = parse_span(value) if value.strip().startswith("[") else None
        return (span,) if span is not None else ()
    single = _as_span(value)
    if single is not None:
        return (single,)
    if isinstance(value, (list, tuple)) and value:
        spans = [_as_span(v) for v in value]
        if all(s is not None for s in spans):
            return tuple(spans)  # type: ignore[arg-type]
    return ()


@dataclass(frozen=True)
class Rollout:
    """The assistant turns of one conversation, in order, as the model wrote them.

    ``calls``: the spans each tool call asked for, in seconds, one tuple per call, when the
    caller recorded them; None → read from the turns (the videotemp set only; the release set
    always reads the text, as the release does).
    """

    turns: Sequence[str]
    calls: Sequence[Sequence[SpanLike]] | None = None

    def parsed(self) -> list[Turn]:
        return [parse_turn(t) for t in self.turns]


# ---------------------------------------------------------------------------------------------
# The release's set. Its rules read the text with regular expressions of their own, stricter
# in places and looser in others than the protocol's parser; they are kept as the release has
# them, because they *are* the reward definition (the videotemp set is the protocol's reading).
# ---------------------------------------------------------------------------------------------

# The release's patterns are lazy ones — r"<tool_call>(.*?)</tool_call>" and
# r"<think>.*?</think>\s*<tool_call>.*?</tool_call>" (fullmatch) —, which rescan the rest of a
# reply from every opening tag: quadratic (or worse) on a reply that repeats tags, and a GRPO
# step waits on its slowest reward. _blocks and _release_shape give the same answers in linear
# time (tests/test_protocol_properties.py compares them with the release's patterns).
_RELEASE_NUMBER = re.compile(r"-?\d+(?:\.\d*)?")
_THINK_THEN = {action: re.compile(rf"</think>\s*<{action}>") for action in ("tool_call", "answer")}


def _blocks(text: str, tag: str) -> Iterator[str]:
    """The bodies of ``<tag>…</tag>`` in ``text``, each closed by the first closing tag after
    it: ``re.findall(rf"<{tag}>(.*?)</{tag}>", text, re.S)``."""
    opening, closing = f"<{tag}>", f"</{tag}>"
    pos = 0
    while (start := text.find(opening, pos)) >= 0:
        end = text.find(closing, start + len(opening))
        if end < 0:  # no later opening tag can be closed either
            return
        yield text[start + len(opening):end]
        pos = end + len(closing)


def _first_block(text: str, tag: str) -> str | None:
    return next(_blocks(text, tag), None)


def _release_shape(turn: str, action: str) -> bool:
    r"""``re.fullmatch(rf"<think>.*?</think>\s*<{action}>.*?</{action}>", turn, re.S)``: the turn
    opens with <think>, ends with </action>, and between them a </think> is followed, after
    whitespace only, by <action>."""
    head, tail = "<think>", f"</{action}>"
    if not (turn.startswith(head) and turn.endswith(tail)):
        return False
    return _THINK_THEN[action].search(turn, len(head), len(turn) - len(tail)) is not None


def _first_letter(text: str) -> str:
    """The first alphabetic character of ``text`` (Unicode letters count), or ""."""
    return next((ch for ch in text.strip() if ch.isalpha()), "")


def release_final_answer(traj: Rollout) -> str:
    """The release's reading of the answer: the text of the first ``<answer>…</answer>`` of the
    last turn, stripped — "" when the turn has none, or also holds a complete
    ``<tool_call>…</tool_call>`` block (an answer next to a call is no answer)."""
    if not traj.turns:
        return ""
    text = traj.turns[-1] or ""
    found = _first_block(text, "answer")
    if found is None or _first_block(text, "tool_call") is not None:
        return ""
    return found.strip()


def release_answer_spans(answer: str) -> list[Segment] | None:
    """Every pair of numbers in a grounding answer, in order (``12-20`` reads as 12 and −20, as
    in the release); None when the count of numbers is odd."""
    numbers = [float(n) for n in _RELEASE_NUMBER.findall(answer)]
    if len(numbers) % 2:
        return None
    return [Segment(numbers[k], numbers[k + 1]) for k in range(0, len(numbers), 2)]


def _release_read_call(body: str) -> tuple[list[Segment], bool]:
    """One ``<tool_call>`` body as the release reads it: the spans read before anything went
    wrong, and whether the whole block was well formed (JSON object naming the tool, each
    argument with ``start_time``/``end_time`` that ``float()`` accepts)."""
    spans: list[Segment] = []
    try:
        call = json.loads(body.strip())
        if call["name"] != TOOL_NAME:
            return spans, False
        for item in call["arguments"]:
            spans.append(Segment(float(item["start_time"]), float(item["end_time"])))
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError,
            RecursionError):
        return spans, False
    return spans, True


def release_call_spans(turn: str) -> list[Segment]:
    """The spans of every ``<tool_call>`` block of one turn, as the release collects them."""
    spans: list[Segment] = []
    for body in _blocks(turn or "", "tool_call"):
        spans += _release_read_call(body)[0]
    return spans


def release_last_call_spans(traj: Rollout) -> list[Segment]:
    """The clips of the last call before the answer: the spans written in the turn before the
    last one (the release's ``messages[-3]``); none when there is a single turn."""
    return release_call_spans(traj.turns[-2]) if len(traj.turns) >= 2 else []


def _require(gt: GroundTruth, rule: str) -> None:
    if gt.task not in ("mcq", "grounding"):
        raise UnscorableRow(f"the release's {rule} scores qa and grounding rows, not {gt.task!r}")


def accuracy_reward(traj: Rollout, gt: GroundTruth,
                    cfg: RewardConfig = DEFAULT_CONFIG) -> float:
    """The release's accuracy, in [0, 1] (module docstring). MCQ: the first letters compare
    as written (case-sensitive, "" never matches). Grounding: an odd count of numbers, or none,
    scores 0."""
    _require(gt, "accuracy")
    answer = release_final_answer(traj)
    if gt.task == "mcq":
        mine, theirs = _first_letter(answer), _first_letter(gt.answer or "")
        return 1.0 if mine and mine == theirs else 0.0
    spans = release_answer_spans(answer)
    if not spans:
        return 0.0
    return normalised_iou(matched_mean_iou(spans, gt.spans), cfg)


def release_call_score(traj: Rollout, gt: GroundTruth,
                       cfg: RewardConfig = DEFAULT_CONFIG) -> float:
    """``v`` of :func:`iou_reward`: the normalised matched IoU of the last call's clips (mcq
    rows), 0 for grounding rows and for a trajectory without such a call."""
    if gt.task != "mcq":
        return 0.0
    return normalised_iou(matched_mean_iou(release_last_call_spans(traj), gt.spans), cfg)


def iou_reward(traj: Rollout, gt: GroundTruth, cfg: RewardConfig = DEFAULT_CONFIG) -> float:
    """The release's penalty-aware IoU, in [−λ, 1] (module docstring): right answer (accuracy
    exactly 1) → ``v`` if ``v ≥ σ`` else ``v − λ``; otherwise 0."""
    _require(gt, "IoU reward")
    if accuracy_reward(traj, gt, cfg) != 1.0:
        return 0.0
    value = release_call_score(traj, gt, cfg)
    return value if value >= cfg.iou_sigma else value - cfg.iou_penalty


def release_format_problem(turn: str) -> str | None:
    """Why one turn fails the release's format rule, or None when it passes."""
    turn = turn or ""
    if _release_shape(turn, "answer"):
        return None
    if not _release_shape(turn, "tool_call"):
        return ("not exactly <think>…</think> then <tool_call>…</tool_call> or "
                "<answer>…</answer>")
    if not _release_read_call(_first_block(turn, "tool_call") or "")[1]:
        return f"the tool call is not {TOOL_NAME} with numeric start_time/end_time"
    return None


def format_reward(traj: Rollout, gt: GroundTruth | None = None,
                  cfg: RewardConfig = DEFAULT_CONFIG) -> float:
    """The release's format: 1.0 if every turn passes :func:`release_format_problem`. The
    sequence of turns is not judged (the environment ends the conversation), so a trajectory
    cut at the turn limit, or one with no turn at all, still scores 1."""
    return 0.0 if any(release_format_problem(t) for t in traj.turns) else 1.0


# ---------------------------------------------------------------------------------------------
# The videotemp set: accuracy
# ---------------------------------------------------------------------------------------------

def final_answer(traj: Rollout) -> str | None:
    """The text inside the last turn's ``<answer>`` as the protocol reads it; None when the last
    turn does not answer. Earlier turns are ignored: an answer followed by more turns was not
    the final one."""
    if not traj.turns:
        return None
    return parse_turn(traj.turns[-1]).answer


def _clamp(seg: Segment, duration: float | None) -> Segment:
    if duration is None or not (math.isfinite(seg.start) and math.isfinite(seg.end)):
        return seg
    return Segment(max(seg.start, 0.0), min(seg.end, duration))


def answer_iou(traj: Rollout, gt: GroundTruth) -> float:
    """Grounding only: IoU of the final answer span (clamped to the video) with the best
    ground-truth span."""
    span = parse_span(final_answer(traj))
    if span is None or gt.task != "grounding":
        return 0.0
    return best_iou(_clamp(span, gt.duration), gt.spans)


def videotemp_accuracy_reward(traj: Rollout, gt: GroundTruth,
                              cfg: RewardConfig = DEFAULT_CONFIG) -> float:
    """Accuracy of the final answer as the protocol reads it, in [0, 1].

    MCQ: 1 if the letter matches. Hacks closed: a letter outside ``<answer>`` counts for
    nothing; a hedge naming several letters, or a letter beyond the options, is no answer.
    Grounding: ``clip((IoU − 0.2) / 0.6, 0, 1)`` of the first span; the floor closes the
    "answer with the whole video" hack. Open: normalised text match, or numbers equal to 1e-6
    relative. A correct answer in a broken format still scores here; the format reward charges
    for the format, so that the two signals stay separate in the logs.
    """
    answer = final_answer(traj)
    if gt.task == "mcq":
        letter = parse_choice(answer, gt.n_options)
        return 1.0 if letter is not None and letter == gt.letter else 0.0
    if gt.task == "grounding":
        return normalised_iou(answer_iou(traj, gt), cfg)
    return 1.0 if answer is not None and _open_match(answer, gt.answer or "") else 0.0


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


def answer_is_correct(traj: Rollout, gt: GroundTruth,
                      cfg: RewardConfig = DEFAULT_CONFIG) -> bool:
    """videotemp set: MCQ/open accuracy 1; grounding IoU ≥ ``cfg.grounding_correct_iou``."""
    if gt.task == "grounding":
        return answer_iou(traj, gt) >= cfg.grounding_correct_iou
    return videotemp_accuracy_reward(traj, gt, cfg) == 1.0


# ---------------------------------------------------------------------------------------------
# The videotemp set: penalty-aware IoU
# ---------------------------------------------------------------------------------------------

def requested_calls(traj: Rollout) -> list[tuple[Segment, ...]]:
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
    not a valid span after clamping (the protocol rejects such a call whole)."""
    segs = []
    for s in map(Segment.of, spans):
        c = _clamp(s, duration)
        if not c.is_valid():
            return None
        segs.append(c)
    if not segs:
        return None
    return Segment(min(s.start for s in segs), max(s.end for s in segs))


def last_call_iou(traj: Rollout, evidence: Sequence[SpanLike],
                  duration: float | None = None) -> float | None:
    """IoU of the last call's span with the best of the ``evidence`` spans; None when the
    trajectory has no call. The last call, not the best: the reward is for where the model
    finally looked, so a sequence of scattered guesses earns nothing for the lucky one."""
    calls = requested_calls(traj)
    if not calls:
        return None
    span = call_span(calls[-1], duration)
    return 0.0 if span is None else best_iou(span, evidence)


def videotemp_iou_reward(traj: Rollout, gt: GroundTruth,
                         cfg: RewardConfig = DEFAULT_CONFIG) -> float:
    """Penalty-aware raw IoU, in [−λ, 1].

    Right answer: the last call's IoU if it is ≥ σ, else IoU − λ. Wrong answer: 0, so that
    good grounding never pays for a wrong answer. No tool call: scored as IoU 0 (→ −λ when the
    answer is right) with ``cfg.penalize_no_call``; without that, skipping the tool would dodge
    the penalty that a poor call draws, and the policy would learn to stop looking.
    """
    if not answer_is_correct(traj, gt, cfg):
        return 0.0
    value = last_call_iou(traj, gt.spans, gt.duration)
    if value is None:
        if not cfg.penalize_no_call:
            return 0.0
        value = 0.0
    return value if value >= cfg.iou_sigma else value - cfg.iou_penalty


# ---------------------------------------------------------------------------------------------
# The videotemp set: format
# ---------------------------------------------------------------------------------------------

def format_violations(traj: Rollout, gt: GroundTruth | None = None,
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


def videotemp_format_reward(traj: Rollout, gt: GroundTruth | None = None,
                            cfg: RewardConfig = DEFAULT_CONFIG) -> float:
    """1.0 if :func:`format_violations` finds nothing, else 0.0."""
    return 0.0 if format_violations(traj, gt, cfg) else 1.0


# ---------------------------------------------------------------------------------------------
# The sets
# ---------------------------------------------------------------------------------------------

RewardFn = Callable[[Rollout, GroundTruth, RewardConfig], float]
REWARD_NAMES = ("accuracy", "iou", "format")
REWARD_SETS: dict[str, dict[str, RewardFn]] = {
    "release": {"accuracy": accuracy_reward, "iou": iou_reward, "format": format_reward},
    "videotemp": {"accuracy": videotemp_accuracy_reward, "iou": videotemp_iou_reward,
                  "format": videotemp_format_reward},
}
DEFAULT_REWARD_SET = "release"


def reward_breakdown(traj: Rollout, gt: GroundTruth, cfg: RewardConfig = DEFAULT_CONFIG,
                     reward_set: str = DEFAULT_REWARD_SET) -> dict[str, float]:
    """All rewards of one set for one trajectory, by name."""
    if reward_set not in REWARD_SETS:
        raise ValueError(f"unknown reward set {reward_set!r}; choose {', '.join(REWARD_SETS)}")
    return {name: fn(traj, gt, cfg) for name, fn in REWARD_SETS[reward_set].items()}


def total_reward(rewards: Mapping[str, float | None],
                 weights: Mapping[str, float] | None = None) -> float:
    """Weighted sum, as ms-swift adds its reward functions (``nansum`` with its weights)."""
    weights = weights or {}
    return sum(weights.get(k, 1.0) * v for k, v in rewards.items() if v is not None)
