"""The GRPO clip environment (videotemp_o3.training.rl_env) and its ms-swift scheduler
(videotemp_o3.training.swift_plugin) on real generated videos.

Each frame of the test video spells its own index, so a clip file handed to ms-swift can be
decoded and checked frame by frame against the span the call asked for. Expected frame indices
are worked out by hand from the sampling rule (docs/design.md §3), never by the code under test.
"""

from __future__ import annotations

import asyncio
import json
import math

import pytest

from swift.llm.infer.protocol import (ChatCompletionResponse, ChatCompletionResponseChoice,
                                      ChatMessage, RequestConfig, UsageInfo)
from swift.llm.template import RolloutInferRequest
from swift.plugin.multi_turn import multi_turns

from videotemp_o3 import protocol
from videotemp_o3.protocol import CallProblem
from videotemp_o3.segments import Segment, iou
from videotemp_o3.testing.videos import make_indexed_video, read_index
from videotemp_o3.training.rl_env import SCHEDULER_NAME
from videotemp_o3.training.swift_plugin import VideoClipScheduler
from videotemp_o3.training.swift_plugin import (VideoTempAccuracy, VideoTempFormat,
                                                        VideoTempIoU)
from videotemp_o3.video import VideoReader

FPS = 10.0
FRAMES = 200          # a 20 s video
SIZE = (96, 160)
# VIDEO_MAX_PIXELS 6272 shrinks 96x160 to 56x84 (smart_resize: scale by sqrt(15360/6272),
# floor each side to a multiple of 28); the 4x4 index grid stays readable at that size.
CLIP_SIZE = (56, 84)
THINK = "<think>The square shows up around the middle.</think>\n"


def call(*spans, name: str = protocol.TOOL_NAME) -> str:
    args = ", ".join(f'{{"start_time": {s}, "end_time": {e}}}' for s, e in spans)
    return THINK + f'<tool_call>{{"name": "{name}", "arguments": [{args}]}}</tool_call>'


def answer(text: str) -> str:
    return THINK + f"<answer>{text}</answer>"


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return make_indexed_video(tmp_path_factory.mktemp("rlvideo") / "indexed.mp4",
                              frames=FRAMES, fps=FPS, size=SIZE)


pytestmark = pytest.mark.usefixtures("small_clip_budget")  # tests/conftest.py


def new_request(video) -> RolloutInferRequest:
    return RolloutInferRequest(
        messages=[{"role": "system", "content": protocol.system_prompt()},
                  {"role": "user", "content": "<video>" + protocol.mcq_prompt(
                      "What colour is the square?", ["red", "green"], duration=20.0)}],
        videos=[str(video)])


def choice(text: str, finish_reason: str = "stop") -> ChatCompletionResponseChoice:
    return ChatCompletionResponseChoice(index=0, message=ChatMessage("assistant", text),
                                        finish_reason=finish_reason)


def take_turn(scheduler, request, text: str, turn: int) -> dict:
    """What ms-swift's loop does with a turn that did not finish: append it, then step."""
    request.messages.append({"role": "assistant", "content": text})
    return scheduler.step(request, choice(text), turn)


def source_indices(clip: str) -> list[int]:
    reader = VideoReader(clip.removeprefix("file://"))
    frames = reader.frames_at_indices(range(reader.num_frames))
    assert frames.frames.shape[1:3] == CLIP_SIZE
    return [read_index(f) for f in frames.frames]


def expected_feedback(text: str, previous=(), turn: int = 1) -> str:
    """The observation the inference agent shows for this call (the protocol's text)."""
    checked = protocol.validate_call(protocol.parse_turn(text).tool_call, FRAMES / FPS, 0.5,
                                     previous, turn=turn)
    assert isinstance(checked, protocol.RejectedCall)
    return checked.feedback()


def test_registered_by_name():
    assert multi_turns[SCHEDULER_NAME] is VideoClipScheduler


# ---------------------------------------------------------------------------------------------
# Valid calls: the clip of the requested span, at the budget, in infer_request.videos
# ---------------------------------------------------------------------------------------------

