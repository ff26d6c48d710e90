"""The Qwen2.5-VL-7B-Instruct architecture for the GPU benchmarks, with no weights to download.

``QWEN25_VL_7B`` is the model's published ``config.json`` (architecture only). Two ways to use it:

* :func:`build_model` (benches/gpu/agent_7b.py): the transformers model, randomly initialised on
  the GPU, with the tiny model's processor;
* :func:`write_checkpoint` (scripts/device/serve_7b.sh): a checkpoint directory that vLLM and
  ``swift deploy`` load like the real one — the config, random bf16 weights (seeded), and the
  tokenizer, chat template and processor configs of the tiny model
  (:mod:`videotemp_o3.testing.tiny_model`).

What the tokenizer means for the numbers: the tiny tokenizer has Qwen2.5's 151665 ids (every
special token at Qwen's id; the 7B embedding has 152064 rows, as the real one) but a small BPE
below them, so a prompt's *text* takes more tokens than Qwen's would (digits one per token, as in
Qwen). Visual tokens — 32k of the ~33k a 256-frame overview costs — do not depend on the
tokenizer at all, so prefill work is within a few percent of the real model's; generated tokens
are random either way (random weights), and each turn is capped at a fixed number of new tokens.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

# Qwen2.5-VL-7B-Instruct's published config.json (architecture only).
QWEN25_VL_7B = {
    "architectures": ["Qwen2_5_VLForConditionalGeneration"], "model_type": "qwen2_5_vl",
    "attention_dropout": 0.0, "bos_token_id": 151643, "eos_token_id": 151645,
    "vision_start_token_id": 151652, "vision_end_token_id": 151653, "vision_token_id": 151654,
    "image_token_id": 151655, "video_token_id": 151656, "hidden_act": "silu", "hidden_size": 3584,
    "initializer_range": 0.02, "intermediate_size": 18944, "max_position_embeddings": 128000,
    "max_window_layers": 28, "num_attention_heads": 28, "num_hidden_layers": 28, "num_key_value_heads": 4,
    "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": False,
    "torch_dtype": "bfloat16", "use_cache": True, "use_sliding_window": False, "vocab_size": 152064,
    "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
    "vision_config": {"depth": 32, "hidden_act": "silu", "hidden_size": 1280, "intermediate_size": 3420,
                      "num_heads": 16, "in_chans": 3, "out_hidden_size": 3584, "patch_size": 14,
                      "spatial_merge_size": 2, "spatial_patch_size": 14, "window_size": 112,
                      "fullatt_block_indexes": [7, 15, 23, 31], "tokens_per_second": 2, "temporal_patch_size": 2},
}

# The tiny model's files that carry the tokenizer, chat template and processors (not its weights).
# transformers 5 saves the processors in one processor_config.json, 4.x in preprocessor_config.json
# and video_preprocessor_config.json: whichever the builder wrote is copied.
PROCESSOR_FILES = ("added_tokens.json", "chat_template.jinja", "preprocessor_config.json", "processor_config.json",
                   "special_tokens_map.json",
                   "tokenizer.json", "tokenizer_config.json", "video_preprocessor_config.json", "generation_config.json")


def processor_dir() -> Path:
    """A fresh directory with the tiny model's tokenizer and processor (built offline)."""
    from videotemp_o3.testing.tiny_model import build_tiny_model

    return build_tiny_model(Path(tempfile.mkdtemp()) / "proc")


def build_model(attn: str):
    """(LocalEngine over the randomly initialised 7B on cuda, parameter count, init seconds)."""
    import torch
    import transformers
    from transformers import AutoProcessor, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    from videotemp_o3.engines.local import LocalEngine

    processor = AutoProcessor.from_pretrained(processor_dir())
    config = Qwen2_5_VLConfig.from_dict(dict(QWEN25_VL_7B))
    config._attn_implementation = attn
    torch.manual_seed(0)
    t = time.perf_counter()
    dtype_kw = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"
    with torch.device("cuda"):
        model = Qwen2_5_VLForConditionalGeneration._from_config(config, **{dtype_kw: torch.bfloat16})
    torch.cuda.synchronize()
    params = sum(p.numel() for p in model.parameters())
    return LocalEngine.from_model(model, processor), params, time.perf_counter() - t


def write_checkpoint(out: Path, *, seed: int = 0, device: str = "cuda") -> Path:
    """Write the 7B architecture with random bf16 weights (``seed``) and the tiny model's
    tokenizer/processor into ``out`` (about 16 GB); returns ``out``. Initialised on ``device``."""
    import torch
    import transformers
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    src = processor_dir()
    for name in PROCESSOR_FILES:
        if (src / name).exists():
            shutil.copy2(src / name, out / name)
    config = Qwen2_5_VLConfig.from_dict(dict(QWEN25_VL_7B))
    torch.manual_seed(seed)
    dtype_kw = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"
    with torch.device(device):
        model = Qwen2_5_VLForConditionalGeneration._from_config(config, **{dtype_kw: torch.bfloat16})
    model.save_pretrained(out, safe_serialization=True, max_shard_size="4GB")
    # Real checkpoints carry `architectures` at the top level (ms-swift picks the type there).
    spec = json.loads((out / "config.json").read_text())
    spec["architectures"] = QWEN25_VL_7B["architectures"]
    (out / "config.json").write_text(json.dumps(spec, indent=2) + "\n")
    del model
    return out


if __name__ == "__main__":  # python benches/gpu/qwen7b.py OUT_DIR [--seed N]
    import argparse

    ap = argparse.ArgumentParser(description="Write the Qwen2.5-VL-7B architecture with random weights")
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cuda")
    a = ap.parse_args()
    t = time.perf_counter()
    path = write_checkpoint(Path(a.out), seed=a.seed, device=a.device)
    size = sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    print(f"[qwen7b] {path}: {size / 2**30:.1f} GiB in {time.perf_counter() - t:.0f} s", flush=True)
