"""The ms-swift adapter under ms-swift 4 (videotemp_o3.training.swift_plugin), on real generated videos.

Runs only where ms-swift 4 is installed: tests/test_swift4.py runs this file (and the CPU SFT and
GRPO runs) in the ``.swift4`` overlay that scripts/setup.sh installs; under the main environment's
ms-swift 3.10 it is skipped. What ms-swift 4 changed for us and is checked here:

* the rollout loops — the server's ``MultiTurnScheduler.run`` and the trainer's colocate
  ``run_multi_turn`` — freeze every assistant turn but the last as token ids; the scheduler
  records the text (``on_turn_end``) and the rewards score the trajectory the policy wrote;
* each ORM is built as ``orms[name](args=<trainer arguments>)``;
* the flags our scripts pass are flags of ms-swift 4's argument classes.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

swift_plugin = pytest.importorskip("videotemp_o3.training.swift_plugin")
if swift_plugin.SWIFT_MAJOR < 4:
    pytest.skip("ms-swift 4 is not installed here (tests/test_swift4.py runs this file in the .swift4 overlay)",
                allow_module_level=True)

from videotemp_o3 import protocol  # noqa: E402
from videotemp_o3.testing.videos import make_indexed_video  # noqa: E402
from videotemp_o3.training.rl_env import SCHEDULER_NAME  # noqa: E402
from videotemp_o3.training.swift_plugin import (TEXT_TURNS_KEY, ChatCompletionResponse,  # noqa: E402
                                                ChatCompletionResponseChoice, ChatMessage, RequestConfig,
                                                RolloutInferRequest, UsageInfo, VideoClipScheduler,
                                                with_text_turns)

REPO = Path(__file__).resolve().parents[1]
THINK = "The square shows up around the middle."


def call(*spans) -> str:
    return protocol.render_turn(THINK, segments=spans)


def answer(text: str) -> str:
    return protocol.render_turn(THINK, answer=text)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return make_indexed_video(tmp_path_factory.mktemp("rl4video") / "indexed.mp4", frames=200, fps=10.0,
                              size=(96, 160))


pytestmark = pytest.mark.usefixtures("small_clip_budget")  # tests/conftest.py


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def new_request(video) -> RolloutInferRequest:
    return RolloutInferRequest(
        messages=[{"role": "system", "content": protocol.system_prompt()},
                  {"role": "user", "content": "<video>" + protocol.mcq_prompt(
                      "What colour is the square?", ["red", "green"], duration=20.0)}],
        videos=[str(video)])


class ScriptedPolicy:
    """Stands in for the vLLM engine as ms-swift 4 uses it: writes the given turns in order and,
    like the engine, returns the sampled token ids (the tiny model's real tokenizer). The loop,
    the scheduler, the videos and the rewards are the real components."""

    def __init__(self, turns, tokenizer):
        self.turns, self.tokenizer = list(turns), tokenizer
        self.seen = []

    def reply(self, infer_request) -> ChatCompletionResponse:
        self.seen.append([m["content"] for m in infer_request.messages if m["role"] == "assistant"])
        text = self.turns.pop(0)
        ids = self.tokenizer.encode(text, add_special_tokens=False)
        return ChatCompletionResponse(model="scripted", usage=UsageInfo(0, len(ids), len(ids)), choices=[
            ChatCompletionResponseChoice(index=0, message=ChatMessage("assistant", text), finish_reason="stop",
                                         token_ids=ids)])

    async def infer_async(self, infer_request, request_config, **kwargs):
        return self.reply(infer_request)


def score(output, name: str, **columns):
    from swift.rewards.orm import orms

    func = orms[name](args=SimpleNamespace(max_turns=3))
    row = dict(messages=[output.messages], rollout_infos=[output.rollout_infos], **columns)
    return func([output.messages[-1]["content"]], **row)[0]


def check_rollout(output, turns, tokenizer):
    assistants = [m["content"] for m in output.messages if m["role"] == "assistant"]
    # ms-swift 4 froze the turns before the last as the policy's token ids ...
    assert assistants[:-1] == [tokenizer.encode(t, add_special_tokens=False) for t in turns[:-1]]
    assert assistants[-1] == turns[-1]
    # ... and the scheduler kept their text, which the rewards read back.
    info = output.rollout_infos
    assert info[TEXT_TURNS_KEY] == turns
    assert [m["content"] for m in with_text_turns(output.messages, info) if m["role"] == "assistant"] == turns
    assert info["num_turns"] == 3 and info["clip_segments"] == [[5.0, 9.0], [6.0, 7.0], [8.0, 8.6]]
    assert len(info["videos"]) == 4 and all(v.startswith("file://") for v in info["videos"])
    truth = dict(answer=["A"], task=["mcq"], options=[["red", "green"]], timestamp=[[6.5, 8.5]], duration=[20.0])
    assert score(output, "videotemp_accuracy", **truth) == 1.0
    # The last call's hull [6, 8.6] against [6.5, 8.5]: 2.0 / 2.6 — read from the token-id turns' text.
    assert score(output, "videotemp_iou", **truth) == pytest.approx(2.0 / 2.6)
    assert score(output, "videotemp_format", **truth) == 1.0


def test_server_rollout_loop_freezes_turns_as_ids_and_rewards_read_their_text(video, tokenizer):
    turns = [call((5, 9)), call((6, 7), (8, 8.6)), answer("A")]
    policy = ScriptedPolicy(turns, tokenizer)
    scheduler = VideoClipScheduler(infer_engine=policy, max_turns=3)
    output = asyncio.run(scheduler.run(new_request(video), RequestConfig(max_tokens=64)))
    check_rollout(output, turns, tokenizer)
    # From turn 2 on the policy was shown the earlier turns as ids (what vLLM then prefills).
    assert isinstance(policy.seen[2][0], list) and isinstance(policy.seen[2][1], list)


def test_colocate_rollout_loop_gives_the_same_trajectory(video, tokenizer):
    from swift.infer_engine.protocol import RolloutOutput
    from swift.rollout import run_multi_turn

    turns = [call((5, 9)), call((6, 7), (8, 8.6)), answer("A")]
    policy = ScriptedPolicy(turns, tokenizer)
    # The trainer's colocate mode: no engine inside the scheduler, its tokenizer passed in.
    scheduler = VideoClipScheduler(max_turns=3, tokenizer=tokenizer)
    request = new_request(video)

    def rollout_fn(requests, request_config):
        return [RolloutOutput(response=policy.reply(r)) for r in requests]

    first = rollout_fn([request], None)
    (output,) = run_multi_turn([request], first, scheduler, rollout_fn, RequestConfig(max_tokens=64), max_turns=3)
    check_rollout(output, turns, tokenizer)


def test_rewards_refuse_id_turns_without_their_text():
    messages = [{"role": "user", "content": "q"}, {"role": "assistant", "content": [1, 2, 3]},
                {"role": "user", "content": "obs"}, {"role": "assistant", "content": answer("A")}]
    with pytest.raises(ValueError, match=f"--multi_turn_scheduler {SCHEDULER_NAME}"):
        with_text_turns(messages, {"num_turns": 2})
    texts = with_text_turns(messages, {TEXT_TURNS_KEY: ["first", answer("A")]})
    assert [m["content"] for m in texts] == ["q", "first", "obs", answer("A")]
    assert messages[1]["content"] == [1, 2, 3]  # the caller's rows are left as they were


def test_orms_are_built_from_the_trainer_arguments():
    from swift.rewards.orm import ORM, orms

    for names in swift_plugin.REWARD_FUNCS.values():
        for name in names:
            assert issubclass(orms[name], ORM) and orms[name] is swift_plugin.ORM_NAMES[name]
    assert orms["videotemp_format"](args=SimpleNamespace(max_turns=2)).config.max_turns == 2
    assert orms["videotemp_format"](args=SimpleNamespace()).config.max_turns == protocol.DEFAULT_MAX_TURNS


def test_the_scheduler_is_registered_and_takes_the_trainers_arguments(tokenizer):
    from swift.rollout.multi_turn import multi_turns

    assert multi_turns[SCHEDULER_NAME] is VideoClipScheduler
    # What the GRPO trainer passes in colocate mode (rollout_mixin._prepare_scheduler).
    scheduler = multi_turns[SCHEDULER_NAME](max_turns=2, tokenizer=tokenizer, template=None)
    assert scheduler.max_turns == 2 and scheduler.tokenizer is tokenizer


RECORDER = """#!{python}
import json, os, sys
json.dump(sys.argv[1:], open(os.environ["RECORD_TO"], "w"))
"""


@pytest.mark.parametrize("script, args_class", [
    ("sft/sft.sh", "SftArguments"), ("rl/grpo.sh", "RLHFArguments"), ("rl/rollout.sh", "RolloutArguments"),
    ("eval/7b_deploy_256.sh", "DeployArguments")])
def test_script_flags_are_ms_swift_4_flags(tmp_path, script, args_class):
    """Every flag a script passes is a field of ms-swift 4's argument class for that command."""
    import swift.arguments as arguments
    from swift.utils.utils import _patch_get_type_hints
    from transformers import HfArgumentParser

    recorder = tmp_path / "swift"
    recorder.write_text(RECORDER.format(python=sys.executable))
    recorder.chmod(0o755)
    model, data = tmp_path / "model", tmp_path / "data"
    model.mkdir()
    data.mkdir()
    for name in ("qa.jsonl", "grounding.jsonl", "sft.jsonl"):
        (data / name).write_text("")
    record = tmp_path / "argv.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIDEOTEMP_", "CUDA_VISIBLE"))}
    env.update(SWIFT=str(recorder), RECORD_TO=str(record), MODEL=str(model), RL_DATA=str(data), USE_VLLM="false",
               DATA=str(data / "sft.jsonl"), DEVICE="cpu", VALIDATE="0", OUTPUT_DIR=str(tmp_path / "out"),
               PATH=f"{tmp_path}:{env['PATH']}", PYTHON=sys.executable)
    subprocess.run(["bash", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert record.exists(), f"{script} never called swift"
    argv = json.loads(record.read_text())[1:]
    with _patch_get_type_hints():
        parser = HfArgumentParser([getattr(arguments, args_class)])
    _, unknown = parser.parse_known_args(argv)
    assert unknown == [], f"{script}: not ms-swift 4 flags: {unknown}"
    if script in ("sft/sft.sh", "rl/grpo.sh"):
        assert "--tuner_type" in argv and "--train_type" not in argv
