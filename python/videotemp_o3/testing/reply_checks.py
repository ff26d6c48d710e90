"""What must hold for *any* model reply: the protocol parsers and the GRPO rewards return (never
raise), give values in their documented ranges, and write observations of bounded length.

One home for these invariants, used by the property-based tests (``tests/test_protocol_properties.py``,
hypothesis) and by the coverage-guided fuzzer (``scripts/fuzz_protocol.py``, atheris); inputs the
fuzzer found are kept in ``tests/data/fuzz_protocol/`` and replayed by the tests. A violated
invariant raises :class:`AssertionError`; anything else that escapes is a bug of the code under
test.
"""

from __future__ import annotations

import math
from typing import Sequence

from videotemp_o3 import protocol
from videotemp_o3.protocol import (OPTION_LETTERS, TOOL_NAME, ClipRequest, RejectedCall, ToolCall,
                                   Turn, parse_choice, parse_span, parse_tool_call, parse_turn,
                                   render_turn, tool_feedback, validate_call)
from videotemp_o3.segments import Segment

MAX_OBSERVATION = 600
"""Longest observation (user turn after a reply) any reply may cause, in characters: what the
model wrote is quoted only in short excerpts, whatever its length."""

TURN_SEPARATOR = "\x1e"
"""Splits a fuzzer input into the assistant turns of one trajectory (ASCII record separator)."""

_DURATIONS = (600.0, None)
_PREVIOUS = ((1.0, 2.0), (58.0, 100.0))


def check_reply(text: str) -> Turn:
    """Every parser on ``text`` as a whole reply, as an answer and as a tool-call body; the call
    judged as the agent would. Returns the parsed turn."""
    turn = parse_turn(text)
    _check_turn(turn)
    for n_options in (4, len(OPTION_LETTERS)):
        for answer in (text, turn.answer):
            letter = parse_choice(answer, n_options)
            assert letter is None or letter in OPTION_LETTERS[:n_options], (letter, n_options)
    for answer in (text, turn.answer):
        span = parse_span(answer)
        assert span is None or (isinstance(span.start, float) and isinstance(span.end, float))
    _check_call(parse_tool_call(text))
    if turn.tool_call is not None:
        _check_call(turn.tool_call)
    return turn


def _check_turn(turn: Turn) -> None:
    assert isinstance(turn, Turn)
    assert turn.answer is None or turn.tool_call is None, "a turn both answers and calls"
    assert turn.answer is None or turn.answer == turn.answer.strip()
    assert len(set(turn.issues)) == len(turn.issues), "an issue listed twice"
    assert all(isinstance(i, protocol.Issue) for i in turn.issues)
    if turn.well_formed:
        assert turn.think is not None and turn.action != "none"
    if turn.action == "none":
        assert protocol.Issue.NO_ACTION in turn.issues


def _check_call(call: ToolCall) -> None:
    assert isinstance(call, ToolCall)
    assert call.form in ("json", "short")
    assert all(isinstance(s, Segment) for s in call.spans)
    if call.error is None:
        assert call.name == TOOL_NAME
    assert len(call.detail) <= MAX_OBSERVATION // 2, call.detail[:100]
    for duration in _DURATIONS:
        outcome = validate_call(call, duration, 0.5, _PREVIOUS, turn=1)
        _check_outcome(outcome, duration, _PREVIOUS)


def _check_outcome(outcome: Sequence[ClipRequest] | RejectedCall, duration: float | None,
                   previous: Sequence[tuple[float, float]]) -> None:
    if isinstance(outcome, RejectedCall):
        assert isinstance(outcome.problem, protocol.CallProblem)
    else:
        assert 1 <= len(outcome) <= protocol.MAX_CLIPS_PER_CALL
        upper = math.inf if duration is None else duration
        for clip in outcome:
            seg = clip.segment
            assert 0.0 <= seg.start < seg.end <= upper, seg
            assert seg.length + 1e-9 >= 0.5, seg
            assert all(abs(seg.start - s) > 0.25 or abs(seg.end - e) > 0.25 for s, e in previous)
    for ask_final in (False, True):
        text = tool_feedback(outcome, ask_final=ask_final, video_tag="<video>")
        assert 0 < len(text) <= MAX_OBSERVATION, (len(text), text[:200])


# Data rows as the RL data files hold them, read through the rewards' own GroundTruth.from_row:
# an MCQ row with its evidence span and a grounding row, in a video of known length.
_ROWS = ({"task": "mcq", "answer": "B", "timestamp": [10.0, 20.0], "duration": 600.0,
          "options": ["red", "green", "blue", "white"]},
         {"task": "grounding", "answer": "[58.0, 100.0]", "timestamp": [58.0, 100.0],
          "duration": 600.0})


