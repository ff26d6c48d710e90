"""Random-initialised Qwen2.5-VL checkpoints built offline: a *tiny* one for tests, *compact* (and
the earlier *small*) to train.

    python -m videotemp_o3.testing.tiny_model OUT_DIR                   # tiny (tests)
    python -m videotemp_o3.testing.tiny_model OUT_DIR --size compact    # the miniature's model

writes a directory (tiny: about 13 MB; compact: about 15 MB; small: about 21 MB) that loads with ``AutoProcessor.from_pretrained(OUT_DIR)``
and ``Qwen2_5_VLForConditionalGeneration.from_pretrained(OUT_DIR)`` with no network and no
model hub, and serves with ``swift deploy --model OUT_DIR --model_type qwen2_5_vl
--template qwen2_5_vl`` (ms-swift cannot guess the type from a local directory). The
weights are noise: the model produces nonsense, but it exercises every real code path —
chat template, video processor, vision tower with window attention, M-RoPE with
``second_per_grid_ts``, generation, stop strings.

What is real and what is not:

- Token ids of the special tokens are Qwen2.5's own (``<|endoftext|>`` = 151643 …
  ``<|video_pad|>`` = 151656 … ``<|file_sep|>`` = 151664), and the vocabulary has exactly
  Qwen2.5's 151665 entries (all sizes but *compact*, below). ms-swift's Qwen2-VL template
  hard-codes the image/video pad ids (151655/151656); our ms-swift adapter
  (:mod:`videotemp_o3.training.swift_plugin`) has it read them from the tokenizer instead,
  which only matters for *compact*.
- Below 151643 sits a byte-level BPE trained with ``tokenizers`` on a small built-in corpus
  (digits one per token, the protocol tags, JSON punctuation, video words), then padded
  with pronounceable filler words (" bako", " dutemi", …) so that *every* id the model can
  emit decodes to text. That keeps random generations readable and stop-string tests
  meaningful. The filler ids are never produced by encoding.
- Sizes follow docs/design.md §5: text hidden 32, 2 layers, 4 heads / 2 KV heads (head_dim 8,
  M-RoPE sections [2, 1, 1] = head_dim / 2), vision depth 2, hidden 32, patch 14, spatial
  merge 2, temporal patch 2, window 112, full attention in block 1. The 151665 × 32
  embedding (tied with the LM head) dominates: about 10 MB in bfloat16 on disk. Weights
  are initialised with std 0.3, not Qwen's 0.02, so that greedy output varies.
- The chat template is our own Jinja: ChatML turns, no default system prompt, and
  ``<|vision_start|><|video_pad|><|vision_end|>`` for each video part.

The **small** size is the one the miniature reproduction (:mod:`videotemp_o3.mini`) trains
from scratch and ships as the demo's agent. It keeps the same token layout and chat template and
differs where learning needs it:

- text hidden 64, 4 layers, 4 heads / 2 KV heads (head_dim 16, M-RoPE sections [2, 3, 3] —
  Qwen2.5-VL's own t/h/w proportions), MLP 256; vision depth 4, hidden 64, 4 heads, MLP 256,
  full attention in blocks 1 and 3, merger to 64. About 10.2 M parameters, 9.7 M of them the
  151665 × 64 embedding (tied with the LM head), so the weights are ~20 MB in bfloat16: Qwen's
  vocabulary size is fixed by the token ids ms-swift hard-codes, and the embedding is what
  bounds the width.
- initialiser std 0.02 (Qwen's), as suits training.
- the BPE is trained on a corpus that adds every text of the agent protocol (system prompt,
  prompts, tool feedback), the synthetic task's questions and the SFT builder's reasoning
  templates, with 2048 merges, so that a whole trajectory is a few hundred tokens.

The **compact** size is what the miniature builds since its third GPU run: the small size's
embedding is 95 % of its parameters, bounds its width to 64 (a wider one would not ship in 25 MB)
and is 92 % of a CPU training step (8 × 1024 tokens: 54 s with the 151665-way head and loss,
4.6 s without), while its transformer body has about 0.5 M parameters. *compact* keeps the
miniature's tokenizer (its own corpus) but lays the special tokens right after the BPE — a
vocabulary of under a thousand ids — and spends the weights on the body:

- text hidden 256, 6 layers, 8 heads / 2 KV heads (head_dim 32 — vLLM's kept attention
  kernels serve it —, M-RoPE sections [4, 6, 6]), MLP 1024; vision depth 4, hidden 128, 4
  heads, MLP 512, full attention in blocks 1 and 3, merger to 256. About 7.5 M parameters,
  ~15 MB in bfloat16.
- transformers and vLLM read the pad and vision ids from ``config.json``; ms-swift's template
  reads them from the tokenizer through our adapter (loaded by ``sft.sh`` and ``rl/plugin.py``).

The build is deterministic: the same seed gives byte-identical files.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["build_tiny_model", "ensure_tiny_model", "SPECIAL_TOKENS", "CHAT_TEMPLATE", "VOCAB_SIZE",
           "SIZES"]

# Qwen2.5's added tokens, in id order starting at FIRST_SPECIAL_ID: (content, special).
# `special=False` ones survive `skip_special_tokens=True`, exactly as in the real tokenizer;
# that matters for `<tool_call>`, which the agent must see in decoded text.
FIRST_SPECIAL_ID = 151643
SPECIAL_TOKENS: tuple[tuple[str, bool], ...] = (
    ("<|endoftext|>", True),
    ("<|im_start|>", True),
    ("<|im_end|>", True),
    ("<|object_ref_start|>", True),
    ("<|object_ref_end|>", True),
    ("<|box_start|>", True),
    ("<|box_end|>", True),
    ("<|quad_start|>", True),
    ("<|quad_end|>", True),
    ("<|vision_start|>", True),
    ("<|vision_end|>", True),
    ("<|vision_pad|>", True),
    ("<|image_pad|>", True),
    ("<|video_pad|>", True),
    ("<tool_call>", False),
    ("</tool_call>", False),
    ("<|fim_prefix|>", False),
    ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False),
    ("<|fim_pad|>", False),
    ("<|repo_name|>", False),
    ("<|file_sep|>", False),
)
VOCAB_SIZE = FIRST_SPECIAL_ID + len(SPECIAL_TOKENS)  # 151665, as Qwen2.5's tokenizer


def _special_ids(first: int = FIRST_SPECIAL_ID) -> dict[str, int]:
    """The id of each special token when the specials start at ``first``."""
    return {content: first + i for i, (content, _) in enumerate(SPECIAL_TOKENS)}


def _size_spec(size: str) -> dict[str, Any]:
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; expected one of {sorted(SIZES)}")
    return SIZES[size]


# Our own chat template. ChatML turns; a message's content is a string or a list of parts
# (`text`, `video`, `image`). No default system prompt: the agent always sends its own.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['content'] is string -%}"
    "{{- message['content'] -}}"
    "{%- else -%}"
    "{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'text' -%}"
    "{{- part['text'] -}}"
    "{%- elif part['type'] == 'video' -%}"
    "{{- '<|vision_start|><|video_pad|><|vision_end|>' -}}"
    "{%- elif part['type'] == 'image' -%}"
    "{{- '<|vision_start|><|image_pad|><|vision_end|>' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
    "{%- endif -%}"
)

# Pre-tokenisation: letters with an optional leading space, one digit at a time (so times
# like 58.5 tokenise digit by digit, as in Qwen), punctuation runs, whitespace.
_SPLIT_PATTERN = r" ?\p{L}+| ?\p{N}| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"

_BPE_VOCAB_TARGET = 1024
_SMALL_BPE_VOCAB_TARGET = 2048


def _corpus() -> list[str]:
    """A small, fixed training corpus in the shape of the agent's conversations."""
    lines = [
        "You are a helpful assistant. Watch the video and answer the question.",
        "Think step by step inside <think> </think> and give the final answer inside "
        "<answer> </answer>.",
        "If you need a closer look, call the tool to extract a clip of the video.",
        "<think>The person opens the door at about 58 seconds, so I should look closer."
        "</think>",
        '<tool_call>{"name": "get_video_clip_frame", "arguments": '
        '[{"start_time": 58.0, "end_time": 100.0}]}</tool_call>',
        "<tool_call>[12.5, 30.0]</tool_call>",
        "Here is the clip from 58.0 s to 100.0 s of the original video.",
        "The requested segment is outside the video; continue without it.",
        "<think>The man puts the cup on the table before he leaves.</think>"
        "<answer>B</answer>",
        "<answer>[3.5, 17.25]</answer>",
        "Question: What happens after the woman enters the kitchen?",
        "Options: A. She cooks. B. She leaves. C. She sits down. D. She reads a book.",
        "Give the start and end time in seconds of the moment when the dog jumps.",
        '{"start_time": 0.0, "end_time": 1.5}, {"start_time": 2.25, "end_time": 7.75}',
        "frame time second minute clip video overview segment start end duration",
        "the a an of to in on at for with from by and or not is are was were",
        "0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 25 30 45 60 90 120",
        "[ ] { } ( ) : , . ; ! ? \" ' - + = / _ * # % & < >",
    ]
    # Repetition gives the BPE trainer pair counts to merge on; the order is fixed.
    return lines * 8


