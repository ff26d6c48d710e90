"""GRPO rewards over trajectories — the release's set (the default) and our variant — and their
ms-swift ORM plug-ins.

Every expected value is computed by hand in the tables (as arithmetic on the spans involved),
never by calling the code under test. The release's rules are those of its
``rl/video_crop_plugin.py`` (docs/design.md §6).
"""

from __future__ import annotations

import inspect
import math
from types import SimpleNamespace

import pytest

from videotemp_o3.protocol import clip_feedback, mcq_prompt, system_prompt
from videotemp_o3.segments import Segment
from videotemp_o3.training.rewards import (GroundTruth, RewardConfig, Rollout, UnscorableRow,
                                           accuracy_reward, answer_is_correct, call_span,
                                           format_reward, format_violations, iou_reward,
                                           last_call_iou, release_final_answer,
                                           requested_calls, reward_breakdown, total_reward,
                                           videotemp_accuracy_reward, videotemp_format_reward,
                                           videotemp_iou_reward)

THINK = "<think>The overview suggests the scene is early on.</think>\n"


def call(*spans: tuple[float, float], think: bool = True) -> str:
    args = ", ".join(f'{{"start_time": {s}, "end_time": {e}}}' for s, e in spans)
    return (THINK if think else "") + (
        f'<tool_call>{{"name": "get_video_clip_frame", "arguments": [{args}]}}</tool_call>')


def answer(text: str, think: bool = True) -> str:
    return (THINK if think else "") + f"<answer>{text}</answer>"


def norm(raw_iou: float) -> float:
    """The release's normalisation, written out: clip((IoU - 0.2) / 0.6, 0, 1)."""
    return min(1.0, max(0.0, (raw_iou - 0.2) / 0.6))


# =============================================================================================
# The release's set (the default)
# =============================================================================================

# A 20-minute video; the evidence lies at 300–360 s; the right option is B.
QA = GroundTruth("mcq", "B", (Segment(300, 360),), duration=1200.0)

# Raw IoU of a call with [300, 360], by hand, and the reward a right answer gets for it.
RELEASE_CALLS = {
    "good": ((290, 370), 60 / 80),          # v = (0.75 - 0.2) / 0.6 = 0.9167
    "half": ((270, 390), 60 / 120),         # v = 0.5
    "just_over": ((290, 520), 60 / 230),    # raw 0.2609: v = 0.1014 >= 0.1
    "just_under": ((290, 530), 60 / 240),   # raw 0.25: v = 0.0833 < 0.1 -> v - 0.1
    "poor": ((355, 455), 5 / 155),          # raw 0.032: v = 0 -> -0.1
    "whole": ((0, 1200), 60 / 1200),        # the hack: raw 0.05, v = 0 -> -0.1
    "absent": (None, 0.0),                  # no call: v = 0 -> -0.1
}
RELEASE_QA_IOU = {"good": (0.75 - 0.2) / 0.6, "half": 0.5, "just_over": (60 / 230 - 0.2) / 0.6,
                  "just_under": (0.25 - 0.2) / 0.6 - 0.1, "poor": -0.1, "whole": -0.1,
                  "absent": -0.1}


def qa_trajectory(letter: str, segment: str, good_format: bool = True) -> Rollout:
    span = RELEASE_CALLS[segment][0]
    turns = [] if span is None else [call(span)]
    turns.append(answer(letter, think=good_format))
    return Rollout(turns)


@pytest.mark.parametrize("segment", list(RELEASE_CALLS))
@pytest.mark.parametrize("letter", ["B", "C"])
@pytest.mark.parametrize("good_format", [True, False])
def test_release_qa_table(segment, letter, good_format):
    traj = qa_trajectory(letter, segment, good_format)
    right = letter == "B"
    assert accuracy_reward(traj, QA) == (1.0 if right else 0.0)
    assert iou_reward(traj, QA) == pytest.approx(RELEASE_QA_IOU[segment] if right else 0.0)
    assert format_reward(traj, QA) == (1.0 if good_format else 0.0)
    assert reward_breakdown(traj, QA) == pytest.approx({
        "accuracy": 1.0 if right else 0.0,
        "iou": RELEASE_QA_IOU[segment] if right else 0.0,
        "format": 1.0 if good_format else 0.0})


def test_release_normalises_before_the_penalty():
    # The threshold sigma = 0.1 is on the normalised scale: raw IoU 0.26 is the boundary.
    assert norm(60 / 230) >= 0.1 > norm(60 / 240)
    # Our variant compares the raw IoU with sigma: the same call earns 0.25, not -0.017.
    traj = qa_trajectory("B", "just_under")
    assert videotemp_iou_reward(traj, QA) == pytest.approx(0.25)
    assert iou_reward(traj, QA) == pytest.approx((0.25 - 0.2) / 0.6 - 0.1)


def test_release_multi_clip_call_is_matched_one_to_one_and_averaged_over_clips():
    # Two clips, one evidence span: (290, 370) takes it (IoU 0.75), (600, 700) finds none left
    # and counts 0; the mean over the two clips is 0.375 -> v = (0.375 - 0.2) / 0.6.
    traj = Rollout([call((290, 370), (600, 1000)), answer("B")])
    assert iou_reward(traj, QA) == pytest.approx((0.375 - 0.2) / 0.6)
    # Our variant scores the hull [290, 1000] instead: 60 / 710 < 0.1 -> 0.1 below it.
    assert videotemp_iou_reward(traj, QA) == pytest.approx(60 / 710 - 0.1)


def test_release_several_ground_truth_spans():
    two = GroundTruth("mcq", "B", (Segment(300, 360), Segment(600, 660)), duration=1200.0)
    # (590, 680) with (600, 660): 60/90; (290, 380) with (300, 360): 60/90. Mean 2/3.
    traj = Rollout([call((590, 680), (290, 380)), answer("B")])
    assert iou_reward(traj, two) == pytest.approx((2 / 3 - 0.2) / 0.6)
    # One clip on one of the two spans: mean over the *clips* (one), so v = norm(0.75).
    one = Rollout([call((290, 370)), answer("B")])
    assert iou_reward(one, two) == pytest.approx((0.75 - 0.2) / 0.6)


