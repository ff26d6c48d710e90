"""GRPO rewards over trajectories, and their ms-swift ORM wrappers.

Every expected value is computed by hand in the table (as arithmetic on the spans involved),
never by calling the code under test.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from videotemp_o3.protocol import clip_feedback, mcq_prompt, system_prompt
from videotemp_o3.segments import Segment
from videotemp_o3.training.rewards import (GroundTruth, RewardConfig, Trajectory,
                                           accuracy_reward, answer_is_correct, call_span,
                                           format_reward, format_violations, iou_reward,
                                           last_call_iou, requested_calls, reward_breakdown,
                                           total_reward)

REPO = Path(__file__).resolve().parents[1]
THINK = "<think>The overview suggests the scene is early on.</think>\n"


def call(*spans: tuple[float, float], think: bool = True) -> str:
    args = ", ".join(f'{{"start_time": {s}, "end_time": {e}}}' for s, e in spans)
    return (THINK if think else "") + (
        f'<tool_call>{{"name": "get_video_clip_frame", "arguments": [{args}]}}</tool_call>')


def answer(text: str, think: bool = True) -> str:
    return (THINK if think else "") + f"<answer>{text}</answer>"


# ---------------------------------------------------------------------------------------------
# Multiple choice: right/wrong × good/poor/absent/whole-video call × good/broken format
# ---------------------------------------------------------------------------------------------

# A 20-minute video; the evidence for the question lies at 300–360 s; the right option is B.
MCQ = GroundTruth(task="mcq", answer="B", evidence=Segment(300, 360), duration=1200.0)

SEGMENT_IOU = {                      # IoU with [300, 360], by hand
    "good": ((290, 370), 60 / 80),   # evidence inside: 60 s / hull 80 s
    "poor": ((355, 455), 5 / 155),   # overlap 355–360: 5 s / hull 300–455: 155 s
    "whole": ((0, 1200), 60 / 1200),  # the hack: ask for everything
    "absent": (None, None),
}


def mcq_trajectory(letter: str, segment: str, good_format: bool) -> Trajectory:
    span = SEGMENT_IOU[segment][0]
    turns = [] if span is None else [call(span)]
    turns.append(answer(letter, think=good_format))  # broken: the answer turn skips <think>
    return Trajectory(turns)


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
    assert accuracy_reward(traj, MCQ) == acc
    assert iou_reward(traj, MCQ) == pytest.approx(iou_r)
    assert format_reward(traj, MCQ) == fmt
    assert reward_breakdown(traj, MCQ) == pytest.approx(
        {"accuracy": acc, "iou": iou_r, "format": fmt})


def test_last_call_iou_is_the_plain_iou():
    for segment, (span, expected) in SEGMENT_IOU.items():
        value = last_call_iou(mcq_trajectory("B", segment, True), MCQ.evidence, MCQ.duration)
        assert value == (None if expected is None else pytest.approx(expected)), segment


def test_grounding_pays_more_than_not_looking_or_looking_everywhere():
    def total(segment: str) -> float:
        return total_reward(reward_breakdown(mcq_trajectory("B", segment, True), MCQ))
    assert total("good") > total("whole") > total("absent")
    assert total("good") > total("poor")
    # The whole-video call earns nothing over σ: its IoU is |evidence| / duration = 0.05 < 0.1.
    assert iou_reward(mcq_trajectory("B", "whole", True), MCQ) < 0


# ---------------------------------------------------------------------------------------------
# Grounding: the answer is a span; the evidence is the answer span
# ---------------------------------------------------------------------------------------------

GROUNDING = GroundTruth(task="grounding", answer=Segment(40, 60), duration=300.0)

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
    traj = Trajectory(turns)
    assert accuracy_reward(traj, GROUNDING) == pytest.approx(acc)
    assert iou_reward(traj, GROUNDING) == pytest.approx(iou_r)
    assert format_reward(traj, GROUNDING) == fmt


def test_grounding_answer_is_clamped_to_the_video():
    near_end = GroundTruth(task="grounding", answer=Segment(250, 300), duration=300.0)
    # [250, 320] shows [250, 300]: IoU 1 (unclamped it would be 50/70 → accuracy 0.857).
    assert accuracy_reward(Trajectory([answer("[250, 320]")]), near_end) == 1.0


def test_grounding_correctness_threshold_is_inclusive():
    assert answer_is_correct(Trajectory([answer("[30, 70]")]), GROUNDING)       # IoU 0.5
    assert not answer_is_correct(Trajectory([answer("[30, 75]")]), GROUNDING)   # IoU 0.444


# ---------------------------------------------------------------------------------------------
# Reward hacks
# ---------------------------------------------------------------------------------------------

def test_repeated_identical_calls_cost_format_and_gain_nothing():
    once = Trajectory([call((290, 370)), answer("B")])
    twice = Trajectory([call((290, 370)), call((290, 370)), answer("B")])
    assert format_reward(once, MCQ) == 1.0
    assert format_reward(twice, MCQ) == 0.0
    assert any("repeated" in v for v in format_violations(twice, MCQ))
    assert iou_reward(twice, MCQ) == pytest.approx(60 / 80)  # the same span as once
    assert total_reward(reward_breakdown(twice, MCQ)) < total_reward(reward_breakdown(once, MCQ))


def test_exceeding_the_turn_limit_costs_format():
    # Turns 1 and 2 may call (max_turns 3); the third must answer.
    in_limit = Trajectory([call((200, 400)), call((290, 370)), answer("B")])
    assert format_reward(in_limit, MCQ) == 1.0
    over = Trajectory([call((200, 400)), call((290, 370)), call((295, 365)), answer("B")])
    violations = format_violations(over, MCQ)
    assert format_reward(over, MCQ) == 0.0
    assert any("4 turns, more than 3" in v for v in violations)
    assert any("turn 3: call rejected (turn_limit" in v for v in violations)
    assert format_reward(in_limit, MCQ, RewardConfig(max_turns=2)) == 0.0


def test_trajectory_without_an_answer():
    traj = Trajectory([call((290, 370)), call((300, 360))])
    assert accuracy_reward(traj, MCQ) == 0.0
    assert iou_reward(traj, MCQ) == 0.0  # wrong (no) answer → 0, however good the call
    assert format_reward(traj, MCQ) == 0.0
    assert any("does not answer" in v for v in format_violations(traj, MCQ))


def test_correct_letter_with_broken_format():
    proper = Trajectory([call((290, 370)), answer("B")])
    for broken_turn in ["<answer>B</answer>",                       # no think
                        THINK + "..<answer>B</answer>",             # stray dots
                        "<think>x<think><answer>B</answer>",        # second <think> as close
                        THINK + "The answer is <answer>B</answer>"]:  # text outside tags
        broken = Trajectory([call((290, 370)), broken_turn])
        assert accuracy_reward(broken, MCQ) == 1.0, broken_turn
        assert format_reward(broken, MCQ) == 0.0, broken_turn
        assert total_reward(reward_breakdown(broken, MCQ)) == pytest.approx(
            total_reward(reward_breakdown(proper, MCQ)) - 1.0)


def test_letter_outside_answer_tags_scores_nothing():
    assert accuracy_reward(Trajectory([THINK + "B"]), MCQ) == 0.0


@pytest.mark.parametrize("text", ["B or C", "B, C", "(A) and (B)", "option B or option C"])
def test_hedged_answers_score_nothing(text):
    traj = Trajectory([answer(text)])
    assert accuracy_reward(traj, MCQ) == 0.0
    assert format_reward(traj, MCQ) == 0.0


def test_letter_beyond_the_options_is_no_answer():
    four = GroundTruth(task="mcq", answer="E", n_options=4)
    assert accuracy_reward(Trajectory([answer("E")]), four) == 0.0


def test_spread_clips_are_scored_as_their_hull():
    # Three clips, one on target: their hull is the whole video, IoU 60/1200.
    spread = Trajectory([call((0, 100), (300, 360), (1100, 1200)), answer("B")])
    assert call_span(requested_calls(spread)[-1], 1200.0) == Segment(0, 1200)
    assert iou_reward(spread, MCQ) == pytest.approx(60 / 1200 - 0.1)
    # Two adjacent clips that cover the evidence together count as one span: IoU 1.
    tiled = Trajectory([call((300, 330), (330, 360)), answer("B")])
    assert iou_reward(tiled, MCQ) == pytest.approx(1.0)


def test_the_last_call_counts_not_the_best():
    good_then_off = Trajectory([call((290, 370)), call((600, 700)), answer("B")])
    assert iou_reward(good_then_off, MCQ) == pytest.approx(0.0 - 0.1)
    off_then_good = Trajectory([call((600, 700)), call((290, 370)), answer("B")])
    assert iou_reward(off_then_good, MCQ) == pytest.approx(60 / 80)


def test_unreadable_or_invalid_last_call_counts_as_iou_zero():
    garbage = Trajectory([call((290, 370)), THINK + "<tool_call>{oops</tool_call>", answer("B")])
    assert iou_reward(garbage, MCQ) == pytest.approx(0.0 - 0.1)
    reversed_call = Trajectory([call((370, 290)), answer("B")])
    assert iou_reward(reversed_call, MCQ) == pytest.approx(0.0 - 0.1)
    assert format_reward(reversed_call, MCQ) == 0.0


def test_call_is_clamped_to_the_video():
    # [-100, 400] shows [0, 400]: IoU 60/400 (unclamped it would be 60/500).
    traj = Trajectory([call((-100, 400)), answer("B")])
    assert iou_reward(traj, MCQ) == pytest.approx(60 / 400)
    assert format_reward(traj, MCQ) == 1.0


def test_calls_recorded_by_the_caller_override_parsing():
    traj = Trajectory([call((0, 1200)), answer("B")], calls=[[(300, 330), (330, 360)]])
    assert iou_reward(traj, MCQ) == pytest.approx(1.0)


def test_reward_constants_are_configurable():
    good = mcq_trajectory("B", "good", True)                         # IoU 0.75
    strict = RewardConfig(iou_sigma=0.8, iou_penalty=0.5)
    assert iou_reward(good, MCQ, strict) == pytest.approx(0.75 - 0.5)
    lenient = RewardConfig(penalize_no_call=False)
    assert iou_reward(mcq_trajectory("B", "absent", True), MCQ, lenient) == 0.0
    poor = mcq_trajectory("B", "poor", True)
    assert iou_reward(poor, MCQ, lenient) == pytest.approx(5 / 155 - 0.1)


def test_iou_reward_not_applicable_without_evidence():
    no_evidence = GroundTruth(task="mcq", answer="B")
    traj = mcq_trajectory("B", "good", True)
    assert iou_reward(traj, no_evidence) is None
    assert total_reward(reward_breakdown(traj, no_evidence)) == 1.0 + 1.0  # accuracy + format
    assert total_reward({"accuracy": 1.0, "iou": 0.5, "format": 1.0},
                        {"accuracy": 2.0, "format": 0.5}) == 2.0 + 0.5 + 0.5


def test_only_the_final_turn_answers():
    traj = Trajectory([answer("B"), answer("C")])
    assert accuracy_reward(traj, MCQ) == 0.0
    assert format_reward(traj, MCQ) == 0.0
    assert accuracy_reward(Trajectory([]), MCQ) == 0.0
    assert format_reward(Trajectory([]), MCQ) == 0.0


def test_short_form_call_is_read_but_not_canonical():
    traj = Trajectory([THINK + "<tool_call>[290, 370]</tool_call>", answer("B")])
    assert iou_reward(traj, MCQ) == pytest.approx(60 / 80)
    assert format_reward(traj, MCQ) == 0.0


def test_answer_left_open_by_a_stop_string_is_fine():
    traj = Trajectory([call((290, 370)), THINK + "<answer>B"])
    assert accuracy_reward(traj, MCQ) == 1.0
    assert format_reward(traj, MCQ) == 1.0


@pytest.mark.parametrize("given,truth,expected", [("12", "12.0", 1.0), ("1,200", "1200", 1.0),
                                                  ("The red car.", "red car", 1.0),
                                                  ("13", "12", 0.0), ("blue car", "red car", 0.0)])
def test_open_answers(given, truth, expected):
    assert accuracy_reward(Trajectory([answer(given)]), GroundTruth("open", truth)) == expected


# ---------------------------------------------------------------------------------------------
# GroundTruth.from_row
# ---------------------------------------------------------------------------------------------

def test_ground_truth_from_rows():
    assert GroundTruth.from_row({"solution": " b", "timestamp": [300, 360], "duration": "1200",
                                 "options": ["w", "x", "y", "z"]}) == GroundTruth(
        "mcq", "B", Segment(300, 360), 1200.0, 4)
    assert GroundTruth.from_row({"answer": [40, 60], "duration": 300}) == GroundTruth(
        "grounding", Segment(40, 60), None, 300.0)
    assert GroundTruth.from_row({"answer": "[40, 60]"}).task == "grounding"
    assert GroundTruth.from_row({"answer": "a red car"}).task == "open"
    assert GroundTruth.from_row({"answer": "7", "task": "open"}).answer == "7"
    with pytest.raises(ValueError, match="no 'answer'"):
        GroundTruth.from_row({"question": "q"})
    with pytest.raises(ValueError, match="unknown task"):
        GroundTruth.from_row({"answer": "B", "task": "essay"})
    with pytest.raises(ValueError, match="not a span"):
        GroundTruth.from_row({"answer": "B", "task": "grounding"})


def test_core_modules_import_without_ms_swift():
    code = ("import sys, videotemp_o3.protocol, videotemp_o3.training.rewards; "
            "assert not any(m == 'swift' or m.startswith('swift.') for m in sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO,
                   env={"PYTHONPATH": str(REPO / "python")})


# ---------------------------------------------------------------------------------------------
# ms-swift ORM wrappers, called the way ms-swift 3.10.3's GRPOTrainer calls them
# ---------------------------------------------------------------------------------------------

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


SWIFT_CASES = [  # (turns, dataset columns)
    ([call((290, 370)), answer("B")], {"answer": "B", "timestamp": [300, 360], "duration": 1200}),
    ([call((355, 455)), answer("B")], {"answer": "B", "timestamp": [300, 360], "duration": 1200}),
    ([call((290, 370)), call((290, 370)), answer("B")],
     {"answer": "B", "timestamp": [300, 360], "duration": 1200}),
    (["<answer>B</answer>"], {"answer": "B", "timestamp": [300, 360], "duration": 1200}),
    ([answer("C")], {"answer": "B", "timestamp": [300, 360], "duration": 1200}),
    ([call((35, 65)), answer("[42, 58]")], {"answer": [40, 60], "duration": 300}),
    ([answer("B")], {"answer": "B", "timestamp": None, "duration": 1200}),  # no evidence
]


def test_orms_are_registered():
    pytest.importorskip("swift.plugin.orm")
    import videotemp_o3.training.swift_plugin_rewards as plugin
    from swift.plugin.orm import ORM, orms
    for name in ("videotemp_accuracy", "videotemp_iou", "videotemp_format"):
        assert issubclass(orms[name], ORM)
        assert orms[name] is plugin.ORM_NAMES[name]


def test_orms_match_the_plain_functions():
    pytest.importorskip("swift.plugin.orm")
    import videotemp_o3.training.swift_plugin_rewards  # noqa: F401  (registers)
    args = SimpleNamespace(max_turns=3)
    inputs = [{"messages": conversation(turns), "request_id": f"r{k}", **cols}
              for k, (turns, cols) in enumerate(SWIFT_CASES)]
    expected = [reward_breakdown(Trajectory(turns), GroundTruth.from_row(cols))
                for turns, cols in SWIFT_CASES]
    for name, key in (("videotemp_accuracy", "accuracy"), ("videotemp_iou", "iou"),
                      ("videotemp_format", "format")):
        got = call_like_trainer(build_like_trainer(name, args), inputs)
        want = [e[key] for e in expected]
        assert got == pytest.approx(want), name
    # Spot-check a few values by hand so that both sides cannot be wrong together.
    got_iou = call_like_trainer(build_like_trainer("videotemp_iou", args), inputs)
    assert got_iou[0] == pytest.approx(60 / 80)
    assert got_iou[1] == pytest.approx(5 / 155 - 0.1)
    assert got_iou[5] == pytest.approx(20 / 30)
    assert got_iou[6] is None
    assert call_like_trainer(build_like_trainer("videotemp_format", args), inputs)[:4] == [
        1.0, 1.0, 0.0, 0.0]


def test_orm_takes_max_turns_from_trainer_args():
    pytest.importorskip("swift.plugin.orm")
    import videotemp_o3.training.swift_plugin_rewards  # noqa: F401
    turns = [call((200, 400)), call((290, 370)), answer("B")]
    inputs = [{"messages": conversation(turns), "answer": "B", "duration": 1200}]
    assert call_like_trainer(build_like_trainer("videotemp_format", SimpleNamespace(max_turns=3)),
                             inputs) == [1.0]
    assert call_like_trainer(build_like_trainer("videotemp_format", SimpleNamespace(max_turns=2)),
                             inputs) == [0.0]
    assert call_like_trainer(build_like_trainer("videotemp_format", SimpleNamespace()),
                             inputs) == [1.0]  # no --max_turns: the protocol's default


def test_orm_uses_the_whole_trajectory_and_rollout_infos():
    pytest.importorskip("swift.plugin.orm")
    import videotemp_o3.training.swift_plugin_rewards  # noqa: F401
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