def _small_corpus() -> list[str]:
    """The tiny corpus plus the texts a trained agent reads and writes, so that they tokenise
    into few tokens: the protocol's system prompt, prompts and feedback, the synthetic task's
    questions, and the SFT builder's reasoning templates (those it defines at build time)."""
    from videotemp_o3 import protocol, synthetic
    from videotemp_o3.segments import Segment

    texts = [protocol.system_prompt(), protocol.final_answer_request(),
             protocol.missing_action_feedback()]
    for colour in synthetic.COLOURS:
        options = [f"{p}" for p in synthetic.PATTERNS]
        texts.append(protocol.mcq_prompt(synthetic.QUESTION.format(colour=colour), options,
                                         duration=123.5))
        texts.append(protocol.grounding_prompt(synthetic.QUERY.format(colour=colour), duration=1234.0))
    clip = protocol.ClipRequest(Segment(58.0, 100.5), Segment(58.0, 100.5))
    texts += [protocol.tool_feedback([clip], ask_final=True),
              protocol.tool_feedback([clip, clip], ask_final=False),
              protocol.tool_feedback(protocol.RejectedCall(protocol.CallProblem.REPEATED, "x"))]
    texts += [t.format(target="the moment", a="1.5", b="2.5", p="0.5", q="3.5", s="1", e="2",
                       answer="B") for t in _builder_templates()]
    return _corpus() + texts * 8