def test_release_scores_the_call_in_the_turn_before_the_answer():
    good_then_off = Rollout([call((290, 370)), call((600, 700)), answer("B")])
    assert iou_reward(good_then_off, QA) == pytest.approx(0.0 - 0.1)
    off_then_good = Rollout([call((600, 700)), call((290, 370)), answer("B")])
    assert iou_reward(off_then_good, QA) == pytest.approx((0.75 - 0.2) / 0.6)
    # A turn before the answer that makes no readable call shows nothing: v = 0.
    thought = Rollout([call((290, 370)), THINK + "<tool_call>{oops</tool_call>", answer("B")])
    assert iou_reward(thought, QA) == pytest.approx(-0.1)
    # Every block of that turn is read (the release's findall), the first one's spans included.
    two_blocks = Rollout([call((290, 370)) + call((600, 700))[len(THINK):], answer("B")])
    assert iou_reward(two_blocks, QA) == pytest.approx((0.375 - 0.2) / 0.6)
    # Spans as strings are read with float(); a short-form call is not JSON and reads as none.
    strings = Rollout([THINK + '<tool_call>{"name": "get_video_clip_frame", "arguments": '
                                  '[{"start_time": "290", "end_time": "370"}]}</tool_call>',
                          answer("B")])
    assert iou_reward(strings, QA) == pytest.approx((0.75 - 0.2) / 0.6)
    short = Rollout([THINK + "<tool_call>[290, 370]</tool_call>", answer("B")])
    assert iou_reward(short, QA) == pytest.approx(-0.1)


def test_release_mcq_reads_the_first_letter_as_written():
    for text, expected in [("B", 1.0), ("(B) the red one", 1.0), ("B or C", 1.0),
                           ("b", 0.0), ("The answer is B", 0.0), ("", 0.0), ("42", 0.0)]:
        assert accuracy_reward(Rollout([answer(text)]), QA) == expected, text
    # The solution's first letter counts, whatever follows it.
    assert accuracy_reward(Rollout([answer("C")]), GroundTruth(
        "mcq", "C. a blue car", (Segment(300, 360),))) == 1.0


def test_release_answer_next_to_a_call_or_missing_is_no_answer():
    both = THINK + "<answer>B</answer><tool_call>{}</tool_call>"
    assert release_final_answer(Rollout([both])) == ""
    assert accuracy_reward(Rollout([both]), QA) == 0.0
    cut = Rollout([call((290, 370)), call((300, 360))])  # stopped at the turn limit
    assert (accuracy_reward(cut, QA), iou_reward(cut, QA)) == (0.0, 0.0)
    assert accuracy_reward(Rollout([THINK + "<answer>B"]), QA) == 0.0  # never closed


GROUND = GroundTruth("grounding", spans=(Segment(40, 60),), duration=300.0)

# id, answer text, accuracy by hand
RELEASE_GROUNDING = [
    ("exact_enough", "[42, 58]", 1.0),                      # IoU 16/20 = 0.8 -> 1
    ("partial", "[40, 70]", (20 / 30 - 0.2) / 0.6),          # 0.778
    ("wrong", "[100, 150]", 0.0),
    ("whole_video", "[0, 300]", 0.0),                       # 20/300 < 0.2
    ("past_the_end_not_clamped", "[40, 9999]", 0.0),        # 20/9959
    ("reversed", "[60, 40]", 0.0),
    ("odd_count", "[40, 60, 70]", 0.0),
    ("no_numbers", "around the middle", 0.0),
    ("hyphen_reads_as_minus", "40-60", 0.0),                 # 40 and -60
    ("two_spans_one_truth", "[40, 60] or [100, 120]", (0.5 - 0.2) / 0.6),  # (1 + 0) / 2
]


@pytest.mark.parametrize("text,acc", [r[1:] for r in RELEASE_GROUNDING],
                         ids=[r[0] for r in RELEASE_GROUNDING])
def test_release_grounding_table(text, acc):
    traj = Rollout([call((35, 65)), answer(text)])
    assert accuracy_reward(traj, GROUND) == pytest.approx(acc)
    # Grounding rows score no call: 0, or -0.1 when the accuracy is exactly 1.
    assert iou_reward(traj, GROUND) == pytest.approx(-0.1 if acc == 1.0 else 0.0)


def test_release_grounding_with_several_spans_is_matched_greedily():
    two = GroundTruth("grounding", spans=(Segment(0, 10), Segment(8, 20)))
    # (2, 12) takes (0, 10) (IoU 8/12 beats 4/18); (0, 9) is left with (8, 20): 1/20.
    # The mean 0.358 normalises to 0.264 (the best pairing would give 0.561 -> 0.602).
    got = accuracy_reward(Rollout([answer("[2, 12], [0, 9]")]), two)
    assert got == pytest.approx(((8 / 12 + 1 / 20) / 2 - 0.2) / 0.6)
    # A tie goes to the first span: (5, 15) overlaps both by 5/15 and takes (0, 10).
    tie = GroundTruth("grounding", spans=(Segment(0, 10), Segment(10, 20)))
    got = accuracy_reward(Rollout([answer("[5, 15] [10, 20]")]), tie)
    assert got == pytest.approx(((1 / 3 + 1.0) / 2 - 0.2) / 0.6)


@pytest.mark.parametrize("turn,ok", [
    (call((1, 2)), True),
    (answer("B"), True),
    ("<think></think><answer>B</answer>", True),                          # empty think is fine
    ('<think>x</think>\n\n<tool_call>{"name": "get_video_clip_frame", "arguments": []}'
     "</tool_call>", True),                                                # no clip: still valid
    (answer("B") + "\n", False),                                          # a trailing newline
    (" " + answer("B"), False),                                           # leading white space
    ("<answer>B</answer>", False),                                        # no think
    (THINK + "So: <answer>B</answer>", False),                            # text between
    (THINK.replace("</think>", "") + "<answer>B</answer>", False),        # think never closed
    (THINK + "<tool_call>[1, 2]</tool_call>", False),                     # short form
    (call((1, 2)).replace("get_video_clip_frame", "crop"), False),        # another tool
    (call((1, "\"a\"")), False),                                          # start/end not numbers
    (THINK + '<tool_call>{"name": "get_video_clip_frame"}</tool_call>', False),  # no arguments
    (THINK + "<answer>B</answer><tool_call>{}</tool_call>", False),
])
def test_release_format_per_turn(turn, ok):
    assert format_reward(Rollout([call((1, 2)), turn])) == (1.0 if ok else 0.0)