def test_valid_call_is_answered_with_the_clip_of_that_span(video):
    scheduler = VideoClipScheduler(max_turns=3)
    request = new_request(video)
    out = take_turn(scheduler, request, call((5, 9)), 1)

    assert out["infer_request"] is request
    assert request.messages[-1] == {
        "role": "user", "content": protocol.clip_feedback([Segment(5, 9)], video_tag="<video>")}
    assert request.messages[-1]["content"].count("<video>") == 1
    assert len(request.videos) == 2 and request.videos[0] == str(video)
    # [5 s, 9 s] at 10 fps: frames 50..90 (41 frames); 41 / 10 fps * 2 fps = 8.2 -> 8 frames
    # (even, within 4..64), at round(linspace(50, 90, 8)).
    assert source_indices(request.videos[1]) == [50, 56, 61, 67, 73, 79, 84, 90]

    info = out["rollout_infos"]
    # file:// URIs: ms-swift would otherwise inline each file as base64 (rl_env docs).
    assert info["videos"] == [f"file://{p}" for p in request.videos]
    assert info["clip_segments"] == [[5.0, 9.0]]
    assert info["tool_calls"] == [{"turn": 1, "requested": [[5.0, 9.0]], "clips": [[5.0, 9.0]],
                                   "rejected": None}]
    assert info["video_duration"] == pytest.approx(20.0)
    json.dumps(info)  # server mode sends rollout_infos as JSON


def test_span_past_the_end_is_clamped(video):
    scheduler = VideoClipScheduler(max_turns=3)
    request = new_request(video)
    out = take_turn(scheduler, request, call((16, 30)), 1)
    assert request.messages[-1]["content"] == protocol.clip_feedback([Segment(16, 20)],
                                                                     video_tag="<video>")
    assert out["rollout_infos"]["tool_calls"][0]["requested"] == [[16.0, 30.0]]
    assert out["rollout_infos"]["clip_segments"] == [[16.0, 20.0]]
    # frames 160..199 (the last frame caps the end): 40 frames -> 8, round(linspace(160, 199, 8))
    assert source_indices(request.videos[1]) == [160, 166, 171, 177, 182, 188, 193, 199]


def test_several_clips_in_one_call(video):
    scheduler = VideoClipScheduler(max_turns=3)
    request = new_request(video)
    out = take_turn(scheduler, request, call((2, 4), (12, 14)), 1)
    text = request.messages[-1]["content"]
    assert text == protocol.clip_feedback([Segment(2, 4), Segment(12, 14)], video_tag="<video>")
    assert text.count("<video>") == 2 and len(request.videos) == 3
    # [2, 4] s: frames 20..40 (21 frames) -> 4.2 -> 4 frames; [12, 14] s: 120..140 likewise.
    assert source_indices(request.videos[1]) == [20, 27, 33, 40]
    assert source_indices(request.videos[2]) == [120, 127, 133, 140]
    assert out["rollout_infos"]["clip_segments"] == [[2.0, 4.0], [12.0, 14.0]]


# ---------------------------------------------------------------------------------------------
# Bad calls: the agent's observation, no media, the problem recorded
# ---------------------------------------------------------------------------------------------

BAD_CALLS = [
    ("reversed", call((9, 5)), CallProblem.REVERSED),
    ("outside", call((25, 30)), CallProblem.OUTSIDE),
    ("too_short", call((5, 5.2)), CallProblem.TOO_SHORT),
    ("not_finite", call((5, "NaN")), CallProblem.NOT_FINITE),
    ("too_many", call((1, 2), (3, 4), (5, 6), (7, 8)), CallProblem.TOO_MANY_CLIPS),
    ("unknown_tool", call((5, 9), name="crop_video"), CallProblem.UNKNOWN_TOOL),
    ("bad_json", THINK + '<tool_call>{"name": "get_video_clip_frame", "arguments": [{"start_'
                         '</tool_call>', CallProblem.BAD_JSON),
    ("two_blocks", call((1, 2)) + call((3, 4))[len(THINK):], CallProblem.SEVERAL_CALLS),
    # Rollouts that once raised inside the parser (issue #15) and would have stopped a GRPO step.
    ("unclosed_brackets", THINK + "<tool_call>" + "[" * 5000 + "</tool_call>", CallProblem.BAD_JSON),
    ("huge_integer", THINK + '<tool_call>{"name": "get_video_clip_frame", "arguments": [{"start_time": '
                     + "9" * 5000 + ', "end_time": 3}]}</tool_call>', CallProblem.NOT_FINITE),
    ("spaces", THINK + "<tool_call>[1" + " " * 50_000 + "," + " " * 50_000 + "x</tool_call>", CallProblem.BAD_JSON),
]


@pytest.mark.parametrize("text,problem", [b[1:] for b in BAD_CALLS], ids=[b[0] for b in BAD_CALLS])
def test_bad_call_gets_the_agents_observation(video, text, problem):
    scheduler = VideoClipScheduler(max_turns=3)
    request = new_request(video)
    out = take_turn(scheduler, request, text, 1)
    assert request.messages[-1] == {"role": "user", "content": expected_feedback(text)}
    assert request.videos == [str(video)]
    info = out["rollout_infos"]
    assert info["clip_segments"] == []
    assert info["tool_calls"][0]["rejected"] == problem.value
    assert info["tool_calls"][0]["clips"] == []


