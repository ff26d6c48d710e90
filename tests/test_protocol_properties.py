"""Properties of the protocol parsers and the rewards over generated replies (hypothesis).

For any text, the parsers and the rewards return values in their ranges and never raise; the
observations stay short; a turn written by ``render_turn`` parses back to what was rendered.
The invariants live in :mod:`videotemp_o3.testing.reply_checks`, shared with the fuzzer
(``scripts/fuzz_protocol.sh``), whose findings in ``tests/data/fuzz_protocol/`` are replayed here.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from videotemp_o3.protocol import (OPTION_LETTERS, TOOL_NAME, format_seconds, parse_choice,
                                   parse_span, parse_turn, render_turn)
from videotemp_o3.segments import Segment
from videotemp_o3.testing import reply_checks
from videotemp_o3.training import rewards

FINDINGS = Path(__file__).parent / "data" / "fuzz_protocol"

# Pieces a model reply is made of, so that generated text reaches deep into the parsers (random
# characters alone rarely spell "<tool_call>" or a JSON object).
FRAGMENTS = ["<think>", "</think>", "<answer>", "</answer>", "<tool_call>", "</tool_call>",
             "[", "]", "{", "}", '"', ",", ":", " ", "  ", "\n", "..", ".", "-", "\\", "(", ")",
             '"name": ', '"arguments": ', '"start_time": ', '"end_time": ', f'"{TOOL_NAME}"',
             "NaN", "Infinity", "-Infinity", "1e308", "1e-9", "0", "58", "100.5", "01:30",
             "1:02:03", "s", " seconds", "the answer is ", "option ", "choice: ", " or ",
             " and ", "A", "B", "b", "J", "K", "(C)", "D.", "E)", "1" * 30]

reply_text = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8)),
                      max_size=60).map("".join)
any_text = st.one_of(st.text(max_size=300), reply_text)

# Example counts and determinism come from the profile (tests/conftest.py: local, ci, mutation).
SETTINGS = settings(suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(any_text)
@example("<think>t</think><tool_call>" + "[" * 2000)
@example("<think>t</think><answer>" + "[" * 2000 + "</answer>")
@example('<think>t</think><tool_call>{"name": "get_video_clip_frame", "arguments": '
         '[{"start_time": ' + "9" * 5000 + ', "end_time": 1}]}')
@example("<think>t</think><tool_call>" + "[1e308, 1.5e308]")
def test_any_reply_parses_within_bounds(text):
    reply_checks.check_reply(text)


@SETTINGS
@given(st.lists(any_text, max_size=4))
def test_rewards_never_raise(turns):
    reply_checks.check_trajectory(turns)


@pytest.mark.parametrize("path", sorted(FINDINGS.glob("*")), ids=lambda p: p.name)
def test_fuzzer_findings_stay_fixed(path):
    reply_checks.check_input(path.read_bytes().decode("utf-8", "replace"))


def test_fuzzer_seeds_pass():
    for seed in reply_checks.seed_replies():
        reply_checks.check_input(seed)


# ---------------------------------------------------------------------------------------------
# Round trips: what render_turn writes, parse_turn reads back
# ---------------------------------------------------------------------------------------------

# Reasoning text: anything without the tags (a think that writes "</think>" is not canonical).
think_text = st.text(max_size=80).filter(lambda t: "<" not in t and t.strip())
seconds = st.floats(min_value=-1e6, max_value=1e9, allow_nan=False, allow_infinity=False)
finite = st.floats(allow_nan=False, allow_infinity=False)


@SETTINGS
@given(think_text, st.lists(st.tuples(finite, finite), min_size=1, max_size=5))
def test_rendered_call_round_trips(think, spans):
    turn = parse_turn(render_turn(think, segments=spans))
    assert turn.well_formed and turn.issues == ()
    assert turn.think == think.strip()
    assert turn.tool_call.spans == tuple(Segment(round(s, 2), round(e, 2)) for s, e in spans)


@SETTINGS
@given(think_text, st.text(max_size=80).filter(lambda t: "<" not in t and t.strip()))
def test_rendered_answer_round_trips(think, answer):
    turn = parse_turn(render_turn(think, answer=answer))
    assert turn.well_formed and turn.issues == ()
    assert (turn.think, turn.answer, turn.tool_call) == (think.strip(), answer.strip(), None)


@SETTINGS
@given(think_text, st.sampled_from(OPTION_LETTERS))
def test_rendered_letter_is_the_choice(think, letter):
    turn = parse_turn(render_turn(think, answer=letter))
    assert parse_choice(turn.answer, len(OPTION_LETTERS)) == letter


@SETTINGS
@given(think_text, seconds, seconds)
def test_rendered_span_answer_round_trips(think, start, end):
    turn = parse_turn(render_turn(think, answer=(start, end)))
    got = parse_span(turn.answer)
    # The answer is written with two decimals, so it reads back as the rounded span.
    assert got == Segment(float(format_seconds(start)), float(format_seconds(end)))
    assert math.isclose(got.start, start, abs_tol=0.005 + 1e-12)
    assert math.isclose(got.end, end, abs_tol=0.005 + 1e-12)


# ---------------------------------------------------------------------------------------------
# The release's reward rules read replies with lazy patterns; the rewards module applies them in
# linear time. Same answers as the release's own patterns on any text:
# ---------------------------------------------------------------------------------------------

RELEASE_BLOCK = {tag: re.compile(rf"<{tag}>(.*?)</{tag}>", re.S) for tag in ("tool_call", "answer")}
RELEASE_SHAPE = {a: re.compile(rf"<think>.*?</think>\s*<{a}>.*?</{a}>", re.S)
                 for a in ("tool_call", "answer")}
tag_soup = st.lists(st.sampled_from(["<think>", "</think>", "<answer>", "</answer>", "<tool_call>",
                                     "</tool_call>", " ", "\n", "x", "<", ">", "/"]),
                    max_size=30).map("".join)


@SETTINGS
@given(st.one_of(tag_soup, reply_text))
def test_release_rules_read_as_the_release_patterns(text):
    for tag, pattern in RELEASE_BLOCK.items():
        assert list(rewards._blocks(text, tag)) == pattern.findall(text)
        first = pattern.search(text)
        assert rewards._first_block(text, tag) == (first.group(1) if first else None)
    for action, pattern in RELEASE_SHAPE.items():
        assert rewards._release_shape(text, action) is (pattern.fullmatch(text) is not None)


@SETTINGS
@given(st.lists(any_text, min_size=1, max_size=3))
def test_ms_swift_reward_plugins_never_raise(turns):
    # Through ms-swift's calling convention, every registered reward of both sets, on an MCQ and
    # a grounding row: a number in [-λ, 1] per row, whatever the model wrote.
    from videotemp_o3.training import swift_plugin
    from videotemp_o3.training.rewards import DEFAULT_CONFIG

    messages = [{"role": "user", "content": "<video>question"}]
    for turn in turns:
        messages += [{"role": "assistant", "content": turn}, {"role": "user", "content": "clip"}]
    columns = {"task": ["mcq", "grounding"], "answer": ["B", "[58, 100]"],
               "timestamp": [[10.0, 20.0], [58.0, 100.0]], "duration": [600.0, 600.0]}
    for name, plugin in swift_plugin.ORM_NAMES.items():
        scores = plugin(max_turns=3)([turns[-1]] * 2, messages=[messages[:-1]] * 2, **columns)
        assert len(scores) == 2, name
        assert all(-DEFAULT_CONFIG.iou_penalty <= s <= 1.0 for s in scores), (name, scores)