def test_release_format_does_not_judge_the_sequence():
    # What our variant charges for, the release's format lets through.
    repeated = Rollout([call((290, 370)), call((290, 370)), answer("B")])
    cut = Rollout([call((290, 370)), call((300, 360))])
    for traj in (repeated, cut):
        assert format_reward(traj, QA) == 1.0
        assert videotemp_format_reward(traj, QA) == 0.0


def test_release_set_scores_qa_and_grounding_rows_only():
    with pytest.raises(UnscorableRow, match="qa and grounding"):
        accuracy_reward(Rollout([answer("7")]), GroundTruth("open", "7", (Segment(1, 2),)))


# =============================================================================================
# GroundTruth.from_row: both row formats; a row that cannot be scored is an error
# =============================================================================================

def test_ground_truth_from_release_rows():
    qa = GroundTruth.from_row({"data_type": "qa", "solution": "B", "duration": 1200.0,
                               "timestamp": [[300, 360], [600, 660.5]]})
    assert qa == GroundTruth("mcq", "B", (Segment(300, 360), Segment(600, 660.5)), 1200.0)
    g = GroundTruth.from_row({"data_type": "grounding", "solution": "[40, 60]",
                              "timestamp": [["40", "60"]]})
    assert (g.task, g.answer, g.spans, g.duration) == ("grounding", None, (Segment(40, 60),),
                                                       None)


def test_ground_truth_from_our_rows():
    assert GroundTruth.from_row({"answer": " b", "timestamp": [300, 360], "duration": "1200",
                                 "options": ["w", "x", "y", "z"]}) == GroundTruth(
        "mcq", "b", (Segment(300, 360),), 1200.0, 4)
    assert GroundTruth.from_row({"answer": " b", "timestamp": [300, 360]}).letter == "B"
    assert GroundTruth.from_row({"answer": [40, 60], "duration": 300}) == GroundTruth(
        "grounding", None, (Segment(40, 60),), 300.0)
    assert GroundTruth.from_row({"answer": "[40, 60]"}).task == "grounding"
    assert GroundTruth.from_row({"answer": "a red car", "evidence": [1, 2]}).task == "open"
    assert GroundTruth.from_row({"task": "open", "answer": "7", "timestamp": [1, 2]}).answer == "7"


@pytest.mark.parametrize("row,words", [
    ({"data_type": "qa", "solution": "B"}, "no usable 'timestamp'"),            # silent before
    ({"task": "mcq", "answer": "B", "timestamp": None}, "no usable 'timestamp'"),
    ({"data_type": "qa", "solution": "B", "timestamp": [[3, "x"]]}, "no usable 'timestamp'"),
    ({"data_type": "caption", "solution": "B", "timestamp": [[1, 2]]}, "neither 'qa'"),
    ({"data_type": "qa", "task": "grounding", "timestamp": [[1, 2]]}, "disagree"),
    ({"data_type": "qa", "solution": "42", "timestamp": [[1, 2]]}, "holds no letter"),
    ({"data_type": "qa", "timestamp": [[1, 2]]}, "no 'solution'"),
    ({"question": "q"}, "neither 'task' nor 'data_type'"),
    ({"task": "essay", "answer": "B", "timestamp": [1, 2]}, "unknown task"),
    ({"task": "grounding", "answer": "B"}, "no usable 'timestamp'"),
])
def test_unscorable_rows_raise(row, words):
    with pytest.raises(UnscorableRow, match=words):
        GroundTruth.from_row(row)


# ---------------------------------------------------------------------------------------------
# The videotemp set. Multiple choice: right/wrong × good/poor/absent/whole-video call × good/broken format
# ---------------------------------------------------------------------------------------------

# A 20-minute video; the evidence for the question lies at 300–360 s; the right option is B.
MCQ = GroundTruth("mcq", "B", (Segment(300, 360),), duration=1200.0)

SEGMENT_IOU = {                      # IoU with [300, 360], by hand
    "good": ((290, 370), 60 / 80),   # evidence inside: 60 s / hull 80 s
    "poor": ((355, 455), 5 / 155),   # overlap 355–360: 5 s / hull 300–455: 155 s
    "whole": ((0, 1200), 60 / 1200),  # the hack: ask for everything
    "absent": (None, None),
}


def mcq_trajectory(letter: str, segment: str, good_format: bool) -> Rollout:
    span = SEGMENT_IOU[segment][0]
    turns = [] if span is None else [call(span)]
    turns.append(answer(letter, think=good_format))  # broken: the answer turn skips <think>
    return Rollout(turns)


# id, letter, segment, good format, accuracy, iou reward, format
MCQ_TABLE = [
    ("right-good-ok", "B", "good", True, 1.0, 60 / 80, 1.0),
    ("right-good-broken", "B", "good", False, 1.0, 60 / 80, 0.0),
    ("right-poor-ok", "B", "poor", True, 1.0, 5 / 155 - 0.1, 1.0),
    ("right-poor-broken", "B", "poor", False, 1.0, 5 / 155 - 0.1, 0.0),
    ("right-absent-ok", "B", "absent", True, 1.0, 0.0 - 0.1, 1.0),
    ("right-absent-broken", "B", "absent", False, 1.0, 0.0 - 0.1, 0.0),
    ("right-whole-ok", "B", "whole", True, 1.0, 60 / 1200 - 0.1, 1.0),
    ("right-whole-broken", "B", "whole", False, 1.0, 60 / 1200 - 0.1, 0.0),
    ("wrong-good-ok", "C", "good", True, 0.0, 0.0, 1.0),
    ("wrong-good-broken", "C", "good", False, 0.0, 0.0, 0.0),
    ("wrong-poor-ok", "C", "poor", True, 0.0, 0.0, 1.0),
    ("wrong-poor-broken", "C", "poor", False, 0.0, 0.0, 0.0),
    ("wrong-absent-ok", "C", "absent", True, 0.0, 0.0, 1.0),
    ("wrong-absent-broken", "C", "absent", False, 0.0, 0.0, 0.0),
    ("wrong-whole-ok", "C", "whole", True, 0.0, 0.0, 1.0),
    ("wrong-whole-broken", "C", "whole", False, 0.0, 0.0, 0.0),
]


