"""The agent loop with the real tiny Qwen2.5-VL on generated videos.

A random model rarely writes a valid tool call, so a scripted policy decides the *text* of each
reply while the real engine still runs on every turn's real inputs (overview and clips), so
the model sees exactly what the agent built."""

from __future__ import annotations

import json

import numpy as np
import pytest

from videotemp_o3 import protocol
from videotemp_o3.agent import Agent, AgentConfig, Question
from videotemp_o3.engines.base import Engine, Generation
from videotemp_o3.testing.videos import make_indexed_video, read_index
from videotemp_o3.video import FrameBudget


class Scripted(Engine):
    """Replies with the next scripted text after running the real engine on the same messages."""

    def __init__(self, engine: Engine, replies: list[str]):
        self.engine, self.replies, self.seen = engine, list(replies), []

    def generate(self, messages, **kw):
        real = self.engine.generate(messages, **{**kw, "max_new_tokens": 2})
        self.seen.append(list(messages))  # the agent keeps appending to its list
        text = self.replies.pop(0)
        return Generation(text=text, prompt_tokens=real.prompt_tokens, completion_tokens=real.completion_tokens,
                          visual_tokens=real.visual_tokens, prefill_seconds=real.prefill_seconds,
                          decode_seconds=real.decode_seconds)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    # 60 s at 10 fps: frame i is shown at i / 10 s and spells i.
    return make_indexed_video(tmp_path_factory.mktemp("agent") / "v.mp4", frames=600, fps=10, size=(96, 160), gop=100)


def small_config(**kw) -> AgentConfig:
    return AgentConfig(overview_budget=FrameBudget(nframes=8, max_pixels=28 * 28 * 8, min_pixels=28 * 28 * 4),
                       clip_budget=FrameBudget(fps=2.0, min_frames=4, max_frames=16, max_pixels=28 * 28 * 8, min_pixels=28 * 28 * 4),
                       max_new_tokens=16, **kw)


def videos_of(message):
    return [p for p in message["content"] if p["type"] == "video"]


@pytest.mark.slow
def test_tool_call_gets_the_requested_clip_then_bad_call_then_answer(local_engine, video, tmp_path):
    replies = [
        protocol.render_turn("The event seems early.", segments=[(10.0, 16.0)]),
        "<think>Look again, but wrongly.</think>\n<tool_call>[30, 20]</tool_call>",
        protocol.render_turn("It is option B.", answer="B"),
    ]
    engine = Scripted(local_engine, replies)
    agent = Agent(engine, small_config())
    traj = agent.run(video, Question("Which frame?", "mcq", ["one", "two", "three", "four"]), clip_dir=tmp_path / "clips")
    assert traj.error is None, traj.error
    assert traj.prediction == "B" and len(traj.turns) == 3

    # Turn 2's input ends with the clip: [10, 16] s at 2 fps under the clip budget.
    clip_turn = engine.seen[1][-1]
    assert clip_turn["role"] == "user"
    (clip,) = videos_of(clip_turn)
    frames = clip["frames"]
    # 61 frames (100..160) at 10 fps → 2 fps gives 12 frames; linspace(100, 160, 12) rounded.
    expected = np.round(np.linspace(100, 160, 12)).astype(int).tolist()
    assert [read_index(f) for f in frames] == expected
    assert clip["timestamps"][0] == pytest.approx(10.0) and clip["timestamps"][-1] == pytest.approx(16.0)
    assert frames.shape[1] * frames.shape[2] <= 28 * 28 * 8 and frames.shape[1] % 28 == 0
    assert clip["fps"] == pytest.approx(12 / 61 * 10)
    text = " ".join(p["text"] for p in clip_turn["content"] if p["type"] == "text")
    assert "10.0 s – 16.0 s" in text
    assert traj.segments == [[10.0, 16.0]]
    assert traj.turns[0].clips[0].frames == 12
    # The clip was also written to a file by remuxing, covering at least the requested span.
    f = traj.turns[0].clips[0]
    assert f.file_span[0] <= 10.0 and f.file_span[1] >= 16.0 - 0.1

    # Turn 2's reversed span became an observation; the loop went on to turn 3.
    assert traj.turns[1].rejected["problem"] == protocol.CallProblem.REVERSED.value
    obs = engine.seen[2][-1]
    assert not videos_of(obs)
    assert "not carried out" in obs["content"][0]["text"]
    # The real model saw the overview's and the clip's visual tokens.
    assert traj.turns[0].visual_tokens > 0
    assert traj.turns[1].visual_tokens > traj.turns[0].visual_tokens
    # The trajectory is JSON without pixels.
    json.dumps(traj.to_json())