def test_repeated_segment_is_refused(video):
    scheduler = VideoClipScheduler(max_turns=4)
    request = new_request(video)
    take_turn(scheduler, request, call((5, 9)), 1)
    out = take_turn(scheduler, request, call((5.0, 9.01)), 2)  # within half a clip interval
    assert request.messages[-1]["content"] == expected_feedback(
        call((5.0, 9.01)), previous=[Segment(5, 9)], turn=2)
    assert len(request.videos) == 2
    calls = out["rollout_infos"]["tool_calls"]
    assert [c["rejected"] for c in calls] == [None, CallProblem.REPEATED.value]
    assert out["rollout_infos"]["clip_segments"] == [[5.0, 9.0]]  # the whole history, kept


def test_span_the_budget_cannot_sample_is_refused_as_too_short(tmp_path):
    # At 1 fps, [5.2, 6.3] s is longer than a frame interval (the protocol accepts it) but holds
    # a single frame (index 6): the clip budget needs two.
    slow = make_indexed_video(tmp_path / "one_fps.mp4", frames=20, fps=1.0, size=SIZE)
    scheduler = VideoClipScheduler(max_turns=3)
    request = new_request(slow)
    out = take_turn(scheduler, request, call((5.2, 6.3)), 1)
    assert out["rollout_infos"]["tool_calls"][0]["rejected"] == CallProblem.TOO_SHORT.value
    assert request.messages[-1]["content"].startswith("The tool call was not carried out")
    assert request.videos == [str(slow)]


def test_a_setup_error_stops_the_run_instead_of_becoming_an_observation(video, monkeypatch):
    scheduler = VideoClipScheduler(max_turns=3)
    # ms-swift's environment changes after the clip budget was taken from it: clips would be
    # rescaled by ms-swift, so swift_media refuses, and the step must fail loudly.
    monkeypatch.setenv("VIDEO_MAX_PIXELS", "12544")
    with pytest.raises(ValueError, match="pixel limits"):
        take_turn(scheduler, new_request(video), call((5, 9)), 1)


def test_turn_without_action_is_told_so(video):
    scheduler = VideoClipScheduler(max_turns=3)
    request = new_request(video)
    out = take_turn(scheduler, request, THINK + "I am not sure yet.", 1)
    assert request.messages[-1]["content"] == protocol.missing_action_feedback()
    assert out["rollout_infos"]["tool_calls"] == []


# ---------------------------------------------------------------------------------------------
# Turn limit
# ---------------------------------------------------------------------------------------------

def test_last_call_turn_asks_for_the_final_answer(video):
    scheduler = VideoClipScheduler(max_turns=3)
    request = new_request(video)
    take_turn(scheduler, request, call((5, 9)), 1)
    assert protocol.final_answer_request() not in request.messages[-1]["content"]
    take_turn(scheduler, request, call((6, 8)), 2)  # turn max_turns - 1: the next must answer
    # The agent's text after the last allowed call (the SFT trajectories use the same tool).
    assert request.messages[-1]["content"] == protocol.tool_feedback(
        [Segment(6, 8)], ask_final=True, video_tag="<video>")
    assert request.messages[-1]["content"].endswith(protocol.final_answer_request())
    bad = new_request(video)
    take_turn(scheduler, bad, call((9, 5)), 2)  # a failed call there gets the request too
    rejected = protocol.validate_call(protocol.parse_turn(call((9, 5))).tool_call, 20.0, 0.5)
    assert bad.messages[-1]["content"] == protocol.tool_feedback(rejected, ask_final=True)
    assert bad.messages[-1]["content"].startswith(expected_feedback(call((9, 5)), turn=2))
    idle = new_request(video)
    take_turn(scheduler, idle, THINK + "Hmm.", 2)  # so does a turn that did nothing
    assert idle.messages[-1]["content"] == protocol.tool_feedback(None, ask_final=True)
    assert idle.messages[-1]["content"].startswith(protocol.missing_action_feedback())


@pytest.mark.parametrize("text,turn,finish_reason,finished", [
    (answer("B"), 1, "stop", True),
    (call((5, 9)), 1, "stop", False),
    (call((5, 9)), 2, "stop", False),
    (call((5, 9)), 3, "stop", True),            # max_turns reached: no call is carried out
    (THINK + "still thinking", 1, "stop", False),  # told to act, as the agent does
    (call((5, 9)), 1, "length", True),          # truncated: the turn is final
])
def test_check_finished(video, text, turn, finish_reason, finished):
    scheduler = VideoClipScheduler(max_turns=3)
    request = new_request(video)
    request.messages.append({"role": "assistant", "content": text})
    assert scheduler.check_finished(request, choice(text, finish_reason), turn) is finished