@pytest.mark.parametrize("letter,segment,good_format,acc,iou_r,fmt",
                         [r[1:] for r in MCQ_TABLE], ids=[r[0] for r in MCQ_TABLE])
def test_mcq_table(letter, segment, good_format, acc, iou_r, fmt):
    traj = mcq_trajectory(letter, segment, good_format)
    assert videotemp_accuracy_reward(traj, MCQ) == acc
    assert videotemp_iou_reward(traj, MCQ) == pytest.approx(iou_r)
    assert videotemp_format_reward(traj, MCQ) == fmt
    assert reward_breakdown(traj, MCQ, reward_set="videotemp") == pytest.approx(
        {"accuracy": acc, "iou": iou_r, "format": fmt})


def test_last_call_iou_is_the_plain_iou():
    for segment, (_span, expected) in SEGMENT_IOU.items():
        value = last_call_iou(mcq_trajectory("B", segment, True), MCQ.spans, MCQ.duration)
        assert value == (None if expected is None else pytest.approx(expected)), segment


def test_grounding_pays_more_than_not_looking_or_looking_everywhere():
    def total(segment: str) -> float:
        return total_reward(reward_breakdown(mcq_trajectory("B", segment, True), MCQ, reward_set="videotemp"))
    assert total("good") > total("whole") > total("absent")
    assert total("good") > total("poor")
    # The whole-video call earns nothing over σ: its IoU is |evidence| / duration = 0.05 < 0.1.
    assert videotemp_iou_reward(mcq_trajectory("B", "whole", True), MCQ) < 0


# ---------------------------------------------------------------------------------------------
# The videotemp set. Grounding: the answer is a span; the evidence is the answer span
# ---------------------------------------------------------------------------------------------

GROUNDING = GroundTruth("grounding", spans=(Segment(40, 60),), duration=300.0)

# id, turns, accuracy, iou reward, format.  Truth [40, 60]; call [35, 65] has IoU 20/30.
GROUNDING_TABLE = [
    ("right", [call((35, 65)), answer("[42, 58]")], 1.0, 20 / 30, 1.0),  # answer IoU 16/20 = 0.8
    ("partial_no_call", [answer("[40, 70]")], (20 / 30 - 0.2) / 0.6, 0.0 - 0.1, 1.0),
    ("borderline_right", [call((35, 65)), answer("[30, 70]")], (20 / 40 - 0.2) / 0.6, 20 / 30, 1.0),
    ("not_quite", [call((35, 65)), answer("[30, 75]")], (20 / 45 - 0.2) / 0.6, 0.0, 1.0),
    ("wrong", [call((35, 65)), answer("[100, 150]")], 0.0, 0.0, 1.0),
    ("whole_video_answer", [answer("[0, 300]")], 0.0, 0.0, 1.0),  # IoU 20/300 < 0.2
    ("answer_to_far_past_the_end", [answer("[40, 9999]")], 0.0, 0.0, 1.0),  # [40, 300]: 20/260
    ("reversed_answer", [answer("[60, 40]")], 0.0, 0.0, 0.0),
    ("no_span", [answer("around the middle")], 0.0, 0.0, 0.0),
]


@pytest.mark.parametrize("turns,acc,iou_r,fmt", [r[1:] for r in GROUNDING_TABLE],
                         ids=[r[0] for r in GROUNDING_TABLE])
def test_grounding_table(turns, acc, iou_r, fmt):
    traj = Rollout(turns)
    assert videotemp_accuracy_reward(traj, GROUNDING) == pytest.approx(acc)
    assert videotemp_iou_reward(traj, GROUNDING) == pytest.approx(iou_r)
    assert videotemp_format_reward(traj, GROUNDING) == fmt


def test_grounding_answer_is_clamped_to_the_video():
    near_end = GroundTruth("grounding", spans=(Segment(250, 300),), duration=300.0)
    # [250, 320] shows [250, 300]: IoU 1 (unclamped it would be 50/70 → accuracy 0.857).
    assert videotemp_accuracy_reward(Rollout([answer("[250, 320]")]), near_end) == 1.0


def test_grounding_correctness_threshold_is_inclusive():
    assert answer_is_correct(Rollout([answer("[30, 70]")]), GROUNDING)       # IoU 0.5
    assert not answer_is_correct(Rollout([answer("[30, 75]")]), GROUNDING)   # IoU 0.444


# ---------------------------------------------------------------------------------------------
# The videotemp set: reward hacks
# ---------------------------------------------------------------------------------------------

def test_repeated_identical_calls_cost_format_and_gain_nothing():
    once = Rollout([call((290, 370)), answer("B")])
    twice = Rollout([call((290, 370)), call((290, 370)), answer("B")])
    assert videotemp_format_reward(once, MCQ) == 1.0
    assert videotemp_format_reward(twice, MCQ) == 0.0
    assert any("repeated" in v for v in format_violations(twice, MCQ))
    assert videotemp_iou_reward(twice, MCQ) == pytest.approx(60 / 80)  # the same span as once
    assert total_reward(reward_breakdown(twice, MCQ, reward_set="videotemp")) < total_reward(reward_breakdown(once, MCQ, reward_set="videotemp"))


def test_exceeding_the_turn_limit_costs_format():
    # Turns 1 and 2 may call (max_turns 3); the third must answer.
    in_limit = Rollout([call((200, 400)), call((290, 370)), answer("B")])
    assert videotemp_format_reward(in_limit, MCQ) == 1.0
    over = Rollout([call((200, 400)), call((290, 370)), call((295, 365)), answer("B")])
    violations = format_violations(over, MCQ)
    assert videotemp_format_reward(over, MCQ) == 0.0
    assert any("4 turns, more than 3" in v for v in violations)
    assert any("turn 3: call rejected (turn_limit" in v for v in violations)
    assert videotemp_format_reward(in_limit, MCQ, RewardConfig(max_turns=2)) == 0.0


