"""The embedded transformers engine on the tiny Qwen2.5-VL: what the model sees (frames
untouched, time scale = our fps), token accounting, and generation (greedy determinism,
seeded sampling, stop strings)."""

from __future__ import annotations

import logging
import math
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from videotemp_o3.engines.base import Generation, cut_at_stop, validate_messages  # noqa: E402
from videotemp_o3.engines.base import TRANSFORMERS_MAJOR  # noqa: E402
from videotemp_o3.engines.local import LocalEngine, processor_video_kwargs  # noqa: E402

# CLIP normalisation of the Qwen2-VL processors.
MEAN = np.array([0.48145466, 0.4578275, 0.40821073])
STD = np.array([0.26862954, 0.26130258, 0.27577711])


@pytest.fixture
def engine(local_engine):
    """conftest.py's session engine on the tiny model (CPU)."""
    return local_engine


def frames_of(t: int, h: int = 56, w: int = 56, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def video(frames: np.ndarray, fps: float, start: float = 0.0) -> dict:
    ts = [start + i / fps for i in range(len(frames))]
    return {"type": "video", "frames": frames, "fps": fps, "timestamps": ts}


def conversation(*videos: dict, question: str = "What happens?") -> list[dict]:
    return [
        {"role": "system", "content": [{"type": "text", "text": "You watch videos."}]},
        {"role": "user", "content": [*videos, {"type": "text", "text": question}]},
    ]


# -- what the model sees --------------------------------------------------------------------


@pytest.mark.parametrize("fps", [2.0, 1.0, 0.5])
def test_second_per_grid_ts_is_temporal_patch_over_fps(engine, fps):
    inputs = engine.encode(conversation(video(frames_of(4), fps)))
    assert inputs["second_per_grid_ts"].tolist() == pytest.approx([2 / fps])


def test_each_video_keeps_its_own_rate(engine):
    overview, clip = video(frames_of(6, seed=1), 0.25), video(frames_of(4, seed=2), 2.0, 30.0)
    inputs = engine.encode(conversation(overview, clip))
    assert inputs["second_per_grid_ts"].tolist() == pytest.approx([8.0, 1.0])
    assert inputs["video_grid_thw"].tolist() == [[3, 4, 4], [2, 4, 4]]


def _video_time_positions(engine, inputs) -> list[list[int]]:
    """Temporal M-RoPE positions of each video's temporal patches, from the model itself."""
    # Keyword call: transformers 5.x inserted mm_token_type_ids after input_ids.
    kwargs = dict(input_ids=inputs["input_ids"], image_grid_thw=None, video_grid_thw=inputs["video_grid_thw"],
                  second_per_grid_ts=inputs["second_per_grid_ts"], attention_mask=inputs["attention_mask"])
    if "mm_token_type_ids" in inputs:
        kwargs["mm_token_type_ids"] = inputs["mm_token_type_ids"]
    position_ids, _ = engine.model.model.get_rope_index(**kwargs)
    is_video = (inputs["input_ids"][0] == engine.model.config.video_token_id).numpy()
    t_pos = position_ids[0, 0].numpy()[is_video]
    out, start = [], 0
    for t, h, w in inputs["video_grid_thw"].tolist():
        n = t * h * w // 4
        out.append(sorted(set(t_pos[start:start + n].tolist())))
        start += n
    return out


def test_temporal_positions_follow_the_sampling_rate(engine):
    # tokens_per_second = 2, temporal patch = 2 frames: step = 2 * 2 / fps positions.
    for fps, step in [(2.0, 2), (1.0, 4), (0.5, 8)]:
        inputs = engine.encode(conversation(video(frames_of(6), fps)))
        (positions,) = _video_time_positions(engine, inputs)
        assert len(positions) == 3
        assert np.diff(positions).tolist() == [step, step], fps
    inputs = engine.encode(conversation(video(frames_of(4), 0.5), video(frames_of(4), 2.0)))
    slow, fast = _video_time_positions(engine, inputs)
    assert np.diff(slow).tolist() == [8] and np.diff(fast).tolist() == [2]


def test_frames_reach_the_model_unresized_and_unresampled(engine):
    # 56x56 is far below the processor's min_pixels (100352): a resize would upscale it.
    frames = frames_of(4, 56, 84, seed=3)
    inputs = engine.encode(conversation(video(frames, 2.0)))
    assert inputs["video_grid_thw"].tolist() == [[2, 4, 6]]
    patches = inputs["pixel_values_videos"].numpy()
    assert patches.shape == (2 * 4 * 6, 3 * 2 * 14 * 14)
    # Patch rows are ordered (t, h-block, w-block, h-in-merge, w-in-merge); each row is
    # (channel, frame-in-patch, y, x). Check the first row of the second temporal patch
    # against frames 2-3, top-left 14x14, normalised by hand.
    row = patches[4 * 6].reshape(3, 2, 14, 14)
    expected = ((frames[2:4, :14, :14, :] / 255.0 - MEAN) / STD).transpose(3, 0, 1, 2)
    np.testing.assert_allclose(row, expected, atol=1e-5)


def test_odd_frame_count_is_padded_with_the_last_frame_on_a_copy(engine):
    frames = frames_of(5, seed=4)
    before = frames.copy()
    inputs = engine.encode(conversation(video(frames, 2.0)))
    assert inputs["video_grid_thw"].tolist() == [[3, 4, 4]]
    last_patch = inputs["pixel_values_videos"][2 * 4 * 4].reshape(3, 2, 14, 14)
    assert torch.equal(last_patch[:, 0], last_patch[:, 1])  # frame 4 repeated as frame 5
    np.testing.assert_array_equal(frames, before)


def test_processor_kwargs_carry_fps_for_both_transformers_generations():
    parts = [video(frames_of(4), 2.0)["frames"], frames_of(3)]
    kwargs = processor_video_kwargs([video(parts[0], 2.0), video(parts[1], 0.5)])
    assert kwargs["do_resize"] is False and kwargs["do_sample_frames"] is False
    # transformers 4.x reads fps; 5.x rejects a list there and reads the metadata instead.
    if TRANSFORMERS_MAJOR < 5:
        assert kwargs["fps"] == [2.0, 0.5]
    else:
        assert "fps" not in kwargs
    assert [v.shape[0] for v in kwargs["videos"]] == [4, 4]
    for meta, fps in zip(kwargs["video_metadata"], [2.0, 0.5]):  # transformers 5.x reads this
        assert meta["total_num_frames"] == 4 and meta["frames_indices"] == [0, 1, 2, 3]
        # 5.x: sampled_fps = len(frames_indices) / total_num_frames * fps must be our fps,
        # so second_per_grid_ts = 2 / sampled_fps comes out right.
        sampled_fps = len(meta["frames_indices"]) / meta["total_num_frames"] * meta["fps"]
        assert sampled_fps == fps
    narrow = processor_video_kwargs([video(parts[0], 2.0)], accepted={"fps", "do_resize"})
    assert "video_metadata" not in narrow and "do_sample_frames" not in narrow


def test_a_wrong_time_scale_from_the_processor_is_corrected(engine, caplog):
    from transformers import BatchFeature

    # What transformers 5.x yields when it does not get the metadata: 2 / 24 fps.
    inputs = BatchFeature({"second_per_grid_ts": torch.tensor([2 / 24])})
    with caplog.at_level(logging.WARNING, logger="videotemp_o3.engines.local"):
        engine._check_time_scale(inputs, [2.0])
    assert inputs["second_per_grid_ts"].tolist() == [1.0]
    assert "second_per_grid_ts" in caplog.text


# -- generation -----------------------------------------------------------------------------


def test_generate_counts_tokens_and_time(engine):
    messages = conversation(video(frames_of(4), 2.0))
    gen = engine.generate(messages, max_new_tokens=12)
    assert isinstance(gen, Generation)
    assert gen.visual_tokens == 4 // 2 * (56 // 28) * (56 // 28) == 8
    assert gen.prompt_tokens == engine.encode(messages)["input_ids"].shape[1]
    assert gen.prompt_tokens > gen.visual_tokens
    assert gen.completion_tokens == 12 and gen.finish_reason == "length"
    assert gen.text.strip()
    assert gen.prefill_seconds > 0 and gen.decode_seconds > 0
    assert gen.seconds >= gen.prefill_seconds + gen.decode_seconds
    two = engine.generate(conversation(video(frames_of(4), 2.0), video(frames_of(6, 112, 56), 1.0)),
                          max_new_tokens=1)
    assert two.visual_tokens == 8 + 3 * 4 * 2


@pytest.mark.slow
def test_greedy_is_deterministic_and_depends_on_the_video(engine):
    messages = conversation(video(frames_of(4), 2.0))
    first = engine.generate(messages, max_new_tokens=16)
    second = engine.generate(messages, max_new_tokens=16)
    assert first.text == second.text
    at_other_rate = engine.generate(conversation(video(frames_of(4), 0.5)), max_new_tokens=16)
    assert at_other_rate.text != first.text  # the time scale changes what the model computes


@pytest.mark.slow
def test_sampling_is_reproducible_with_a_seed(engine):
    messages = conversation(video(frames_of(4), 2.0))
    a = engine.generate(messages, max_new_tokens=16, temperature=1.0, seed=7)
    b = engine.generate(messages, max_new_tokens=16, temperature=1.0, seed=7)
    c = engine.generate(messages, max_new_tokens=16, temperature=1.0, seed=8)
    greedy = engine.generate(messages, max_new_tokens=16)
    assert a.text == b.text
    assert c.text != a.text and greedy.text != a.text


@pytest.mark.slow
def test_stop_strings_end_generation_and_are_kept(engine):
    messages = conversation(video(frames_of(4), 2.0))
    full = engine.generate(messages, max_new_tokens=24)
    words = full.text.split()
    assert len(words) >= 8
    # A stop string spanning a word boundary deep in the output, so it ends mid-token.
    stop = words[4][1:] + " " + words[5][:2]
    stopped = engine.generate(messages, max_new_tokens=24, stop=["</answer>", stop])
    assert stopped.text.endswith(stop)
    assert full.text.startswith(stopped.text)
    assert stopped.text.count(stop) == 1  # cut at the first occurrence
    assert stopped.completion_tokens < full.completion_tokens
    assert stopped.finish_reason == "stop"
    never = engine.generate(messages, max_new_tokens=24, stop=["</answer>", "</tool_call>"])
    assert never.text == full.text and never.finish_reason == "length"


def test_generate_rejects_bad_input(engine):
    with pytest.raises(ValueError, match="multiple of 28"):
        engine.generate(conversation(video(frames_of(4, 50, 56), 2.0)), max_new_tokens=2)
    with pytest.raises(ValueError, match="max_new_tokens"):
        engine.generate(conversation(video(frames_of(4), 2.0)), max_new_tokens=0)


def test_unsupported_model_type_is_refused(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "gpt2"}')
    with pytest.raises(ValueError, match="gpt2"):
        LocalEngine(tmp_path, device="cpu")


def test_flash_attention_requires_the_package(tiny_model_dir, monkeypatch):
    # A machine without flash-attn, wherever this runs: a None entry in sys.modules is how
    # Python marks a module unimportable (importlib.util.find_spec then returns None).
    monkeypatch.setitem(sys.modules, "flash_attn", None)
    with pytest.raises(ValueError, match="flash-attn"):
        LocalEngine(tiny_model_dir, device="cpu", attn_implementation="flash_attention_2")


# -- the shared helpers of engines/base.py ----------------------------------------------------


def test_cut_at_stop_keeps_the_earliest_ending_stop():
    assert cut_at_stop("a<answer>B</answer> tail", ["</answer>"]) == ("a<answer>B</answer>",
                                                                      "</answer>")
    text = '<tool_call>{"x": 1}</tool_call><answer>C</answer>'
    assert cut_at_stop(text, ["</answer>", "</tool_call>"])[1] == "</tool_call>"
    assert cut_at_stop("nothing", ["</answer>", ""]) == ("nothing", None)


@pytest.mark.parametrize(
    "messages, fragment",
    [
        ([], "empty"),
        ([{"role": "tool", "content": "x"}], "role"),
        ([{"role": "user", "content": [{"type": "image"}]}], "unknown part type"),
        (conversation(video(frames_of(4).astype(np.float32), 2.0)), "uint8"),
        (conversation(video(frames_of(4), float("nan"))), "fps"),
        (conversation({**video(frames_of(4), 2.0), "timestamps": [0.0]}), "timestamp"),
        (conversation(video(frames_of(4), 2.0)) + [{"role": "assistant", "content": "x"}],
         "assistant"),
    ],
)
def test_validate_messages_names_the_problem(messages, fragment):
    with pytest.raises(ValueError, match=fragment):
        validate_messages(messages)


def test_nan_timings_are_allowed_in_generation():
    gen = Generation("x", 1, 1, 0, math.nan, math.nan)
    assert gen.finish_reason == "stop" and math.isnan(gen.seconds)