def test_max_turns_must_agree_with_the_environment():
    from videotemp_o3.training.rl_env import ClipEnvConfig, ClipEnvironment

    with pytest.raises(ValueError, match="--max_turns 4"):
        VideoClipScheduler(max_turns=4, environment=ClipEnvironment(ClipEnvConfig(max_turns=3)))


# ---------------------------------------------------------------------------------------------
# A whole rollout through ms-swift's own multi-turn loop, a scripted policy writing the turns
# ---------------------------------------------------------------------------------------------

class ScriptedPolicy:
    """Stands in for the vLLM engine: writes the given turns in order. Everything else — the
    loop, the scheduler, the videos, the template — is the real component."""

    def __init__(self, turns):
        self.turns = list(turns)
        self.seen_videos = []

    async def infer_async(self, infer_request, request_config, **kwargs):
        self.seen_videos.append(list(infer_request.videos))
        text = self.turns.pop(0)
        return ChatCompletionResponse(
            model="scripted", choices=[ChatCompletionResponseChoice(
                index=0, message=ChatMessage("assistant", text), finish_reason="stop",
                token_ids=[])], usage=UsageInfo(0, 0, 0))


def test_scripted_rollout_through_ms_swift(video, tiny_model_dir):
    turns = [call((5, 9)), call((6, 7), (8, 8.6)), answer("A")]
    policy = ScriptedPolicy(turns)
    scheduler = VideoClipScheduler(infer_engine=policy, max_turns=3)
    request = new_request(video)
    output = asyncio.run(scheduler.run(request, RequestConfig(max_tokens=64)))

    roles = [m["role"] for m in output.messages]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user", "assistant"]
    assert [m["content"] for m in output.messages if m["role"] == "assistant"] == turns
    info = output.rollout_infos
    assert info["num_turns"] == 3
    assert info["clip_segments"] == [[5.0, 9.0], [6.0, 7.0], [8.0, 8.6]]
    assert len(info["videos"]) == 4
    # ms-swift's RolloutOutput left the file:// references alone (a path would be base64'd).
    assert all(v.startswith("file://") for v in info["videos"])
    # The policy saw each clip in the turn after its call.
    assert [len(v) for v in policy.seen_videos] == [1, 2, 4]
    tags = sum(m["content"].count("<video>") for m in output.messages)
    assert tags == len(info["videos"])
    # [8, 8.6] s: frames 80..86 (7 frames) -> 1.4 -> at least 4 frames: round(linspace(80, 86, 4)).
    assert source_indices(info["videos"][3]) == [80, 82, 84, 86]

    # The rewards on this rollout, as the trainer calls them (columns of the data row).
    row = dict(messages=[output.messages], answer=["A"], task=["mcq"], options=[["red", "green"]],
               timestamp=[[6.5, 8.5]], duration=[20.0], rollout_infos=[info])
    completion = [output.messages[-1]["content"]]
    assert VideoTempAccuracy()(completion, **row) == [1.0]
    # The last call's hull [6, 8.6] against [6.5, 8.5]: 2.0 / 2.6.
    assert VideoTempIoU()(completion, **row) == [pytest.approx(2.0 / 2.6)]
    assert iou((6, 8.6), (6.5, 8.5)) == pytest.approx(2.0 / 2.6)
    assert VideoTempFormat()(completion, **row) == [1.0]

    # ms-swift's own template takes the rollout as the trainer will: every clip file decodes,
    # and each video's temporal grid matches its frames (T / temporal patch 2).
    from swift.llm import get_model_tokenizer, get_template

    _, processor = get_model_tokenizer(str(tiny_model_dir), load_model=False,
                                       model_type="qwen2_5_vl")
    template = get_template(processor.model_meta.template, processor)
    template.set_mode("train")
    encoded = template.encode({"messages": output.messages, "videos": info["videos"]})
    grid = encoded["video_grid_thw"].tolist()
    assert len(grid) == 4
    clip_frames = [VideoReader(p.removeprefix("file://")).num_frames for p in info["videos"][1:]]
    assert [g[0] for g in grid[1:]] == [math.ceil(n / 2) for n in clip_frames]
    assert [g[1:] for g in grid[1:]] == [[CLIP_SIZE[0] // 14, CLIP_SIZE[1] // 14]] * 3