def test_trajectory_without_an_answer():
    traj = Rollout([call((290, 370)), call((300, 360))])
    assert videotemp_accuracy_reward(traj, MCQ) == 0.0
    assert videotemp_iou_reward(traj, MCQ) == 0.0  # wrong (no) answer → 0, however good the call
    assert videotemp_format_reward(traj, MCQ) == 0.0
    assert any("does not answer" in v for v in format_violations(traj, MCQ))


def test_correct_letter_with_broken_format():
    proper = Rollout([call((290, 370)), answer("B")])
    for broken_turn in ["<answer>B</answer>",                       # no think
                        THINK + "..<answer>B</answer>",             # stray dots
                        "<think>x<think><answer>B</answer>",        # second <think> as close
                        THINK + "The answer is <answer>B</answer>"]:  # text outside tags
        broken = Rollout([call((290, 370)), broken_turn])
        assert videotemp_accuracy_reward(broken, MCQ) == 1.0, broken_turn
        assert videotemp_format_reward(broken, MCQ) == 0.0, broken_turn
        assert total_reward(reward_breakdown(broken, MCQ, reward_set="videotemp")) == pytest.approx(
            total_reward(reward_breakdown(proper, MCQ, reward_set="videotemp")) - 1.0)


def test_letter_outside_answer_tags_scores_nothing():
    assert videotemp_accuracy_reward(Rollout([THINK + "B"]), MCQ) == 0.0


@pytest.mark.parametrize("text", ["B or C", "B, C", "(A) and (B)", "option B or option C"])
def test_hedged_answers_score_nothing(text):
    traj = Rollout([answer(text)])
    assert videotemp_accuracy_reward(traj, MCQ) == 0.0
    assert videotemp_format_reward(traj, MCQ) == 0.0


def test_letter_beyond_the_options_is_no_answer():
    four = GroundTruth("mcq", "E", (Segment(1, 2),), n_options=4)
    assert videotemp_accuracy_reward(Rollout([answer("E")]), four) == 0.0


def test_spread_clips_are_scored_as_their_hull():
    # Three clips, one on target: their hull is the whole video, IoU 60/1200.
    spread = Rollout([call((0, 100), (300, 360), (1100, 1200)), answer("B")])
    assert call_span(requested_calls(spread)[-1], 1200.0) == Segment(0, 1200)
    assert videotemp_iou_reward(spread, MCQ) == pytest.approx(60 / 1200 - 0.1)
    # Two adjacent clips that cover the evidence together count as one span: IoU 1.
    tiled = Rollout([call((300, 330), (330, 360)), answer("B")])
    assert videotemp_iou_reward(tiled, MCQ) == pytest.approx(1.0)


def test_the_last_call_counts_not_the_best():
    good_then_off = Rollout([call((290, 370)), call((600, 700)), answer("B")])
    assert videotemp_iou_reward(good_then_off, MCQ) == pytest.approx(0.0 - 0.1)
    off_then_good = Rollout([call((600, 700)), call((290, 370)), answer("B")])
    assert videotemp_iou_reward(off_then_good, MCQ) == pytest.approx(60 / 80)


def test_unreadable_or_invalid_last_call_counts_as_iou_zero():
    garbage = Rollout([call((290, 370)), THINK + "<tool_call>{oops</tool_call>", answer("B")])
    assert videotemp_iou_reward(garbage, MCQ) == pytest.approx(0.0 - 0.1)
    reversed_call = Rollout([call((370, 290)), answer("B")])
    assert videotemp_iou_reward(reversed_call, MCQ) == pytest.approx(0.0 - 0.1)
    assert videotemp_format_reward(reversed_call, MCQ) == 0.0


def test_call_is_clamped_to_the_video():
    # [-100, 400] shows [0, 400]: IoU 60/400 (unclamped it would be 60/500).
    traj = Rollout([call((-100, 400)), answer("B")])
    assert videotemp_iou_reward(traj, MCQ) == pytest.approx(60 / 400)
    assert videotemp_format_reward(traj, MCQ) == 1.0


def test_calls_recorded_by_the_caller_override_parsing():
    traj = Rollout([call((0, 1200)), answer("B")], calls=[[(300, 330), (330, 360)]])
    assert videotemp_iou_reward(traj, MCQ) == pytest.approx(1.0)


def test_reward_constants_are_configurable():
    good = mcq_trajectory("B", "good", True)                         # IoU 0.75
    strict = RewardConfig(iou_sigma=0.8, iou_penalty=0.5)
    assert videotemp_iou_reward(good, MCQ, strict) == pytest.approx(0.75 - 0.5)
    lenient = RewardConfig(penalize_no_call=False)
    assert videotemp_iou_reward(mcq_trajectory("B", "absent", True), MCQ, lenient) == 0.0
    poor = mcq_trajectory("B", "poor", True)
    assert videotemp_iou_reward(poor, MCQ, lenient) == pytest.approx(5 / 155 - 0.1)


def test_total_reward_weights():
    assert total_reward({"accuracy": 1.0, "iou": 0.5, "format": 1.0},
                        {"accuracy": 2.0, "format": 0.5}) == 2.0 + 0.5 + 0.5


def test_only_the_final_turn_answers():
    traj = Rollout([answer("B"), answer("C")])
    assert videotemp_accuracy_reward(traj, MCQ) == 0.0
    assert videotemp_format_reward(traj, MCQ) == 0.0
    assert videotemp_accuracy_reward(Rollout([]), MCQ) == 0.0
    assert videotemp_format_reward(Rollout([]), MCQ) == 0.0


def test_short_form_call_is_read_but_not_canonical():
    traj = Rollout([THINK + "<tool_call>[290, 370]</tool_call>", answer("B")])
    assert videotemp_iou_reward(traj, MCQ) == pytest.approx(60 / 80)
    assert videotemp_format_reward(traj, MCQ) == 0.0


def test_answer_left_open_by_a_stop_string_is_fine():
    traj = Rollout([call((290, 370)), THINK + "<answer>B"])
    assert videotemp_accuracy_reward(traj, MCQ) == 1.0
    assert videotemp_format_reward(traj, MCQ) == 1.0


@pytest.mark.parametrize("given,truth,expected", [("12", "12.0", 1.0), ("1,200", "1200", 1.0),
                                                  ("The red car.", "red car", 1.0),
                                                  ("13", "12", 0.0), ("blue car", "red car", 0.0)])
