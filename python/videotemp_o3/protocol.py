"""The agent protocol: prompts, parsing of the model's turns, tool-call checks, tool feedback.

This module is the one home of everything the model reads and writes (docs/design.md §1); the agent
loop, the engines, the SFT data builder, the RL scheduler and the rewards all go through it so
that they agree on what a well-formed turn is.

A turn of the model looks like::

    <think>…</think>
    <tool_call>{"name": "get_video_clip_frame", "arguments": [{"start_time": S, "end_time": E}]}</tool_call>

or ``<think>…</think><answer>X</answer>``. Times are seconds of the original video; a
segment is the closed interval ``[S, E]`` (:class:`videotemp_o3.segments.Segment`).

Parsing is tolerant where the released model is sloppy and strict where it matters:

* :func:`parse_turn` never raises. It reads what it can and lists every deviation from the
  canonical form in ``Turn.issues`` (the format reward insists on none; the agent carries on).
* :func:`validate_call` never raises either. A bad call comes back as a :class:`RejectedCall`
  whose :meth:`~RejectedCall.feedback` is the observation the model sees next.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from enum import Enum
from itertools import accumulate
from string import Template
from typing import Literal, Sequence, TypeGuard, TypeVar

from videotemp_o3.options import DEFAULT_OPTIONS, OPTION_LETTERS, check_options, strip_label
from videotemp_o3.segments import Segment, SpanLike

_Piece = TypeVar("_Piece")

TOOL_NAME = "get_video_clip_frame"
MAX_CLIPS_PER_CALL = 3
"""Clips one call may ask for (the released training allows 3 per round)."""
DEFAULT_MAX_TURNS = 3
"""Assistant turns per conversation. Tool calls are carried out on turns 1 … max_turns − 1;
the feedback to the last of them asks for the answer, so turn max_turns must answer."""
MIN_CLIP_SECONDS = 0.5
"""Shortest clip a call may ask for (and never less than one frame interval): the agent, the RL
environment and the format reward all use it, so what inference accepts is what training pays for."""


Task = Literal["mcq", "grounding", "open"]
"""What a question asks for: an option letter, a span ``[S, E]`` in seconds, or free text."""
TASKS: tuple[Task, ...] = ("mcq", "grounding", "open")


def is_task(value: object) -> TypeGuard[Task]:
    """Whether ``value`` names a task kind (one of :data:`TASKS`)."""
    return value in TASKS


def min_clip_length(video_fps: float) -> float:
    """Shortest acceptable clip in seconds for a video at ``video_fps``."""
    return max(MIN_CLIP_SECONDS, 1.0 / video_fps)



# ---------------------------------------------------------------------------------------------
# Prompts
# ---------------------------------------------------------------------------------------------

_SYSTEM_PROMPT = """\
You answer questions about a video. You first see the whole video at a low frame rate, so short \
moments and small details may be missing.

