"""Prompt profiles (videotemp_o3.protocol.PromptProfile): the file format, our built-in wording,
and one profile reaching the agent's clip tool, the SFT builder, the RL rows and the RL
environment; the script that writes the release's profile from a checkout of its code."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from videotemp_o3 import protocol
from videotemp_o3.clip_tool import ClipTool
from videotemp_o3.protocol import (DEFAULT_PROFILE, PROFILE_KEYS, CallProblem, PromptProfile,
                                   PromptProfileError, RejectedCall)
from videotemp_o3.segments import Segment
from videotemp_o3.video import FrameBudget

REPO = Path(__file__).resolve().parents[1]

# A made-up wording, deliberately unlike ours (and unlike the release's).
CUSTOM = {
    "name": "terse",
    "system": "",
    "first_turn_prefix": "Think, then answer. Tool: $tool. ",
    "clip_success_one": "${video}\nClip ok (${start}-${end}).",
    "clip_success_many": "${clips}\nClips ok: ${count}.",
    "clip_item": "${video}",
    "clip_separator": "\n",
    "clip_failure": "Failed: ${problem}${detail}. Costs $$0.",
    "no_action": "Act.",
    "final_answer": "",
}


def write(tmp_path: Path, data: dict, name: str = "p.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_our_wording_round_trips_through_a_file(tmp_path):
    path = tmp_path / "ours.json"
    path.write_text(DEFAULT_PROFILE.to_json())
    assert PromptProfile.load(path) == DEFAULT_PROFILE
    # The module-level texts are the default profile's.
    assert protocol.system_prompt() == DEFAULT_PROFILE.system_text()
    assert protocol.final_answer_request() == DEFAULT_PROFILE.final_answer


def test_a_profile_renders_every_text(tmp_path):
    p = PromptProfile.load(write(tmp_path, CUSTOM))
    assert p.name == "terse" and p.system_text() == ""
    assert p.first_turn("Q?") == "Think, then answer. Tool: get_video_clip_frame. Q?"
    one, two = [Segment(1, 2)], [Segment(1, 2), Segment(3, 4.5)]
    assert p.clip_success(one, video_tag="<video>") == "<video>\nClip ok (1.0-2.0)."
    assert p.clip_success(two, video_tag="<video>") == "<video>\n<video>\nClips ok: 2."
    bad = RejectedCall(CallProblem.REVERSED, "x")
    assert p.call_failure(bad) == "Failed: a segment ends before it starts (x). Costs $0."
    # No final-answer text: nothing is appended, and the turn limit is an ordinary failure.
    assert p.tool_feedback(one, ask_final=True, video_tag="<v>") == "<v>\nClip ok (1.0-2.0)."
    assert p.tool_feedback(RejectedCall(CallProblem.TURN_LIMIT, "turn 3 of 3"), ask_final=True) \
        == "Failed: turn_limit (turn 3 of 3). Costs $0."
    assert p.tool_feedback(None) == "Act."


@pytest.mark.parametrize("change,words", [
    (lambda d: d.pop("no_action"), "missing key(s) no_action"),
    (lambda d: d.update(colour="red"), "unknown key 'colour'"),
    (lambda d: d.update(no_action="Act in ${start}."), "key 'no_action': unknown placeholder ${start}"),
    (lambda d: d.update(clip_failure="costs $ 5"), "key 'clip_failure': a '$' that starts no placeholder"),
    (lambda d: d.update(system=None), "key 'system': expected a string"),
])
def test_bad_profiles_name_the_file_and_the_key(tmp_path, change, words):
    data = dict(CUSTOM)
    change(data)
    path = write(tmp_path, data)
    with pytest.raises(PromptProfileError) as err:
        PromptProfile.load(path)
    assert str(err.value).startswith(f"{path}: ") and words in str(err.value), str(err.value)


def test_unreadable_profile_files(tmp_path):
    with pytest.raises(PromptProfileError, match="cannot read"):
        PromptProfile.load(tmp_path / "absent.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(PromptProfileError, match="not a JSON prompt profile"):
        PromptProfile.load(tmp_path / "broken.json")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(PromptProfileError, match="expected a JSON object"):
        PromptProfile.load(tmp_path / "list.json")
    assert set(PROFILE_KEYS) == set(CUSTOM) - {"name"}


def test_the_clip_tool_and_the_agent_config_speak_the_profile(tmp_path):
    from videotemp_o3.agent import AgentConfig

    p = PromptProfile.load(write(tmp_path, CUSTOM))
    tool = ClipTool(FrameBudget(), max_turns=3, profile=p)
    assert tool.observation([Segment(1, 2)], 2, video_tag="<video>") == \
        "<video>\nClip ok (1.0-2.0)."
    config = AgentConfig(prompt_profile=p)
    assert config.clip_tool().profile is p and config.system_text() == ""


def test_rl_rows_and_the_environment_take_the_profile_file(tmp_path, monkeypatch):
    from videotemp_o3.synthetic import generate
    from videotemp_o3.training import rl_data
    from videotemp_o3.training.rl_env import ClipEnvironment, ClipEnvConfig

    path = write(tmp_path, CUSTOM)
    data = generate(tmp_path / "bench", durations=(20.0,), event_seconds=(3.0, 5.0),
                    progress=False)
    assert rl_data.main(["build", str(data), "--out", str(tmp_path / "rl"),
                         "--prompt-profile", str(path)]) == 0
    row = json.loads((tmp_path / "rl" / "qa.jsonl").read_text().splitlines()[0])
    assert [m["role"] for m in row["messages"]] == ["user"]  # the profile sends no system
    assert row["messages"][0]["content"].startswith("<video>Think, then answer.")
    monkeypatch.setenv("VIDEOTEMP_PROMPT_PROFILE", str(path))
    monkeypatch.setenv("VIDEOTEMP_CLIP_DIR", str(tmp_path / "clips"))
    env = ClipEnvironment(ClipEnvConfig.from_env(3))
    obs = env.observe(row["videos"][0], "<think>x</think>", 1)
    assert obs.text == "Act."
    assert rl_data.main(["build", str(data), "--out", str(tmp_path / "rl2"),
                         "--prompt-profile", str(tmp_path / "absent.json")]) == 2


def test_sft_trajectories_take_the_profile(tmp_path, monkeypatch):
    from videotemp_o3.testing.videos import make_indexed_video
    from videotemp_o3.training.annotations import read_annotations
    from videotemp_o3.training.sft_data import BuildConfig, build_record
    from videotemp_o3.video import VideoReader

    for k, v in {"VIDEO_MIN_PIXELS": "3136", "VIDEO_MAX_PIXELS": "6272",
                 "FPS_MAX_FRAMES": "64"}.items():
        monkeypatch.setenv(k, v)
    video = make_indexed_video(tmp_path / "v.mp4", frames=300, fps=10.0, size=(96, 160))
    ann_file = tmp_path / "a.jsonl"
    ann_file.write_text(json.dumps({"video": "v.mp4", "query": "the flash", "span": [12, 15]}))
    (ann,), _ = read_annotations(ann_file)
    p = PromptProfile.load(write(tmp_path, CUSTOM))
    record = build_record(ann, VideoReader(video), random.Random(0), tmp_path / "clips",
                          BuildConfig(prompt_profile=p), refine=True)
    msgs = record["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant", "user",
                                         "assistant"]
    assert msgs[0]["content"].startswith("<video>Think, then answer.")
    assert msgs[2]["content"].startswith("<video>\nClip ok (")
    assert msgs[4]["content"].endswith(").")  # no final-answer request in this profile


def release_checkout(root: Path) -> Path:
    """A stand-in for the release's checkout: its two files with the same constant names and
    made-up texts (the evaluation side with a system-style opening, the training side with a
    lead-in to the question), plus a local of the same name that must not be read."""
    (root / "rl").mkdir(parents=True)
    (root / "eval").mkdir()
    (root / "rl" / "video_crop_plugin.py").write_text(
        'import re\nPREFIX_PROMPT = """Prefix costs $1.\\nQuestion:\\n"""\n'
        'CROP_SUCCESS_PROMPT = "It worked."\nCROP_FAIL_PROMPT = "It failed."\n'
        'def unrelated():\n    PREFIX_PROMPT = "not this one"\n')
    (root / "eval" / "utils.py").write_text(
        'PREFIX_PROMPT = """Be helpful.\\n\\nThink first."""\n'
        'CROP_SUCCESS_PROMPT = "Clip ready."\nCROP_FAIL_PROMPT = "No clip."\n')
    return root


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "scripts" / "release_prompt_profile.py"), *args],
                          capture_output=True, text=True)


def test_release_profile_script_training_side(tmp_path):
    release = release_checkout(tmp_path / "release")
    out = tmp_path / "release.json"
    run = run_script(str(release), "--for", "training", "-o", str(out))
    assert run.returncode == 0, run.stderr
    p = PromptProfile.load(out)
    assert (p.name, p.system_text(), p.final_answer) == ("release-training", "", "")
    assert p.first_turn("Q") == "Prefix costs $1.\nQuestion:\nQ"
    assert p.clip_success([Segment(1, 2)], video_tag="<video>") == "<video>\nIt worked."
    assert p.clip_success([Segment(1, 2), Segment(3, 4)], video_tag="<video>") == \
        "<video>\n<video>\nIt worked."
    assert p.tool_feedback(None) == "It failed."
    plugin = release / "rl" / "video_crop_plugin.py"
    plugin.write_text('PREFIX_PROMPT = "x"\n')
    run = run_script(str(plugin), "--for", "training", "-o", str(out))
    assert run.returncode == 2
    assert "no string constant CROP_SUCCESS_PROMPT, CROP_FAIL_PROMPT" in run.stderr


def test_release_profile_script_evaluation_side(tmp_path):
    release = release_checkout(tmp_path / "release")
    out = tmp_path / "eval.json"
    run = run_script(str(release), "-o", str(out))  # the evaluation's wording is the default
    assert run.returncode == 0, run.stderr
    assert "(eval wording)" in run.stdout
    p = PromptProfile.load(out)
    # The instructions are the system message; the first turn is the question as given.
    assert (p.name, p.system_text(), p.first_turn("Q"), p.final_answer) == (
        "release-eval", "Be helpful.\n\nThink first.", "Q", "")
    # The clips and then the text, as separate parts with nothing between them.
    assert p.clip_success([Segment(1, 2)], video_tag="<v>") == "<v>Clip ready."
    assert p.clip_success([Segment(1, 2), Segment(3, 4)], video_tag="<v>") == "<v><v>Clip ready."
    assert p.call_failure(RejectedCall(CallProblem.REVERSED, "x")) == \
        "a segment ends before it starts (x). No clip."
    (release / "eval" / "utils.py").unlink()
    run = run_script(str(release), "-o", str(out))
    assert run.returncode == 2 and "eval/utils.py not found" in run.stderr