def test_open_answers(given, truth, expected):
    assert videotemp_accuracy_reward(Rollout([answer(given)]), GroundTruth("open", truth, (Segment(1, 2),))) == expected


# =============================================================================================
# The ms-swift plug-ins, built and called the way ms-swift 3.10.3's GRPOTrainer does
# =============================================================================================

def conversation(turns: list[str]) -> list[dict]:
    """Messages as a multi-turn rollout leaves them: system, user, then assistant/tool feedback."""
    messages = [{"role": "system", "content": system_prompt()},
                {"role": "user", "content": "<video>" + mcq_prompt("What?", ["x", "y", "z", "w"])}]
    for k, turn in enumerate(turns):
        if k:
            feedback = clip_feedback([(1, 2)], video_tag="<video>")
            messages.append({"role": "user", "content": feedback})
        messages.append({"role": "assistant", "content": turn})
    return messages


def build_like_trainer(name: str, args: SimpleNamespace):
    """GRPOTrainer._prepare_rewards: the class from ``orms``, __init__ fed from trainer args."""
    from swift.plugin.orm import orms
    cls = orms[name]
    params = list(inspect.signature(cls.__init__).parameters)
    kwargs = {k: getattr(args, k) for k in params
              if k not in ("self", "args", "kwargs") and hasattr(args, k)}
    return cls(**kwargs)


def call_like_trainer(func, inputs: list[dict], trajectory_inputs=None) -> list:
    """GRPOTrainer._compute_rewards_per_func for a non-model reward function."""
    from swift.llm import RowPreprocessor
    completions = [inp["messages"][-1]["content"] for inp in inputs]
    reward_kwargs = {"trainer_state": None}
    if trajectory_inputs is not None:
        reward_kwargs["trajectory_inputs"] = trajectory_inputs
    reward_kwargs.update(RowPreprocessor.rows_to_batched(inputs))
    return func(completions, **reward_kwargs)


OURS = {"answer": "B", "timestamp": [300, 360], "duration": 1200}
RELEASE_ROW = {"data_type": "qa", "solution": "B", "timestamp": [[300, 360]]}
SWIFT_CASES = [  # (turns, dataset columns)
    ([call((290, 370)), answer("B")], OURS),
    ([call((355, 455)), answer("B")], OURS),
    ([call((290, 370)), call((290, 370)), answer("B")], OURS),
    (["<answer>B</answer>"], OURS),
    ([answer("C")], OURS),
    ([call((35, 65)), answer("[42, 58]")], {"answer": [40, 60], "duration": 300}),
    ([call((290, 370)), answer("B")], RELEASE_ROW),
    ([call((35, 65)), answer("[42, 58]")],
     {"data_type": "grounding", "solution": "[40, 60]", "timestamp": [[40, 60]]}),
]
NAMES = {"release": ("acc_reward", "iou_reward", "format_reward"),
         "videotemp": ("videotemp_accuracy", "videotemp_iou", "videotemp_format")}


def test_orms_are_registered_under_the_release_names_and_ours():
    pytest.importorskip("swift.plugin.orm")
    import videotemp_o3.training.swift_plugin as plugin
    from swift.plugin.orm import ORM, orms
    assert plugin.REWARD_FUNCS == NAMES
    for names in NAMES.values():
        for name in names:
            assert issubclass(orms[name], ORM)
            assert orms[name] is plugin.ORM_NAMES[name]
    # ms-swift logs rewards by class name.
    assert [orms[n].__name__ for n in NAMES["release"]] == [
        "AccuracyReward", "IoUReward", "FormatReward"]


@pytest.mark.parametrize("reward_set", list(NAMES))
def test_orms_match_the_plain_functions(reward_set):
    pytest.importorskip("swift.plugin.orm")
    import videotemp_o3.training.swift_plugin  # noqa: F401  (registers)
    args = SimpleNamespace(max_turns=3)
    inputs = [{"messages": conversation(turns), "request_id": f"r{k}", **cols}
              for k, (turns, cols) in enumerate(SWIFT_CASES)]
    expected = [reward_breakdown(Rollout(turns), GroundTruth.from_row(cols),
                                 reward_set=reward_set) for turns, cols in SWIFT_CASES]
    for name, key in zip(NAMES[reward_set], ("accuracy", "iou", "format")):
        got = call_like_trainer(build_like_trainer(name, args), inputs)
        assert got == pytest.approx([e[key] for e in expected]), name


def test_orms_by_hand():
    pytest.importorskip("swift.plugin.orm")
    import videotemp_o3.training.swift_plugin  # noqa: F401
    args = SimpleNamespace(max_turns=3)
    inputs = [{"messages": conversation(turns), "request_id": f"r{k}", **cols}
              for k, (turns, cols) in enumerate(SWIFT_CASES)]
    # The release's IoU reward: normalised; the grounding rows -0.1 (accuracy exactly 1).
    got = call_like_trainer(build_like_trainer("iou_reward", args), inputs)
    assert got == pytest.approx([(0.75 - 0.2) / 0.6, -0.1, (0.75 - 0.2) / 0.6, -0.1, 0.0, -0.1,
                                 (0.75 - 0.2) / 0.6, -0.1])
    assert call_like_trainer(build_like_trainer("format_reward", args), inputs) == [
        1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0]
    # Ours: raw IoU of the last call.
    got = call_like_trainer(build_like_trainer("videotemp_iou", args), inputs)
    assert got[:2] + got[5:6] == pytest.approx([60 / 80, 5 / 155 - 0.1, 20 / 30])
    assert call_like_trainer(build_like_trainer("videotemp_format", args), inputs)[:4] == [
        1.0, 1.0, 0.0, 0.0]


def test_orm_refuses_a_row_it_cannot_score():
    pytest.importorskip("swift.plugin.orm")
    import videotemp_o3.training.swift_plugin  # noqa: F401
    row = {"messages": conversation([answer("B")]), "uid": "q7", "data_type": "qa",
           "solution": "B", "timestamp": None}
    with pytest.raises(UnscorableRow, match=r"uid 'q7': no usable 'timestamp'.*rl_data validate"):
        call_like_trainer(build_like_trainer("iou_reward", SimpleNamespace()), [row])