Every reply starts with your reasoning inside <think> and </think>. After it, do exactly one of \
two things:
1. Answer: write the final answer inside <answer> and </answer>.
2. Look closer: call the tool ${tool} to get a part of the video again at a higher frame rate. \
Write the call as JSON inside <tool_call> and </tool_call>:
<tool_call>{"name": "${tool}", "arguments": [{"start_time": <seconds>, "end_time": <seconds>}]}</tool_call>
Times are in seconds from the start of the original video, start before end. One call may \
list up to ${max_clips} segments. Each clip comes back with its time span, so you can narrow \
down or move your search before you answer. The number of calls is limited; when you are \
asked for the final answer, give it without calling the tool again."""


def system_prompt(path: str | os.PathLike[str] | None = None, *,
                  max_clips: int = MAX_CLIPS_PER_CALL) -> str:
    """The system prompt.

    ``path``: a UTF-8 text file whose content is used verbatim instead of our wording — for
    running a released checkpoint with the exact prompt it was trained on. Only a trailing
    newline is dropped.
    """
    if path is not None:
        with open(path, encoding="utf-8") as f:
            return f.read().rstrip("\n")
    return DEFAULT_PROFILE.system_text(max_clips=max_clips)


def _duration_line(duration: float | None) -> str:
    return "" if duration is None else f"The video is {format_seconds(duration)} seconds long.\n"


def mcq_prompt(question: str, options: Sequence[str], *, duration: float | None = None) -> str:
    """User text of turn 1 for a multiple-choice question with 2–10 options (letters A, B, …).

    The caller places the overview video (e.g. a ``<video>`` tag) in front of this text.
    """
    check_options(options)
    lines = [f"({letter}) {strip_label(opt, letter)}"
             for letter, opt in zip(OPTION_LETTERS, options)]
    last = OPTION_LETTERS[len(options) - 1]
    return (f"{_duration_line(duration)}Question: {question.strip()}\n" + "\n".join(lines)
            + f"\nAnswer with the letter of the correct option (A–{last}) only.")


def open_prompt(question: str, *, duration: float | None = None) -> str:
    """User text of turn 1 for an open question (the answer is free text or a number)."""
    return (f"{_duration_line(duration)}Question: {question.strip()}\n"
            "Answer with a short phrase or a number.")


def grounding_prompt(query: str, *, duration: float | None = None) -> str:
    """User text of turn 1 for temporal grounding: find when ``query`` happens."""
    return (f"{_duration_line(duration)}Find the segment of the video where this happens: "
            f"{query.strip()}\n"
            "Answer with its start and end time in seconds as [start, end].")


# ---------------------------------------------------------------------------------------------
# Parsed turns
# ---------------------------------------------------------------------------------------------

class Issue(str, Enum):
    """A deviation of a turn from the canonical form. Parsing goes on; the format reward fails."""

    MISSING_THINK = "no <think> block"
    EMPTY_THINK = "empty <think> block"
    THINK_WITHOUT_OPEN = "</think> without an opening <think>"
    SECOND_THINK_AS_CLOSE = "a second <think> where </think> was meant"
    UNCLOSED_THINK = "<think> is never closed"
    SEVERAL_THINKS = "more than one <think> block"
    STRAY_DOTS = "stray '..' between blocks"
    TEXT_OUTSIDE_TAGS = "text outside the tags"
    STRAY_CLOSING_TAG = "a closing tag without its opening tag"
    NO_ACTION = "neither <answer> nor <tool_call>"
    ANSWER_AND_CALL = "both <answer> and <tool_call>; the first one is kept"
    SEVERAL_ANSWERS = "more than one <answer>; the first one is kept"
    EMPTY_ANSWER = "empty <answer>"
    SHORT_FORM_CALL = "tool call in the short form [S, E] instead of JSON"
    TEXT_AFTER_JSON = "text after the tool-call JSON"
    UNCLOSED_ANSWER = "<answer> not closed at the end of the text"
    UNCLOSED_CALL = "<tool_call> not closed at the end of the text"


BENIGN_ISSUES = frozenset({Issue.UNCLOSED_ANSWER, Issue.UNCLOSED_CALL})
"""Issues that are not the model's fault: generation usually stops at ``</answer>`` /
``</tool_call>`` and the engine drops the stop string, so an action left open at the very end
of the text is the normal shape of a turn."""


class CallProblem(str, Enum):
    """Why a tool call was not carried out (each becomes an observation, never an exception)."""

    BAD_JSON = "bad_json"
    BAD_ARGUMENTS = "bad_arguments"
    UNKNOWN_TOOL = "unknown_tool"
    SEVERAL_CALLS = "several_calls"
    NO_CLIPS = "no_clips"
    TOO_MANY_CLIPS = "too_many_clips"
    NOT_FINITE = "not_finite"
    REVERSED = "reversed"
    EMPTY = "empty"
    OUTSIDE = "outside_video"
    TOO_SHORT = "too_short"
    REPEATED = "repeated"
    TURN_LIMIT = "turn_limit"


@dataclass(frozen=True)
class ToolCall:
    """One ``<tool_call>`` block as the model wrote it.

    ``spans``: the requested segments in seconds, unclamped and unchecked (they may be
    reversed or NaN; :func:`validate_call` judges them). ``error``: set when the block could
    not be read or names another tool (bad JSON, malformed arguments, several blocks in one
    turn); ``detail`` then says how. With no error, a ``detail`` notes text that was ignored
    after the JSON.
    """

    name: str | None
    spans: tuple[Segment, ...]
    form: Literal["json", "short"]
    raw: str
    error: CallProblem | None = None
    detail: str = ""


@dataclass(frozen=True)
class Turn:
    """One assistant turn, parsed.

    ``think``: the reasoning text (stripped), None when there is none. ``answer``: the text
    inside ``<answer>`` (stripped), None when the turn does not answer. ``tool_call``: None
    when the turn makes no call. At most one of ``answer`` and ``tool_call`` is set.
    """

    think: str | None
    answer: str | None
    tool_call: ToolCall | None
    issues: tuple[Issue, ...] = ()

    @property
    def action(self) -> Literal["answer", "tool_call", "none"]:
        if self.answer is not None:
            return "answer"
        return "tool_call" if self.tool_call is not None else "none"

    @property
    def well_formed(self) -> bool:
        """Canonical form: think, then exactly one readable JSON tool call or one answer.

        Whether the call is *allowed* (range, repeats, turn limit) is :func:`validate_call`'s
        question, not this one.
        """
        if self.think is None or self.action == "none":
            return False
        if any(i not in BENIGN_ISSUES for i in self.issues):
            return False
        call = self.tool_call
        return call is None or (call.error is None and call.form == "json")


_TAG = re.compile(r"<(/?)(think|answer|tool_call)>")
_DOTS = re.compile(r"\s*\.{2,}\s*")


class _Finder:
    """``text.find(needle, start)`` for starts that never decrease, in time linear in the text
    over all calls: the last hit of each needle is kept, so a needle missing from the rest of
    the text is searched for once, not once per tag (``"<think>" * n`` would be quadratic)."""

    def __init__(self, text: str):
        self.text = text
        self._hits: dict[str, tuple[int, int]] = {}  # needle -> (searched from, hit or -1)

    def find(self, needle: str, start: int) -> int:
        cached = self._hits.get(needle)
        if cached is not None:
            since, hit = cached
            if since <= start and (hit < 0 or hit >= start):
                return hit
        hit = self.text.find(needle, start)
        self._hits[needle] = (start, hit)
        return hit


def parse_turn(text: str) -> Turn:
    """Parse one assistant turn. Never raises; deviations are listed in ``Turn.issues``.

    Tolerated: a second ``<think>`` used as ``</think>``; a missing ``<think>`` before
    ``</think>``; a ``<think>`` never closed (it ends where the action starts, or at the end);
    ``..`` or other text between blocks; ``<answer>``/``<tool_call>`` left open at the end.
    Tags inside the think block are reasoning, not actions. When a turn has both an answer and
    a call, the one written first is kept (the rest is what the model would have written had
    generation not been stopped).
    """
    finder = _Finder(text)
    issues: list[Issue] = []
    thinks: list[str] = []
    answers: list[str] = []
    calls: list[str] = []
    outside: list[str] = []
    action_order: list[str] = []

    pos = 0
    while True:
        m = _TAG.search(text, pos)
        if m is None:
            outside.append(text[pos:])
            break
        closing, name = m.group(1) == "/", m.group(2)
        before = text[pos:m.start()]
        if closing:
            if name == "think" and not thinks and not answers and not calls:
                # The model (or a chat template that opens <think> itself) began mid-think.
                thinks.append(before)
                issues.append(Issue.THINK_WITHOUT_OPEN)
            else:
                outside.append(before)
                issues.append(Issue.STRAY_CLOSING_TAG)
            pos = m.end()
            continue
        outside.append(before)
        if name == "think":
            body, pos = _read_think(finder, m.end(), issues)
            thinks.append(body)
            continue
        close = finder.find(f"</{name}>", m.end())
        if close < 0:
            body, pos = text[m.end():], len(text)
            issues.append(Issue.UNCLOSED_ANSWER if name == "answer" else Issue.UNCLOSED_CALL)
        else:
            body, pos = text[m.end():close], close + len(f"</{name}>")
        (answers if name == "answer" else calls).append(body)
        action_order.append(name)

    for chunk in outside:
        if not chunk.strip():
            continue
        issues.append(Issue.STRAY_DOTS if _DOTS.fullmatch(chunk) else Issue.TEXT_OUTSIDE_TAGS)

    if not thinks:
        issues.append(Issue.MISSING_THINK)
    elif len(thinks) > 1:
        issues.append(Issue.SEVERAL_THINKS)
    think = "\n".join(t.strip() for t in thinks) if thinks else None
    if think == "":
        issues.append(Issue.EMPTY_THINK)

    answer: str | None = None
    tool_call: ToolCall | None = None
    if not action_order:
        issues.append(Issue.NO_ACTION)
    elif action_order[0] == "answer":
        answer = answers[0].strip()
        if calls:
            issues.append(Issue.ANSWER_AND_CALL)
        if len(answers) > 1:
            issues.append(Issue.SEVERAL_ANSWERS)
        if not answer:
            issues.append(Issue.EMPTY_ANSWER)
    else:
        if answers:
            issues.append(Issue.ANSWER_AND_CALL)
        tool_call = parse_tool_call(calls[0])
        if tool_call.form == "short":
            issues.append(Issue.SHORT_FORM_CALL)
        if tool_call.error is None and tool_call.detail:
            issues.append(Issue.TEXT_AFTER_JSON)
        if len(calls) > 1:
            # Strict: one block per turn. Carrying out only some of them would teach the model
            # that extra blocks are free.
            tool_call = ToolCall(tool_call.name, tool_call.spans, tool_call.form, tool_call.raw,
                                 CallProblem.SEVERAL_CALLS, f"{len(calls)} <tool_call> blocks")
    return Turn(think, answer, tool_call, tuple(dict.fromkeys(issues)))


def _read_think(finder: _Finder, start: int, issues: list[Issue]) -> tuple[str, int]:
    """Body of a think block opened just before ``start``, and where parsing continues."""
    text = finder.text
    close = finder.find("</think>", start)
    reopen = finder.find("<think>", start)
    if reopen >= 0 and (close < 0 or reopen < close):
        issues.append(Issue.SECOND_THINK_AS_CLOSE)
        return text[start:reopen], reopen + len("<think>")
    if close >= 0:
        return text[start:close], close + len("</think>")
    issues.append(Issue.UNCLOSED_THINK)
    # Never closed: the reasoning ends where the first action begins (or at the end).
    actions = [i for i in (finder.find("<answer>", start), finder.find("<tool_call>", start))
               if i >= 0]
    end = min(actions, default=len(text))
    return text[start:end], end


# ---------------------------------------------------------------------------------------------
# Tool calls
# ---------------------------------------------------------------------------------------------

# Every pattern that reads model output is linear in the text: no two quantifiers next to each
# other may match the same characters (``\s*s?\s*`` backtracks quadratically over a run of spaces).
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_NUMBER_RE = re.compile(_NUMBER)

JSON_MAX_DEPTH = 32
"""Deepest ``[``/``{`` nesting a tool call may have (a real one has 3). Deeper text is refused
before it reaches the JSON decoder, which recurses once per level."""
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.S)  # to its closing quote, or the end
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_BRACKET_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
_DECODER = json.JSONDecoder(parse_int=float)  # int() refuses more than 4300 digits; float() does not


def _json_too_deep(text: str) -> bool:
    """Whether decoding the JSON value at the start of ``text`` would nest deeper than
    :data:`JSON_MAX_DEPTH`. Linear, no recursion; errs on the side of "too deep" only for text
    the decoder would refuse anyway or for junk after the first value."""
    if text.count("[") + text.count("{") <= JSON_MAX_DEPTH:
        return False
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    depth = list(accumulate(map(_BRACKET_STEP.__getitem__, brackets)))
    if 0 in depth:  # the first value closes here; what follows is not decoded
        depth = depth[:depth.index(0)]
    return max(depth, default=0) > JSON_MAX_DEPTH


def _decode_json(text: str) -> tuple[object, int]:
    """``json.JSONDecoder.raw_decode`` that cannot recurse deeply or refuse a long integer:
    raises only :class:`json.JSONDecodeError`. Integers come back as floats."""
    if _json_too_deep(text):
        raise json.JSONDecodeError(f"nested deeper than {JSON_MAX_DEPTH} levels", text, 0)
    return _DECODER.raw_decode(text)


def _short_form(raw: str) -> tuple[float, float] | None:
    """``[S, E]`` with plain numbers, each optionally followed by the unit "s" (``[58.0s, 100s]``),
    which is not JSON; None for anything else."""
    if not (raw.startswith("[") and raw.endswith("]")):
        return None
    parts = raw[1:-1].split(",")
    if len(parts) != 2:
        return None
    values = []
    for part in parts:
        part = part.strip()
        if part.endswith("s"):
            part = part[:-1].rstrip()
        if not _NUMBER_RE.fullmatch(part):
            return None
        values.append(float(part))
    return values[0], values[1]


def _shorten(text: str, limit: int = 40) -> str:
    """``repr`` of at most ``limit`` characters of ``text``: details in observations stay short."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


def parse_tool_call(body: str) -> ToolCall:
    """Read the text inside one ``<tool_call>`` block. Never raises.

    Accepted: the JSON form ``{"name": …, "arguments": [{"start_time": S, "end_time": E}, …]}``
    where ``arguments`` may also be a single object, a JSON-encoded string, or ``[S, E]`` pairs,
    and a number may be a string (``"58.0"``, ``"58 s"``, ``"00:58"``); and the short form
    ``[S, E]`` or ``[[S, E], …]`` (units "s" tolerated). Text after a complete JSON value is
    ignored and reported through ``detail``.
    """
    raw = body.strip()
    try:
        value, end = _decode_json(raw)
    except json.JSONDecodeError as e:
        short = _short_form(raw)
        if short is not None:  # e.g. "[58.0s, 100s]": not JSON, but unambiguous
            return ToolCall(TOOL_NAME, (Segment(*short),), "short", raw)
        return ToolCall(None, (), "json", raw, CallProblem.BAD_JSON, e.msg)
    trailing = raw[end:].strip()
    detail = f"ignored text after the JSON: {_shorten(trailing)}" if trailing else ""

    if isinstance(value, list):
        spans = _spans_from_arguments(value)
        if spans is None:
            return ToolCall(TOOL_NAME, (), "short", raw, CallProblem.BAD_ARGUMENTS,
                            "expected [start, end] in seconds")
        return ToolCall(TOOL_NAME, spans, "short", raw, None, detail)
    if not isinstance(value, dict):
        return ToolCall(None, (), "json", raw, CallProblem.BAD_JSON,
                        "expected a JSON object with name and arguments")
    name = value.get("name")
    name = name if isinstance(name, str) else None
    args = value.get("arguments")
    if isinstance(args, str):  # OpenAI-style: the arguments as a JSON string
        text = args.strip()
        try:
            args, used = _decode_json(text)
            if used != len(text):  # json.loads semantics: nothing after the value
                args = None
        except json.JSONDecodeError:
            args = None
    spans = _spans_from_arguments(args) if args is not None else None
    if name != TOOL_NAME:
        return ToolCall(name, spans or (), "json", raw, CallProblem.UNKNOWN_TOOL,
                        _shorten(name) if name is not None else "None")
    if spans is None:
        return ToolCall(name, (), "json", raw, CallProblem.BAD_ARGUMENTS,
                        'expected "arguments": [{"start_time": S, "end_time": E}]')
    return ToolCall(name, spans, "json", raw, None, detail)


def _spans_from_arguments(args: object) -> tuple[Segment, ...] | None:
    """Spans from the arguments value; None when its shape is not understood."""
    if isinstance(args, dict):
        args = [args]
    if not isinstance(args, list):
        return None
    if len(args) == 2 and all(_to_seconds(a) is not None for a in args):
        args = [args]  # a bare [S, E]
    spans = []
    for item in args:
        if isinstance(item, dict):
            pair = (item.get("start_time"), item.get("end_time"))
        elif isinstance(item, list) and len(item) == 2:
            pair = (item[0], item[1])
        else:
            return None
        start, end = _to_seconds(pair[0]), _to_seconds(pair[1])
        if start is None or end is None:
            return None
        spans.append(Segment(start, end))
    return tuple(spans)


_SECOND_UNITS = ("seconds", "secs", "sec", "s")  # longest first: "5 seconds" loses all of it


def _to_seconds(v: object) -> float | None:
    """A number of seconds from a JSON value; NaN/inf pass through (judged later)."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        s = v.strip()
        lowered = s.lower()
        for unit in _SECOND_UNITS:
            if lowered.endswith(unit):
                s = s[:-len(unit)]  # float() and parse_clock ignore the space before it
                break
        if ":" in s:
            return parse_clock(s)
        try:
            return float(s)
        except ValueError:
            return None
    return None


def parse_clock(text: str) -> float | None:
    """``"SS"``, ``"MM:SS"`` or ``"HH:MM:SS"`` (fractions allowed) → seconds; None if not one."""
    parts = text.strip().split(":")
    if not 1 <= len(parts) <= 3:
        return None
    try:
        values = [float(p) for p in parts]
    except ValueError:
        return None
    if any(v < 0 for v in values[1:]) or any(v >= 60 for v in values[1:]):
        return None
    seconds = 0.0
    for v in values:
        seconds = seconds * 60 + v
    return seconds


@dataclass(frozen=True)
class ClipRequest:
    """A clip to extract: ``segment`` is the span clamped to the video, ``requested`` the span
    as the model wrote it (seconds)."""

    segment: Segment
    requested: Segment

    @property
    def clamped(self) -> bool:
        return self.segment != self.requested


@dataclass(frozen=True)
class RejectedCall:
    """A tool call that is not carried out; :meth:`feedback` is the observation to send."""

    problem: CallProblem
    detail: str

    def feedback(self) -> str:
        return call_error_feedback(self)


def validate_call(call: ToolCall, duration: float | None, min_length: float,
                  previous_segments: Sequence[SpanLike] = (),
                  max_clips: int = MAX_CLIPS_PER_CALL, *,
                  turn: int | None = None,
                  max_turns: int = DEFAULT_MAX_TURNS) -> list[ClipRequest] | RejectedCall:
    """Check a call and turn it into clips, or into the observation that says what is wrong.

    ``duration``: length of the video in seconds (None: unknown, no upper clamp).
    ``min_length``: the shortest clip in seconds (one frame interval), checked after clamping.
    ``previous_segments``: clips already carried out in this conversation (clamped spans).
    ``turn``: 1-based number of the assistant turn that made the call; a call on turn
    ``max_turns`` or later is over the limit.

    Each span is clamped to ``[0, duration]``. The whole call is rejected when any of its spans
    is bad, so the model gets one clear message rather than part of what it asked for.
    """
    if turn is not None and turn >= max_turns:
        return RejectedCall(CallProblem.TURN_LIMIT, f"turn {turn} of {max_turns}")
    if call.error is not None:
        return RejectedCall(call.error, call.detail)
    if call.name != TOOL_NAME:
        return RejectedCall(CallProblem.UNKNOWN_TOOL, repr(call.name))
    if not call.spans:
        return RejectedCall(CallProblem.NO_CLIPS, "the call lists no segment")
    if len(call.spans) > max_clips:
        return RejectedCall(CallProblem.TOO_MANY_CLIPS,
                            f"{len(call.spans)} segments, at most {max_clips}")

    upper = math.inf if duration is None else float(duration)
    seen = [Segment.of(s) for s in previous_segments]
    # Two requests are "the same" when they would give the same frames: both ends within half
    # a frame interval (an exact-match test would let 58.0 vs 58.001 through).
    tolerance = max(min_length / 2, 1e-6)
    clips: list[ClipRequest] = []
    for k, span in enumerate(call.spans, 1):
        where = f"segment {k}" if len(call.spans) > 1 else "the segment"
        s, e = span.start, span.end
        shown = f"{where} [{format_seconds(s)}, {format_seconds(e)}]"
        if not (math.isfinite(s) and math.isfinite(e)):
            return RejectedCall(CallProblem.NOT_FINITE,
                                f"{where} has a time that is not a finite number")
        if s > e:
            return RejectedCall(CallProblem.REVERSED, f"{shown} ends before it starts")
        if s == e:
            return RejectedCall(CallProblem.EMPTY, f"{shown} has no length")
        if e <= 0 or s >= upper:
            return RejectedCall(CallProblem.OUTSIDE,
                                f"{shown} lies outside the video (0 – {format_seconds(upper)} s)")
        clamped = Segment(max(s, 0.0), min(e, upper))
        if clamped.length + 1e-9 < min_length:
            return RejectedCall(CallProblem.TOO_SHORT,
                                f"{shown} is shorter than {format_seconds(min_length)} s")
        if any(abs(clamped.start - p.start) <= tolerance and abs(clamped.end - p.end) <= tolerance
               for p in seen):
            return RejectedCall(CallProblem.REPEATED, f"{shown} was already shown")
        seen.append(clamped)
        clips.append(ClipRequest(clamped, Segment(s, e)))
    return clips


# ---------------------------------------------------------------------------------------------
# Answers
# ---------------------------------------------------------------------------------------------

# "B", "(B)", "B.", "B: text", "B) text", "B, text"; group 2 is what follows the letter.
_LEADING_LETTER = re.compile(r"\(?([A-J])(?:\)|[.:,](?!\d)|$)\s*(.*)", re.S)
# What follows the letter is only another letter ("B, C", "B or C", "(B) and (C)"): a hedge.
# "B. A man runs" is not one: its "A" is followed by a word.
_HEDGE_REST = re.compile(
    r"(?:(?:or|and)\s+|[/&]\s*)?\(?[A-J]\)?\.?(?:$|\s*(?:,|/|&|\bor\b|\band\b))", re.I | re.S)
_STATED_LETTER = re.compile(r"\b(?i:answer|option|choice)\s*(?:(?:(?i:is)|:)\s*)?\(?([A-J])\b(?![-'])")


def parse_choice(answer: str | None, n_options: int = DEFAULT_OPTIONS) -> str | None:
    """The option letter of a multiple-choice answer, or None.

    Accepted: ``B``, ``(B)``, ``B.``, ``B: text``, ``B) text``, ``the answer is B``, ``option B``,
    a lone lower-case ``b``. A hedge naming several letters (``B or C``, ``B, C``) is None, and
    so is a letter beyond the ``n_options`` offered. A bare sentence such as "A man runs" is
    None: its "A" is an article, not a choice.
    """
    if answer is None:
        return None
    text = answer.strip()
    letters = OPTION_LETTERS[:n_options]
    if len(text) == 1 and text.upper() in letters:
        return text.upper()
    m = _LEADING_LETTER.fullmatch(text)
    if m:
        if _HEDGE_REST.match(m.group(2)):
            return None
        return m.group(1) if m.group(1) in letters else None
    stated = {x for x in _STATED_LETTER.findall(text)}
    if len(stated) == 1:
        (letter,) = stated
        return letter if letter in letters else None
    return None


# A time: a number, or a clock reading MM:SS / HH:MM:SS. It may not start right after a letter,
# digit, dot or colon, so "58-100" reads as 58 and 100 and "clip2" gives nothing. (The lookahead
# first lets the regex engine skip quickly to the characters a time can start with.)
_TIME = re.compile(rf"(?=[-+.\d])(?<![\w.:])(?:\d+(?::\d{{1,2}}(?:\.\d+)?){{1,2}}|{_NUMBER})")


def parse_span(answer: str | None) -> Segment | None:
    """A grounding answer ``[S, E]`` in seconds: the first two times in the text, or None.

    Extra numbers are ignored (the model sometimes appends more). The span is returned as
    written — possibly reversed; callers score an invalid span as IoU 0.
    """
    if answer is None:
        return None
    values = []
    for match in _TIME.finditer(answer):
        v = parse_clock(match.group())  # a plain number is a clock reading of one field
        if v is None:
            continue
        values.append(v)
        if len(values) == 2:
            return Segment(values[0], values[1])
    return None


# ---------------------------------------------------------------------------------------------
# Rendering and feedback texts
# ---------------------------------------------------------------------------------------------

def format_seconds(t: float) -> str:
    """Seconds for display: at least one and at most two decimals (``58.0``, ``58.25``).

    From 10^15 s on (far beyond any video) six significant digits with an exponent
    (``1e+308``), so that an observation quoting a model's absurd number stays short.
    """
    if not math.isfinite(t):
        return str(t)
    if abs(t) >= 1e15:
        return f"{t:.6g}"
    s = f"{t:.2f}".rstrip("0")
    return s + "0" if s.endswith(".") else s


def _json_seconds(t: float) -> float:
    return round(float(t), 2)


def render_tool_call(segments: Sequence[SpanLike]) -> str:
    """The canonical tool-call block for ``segments`` (seconds, rounded to 0.01 s)."""
    if not segments:
        raise ValueError("a tool call needs at least one segment")
    arguments = [{"start_time": _json_seconds(s.start), "end_time": _json_seconds(s.end)}
                 for s in map(Segment.of, segments)]
    return f"<tool_call>{json.dumps({'name': TOOL_NAME, 'arguments': arguments})}</tool_call>"


def render_answer(answer: str | SpanLike) -> str:
    """``<answer>…</answer>``; a span is written ``[S, E]`` in seconds."""
    if isinstance(answer, str):
        return f"<answer>{answer}</answer>"
    seg = Segment.of(answer)
    return f"<answer>[{format_seconds(seg.start)}, {format_seconds(seg.end)}]</answer>"


def render_turn(think: str, *, answer: str | SpanLike | None = None,
                segments: Sequence[SpanLike] | None = None) -> str:
    """A whole canonical assistant turn: think, then the answer or the tool call (exactly one)."""
    if (answer is None) == (segments is None):
        raise ValueError("give exactly one of answer and segments")
    action = render_answer(answer) if answer is not None else render_tool_call(segments or ())
    return f"<think>{think.strip()}</think>\n{action}"


def clip_feedback(clips: Sequence[ClipRequest | SpanLike], *, video_tag: str = "") -> str:
    """Observation after a successful call: what each returned clip covers (our wording; see
    :meth:`PromptProfile.clip_success`).

    ``video_tag``: put where each clip's frames go (e.g. ``"<video>"`` for ms-swift); leave
    empty when the media are passed separately.
    """
    return DEFAULT_PROFILE.clip_success(clips, video_tag=video_tag)


_PROBLEM_TEXT = {
    CallProblem.BAD_JSON: "the call is not valid JSON",
    CallProblem.BAD_ARGUMENTS: "its arguments could not be read",
    CallProblem.UNKNOWN_TOOL: f"there is no such tool; the only tool is {TOOL_NAME}",
    CallProblem.SEVERAL_CALLS: "only one <tool_call> block is allowed per reply",
    CallProblem.NO_CLIPS: "it asks for no segment",
    CallProblem.TOO_MANY_CLIPS: "it asks for more segments than one call allows",
    CallProblem.NOT_FINITE: "a time is not a finite number",
    CallProblem.REVERSED: "a segment ends before it starts",
    CallProblem.EMPTY: "a segment has no length",
    CallProblem.OUTSIDE: "a segment lies outside the video",
    CallProblem.TOO_SHORT: "a segment is too short to hold a frame",
    CallProblem.REPEATED: "you have already seen this segment",
}


def call_error_feedback(rejected: RejectedCall) -> str:
    """Observation after a rejected call: what was wrong, and to continue without the clip.
    At the turn limit the observation is the request for the final answer instead."""
    return DEFAULT_PROFILE.call_failure(rejected)


def final_answer_request() -> str:
    """The one request for the final answer when no more tool calls are allowed."""
    return DEFAULT_PROFILE.final_answer


def missing_action_feedback() -> str:
    """Observation after a reply with neither an answer nor a tool call."""
    return DEFAULT_PROFILE.no_action


def tool_feedback(outcome: "Sequence[ClipRequest] | RejectedCall | None", *, ask_final: bool = False,
                  video_tag: str = "") -> str:
    """The whole user turn that answers an assistant turn, in our wording
    (:meth:`PromptProfile.tool_feedback` says how it is composed)."""
    return DEFAULT_PROFILE.tool_feedback(outcome, ask_final=ask_final, video_tag=video_tag)


# ---------------------------------------------------------------------------------------------
# Timed overview: the overview's frame times in text (opt-in)
# ---------------------------------------------------------------------------------------------

OVERVIEW_PIECE_FRAMES = 2
"""Frames per piece of a timed overview: Qwen2.5-VL's temporal patch, so one piece is exactly
one temporal token group and the pieces together cost the tokens of the one overview video."""


def overview_time_label(seconds: float) -> str:
    """The text before one piece of a timed overview: the time of its first frame (``12.5 s``)."""
    return f"{format_seconds(seconds)} s"


def overview_pieces(n: int) -> list[tuple[int, int]]:
    """How a timed overview splits ``n`` overview frames into pieces: ``(first, stop)`` index
    ranges of :data:`OVERVIEW_PIECE_FRAMES` frames each, the last one shorter when ``n`` is odd
    (its video is padded as every odd video is)."""
    return [(k, min(k + OVERVIEW_PIECE_FRAMES, n)) for k in range(0, n, OVERVIEW_PIECE_FRAMES)]


def timed_overview(pieces: Sequence[_Piece], first_times: Sequence[float]) -> list[str | _Piece]:
    """The first user turn's overview as a timed overview lays it out: before each piece (a
    video part, a ``<video>`` tag, …; the caller's), its label (:func:`overview_time_label` of
    the piece's first frame time, seconds). The one place the layout is composed, so the agent,
    the SFT builder and the RL rows show the model the same text.

    Qwen3-VL states frame times in text the same way (``<t seconds>`` before each temporal
    patch); Qwen2.5-VL has only its time-aligned rotary positions, which a very small model
    does not learn to read.
    """
    if len(pieces) != len(first_times):
        raise ValueError(f"{len(pieces)} overview pieces but {len(first_times)} times")
    out: list[str | _Piece] = []
    for piece, t in zip(pieces, first_times):
        out += [overview_time_label(t), piece]
    return out


def timed_overview_text(first_times: Sequence[float], video_tag: str) -> str:
    """:func:`timed_overview` as text, ``video_tag`` standing for each piece (ms-swift's
    ``<video>``): what goes before the question in an SFT record or an RL row."""
    return "".join(timed_overview([video_tag] * len(first_times), first_times))


# ---------------------------------------------------------------------------------------------
# Prompt profiles: every text the model reads besides the question, as data
# ---------------------------------------------------------------------------------------------

class PromptProfileError(ValueError):
    """A prompt profile file that cannot be used; the message names the file and the key."""


# key -> (placeholders it may use, what it is)
_PROFILE_KEYS: dict[str, tuple[frozenset[str], str]] = {
    "system": (frozenset({"tool", "max_clips"}),
               "the system prompt; empty: no system message (the chat template's default)"),
    "first_turn_prefix": (frozenset({"tool", "max_clips"}),
                          "text put before the question in the first user turn"),
    "clip_success_one": (frozenset({"video", "start", "end"}),
                         "the observation after a call answered with one clip"),
    "clip_success_many": (frozenset({"count", "clips"}),
                          "the observation after a call answered with several clips"),
    "clip_item": (frozenset({"video", "index", "start", "end"}),
                  "one clip of clip_success_many's ${clips}"),
    "clip_separator": (frozenset(), "what joins the clip items in ${clips}"),
    "clip_failure": (frozenset({"problem", "detail"}),
                     "the observation after a call that was not carried out"),
    "no_action": (frozenset(), "the observation after a reply with neither answer nor call"),
    "final_answer": (frozenset(),
                     "the request for the final answer (appended from turn max_turns - 1 on); "
                     "empty: never asked"),
}


def _placeholders(template: str) -> tuple[set[str], bool]:
    """The ``$name``/``${name}`` placeholders of a :class:`string.Template`, and whether it holds
    a ``$`` that is none of them (nor ``$$``)."""
    names, invalid = set(), False
    for m in Template.pattern.finditer(template):
        if m.group("invalid") is not None:
            invalid = True
        elif m.group("named") or m.group("braced"):
            names.add(m.group("named") or m.group("braced"))
    return names, invalid


@dataclass(frozen=True)
class PromptProfile:
    """Every text the model reads besides the question itself: the system prompt, a prefix of
    the first user turn, and the tool feedback (clip success, failure, no action, the request
    for the final answer).

    Texts are :class:`string.Template` strings: ``${name}`` is a placeholder (each key allows
    the ones listed in ``_PROFILE_KEYS``: the system prompt and the first turn's prefix
    ``${tool}`` and ``${max_clips}``;
    clips ``${video}`` — where the clip's frames go —, ``${start}``, ``${end}`` (seconds),
    ``${index}``, ``${count}``, ``${clips}``; failures ``${problem}`` and ``${detail}``, the
    latter `` (…)`` or empty), ``$$`` a literal ``$``; JSON braces need no escaping.

    :data:`DEFAULT_PROFILE` holds our wording. :meth:`load` reads a profile from a JSON file
    with every key (a released checkpoint's wording, e.g.; the README says how to write the
    release's).
    """

    system: str
    first_turn_prefix: str
    clip_success_one: str
    clip_success_many: str
    clip_item: str
    clip_separator: str
    clip_failure: str
    no_action: str
    final_answer: str
    name: str = "videotemp"

    def __post_init__(self) -> None:
        for key, (allowed, _) in _PROFILE_KEYS.items():
            value = getattr(self, key)
            if not isinstance(value, str):
                raise PromptProfileError(f"key {key!r}: expected a string, got "
                                         f"{type(value).__name__}")
            names, invalid = _placeholders(value)
            if invalid:
                raise PromptProfileError(f"key {key!r}: a '$' that starts no placeholder "
                                         "(write $$ for a literal $)")
            unknown = sorted(names - allowed)
            if unknown:
                known = ", ".join(f"${{{n}}}" for n in sorted(allowed)) or "none"
                raise PromptProfileError(f"key {key!r}: unknown placeholder "
                                         f"${{{unknown[0]}}} (allowed: {known})")

    # -- files -----------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "PromptProfile":
        """A profile from a UTF-8 JSON object holding every key of :data:`PROFILE_KEYS` (and
        optionally ``name``, default: the file's stem). Raises :class:`PromptProfileError`
        naming the file and the key."""
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except OSError as e:
            raise PromptProfileError(f"{path}: cannot read the prompt profile: "
                                     f"{e.strerror}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise PromptProfileError(f"{path}: not a JSON prompt profile: {e}") from None
        if not isinstance(data, dict):
            raise PromptProfileError(f"{path}: expected a JSON object, got "
                                     f"{type(data).__name__}")
        unknown = sorted(set(data) - set(PROFILE_KEYS) - {"name"})
        missing = [k for k in PROFILE_KEYS if k not in data]
        if unknown:
            raise PromptProfileError(f"{path}: unknown key {unknown[0]!r} (keys: "
                                     f"{', '.join(PROFILE_KEYS)}, name)")
        if missing:
            raise PromptProfileError(f"{path}: missing key(s) {', '.join(missing)}; a profile "
                                     "gives every text (an empty string is a valid text)")
        try:
            return cls(**{"name": os.path.splitext(os.path.basename(path))[0], **data})
        except PromptProfileError as e:
            raise PromptProfileError(f"{path}: {e}") from None

    def to_json(self) -> str:
        """The profile as the JSON :meth:`load` reads (a starting point for a new one)."""
        return json.dumps({"name": self.name, **{k: getattr(self, k) for k in PROFILE_KEYS}},
                          ensure_ascii=False, indent=2) + "\n"

    # -- texts -----------------------------------------------------------------------------

    def system_text(self, *, max_clips: int = MAX_CLIPS_PER_CALL) -> str:
        """The system prompt; "" when the profile sends none."""
        return Template(self.system).substitute(tool=TOOL_NAME, max_clips=max_clips)

    def first_turn(self, question_text: str, *, max_clips: int = MAX_CLIPS_PER_CALL) -> str:
        """The text of the first user turn (the caller puts the overview video before it): the
        prefix, then the question as given (which is not a template)."""
        prefix = Template(self.first_turn_prefix).substitute(tool=TOOL_NAME, max_clips=max_clips)
        return prefix + question_text

    def clip_success(self, clips: Sequence[ClipRequest | SpanLike], *, video_tag: str = "") -> str:
        """Observation after a carried-out call; ``video_tag`` goes where each clip's frames go."""
        segs = [c.segment if isinstance(c, ClipRequest) else Segment.of(c) for c in clips]
        if len(segs) == 1:
            return Template(self.clip_success_one).substitute(
                video=video_tag, start=format_seconds(segs[0].start),
                end=format_seconds(segs[0].end))
        items = [Template(self.clip_item).substitute(
            video=video_tag, index=k, start=format_seconds(seg.start),
            end=format_seconds(seg.end)) for k, seg in enumerate(segs, 1)]
        return Template(self.clip_success_many).substitute(
            count=len(segs), clips=self.clip_separator.join(items))

    def call_failure(self, rejected: RejectedCall) -> str:
        """Observation after a rejected call; at the turn limit, the final-answer request
        (when the profile has one)."""
        if rejected.problem is CallProblem.TURN_LIMIT and self.final_answer:
            return self.final_answer
        detail = f" ({rejected.detail})" if rejected.detail else ""
        return Template(self.clip_failure).substitute(
            problem=_PROBLEM_TEXT.get(rejected.problem, rejected.problem.value), detail=detail)

    def tool_feedback(self, outcome: "Sequence[ClipRequest] | RejectedCall | None", *,
                      ask_final: bool = False, video_tag: str = "") -> str:
        """The whole user turn that answers an assistant turn — the one place it is composed, so
        the agent, the SFT data builder and the RL environment show the model the same text.

        ``outcome``: the clips of a carried-out call, a :class:`RejectedCall`, or ``None`` for a
        reply with neither answer nor call. ``ask_final``: append the request for the final
        answer as its own paragraph (a rejection for the turn limit already is that request).
        """
        if outcome is None:
            text = self.no_action
        elif isinstance(outcome, RejectedCall):
            text = self.call_failure(outcome)
            if outcome.problem is CallProblem.TURN_LIMIT and self.final_answer:
                return text
        else:
            text = self.clip_success(outcome, video_tag=video_tag)
        if not (ask_final and self.final_answer):
            return text
        return f"{text}\n\n{self.final_answer}" if text else self.final_answer


PROFILE_KEYS: tuple[str, ...] = tuple(_PROFILE_KEYS)
"""The keys of a prompt profile file (plus an optional ``name``)."""

DEFAULT_PROFILE = PromptProfile(
    name="videotemp",
    system=_SYSTEM_PROMPT,
    first_turn_prefix="",
    clip_success_one="${video}This clip is ${start} s – ${end} s of the original video. Its "
                     "frames are denser than in the overview.",
    clip_success_many="Here are the ${count} clips you asked for.\n${clips}",
    clip_item="${video}Clip ${index}: ${start} s – ${end} s of the original video.",
    clip_separator="\n",
    clip_failure="The tool call was not carried out: ${problem}${detail}. No clip was "
                 "extracted. Continue without it: answer from what you have seen, or make a "
                 "corrected call.",
    no_action="Your reply has neither an answer inside <answer> and </answer> nor a tool call "
              "inside <tool_call> and </tool_call>. Reason inside <think> and </think>, then do "
              "one of the two.",
    final_answer="No more clips can be requested. Give your final answer now, reasoning inside "
                 "<think> and </think> and then answering inside <answer> and </answer>.",
)
"""Our wording (the project's default)."""
