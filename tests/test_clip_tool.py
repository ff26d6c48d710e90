"""The clip tool (videotemp_o3.clip_tool): the one step from a tool call to clips or a refusal,
shared by the agent, the RL environment and the SFT builder."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from videotemp_o3 import protocol
from videotemp_o3.clip_tool import ClipTool
from videotemp_o3.protocol import CallProblem, ClipRequest, RejectedCall
from videotemp_o3.segments import Segment
from videotemp_o3.testing.videos import make_indexed_video
from videotemp_o3.video import FrameBudget, VideoReader

REPO = Path(__file__).resolve().parents[1]
BUDGET = FrameBudget(fps=2.0, min_frames=4, max_frames=16, max_pixels=28 * 28 * 8,
                     min_pixels=28 * 28 * 4)


@pytest.fixture(scope="module")
def slow_video(tmp_path_factory):
    # 20 s at 1 fps: a 0.5 s clip is long enough for the protocol but may hold a single frame.
    return VideoReader(make_indexed_video(tmp_path_factory.mktemp("tool") / "one_fps.mp4",
                                          frames=20, fps=1.0, size=(96, 160)))


def call(*spans) -> protocol.ToolCall:
    return protocol.parse_turn(protocol.render_turn("look", segments=list(spans))).tool_call


def test_valid_call_becomes_clamped_clips(slow_video):
    tool = ClipTool(BUDGET)
    got = tool.answer(call((2, 6), (15, 30)), slow_video, turn=1)
    assert got == [ClipRequest(Segment(2, 6), Segment(2, 6)),
                   ClipRequest(Segment(15, 20), Segment(15, 30))]


def test_protocol_refusals_are_values(slow_video):
    tool = ClipTool(BUDGET, max_turns=3)
    assert tool.answer(call((6, 2)), slow_video).problem is CallProblem.REVERSED
    assert tool.answer(call((2, 6)), slow_video, previous=[(2, 6)]).problem is CallProblem.REPEATED
    assert tool.answer(call((2, 6)), slow_video, turn=3).problem is CallProblem.TURN_LIMIT
    assert tool.answer(call((1, 2), (3, 4), (5, 6), (7, 8)), slow_video).problem is \
        CallProblem.TOO_MANY_CLIPS


@pytest.mark.parametrize("span", [(5.2, 6.3), (4.5, 5.99), (0.1, 1.9), (18.2, 25.0)])
def test_too_short_for_the_sampler_is_a_value_and_agrees_with_the_video_layer(slow_video, span):
    # Each span is longer than the protocol's minimum but holds a single frame (indices
    # ceil(S) .. floor(E) at 1 fps): FrameBudget.plan refuses it, the tool says so as a value.
    tool = ClipTool(BUDGET)
    got = tool.answer(call(span), slow_video)
    assert isinstance(got, RejectedCall) and got.problem is CallProblem.TOO_SHORT
    assert "fewer than two frames" in got.detail
    m = slow_video.metadata
    with pytest.raises(ValueError, match="fewer than two frames"):
        BUDGET.plan(slow_video.num_frames, m.avg_fps, *m.display_size, *span)


@pytest.mark.parametrize("span", [(5.0, 6.0), (4.9, 6.1), (18.0, 20.0)])
def test_spans_with_two_frames_are_carried_out_and_plannable(slow_video, span):
    tool = ClipTool(BUDGET)
    got = tool.answer(call(span), slow_video)
    assert isinstance(got, list), got
    m = slow_video.metadata
    indices, *_ = BUDGET.plan(slow_video.num_frames, m.avg_fps, *m.display_size,
                              got[0].segment.start, got[0].segment.end)
    assert len(set(indices)) >= 2


def test_the_tool_refuses_exactly_the_spans_the_sampler_cannot_plan(slow_video):
    tool = ClipTool(BUDGET)
    m = slow_video.metadata
    checked = 0
    for start10 in range(0, 200, 3):
        for length in (1.0, 1.2, 1.5, 1.9, 2.0, 2.4):
            span = (start10 / 10, start10 / 10 + length)
            got = tool.answer(call(span), slow_video)
            if isinstance(got, RejectedCall) and got.problem is not CallProblem.TOO_SHORT:
                continue
            try:
                BUDGET.plan(slow_video.num_frames, m.avg_fps, *m.display_size,
                            span[0], min(span[1], 20.0))
                plannable = True
            except ValueError:
                plannable = False
            assert isinstance(got, list) == plannable, (span, got)
            checked += 1
    assert checked > 300


def test_observation_asks_for_the_answer_from_the_turn_before_the_limit():
    tool = ClipTool(BUDGET, max_turns=3)
    clips = [Segment(2, 6)]
    assert tool.observation(clips, 1, video_tag="<video>") == protocol.clip_feedback(
        clips, video_tag="<video>")
    assert tool.observation(clips, 2, video_tag="<video>") == (
        protocol.clip_feedback(clips, video_tag="<video>") + "\n\n"
        + protocol.final_answer_request())
    assert tool.observation(None, 1) == protocol.missing_action_feedback()


def test_the_agent_the_environment_and_the_builder_share_it():
    from videotemp_o3.agent import AgentConfig
    from videotemp_o3.training.rl_env import ClipEnvConfig
    from videotemp_o3.training.sft_data import BuildConfig

    for config in (AgentConfig(max_turns=4), ClipEnvConfig(max_turns=4),
                   BuildConfig(max_turns=4)):
        tool = config.clip_tool()
        assert isinstance(tool, ClipTool) and tool.max_turns == 4


def test_the_environment_imports_without_ms_swift():
    # Everything but the ms-swift adapter (swift_plugin) imports without ms-swift.
    code = ("import sys, videotemp_o3.clip_tool, videotemp_o3.agent, videotemp_o3.protocol, "
            "videotemp_o3.training.rewards, videotemp_o3.training.rl_env, videotemp_o3.training.rl_check, "
            "videotemp_o3.training.sft_data; "
            "assert not any(m == 'swift' or m.startswith('swift.') for m in sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO,
                   env={"PYTHONPATH": str(REPO / "python")})


def test_only_the_adapter_imports_ms_swift_plugin_classes():
    package = REPO / "python" / "videotemp_o3"
    pattern = re.compile(r"^\s*(from swift[. ]|import swift\b)", re.M)
    importers = sorted(str(p.relative_to(package)) for p in package.rglob("*.py")
                       if pattern.search(p.read_text()))
    assert importers == ["training/swift_plugin.py"], importers