def test_orm_takes_max_turns_from_trainer_args():
    pytest.importorskip("swift.plugin.orm")
    import videotemp_o3.training.swift_plugin  # noqa: F401
    turns = [call((200, 400)), call((290, 370)), answer("B")]
    inputs = [{"messages": conversation(turns), **OURS}]
    assert call_like_trainer(build_like_trainer("videotemp_format", SimpleNamespace(max_turns=3)),
                             inputs) == [1.0]
    assert call_like_trainer(build_like_trainer("videotemp_format", SimpleNamespace(max_turns=2)),
                             inputs) == [0.0]
    assert call_like_trainer(build_like_trainer("videotemp_format", SimpleNamespace()),
                             inputs) == [1.0]  # no --max_turns: the protocol's default


def test_orm_uses_the_whole_trajectory_and_rollout_infos():
    pytest.importorskip("swift.plugin.orm")
    import videotemp_o3.training.swift_plugin  # noqa: F401
    turns = [call((-100, 400)), answer("B")]
    # A scheduler that returns one row per round: the first row holds only round 1.
    round1 = {"messages": conversation(turns[:1]), "request_id": "q", "answer": "B",
              "timestamp": [300, 360], "rollout_infos": {"num_turns": 1, "duration": 1200}}
    round2 = {**round1, "messages": conversation(turns),
              "rollout_infos": {"num_turns": 2, "duration": 1200}}
    inputs = [round1, round2]
    traj_inputs = {"q": [round1, round2]}
    args = SimpleNamespace(max_turns=3)
    acc = call_like_trainer(build_like_trainer("videotemp_accuracy", args), inputs, traj_inputs)
    assert acc == [1.0, 1.0]  # round 1's row is scored on the whole trajectory
    iou_values = call_like_trainer(build_like_trainer("videotemp_iou", args), inputs, traj_inputs)
    # duration 1200 comes from rollout_infos: the call is clamped to [0, 400] → IoU 60/400.
    assert iou_values == pytest.approx([60 / 400, 60 / 400])
    # The release's set does not clamp: [-100, 400] against [300, 360] is 60/500 -> v = 0.
    release = call_like_trainer(build_like_trainer("iou_reward", args), inputs, traj_inputs)
    assert release == pytest.approx([-0.1, -0.1])


# =============================================================================================
# What mutation testing (scripts/mutation.sh) found unchecked: the messages of unscorable rows,
# span shapes that are not spans, a non-default configuration reaching every reward, the
# boundaries at σ, and the videotemp format's reasons word for word.
# =============================================================================================

@pytest.mark.parametrize("row, message", [
    ({}, "the row has neither 'task' nor 'data_type'"),
    ({"task": "essay", "answer": "x", "timestamp": [1, 2]},
     "unknown task 'essay'; expected one of mcq, grounding, open"),
    ({"task": "grounding"}, "no usable 'timestamp' (its answer span [S, E] or a list of them), got None; "
                            "the IoU rewards are computed against it"),
    ({"task": "mcq", "answer": "B"}, "no usable 'timestamp' (its evidence span [S, E] or a list of them), got None"),
    ({"task": "open", "answer": "   ", "timestamp": [1, 2]}, "no 'solution' (or 'answer') to score the answer against"),
    ({"task": "mcq", "answer": "B", "timestamp": [1, 2], "duration": "long"},
     "duration 'long' is not a number of seconds"),
])
def test_unscorable_rows_say_what_is_missing(row, message):
    with pytest.raises(UnscorableRow) as info:
        GroundTruth.from_row(row)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize("timestamp", [{"start": 1, "end": 2}, [1, 2, 3], "1 to 2", 5, [[1, 2], "x"]],
                         ids=["dict", "three_numbers", "string_without_brackets", "number", "one_bad_of_two"])
def test_what_is_not_a_span_is_unscorable(timestamp):
    with pytest.raises(UnscorableRow, match="no usable 'timestamp'"):
        GroundTruth.from_row({"task": "mcq", "answer": "B", "timestamp": timestamp})


def test_row_fields_read_as_documented():
    # A grounding row's own timestamp wins over its answer text.
    gt = GroundTruth.from_row({"task": "grounding", "answer": "[5, 6]", "timestamp": [1, 2]})
    assert gt.spans == (Segment(1, 2),) and gt.answer is None
    # "candidates" counts the options too; an empty list is no count.
    row = {"task": "mcq", "answer": "B", "timestamp": [1, 2]}
    assert GroundTruth.from_row({**row, "candidates": ["x", "y", "z"]}).n_options == 3
    assert GroundTruth.from_row({**row, "options": []}).n_options == GroundTruth("mcq").n_options


def test_release_rules_name_the_row_they_cannot_score():
    gt = GroundTruth.from_row({"task": "open", "answer": "two", "timestamp": [1, 2]})
    with pytest.raises(UnscorableRow, match=r"^the release's accuracy scores qa and grounding rows, not 'open'$"):
        accuracy_reward(Rollout([answer("two")]), gt)
    with pytest.raises(UnscorableRow, match=r"^the release's IoU reward scores qa and grounding rows, not 'open'$"):
        iou_reward(Rollout([answer("two")]), gt)
    with pytest.raises(ValueError, match=r"^unknown reward set 'mine'; choose release, videotemp$"):
        reward_breakdown(Rollout([answer("two")]), gt, reward_set="mine")


def test_grounding_rows_need_no_answer_text():
    # The spans are a grounding row's answer: a row with a timestamp alone is scorable.
    assert GroundTruth.from_row({"task": "grounding", "timestamp": [1, 2]}).spans == (Segment(1, 2),)


def test_release_format_problems_word_for_word():
    from videotemp_o3.training.rewards import release_format_problem

    assert release_format_problem("just text") == (
        "not exactly <think>…</think> then <tool_call>…</tool_call> or <answer>…</answer>")
    assert release_format_problem(THINK + '<tool_call>{"name": "crop"}</tool_call>') == (
        "the tool call is not get_video_clip_frame with numeric start_time/end_time")
    assert release_format_problem(answer("B")) is None and release_format_problem(call((1, 2))) is None