def check_trajectory(turns: Sequence[str]) -> None:
    """The three GRPO rewards (their public functions) on the trajectory ``turns`` for an MCQ
    and a grounding row: each returns a number in its range, whatever the turns say."""
    from videotemp_o3.training import rewards

    traj = rewards.Rollout(list(turns))
    penalty = rewards.DEFAULT_CONFIG.iou_penalty
    # Every set by name: the release's (accuracy_reward, iou_reward, format_reward) and ours.
    assert set(rewards.REWARD_SETS) == {"release", "videotemp"}
    for row in _ROWS:
        gt = rewards.GroundTruth.from_row(row)
        for name, functions in rewards.REWARD_SETS.items():
            config = rewards.DEFAULT_CONFIG
            accuracy = functions["accuracy"](traj, gt, config)
            assert 0.0 <= accuracy <= 1.0, (name, accuracy)
            value = functions["iou"](traj, gt, config)
            assert value is not None and -penalty <= value <= 1.0, (name, value)
            assert functions["format"](traj, gt, config) in (0.0, 1.0), name


def check_input(text: str, *, rewards: bool = True) -> None:
    """The fuzzer's whole check of one input: each turn as a reply, and (with ``rewards``) all
    turns as a trajectory."""
    turns = text.split(TURN_SEPARATOR)
    for turn in turns:
        check_reply(turn)
    if rewards:
        check_trajectory(turns)


def seed_replies() -> list[str]:
    """Realistic replies to start fuzzing from: canonical turns as :func:`render_turn` writes
    them, the sloppy forms the released model produces (docs/design.md §1), short-form and
    OpenAI-style calls, broken calls, and multi-turn trajectories."""
    head = f'{{"name": "{TOOL_NAME}", "arguments": '
    seeds = [
        render_turn("The dog appears late; look at the end.", segments=[(540.0, 600.0)]),
        render_turn("Check two places.", segments=[(0, 12.5), (30, 40), (100.25, 130)]),
        render_turn("It is the red cup.", answer="B"),
        render_turn("Found it.", answer=(58, 100.5)),
        render_turn("Counting them.", answer="3"),
        "<think>look again<think><answer>C</answer>",
        "<think>a<think>\n<tool_call>" + head + '[{"start_time": 1, "end_time": 5}]}</tool_call>',
        "<think>x</think>..<answer>A</answer>",
        "..<think>x</think><answer>(A) a man runs</answer>",
        "<think>hmm <answer>A</answer>",
        "reasoning</think><answer>B</answer>",
        "<think>t</think><tool_call>[58.0s, 100s]</tool_call>",
        "<think>t</think><tool_call>[[1, 2], [3, 4]]</tool_call>",
        "<think>t</think><tool_call>" + head + '"[{\\"start_time\\": 1, \\"end_time\\": 2}]"}</tool_call>',
        "<think>t</think><tool_call>" + head + '{"start_time": "01:30", "end_time": "2:00"}}',
        "<think>t</think><tool_call>" + head + '[{"start_time": "58.5", "end_time": "100 s"}]}',
        "<think>t</think><tool_call>" + head + '[{"start_time": 5, "end_time": NaN}]}</tool_call>',
        "<think>t</think><tool_call>" + head + '[{"start_time": 100, "end_time": 58}]}</tool_call>',
        "<think>t</think><tool_call>" + head + '[{"start_time": 5,</tool_call>',
        '<think>t</think><tool_call>{"name": "crop_video", "arguments": [[1, 5]]}</tool_call>',
        "<think>t</think><answer>The answer is C.</answer>",
        "<think>t</think><answer>B or C</answer>",
        "<think>t</think><answer>from 1:30 to 2:00</answer>",
        "<think>t</think><answer>[-5, 10, 20]</answer>",
        "<think>t</think><answer>A</answer><answer>B</answer>",
        "<think>I could write <answer>A</answer> now</think><answer>B</answer>",
        "I don't know.",
        # Shapes that once broke or stalled the parsers (issue #15), small.
        "<think>t</think><tool_call>" + "[" * 40,
        "<think>t</think><tool_call>[1" + " " * 40 + "," + " " * 40 + "x</tool_call>",
        "<think>t</think><answer>answer" + " " * 40 + "x</answer>",
        "<think>t</think><tool_call>" + head + '[{"start_time": 1e308, "end_time": 1.5e308}]}',
        "<think>" * 20,
    ]
    trajectory = TURN_SEPARATOR.join([
        render_turn("Look at the start.", segments=[(0, 30)]),
        render_turn("Closer.", segments=[(10, 20)]),
        render_turn("It is B.", answer="B")])
    return seeds + [trajectory]