def _builder_templates() -> list[str]:
    """The SFT builder's reasoning templates (strings with {placeholders}), if it defines any."""
    try:
        from videotemp_o3.training import sft_data
    except Exception:  # noqa: BLE001 — a checkout without the training extras: no templates
        return []
    out: list[str] = []
    for name in dir(sft_data):
        if not name.startswith("_THINK"):
            continue
        value = getattr(sft_data, name)
        items = value.values() if isinstance(value, dict) else value
        if isinstance(items, str):
            items = [items]
        try:
            out += [t for t in items if isinstance(t, str)]
        except TypeError:
            continue
    return sorted(out)


def _filler_words():
    """Pronounceable, deterministic words (' ba', ' bako', ' bakodu', …) for unused ids."""
    consonants = "bdfgklmnprstvz"
    vowels = "aeiou"
    syllables = [c + v for c in consonants for v in vowels]
    for n in itertools.count(1):
        for combo in itertools.product(syllables, repeat=n):
            # "Ġ" is the byte-level spelling of a leading space.
            yield "\u0120" + "".join(combo)


def _build_tokenizer_json(corpus: str = "tiny", layout: str = "qwen") -> tuple[str, int]:
    """Train the byte-level BPE on ``corpus`` (``tiny``: the test corpus; ``small``: the
    miniature's) and lay out the vocabulary: ``qwen``, Qwen2.5's 151665 ids (fillers up to
    151643, the special tokens at Qwen's ids); ``compact``, the special tokens right after the
    BPE. Returns the tokenizer's JSON and the id of its first special token."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from tokenizers import trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_SPLIT_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=_BPE_VOCAB_TARGET if corpus == "tiny" else _SMALL_BPE_VOCAB_TARGET,
        min_frequency=2,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
        special_tokens=[],
    )
    tokenizer.train_from_iterator(_corpus() if corpus == "tiny" else _small_corpus(), trainer=trainer)

    spec = json.loads(tokenizer.to_str())
    vocab: dict[str, int] = spec["model"]["vocab"]
    next_id = len(vocab)
    first = FIRST_SPECIAL_ID if layout == "qwen" else next_id
    fillers = _filler_words()
    while next_id < first:
        word = next(fillers)
        if word not in vocab:
            vocab[word] = next_id
            next_id += 1
    spec["added_tokens"] = [
        {
            "id": first + i,
            "content": content,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": special,
        }
        for i, (content, special) in enumerate(SPECIAL_TOKENS)
    ]
    text = json.dumps(spec, ensure_ascii=False)
    # Validate here, where the cause is obvious, rather than in a confusing load later.
    check = Tokenizer.from_str(text)
    if (check.get_vocab_size(with_added_tokens=True) != first + len(SPECIAL_TOKENS)
            or check.token_to_id("<|video_pad|>") != _special_ids(first)["<|video_pad|>"]):
        raise RuntimeError(f"tiny tokenizer: vocabulary does not have the {layout} layout")
    return text, first


def _build_processor(tokenizer_file: Path):
    from transformers import Qwen2_5_VLProcessor, Qwen2TokenizerFast
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import Qwen2VLImageProcessor
    from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

    tokenizer = Qwen2TokenizerFast(
        tokenizer_file=str(tokenizer_file),
        unk_token=None,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        model_max_length=32768,
        errors="replace",
        add_prefix_space=False,
        clean_up_tokenization_spaces=False,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    # Budgets of docs/design.md §3 as the processors' defaults; our engines pass pre-sized frames
    # with do_resize=False, so these only matter to callers that hand in raw media.
    image_processor = Qwen2VLImageProcessor(
        min_pixels=4 * 28 * 28, max_pixels=16384 * 28 * 28, patch_size=14,
        temporal_patch_size=2, merge_size=2,
    )
    video_processor = Qwen2VLVideoProcessor(
        min_pixels=128 * 28 * 28, max_pixels=768 * 28 * 28, patch_size=14,
        temporal_patch_size=2, merge_size=2,
    )
    return Qwen2_5_VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=CHAT_TEMPLATE,
    )


SIZES: dict[str, dict[str, Any]] = {
    # Test model: docs/design.md §5.
    "tiny": dict(hidden=32, layers=2, heads=4, kv_heads=2, mlp=64, mrope=[2, 1, 1],
                 vision_depth=2, vision_hidden=32, vision_heads=4, vision_mlp=64,
                 fullatt=[1], init=0.3),
    # The test model with text head size 32 (hidden 128), same tokenizer: vLLM's kept attention
    # kernels serve head sizes >= 32 only (scripts/device/repack_vllm.py); the GPU runs use it.
    "tiny-h32": dict(hidden=128, layers=2, heads=4, kv_heads=2, mlp=256, mrope=[4, 6, 6],
                     vision_depth=2, vision_hidden=32, vision_heads=4, vision_mlp=64,
                     fullatt=[1], init=0.3),
    # The miniature's model (see the module docstring).
    "small": dict(hidden=64, layers=4, heads=4, kv_heads=2, mlp=256, mrope=[2, 3, 3],
                  vision_depth=4, vision_hidden=64, vision_heads=4, vision_mlp=256,
                  fullatt=[1, 3], init=0.02, corpus="small"),
    # The miniature's model with a compact vocabulary (see the module docstring).
    "compact": dict(hidden=256, layers=6, heads=8, kv_heads=2, mlp=1024, mrope=[4, 6, 6],
                    vision_depth=4, vision_hidden=128, vision_heads=4, vision_mlp=512,
                    fullatt=[1, 3], init=0.02, corpus="small", layout="compact"),
}
"""Architecture of each size the builder knows."""


def _build_config(size: str = "tiny", first_special: int = FIRST_SPECIAL_ID):
    from transformers import Qwen2_5_VLConfig

    z = _size_spec(size)
    ids = _special_ids(first_special)
    hidden = z["hidden"]
    heads = z["heads"]
    head_dim = hidden // heads
    mrope_section = z["mrope"]
    # M-RoPE rotates head_dim/2 frequency pairs split over (t, h, w): the sections must
    # cover them exactly, or the rotary embedding silently misaligns.
    if sum(mrope_section) * 2 != head_dim:
        raise ValueError(f"mrope_section {mrope_section} does not cover head_dim {head_dim}")
    text_config = dict(
        vocab_size=first_special + len(SPECIAL_TOKENS),
        hidden_size=hidden,
        intermediate_size=z["mlp"],
        num_hidden_layers=z["layers"],
        num_attention_heads=heads,
        num_key_value_heads=z["kv_heads"],
        hidden_act="silu",
        max_position_embeddings=32768,
        rms_norm_eps=1e-6,
        rope_theta=1000000.0,
        rope_scaling={"type": "mrope", "mrope_section": mrope_section},
        tie_word_embeddings=True,
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        # tiny: far above Qwen's 0.02 on purpose: with tiny init the residual stream is the
        # input embedding, and through the tied LM head greedy decoding just repeats the
        # last token. At 0.3 the random model emits varied tokens, which the stop-string
        # and determinism tests need. small: Qwen's value, for training.
        initializer_range=z["init"],
        torch_dtype="bfloat16",
    )
    vision_config = dict(
        depth=z["vision_depth"],
        hidden_size=z["vision_hidden"],
        intermediate_size=z["vision_mlp"],
        num_heads=z["vision_heads"],
        in_channels=3,
        patch_size=14,
        spatial_merge_size=2,
        temporal_patch_size=2,
        window_size=112,
        out_hidden_size=hidden,
        fullatt_block_indexes=z["fullatt"],
        # Qwen2.5-VL's value: temporal positions advance 2 per second of video.
        tokens_per_second=2,
        torch_dtype="bfloat16",
    )
    return Qwen2_5_VLConfig(
        text_config=text_config,
        vision_config=vision_config,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
        tie_word_embeddings=True,
        initializer_range=z["init"],
        torch_dtype="bfloat16",
    )


def build_tiny_model(out_dir: str | Path, *, seed: int = 0, size: str = "tiny") -> Path:
    """Write a checkpoint of ``size`` (:data:`SIZES`; weights, config, tokenizer, processor)
    into ``out_dir``.

    Creates ``out_dir`` if needed and overwrites the files it writes. Returns the directory
    as an absolute ``Path``. Takes a few seconds on one CPU core; deterministic for a given
    ``seed`` (the global torch RNG is used under ``torch.random.fork_rng`` and restored).
    The sizes are in the module docstring and :data:`SIZES`.
    """
    import torch
    from transformers import GenerationConfig, Qwen2_5_VLForConditionalGeneration

    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)

    spec = _size_spec(size)
    tokenizer_file = out / "tokenizer.json"
    # The test sizes share one tokenizer; the miniature's have their own corpus.
    text, first_special = _build_tokenizer_json(spec.get("corpus", "tiny"), spec.get("layout", "qwen"))
    tokenizer_file.write_text(text, encoding="utf-8")
    processor = _build_processor(tokenizer_file)

    config = _build_config(size, first_special)
    ids = _special_ids(first_special)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2_5_VLForConditionalGeneration(config)
    model = model.to(torch.bfloat16).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
        pad_token_id=ids["<|endoftext|>"],
        do_sample=False,
    )
    model.save_pretrained(out, safe_serialization=True)
    processor.save_pretrained(out)

    # transformers 4.57 records `architectures` only inside text_config; real Qwen2.5-VL
    # checkpoints carry it at the top level, where ms-swift looks to pick the model type.
    config_file = out / "config.json"
    spec = json.loads(config_file.read_text(encoding="utf-8"))
    spec["architectures"] = [type(model).__name__]
    config_file.write_text(json.dumps(spec, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    # save_pretrained also writes vocab.json/merges.txt for the slow Qwen2Tokenizer, whose
    # hard-coded pre-tokeniser differs from ours: drop them so only tokenizer.json loads.
    for slow_file in ("vocab.json", "merges.txt"):
        (out / slow_file).unlink(missing_ok=True)
    return out


_COMPLETE_MARKER = ".tiny_model_complete"


def ensure_tiny_model(root: str | Path, *, seed: int = 0) -> Path:
    """The tiny checkpoint under ``root``, built on first use and reused afterwards.

    For test suites: several modules' session fixtures can call this with the same root
    (``tmp_path_factory.getbasetemp()``) and share one build. A marker file written last
    tells a finished build from an interrupted one; not safe for concurrent builders.
    """
    out = Path(root).resolve() / f"tiny-qwen2_5_vl-seed{seed}"
    marker = out / _COMPLETE_MARKER
    if not marker.is_file():
        build_tiny_model(out, seed=seed)
        marker.write_text(f"seed={seed}\n", encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m videotemp_o3.testing.tiny_model",
        description="Build a random Qwen2.5-VL checkpoint offline: tiny (tests) or compact (to train).",
    )
    parser.add_argument("out_dir", help="directory to write the checkpoint into")
    parser.add_argument("--seed", type=int, default=0, help="weight-init seed (default 0)")
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny", help="default tiny")
    args = parser.parse_args(argv)
    print(f"building {args.size} Qwen2.5-VL into {args.out_dir} (seed {args.seed}) ...", flush=True)
    out = build_tiny_model(args.out_dir, seed=args.seed, size=args.size)
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    print(f"done: {out} ({size / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