def test_release_final_answer_of_nothing_is_empty():
    assert release_final_answer(Rollout([])) == ""
    assert release_final_answer(Rollout([""])) == ""


# A configuration unlike the release's: raw IoU (no floor, range 1), σ 0.5, a right grounding
# answer from IoU 0.3, one clip per call, two turns.
RAW = RewardConfig(iou_floor=0.0, iou_range=1.0, iou_sigma=0.5, grounding_correct_iou=0.3, max_clips=1,
                   max_turns=2)
G10 = GroundTruth("grounding", None, (Segment(0, 10),), duration=60.0)
Q10 = GroundTruth("mcq", "B", (Segment(0, 5),), duration=60.0)


def test_every_reward_follows_the_configuration():
    # Grounding answer [0, 8] against [0, 10]: IoU 0.8 -> 1.0 normalised the release's way, 0.8 raw.
    close = Rollout([call((0, 20)), answer("[0, 8]")])
    assert accuracy_reward(close, G10) == 1.0 and accuracy_reward(close, G10, RAW) == pytest.approx(0.8)
    assert videotemp_accuracy_reward(close, G10) == 1.0
    assert videotemp_accuracy_reward(close, G10, RAW) == pytest.approx(0.8)
    # The release's IoU reward pays only a right answer (accuracy exactly 1): here, only by default.
    assert iou_reward(close, G10) == pytest.approx(-0.1) and iou_reward(close, G10, RAW) == 0.0
    # A right MCQ answer after a call [0, 10] on evidence [0, 5]: IoU exactly 0.5 = σ, kept (>=).
    looked = Rollout([call((0, 10)), answer("B")])
    assert iou_reward(looked, Q10, RAW) == 0.5 and iou_reward(looked, Q10) == pytest.approx(0.5)
    assert videotemp_iou_reward(looked, Q10, RAW) == 0.5
    # Call [0, 8]: IoU 5/8, kept raw (the release's normalisation would make it 0.708).
    wider = Rollout([call((0, 8)), answer("B")])
    assert iou_reward(wider, Q10, RAW) == 0.625 and iou_reward(wider, Q10) == pytest.approx((0.625 - 0.2) / 0.6)
    # IoU 0.4 is a right grounding answer from 0.3 on, not from the default 0.5.
    near = Rollout([call((0, 10)), answer("[0, 4]")])
    assert answer_is_correct(near, G10, RAW) and not answer_is_correct(near, G10)
    assert videotemp_iou_reward(near, G10, RAW) == 1.0 and videotemp_iou_reward(near, G10) == 0.0
    for reward_set in ("release", "videotemp"):
        by_name = reward_breakdown(near, G10, RAW, reward_set=reward_set)
        assert by_name == reward_breakdown(near, G10, RAW, reward_set) != reward_breakdown(near, G10,
                                                                                           reward_set=reward_set)


def test_format_violations_word_for_word():
    assert format_violations(Rollout([])) == ["no assistant turn"]
    assert format_violations(Rollout(["just text"])) == [
        "turn 1: text outside the tags; no <think> block; neither <answer> nor <tool_call>"]
    assert format_violations(Rollout([answer("B"), answer("C")])) == ["turn 1: answers before the last turn"]
    four = GroundTruth("mcq", "B", (Segment(0, 5),), duration=60.0, n_options=4)
    assert format_violations(Rollout([call((0, 10)), answer("E")]), four) == ["final answer is not a valid mcq answer"]
    assert format_violations(Rollout([call((0, 10)), answer("D")]), four) == []
    opened = GroundTruth("open", "two", (Segment(0, 5),))
    assert format_violations(Rollout([call((0, 10)), answer("two")]), opened) == []
    # The video's length comes from the row: a call past its end is rejected only when it is known.
    past = Rollout([call((100, 120)), answer("B")])
    assert format_violations(past) == []
    assert format_violations(past, Q10) == [
        "turn 1: call rejected (outside_video: the segment [100.0, 120.0] lies outside the video (0 – 60.0 s))"]
    # The configuration's clip and turn limits reach the call checks.
    assert format_violations(Rollout([call((0, 5), (6, 9)), answer("B")]), Q10, RAW)[0].startswith(
        "turn 1: call rejected (too_many_clips:")
    three = format_violations(Rollout([call((0, 5)), call((6, 9)), answer("B")]), Q10, RAW)
    assert three[0] == "3 turns, more than 2" and three[1].startswith("turn 2: call rejected (turn_limit:")


def test_call_spans_that_are_not_finite_are_not_clamped_into_the_video():
    # One infinite end: the call is invalid (no IoU), not clamped to [5, 60].
    traj = Rollout([call((5, 9)), answer("B")], calls=[[(5.0, math.inf)]])
    assert call_span([(5.0, math.inf)], 60.0) is None
    assert last_call_iou(traj, [(5.0, 60.0)], 60.0) == 0.0


def test_a_call_that_cannot_be_read_is_an_empty_call():
    bad = THINK + '<tool_call>{"name": "get_video_clip_frame", "arguments": [{"start_time": </tool_call>'
    assert requested_calls(Rollout([bad, answer("B")])) == [()]
    assert requested_calls(Rollout([call((1, 2)), bad, answer("B")])) == [(Segment(1, 2),), ()]
    # A call of another tool is read (its spans too) but shows nothing.
    other = THINK + '<tool_call>{"name": "crop_video", "arguments": [{"start_time": 1, "end_time": 2}]}</tool_call>'
    assert requested_calls(Rollout([other, answer("B")])) == [()]


@pytest.mark.parametrize("said, truth, right", [
    ("5", "five", False),                 # one number, one word: compared as text
    ("1000000.5", "1000000", True),       # equal to 1e-6 relative
    ("1000002", "1000000", False),
    ("0.0000000001", "0", True),          # equal to 1e-9 absolute
    (".5", "0.5", True),
    ("a cat", "cat", True), ("an apple", "Apple.", True), ("the dog", "dog", True), ("dogs", "dog", False),
])
def test_open_answers_match_as_numbers_or_normalised_text(said, truth, right):
    gt = GroundTruth("open", truth, (Segment(0, 5),))
    assert videotemp_accuracy_reward(Rollout([answer(said)]), gt) == (1.0 if right else 0.0)
