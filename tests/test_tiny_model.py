"""The offline tiny Qwen2.5-VL: builds deterministically, loads with the stock classes,
tokenises like Qwen, renders our chat template, and runs a real forward pass on video.
(`tiny_model_dir` comes from conftest.py.)"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from videotemp_o3.testing import tiny_model  # noqa: E402
from videotemp_o3.testing.tiny_model import (  # noqa: E402
    SPECIAL_TOKENS,
    VOCAB_SIZE,
    build_tiny_model,
    ensure_tiny_model,
)


@pytest.fixture(scope="module")
def processor(tiny_model_dir):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    from transformers import Qwen2_5_VLForConditionalGeneration

    return Qwen2_5_VLForConditionalGeneration.from_pretrained(
        tiny_model_dir, dtype=torch.float32
    ).eval()


def _digests(directory: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.iterdir())
        if p.is_file() and not p.name.startswith(".")
    }


@pytest.mark.slow
def test_build_is_deterministic_and_seeded(tmp_path, tiny_model_dir, capsys):
    # Through the command line, which also covers `python -m ...tiny_model OUT_DIR`.
    assert tiny_model.main([str(tmp_path / "again")]) == 0
    assert "done:" in capsys.readouterr().out
    assert _digests(tmp_path / "again") == _digests(tiny_model_dir)
    other = build_tiny_model(tmp_path / "other", seed=1)
    digests, other_digests = _digests(tiny_model_dir), _digests(other)
    assert other_digests["model.safetensors"] != digests["model.safetensors"]
    assert other_digests["tokenizer.json"] == digests["tokenizer.json"]  # seed is weights only


def test_files_are_small_and_slow_tokenizer_files_absent(tiny_model_dir):
    names = {p.name for p in tiny_model_dir.iterdir()}
    for needed in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                   "chat_template.jinja", "generation_config.json"):
        assert needed in names
    # transformers 4.x saves the image/video processors in their own files, 5.x in one.
    assert {"preprocessor_config.json", "video_preprocessor_config.json"} <= names or "processor_config.json" in names
    # The slow Qwen2Tokenizer would pre-tokenise differently from tokenizer.json.
    assert "vocab.json" not in names and "merges.txt" not in names
    assert (tiny_model_dir / "model.safetensors").stat().st_size < 12 * 2**20


@pytest.mark.slow
def test_loads_offline_with_stock_classes(tiny_model_dir, processor, model):
    from transformers import Qwen2_5_VLForConditionalGeneration

    assert type(processor).__name__ == "Qwen2_5_VLProcessor"
    assert type(processor.video_processor).__name__ == "Qwen2VLVideoProcessor"
    assert type(processor.image_processor).__name__.startswith("Qwen2VLImageProcessor")
    assert isinstance(model, Qwen2_5_VLForConditionalGeneration)
    # A fresh process with the hub switched off before huggingface_hub is imported (it reads
    # HF_HUB_OFFLINE once, at import) and the endpoint on a closed local port, so that any
    # attempt to reach a hub fails: the directory alone must be enough.
    script = (
        "import sys\n"
        "from transformers import AutoConfig, AutoProcessor\n"
        "p = AutoProcessor.from_pretrained(sys.argv[1])\n"
        "c = AutoConfig.from_pretrained(sys.argv[1])\n"
        "print(type(p).__name__, type(p.video_processor).__name__, len(p.tokenizer),\n"
        "      c.video_token_id, p.tokenizer.convert_tokens_to_ids('<|video_pad|>'))\n")
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               HF_ENDPOINT="http://127.0.0.1:9", HF_HOME=str(tiny_model_dir.parent / "empty_hf_home"))
    done = subprocess.run([sys.executable, "-c", script, str(tiny_model_dir)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    video_pad = processor.tokenizer.convert_tokens_to_ids("<|video_pad|>")
    assert done.stdout.split() == ["Qwen2_5_VLProcessor", "Qwen2VLVideoProcessor",
                                   str(VOCAB_SIZE), str(video_pad), str(video_pad)]


def test_config_matches_the_recipe_and_the_tokenizer(model, processor):
    config = model.config
    text, vision = config.text_config, config.vision_config
    assert (text.hidden_size, text.num_hidden_layers) == (32, 2)
    assert (text.num_attention_heads, text.num_key_value_heads) == (4, 2)
    head_dim = text.hidden_size // text.num_attention_heads
    assert text.rope_scaling["mrope_section"] == [2, 1, 1]
    assert sum(text.rope_scaling["mrope_section"]) * 2 == head_dim
    assert (vision.depth, vision.hidden_size, vision.out_hidden_size) == (2, 32, 32)
    assert (vision.patch_size, vision.spatial_merge_size, vision.temporal_patch_size) == (14, 2, 2)
    assert (vision.window_size, list(vision.fullatt_block_indexes)) == (112, [1])
    tok = processor.tokenizer
    assert text.vocab_size == len(tok) == VOCAB_SIZE == 151665
    for attr, token in [("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
                        ("vision_start_token_id", "<|vision_start|>"),
                        ("vision_end_token_id", "<|vision_end|>")]:
        assert getattr(config, attr) == tok.convert_tokens_to_ids(token), attr
    assert model.generation_config.eos_token_id == [
        tok.convert_tokens_to_ids("<|im_end|>"), tok.convert_tokens_to_ids("<|endoftext|>")]
    assert model.get_input_embeddings().weight.data_ptr() == model.lm_head.weight.data_ptr()


def test_tokenizer_uses_qwen_ids_and_decodes_every_id(processor):
    tok = processor.tokenizer
    # ms-swift's Qwen2-VL template hard-codes these two ids.
    assert tok.convert_tokens_to_ids(["<|image_pad|>", "<|video_pad|>"]) == [151655, 151656]
    for offset, (content, _) in enumerate(SPECIAL_TOKENS):
        assert tok.convert_tokens_to_ids(content) == 151643 + offset
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    # Digits one per token, as in Qwen: timestamps tokenise digit by digit.
    assert [t for t in tok.tokenize("58.25") if t.strip("Ġ")] == ["5", "8", ".", "2", "5"]
    text = ('<think>It starts at 12.5 s.</think><tool_call>{"name": "get_video_clip_frame", '
            '"arguments": [{"start_time": 12.5, "end_time": 30.0}]}</tool_call>')
    ids = tok(text)["input_ids"]
    assert tok.decode(ids) == text
    assert 151657 in ids and 151658 in ids  # <tool_call>, </tool_call> are single tokens
    # Non-special added tokens survive skip_special_tokens: the agent must see tool calls.
    assert "<tool_call>" in tok.decode(ids, skip_special_tokens=True)
    # Every id the model can emit decodes to some text (the filler words).
    sample = np.linspace(0, 151642, 97).astype(int).tolist()
    assert all(tok.decode([i]) for i in sample)


def test_chat_template_renders_chatml_with_video_placeholder(processor):
    messages = [
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
        {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "What?"}]},
        {"role": "assistant", "content": "<answer>A</answer>"},
        {"role": "user", "content": [{"type": "text", "text": "Sure?"}, {"type": "video"}]},
    ]
    rendered = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert rendered == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\n<|vision_start|><|video_pad|><|vision_end|>What?<|im_end|>\n"
        "<|im_start|>assistant\n<answer>A</answer><|im_end|>\n"
        "<|im_start|>user\nSure?<|vision_start|><|video_pad|><|vision_end|><|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    no_prompt = processor.apply_chat_template(messages[:2], tokenize=False)
    assert not no_prompt.endswith("<|im_start|>assistant\n")
    assert "system" not in processor.apply_chat_template(messages[1:2], tokenize=False)


def test_forward_pass_on_video(processor, model):
    frames = np.random.default_rng(0).integers(0, 256, (4, 56, 56, 3), dtype=np.uint8)
    prompt = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "Hi"}]}],
        tokenize=False, add_generation_prompt=True,
    )
    inputs = processor(text=[prompt], videos=[frames], fps=2.0, do_resize=False,
                       return_tensors="pt")
    assert inputs["video_grid_thw"].tolist() == [[2, 4, 4]]
    n_video = int((inputs["input_ids"] == model.config.video_token_id).sum())
    assert n_video == 4 // 2 * (56 // 28) * (56 // 28) == 8
    with torch.inference_mode():
        out = model(**inputs)
    assert out.logits.shape == (1, inputs["input_ids"].shape[1], VOCAB_SIZE)
    assert torch.isfinite(out.logits).all()
    # The video actually reaches the logits: other pixels, other logits at the last position.
    other = processor(text=[prompt], videos=[255 - frames], fps=2.0, do_resize=False,
                      return_tensors="pt")
    with torch.inference_mode():
        out_other = model(**other)
    assert not torch.allclose(out.logits[0, -1], out_other.logits[0, -1])


@pytest.mark.slow
def test_ensure_builds_once_and_redoes_an_interrupted_build(tmp_path):
    partial = tmp_path / "tiny-qwen2_5_vl-seed0"
    partial.mkdir()
    (partial / "config.json").write_text("{}")  # a build that died before its marker
    out = ensure_tiny_model(tmp_path)
    assert out == partial and (out / ".tiny_model_complete").is_file()
    stamp = (out / "model.safetensors").stat().st_mtime_ns
    assert ensure_tiny_model(tmp_path) == out  # finished: reused, not rebuilt
    assert (out / "model.safetensors").stat().st_mtime_ns == stamp


def test_head_size_32_variant_for_vllm(tmp_path, processor):
    """The variant vLLM serves (its Triton attention needs head sizes >= 32): 4 heads of 32,
    M-RoPE sections covering 16 frequency pairs, the same tokenizer, and a video forward pass
    whose logits depend on the pixels."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    out = build_tiny_model(tmp_path / "h32", size="tiny-h32")
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(out, dtype=torch.float32).eval()
    text = model.config.get_text_config()
    assert (text.hidden_size, text.num_attention_heads) == (128, 4)
    assert text.hidden_size // text.num_attention_heads == 32
    assert sum(text.rope_scaling["mrope_section"]) * 2 == 32
    assert model.config.vision_config.out_hidden_size == 128
    assert (out / "tokenizer.json").read_bytes() == (Path(processor.tokenizer.name_or_path) / "tokenizer.json").read_bytes()
    frames = np.random.default_rng(1).integers(0, 256, (4, 56, 56, 3), dtype=np.uint8)
    prompt = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "Hi"}]}],
        tokenize=False, add_generation_prompt=True)
    logits = []
    for pixels in (frames, 255 - frames):
        inputs = processor(text=[prompt], videos=[pixels], fps=2.0, do_resize=False, return_tensors="pt")
        with torch.inference_mode():
            logits.append(model(**inputs).logits[0, -1])
    assert torch.isfinite(logits[0]).all() and not torch.allclose(*logits)
    with pytest.raises(ValueError, match="unknown size"):
        build_tiny_model(tmp_path / "bad", size="h16")
