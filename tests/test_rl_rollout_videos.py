"""The rollout's videos as the trainer reads them: ms-swift's own Qwen2.5-VL template encodes a
row whose ``videos`` are what the clip environment returned after a clip call, with
qwen-vl-utils' decord reader — the GRPO step's own path, in both colocate and server mode.

The rollout carries its videos as ``file://`` URIs (rl_env.rollout_video_ref: a plain path would
be inlined as base64 by ms-swift's RolloutOutput), and ms-swift's decord reader opens every video
through its ``load_file``, which the adapter teaches to read such URIs. Without that the decord
read fails and qwen-vl-utils falls back to torchvision's ``read_video``, which recent torchvision
releases removed — so these tests take that fallback away, as on those releases.

Version-neutral: tests/test_swift4.py reruns this file under ms-swift 4.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

pytest.importorskip("decord")
swift_plugin = pytest.importorskip("videotemp_o3.training.swift_plugin")

from videotemp_o3 import protocol  # noqa: E402
from videotemp_o3.testing.videos import make_indexed_video  # noqa: E402
from videotemp_o3.training.rl_env import ClipEnvConfig, ClipEnvironment  # noqa: E402
from videotemp_o3.video import VideoReader  # noqa: E402

THINK = "<think>The square shows up around the middle.</think>\n"
CALL = THINK + (f'<tool_call>{{"name": "{protocol.TOOL_NAME}", "arguments": '
                '[{"start_time": 6, "end_time": 9}]}</tool_call>')


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return make_indexed_video(tmp_path_factory.mktemp("rollout-videos") / "indexed.mp4", frames=200,
                              fps=10.0, size=(96, 160))


pytestmark = pytest.mark.usefixtures("small_clip_budget")  # tests/conftest.py


@pytest.fixture
def decord_only(monkeypatch):
    """qwen-vl-utils reads with decord, and its torchvision fallback is gone (as with torchvision
    releases without ``torchvision.io.read_video``), so a failed decord read fails the test."""
    import torchvision.io
    from qwen_vl_utils import vision_process

    monkeypatch.setattr(vision_process, "FORCE_QWENVL_VIDEO_READER", "decord")
    vision_process.get_video_reader_backend.cache_clear()
    monkeypatch.delattr(torchvision.io, "read_video", raising=False)
    yield
    vision_process.get_video_reader_backend.cache_clear()


def qwen_template(model_dir: Path):
    """ms-swift's Qwen2.5-VL template for the tiny model, in training mode (as GRPO encodes)."""
    if swift_plugin.SWIFT_MAJOR >= 4:
        from swift import get_processor, get_template

        template = get_template(get_processor(str(model_dir), model_type="qwen2_5_vl"), template_type="qwen2_5_vl")
    else:
        from swift.llm import get_model_tokenizer, get_template

        _, processor = get_model_tokenizer(str(model_dir), load_model=False, model_type="qwen2_5_vl")
        template = get_template(processor.model_meta.template, processor)
    template.set_mode("train")
    return template


def clip_call_rollout(video: Path) -> tuple[list[dict], dict]:
    """The conversation and the ``rollout_infos`` after one clip call, as the environment makes them."""
    messages = [{"role": "system", "content": protocol.system_prompt()},
                {"role": "user", "content": "<video>" + protocol.mcq_prompt(
                    "What colour is the square?", ["red", "green"], duration=20.0)},
                {"role": "assistant", "content": CALL}]
    env = ClipEnvironment(ClipEnvConfig(max_turns=3))
    infos = env.step(messages, [str(video)], {}, 1)
    messages.append({"role": "assistant", "content": THINK + "<answer>A</answer>"})
    return messages, infos