@pytest.mark.slow
def test_clip_reuses_overview_frames(local_engine, video):
    # Overview of 600 frames with nframes=120 picks every ~5th frame; a 2-fps clip of 10 fps
    # video picks every 5th frame too, so most of the clip comes from the overview.
    cfg = small_config()
    cfg.overview_budget = FrameBudget(nframes=120, max_pixels=28 * 28 * 8, min_pixels=28 * 28 * 4, total_pixels=28 * 28 * 4 * 120)
    cfg.clip_budget = FrameBudget(fps=2.0, max_pixels=28 * 28 * 8, min_pixels=28 * 28 * 4, total_pixels=28 * 28 * 4 * 120)
    replies = [protocol.render_turn("look", segments=[(20.0, 30.0)]), protocol.render_turn("done", answer="A")]
    engine = Scripted(local_engine, replies)
    traj = Agent(engine, cfg).run(video, Question("q", "mcq", ["a", "b"]))
    assert traj.error is None, traj.error
    clip = traj.turns[0].clips[0]
    assert clip.reused_frames > 0
    (frames,) = videos_of(engine.seen[1][-1])
    assert [read_index(f) for f in frames["frames"]] == np.round(np.linspace(200, 300, clip.frames)).astype(int).tolist()


def test_turn_limit_ends_the_conversation_at_max_turns(local_engine, video):
    calls = [protocol.render_turn("look", segments=[(float(s), float(s) + 5)]) for s in (1, 10, 20, 30)]
    engine = Scripted(local_engine, calls)
    traj = Agent(engine, small_config(max_turns=3)).run(video, Question("when?", "grounding"))
    # Turns 1-2 carried out; turn 3 had to answer, called instead: over the limit, and the end.
    assert [len(t.clips) for t in traj.turns] == [1, 1, 0]
    assert traj.turns[2].rejected["problem"] == "turn_limit"
    assert traj.prediction is None and traj.error is None
    assert len(engine.seen) == 3  # the model was asked three times, never a fourth
    # The feedback to the last allowed call already asks for the answer.
    texts = [p.get("text", "") for p in engine.seen[2][-1]["content"]]
    assert protocol.final_answer_request() in " ".join(texts)


@pytest.mark.parametrize("max_turns", [1, 2, 3, 4])
def test_never_more_assistant_turns_than_max_turns(local_engine, video, max_turns):
    calls = [protocol.render_turn("look", segments=[(float(s), float(s) + 5)]) for s in range(1, 40, 5)]
    events = []
    traj = Agent(Scripted(local_engine, calls), small_config(max_turns=max_turns)).run(
        video, Question("when?", "grounding"), on_turn=lambda t, turn: events.append(None if turn is None else turn.index))
    assert len(traj.turns) == max_turns
    assert sum(m["role"] == "assistant" for m in traj.messages) == max_turns
    assert events == [None, *range(1, max_turns + 1)]  # live: the overview, then each turn once, in order


def test_grounding_answer_and_unreadable_video(local_engine, video, tmp_path):
    engine = Scripted(local_engine, [protocol.render_turn("there", answer=(12.5, 18.0))])
    traj = Agent(engine, small_config()).run(video, Question("the bright frame", "grounding"))
    assert traj.prediction == [12.5, 18.0]
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video")
    traj = Agent(Scripted(local_engine, []), small_config()).run(bad, Question("q", "mcq", ["a", "b"]))
    assert traj.error is not None and "broken.mp4" in traj.error and traj.turns == []