def test_rollout_output_keeps_the_videos_as_file_uris(video):
    """The no-base64 property: ms-swift's RolloutOutput leaves the environment's videos alone."""
    messages, infos = clip_call_rollout(video)
    output = swift_plugin.RolloutOutput(
        response=swift_plugin.ChatCompletionResponse(model="m", usage=swift_plugin.UsageInfo(0, 0, 0), choices=[
            swift_plugin.ChatCompletionResponseChoice(index=0, message=swift_plugin.ChatMessage("assistant", "x"),
                                                      finish_reason="stop")]),
        messages=messages, rollout_infos=dict(infos, videos=list(infos["videos"])))
    assert output.rollout_infos["videos"] == infos["videos"]
    assert len(infos["videos"]) == 2 and all(v.startswith("file:///") for v in infos["videos"])
    assert all(Path(v.removeprefix("file://")).is_file() for v in infos["videos"])


def test_load_file_reads_file_uris_and_paths_as_before(video):
    from importlib import import_module

    for home in swift_plugin._LOAD_FILE_HOMES:
        load_file = import_module(home).load_file
        assert load_file(f"file://{video}").read() == video.read_bytes()
        assert load_file(str(video)).read() == video.read_bytes()  # a path, as before
        # ms-swift alone cannot read the URI: a missing file ("<cwd>/file:/..."), or, for a string
        # over 200 characters, its base64 branch decodes the text into other bytes.
        try:
            alone = load_file.__wrapped__(f"file://{video}").read()
        except Exception:  # noqa: BLE001 — any failure is what the wrapper exists for
            alone = None
        assert alone != video.read_bytes()


def test_template_encodes_the_clip_rollout_with_decord(video, tiny_model_dir, decord_only):
    messages, infos = clip_call_rollout(video)
    encoded = qwen_template(tiny_model_dir).encode({"messages": messages, "videos": infos["videos"]})
    grid = encoded["video_grid_thw"].tolist()
    assert len(grid) == 2  # the overview and the clip, each read by decord
    clip_frames = VideoReader(infos["videos"][1].removeprefix("file://")).num_frames
    assert grid[1][0] == math.ceil(clip_frames / 2)  # temporal patch 2
    assert grid[1][1:] == [56 // 14, 84 // 14]  # 96x160 at VIDEO_MAX_PIXELS 6272 -> 56x84


def test_vllm_mode_encoding_gives_each_video_its_own_rate(video, tiny_model_dir, decord_only):
    """What the rollout server's vLLM hands the Hugging Face processor for a clip rollout (the
    overview and the clip, at different rates): the installed processor must accept it and space
    each video by its own rate (Qwen2.5-VL: temporal patch 2 / rate). ms-swift 4.6 passes the
    rates as an ``fps`` list, which transformers 5 refuses; the adapter passes them as
    ``video_metadata`` there (swift_plugin.rates_as_metadata)."""
    from videotemp_o3.engines.base import TRANSFORMERS_MAJOR

    messages, infos = clip_call_rollout(video)
    template = qwen_template(tiny_model_dir)
    template.set_mode("vllm")
    encoded = template.encode({"messages": messages, "videos": infos["videos"]})
    kwargs, videos = encoded["mm_processor_kwargs"], encoded["videos"]
    assert len(videos) == 2
    if swift_plugin.SWIFT_MAJOR >= 4 and TRANSFORMERS_MAJOR >= 5:
        assert "fps" not in kwargs and kwargs["do_sample_frames"] is False
        rates = [m["fps"] for m in kwargs["video_metadata"]]
        assert [m["total_num_frames"] for m in kwargs["video_metadata"]] == [len(v) for v in videos]
    else:
        rates = list(kwargs["fps"])
    assert len(rates) == 2 and rates[0] < rates[1]  # the overview is sparser than the clip
    # vLLM's call: the prompt's video placeholders, the frames as arrays, the request's kwargs.
    text = "<|vision_start|><|video_pad|><|vision_end|>" * 2
    frames = [v.permute(0, 2, 3, 1).numpy() for v in videos]
    out = template.processor(text=[text], videos=frames, return_tensors="pt", **{"do_resize": False, **kwargs})
    assert [round(float(t), 4) for t in out["second_per_grid_ts"]] == [round(2 / r, 4) for r in rates]