@pytest.mark.slow
def test_real_generation_end_to_end(local_engine, video):
    """No script: the tiny model's own (random) text goes through the same loop without crashing."""
    traj = Agent(local_engine, small_config(max_turns=2)).run(video, Question("q", "mcq", ["a", "b", "c"]))
    assert traj.error is None
    assert 1 <= len(traj.turns) <= 3
    assert all(t.completion_tokens > 0 for t in traj.turns)


def test_a_prompt_profile_shapes_every_text_the_model_reads(local_engine, video, tmp_path):
    profile = protocol.PromptProfile(
        name="terse", system="", first_turn_prefix="Use $tool. ",
        clip_success_one="${video}\nClip ${start}-${end}.", clip_success_many="${clips}\nClips.",
        clip_item="${video}", clip_separator="\n", clip_failure="No: ${problem}.",
        no_action="Act.", final_answer="")
    replies = [protocol.render_turn("look", segments=[(10.0, 16.0)]),
               "<think>again</think>\n<tool_call>[30, 20]</tool_call>",
               protocol.render_turn("done", answer="A")]
    engine = Scripted(local_engine, replies)
    traj = Agent(engine, small_config(max_turns=4, prompt_profile=profile)).run(
        video, Question("q", "mcq", ["a", "b"]))
    assert traj.error is None, traj.error
    first = engine.seen[0]
    assert [m["role"] for m in first] == ["user"]  # no system message in this profile
    assert first[0]["content"][1]["text"].startswith("Use get_video_clip_frame. ")
    clip_turn = engine.seen[1][-1]["content"]
    assert [p["type"] for p in clip_turn] == ["video", "text"]
    assert clip_turn[1]["text"] == "\nClip 10.0-16.0."
    assert engine.seen[2][-1]["content"] == [{"type": "text",
                                               "text": "No: a segment ends before it starts."}]


def test_the_releases_evaluation_wording_gives_its_message_layout(local_engine, video, tmp_path):
    """A profile written by scripts/release_prompt_profile.py (evaluation side, made-up texts):
    the instructions go in the system message, the first turn is the video then the question,
    and a clip is answered by the video then the success text, as the release's eval/utils.py
    lays out its messages."""
    import subprocess
    import sys
    from pathlib import Path

    release = tmp_path / "release"
    (release / "eval").mkdir(parents=True)
    (release / "eval" / "utils.py").write_text(
        'PREFIX_PROMPT = "Think first."\nCROP_SUCCESS_PROMPT = "Clip ready."\nCROP_FAIL_PROMPT = "No clip."\n')
    script = Path(__file__).resolve().parents[1] / "scripts" / "release_prompt_profile.py"
    run = subprocess.run([sys.executable, str(script), str(release), "-o", str(tmp_path / "p.json")],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    profile = protocol.PromptProfile.load(tmp_path / "p.json")
    replies = [protocol.render_turn("look", segments=[(10.0, 16.0)]), protocol.render_turn("done", answer="A")]
    engine = Scripted(local_engine, replies)
    question = Question("Which frame?", "mcq", ["one", "two"])
    traj = Agent(engine, small_config(prompt_profile=profile)).run(video, question)
    assert traj.error is None, traj.error
    system, first = engine.seen[0]
    assert system["role"] == "system" and system["content"] == [{"type": "text", "text": "Think first."}]
    assert [p["type"] for p in first["content"]] == ["video", "text"]
    assert first["content"][1]["text"] == question.prompt(traj.overview["duration"])  # no prefix
    clip_turn = engine.seen[1][-1]["content"]
    assert [p["type"] for p in clip_turn] == ["video", "text"] and clip_turn[1]["text"] == "Clip ready."
