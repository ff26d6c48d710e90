"""A tiny Qwen2.5-VL that *acts*: a policy for GRPO tests that calls the clip tool or answers,
at random, in the protocol's format — built from the tiny random model in a second, offline.

A random tiny model almost never writes a valid call, so a GRPO run on it has one turn, every
reward 0 and no gradient: it tests the plumbing, not that training gets a signal. This module
writes a Markov chain over tokens into the tiny model's weights: every decoder layer's output
projections (attention ``o_proj``, MLP ``down_proj``) are zeroed, so the residual stream at a
position is the embedding of its token and the next-token logits depend on the current token
only; the chain's tokens get orthonormal embeddings and an untied LM head gives each token a
large logit for its successors (equal among them) and 0 for every other token. Sampled at
temperature 1, each reply is one of:

* a tool call in the short form, ``<tool_call>[S, E]</tool_call>`` with S in {1, 2} and E in
  {6, 9} seconds — no think block, so the format rewards give it nothing;
* a grounding answer, ``<think>.</think><answer>[S;E]</answer>`` with S in {3, 4} and E in
  {7, 8} — well formed, its IoU depending on the draw;

each with probability 1/2 (greedy decoding takes the answer: ties go to the lower token id),
after the assistant header of every turn (the chain starts at the
header's final newline, which is how ms-swift's and our chat template open a reply). So within
a group some rollouts call the tool (and get a clip from the video layer), some answer at once,
the answers differ: rewards vary, advantages are non-zero, and the loss has a gradient. The
vision tower and the rest of the model still run on every clip; only the text they produce is
fixed by the chain.

Each piece of text is spelled with tokens used nowhere else in the chain (for example "</think>"
as "</" "th" "ink"), so that a token's successors are the same wherever it occurs.
:func:`build_chain_policy` checks that and fails naming the piece otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["build_chain_policy", "CALL_SPANS", "ANSWER_SPANS"]

CALL_SPANS = [(s, e) for s in (1, 2) for e in (6, 9)]
"""The spans (seconds) the policy's tool calls ask for, each with probability 1/4 of a call."""
ANSWER_SPANS = [(s, e) for s in (3, 4) for e in (7, 8)]
"""The spans (seconds) the policy answers, each with probability 1/4 of an answer."""

_END = "<|im_end|>"
_START = "\n"  # the last token of "<|im_start|>assistant\n"

# token -> successors (drawn uniformly). Pieces are decoded texts of single tokens of the tiny
# model's vocabulary (special tokens by their content).
_CHAIN: dict[str, list[str]] = {
    _START: ["<tool_call>", "<"],
    # tool call: <tool_call>[S, E]</tool_call>
    "<tool_call>": ["["], "[": ["1", "2"], "1": [","], "2": [","], ",": [" "], " ": ["6", "9"],
    "6": ["]"], "9": ["]"], "]": ["</tool_call>"], "</tool_call>": [_END],
    # answer: <think>.</think><answer>[S;E]</answer>
    "<": ["think"], "think": [">."], ">.": ["</"], "</": ["th"], "th": ["ink"], "ink": ["><"],
    "><": ["answer"], "answer": [">["], ">[": ["3", "4"], "3": [";"], "4": [";"], ";": ["7", "8"],
    "7": ["]</"], "8": ["]</"], "]</": ["an"], "an": ["s"], "s": ["wer"], "wer": [">"], ">": [_END],
}

LOGIT = 40.0
"""The logit of a successor (every other token: 0). e^-40 × 151665 tokens ≈ 6e-13: off-chain
tokens are never drawn."""


def _token_ids(tokenizer, pieces: set[str]) -> dict[str, int]:
    ids = {}
    for piece in pieces:
        special = tokenizer.convert_tokens_to_ids(piece)
        if piece.startswith("<") and piece.endswith(">") and len(piece) > 2 and special != tokenizer.unk_token_id \
                and special is not None and tokenizer.decode([special]) == piece:
            ids[piece] = special
            continue
        encoded = tokenizer(piece, add_special_tokens=False)["input_ids"]
        candidates = [encoded[0]] if len(encoded) == 1 else []
        if not candidates:
            raise ValueError(f"chain piece {piece!r} is not one token of this vocabulary: {encoded}")
        ids[piece] = candidates[0]
    if len(set(ids.values())) != len(ids):
        raise ValueError("two chain pieces are the same token")
    return ids


def build_chain_policy(tiny_dir: str | Path, out_dir: str | Path) -> Path:
    """Write the policy (module docstring) to ``out_dir`` from the tiny model in ``tiny_dir``
    (:func:`videotemp_o3.testing.tiny_model.ensure_tiny_model`): same config except an untied
    LM head, same tokenizer, processor and chat template. Returns ``out_dir``."""
    import shutil

    import torch
    from transformers import AutoTokenizer, Qwen2_5_VLForConditionalGeneration

    tiny_dir, out = Path(tiny_dir), Path(out_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    pieces = set(_CHAIN) | {s for successors in _CHAIN.values() for s in successors}
    ids = _token_ids(tokenizer, pieces)
    states = sorted(_CHAIN, key=lambda p: ids[p])

    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_dir, dtype=torch.float32)
    text = model.config.get_text_config()
    hidden = text.hidden_size
    if len(states) > hidden:
        raise ValueError(f"{len(states)} chain states need a hidden size of at least that many; "
                         f"the model has {hidden}")
    with torch.no_grad():
        for layer in model.model.language_model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        model.model.language_model.norm.weight.fill_(1.0)
        embed = model.get_input_embeddings().weight
        basis = torch.eye(hidden)
        for k, piece in enumerate(states):
            embed[ids[piece]] = basis[k]
        # RMSNorm turns a unit vector into sqrt(hidden) times it: scale the head to give LOGIT.
        head = torch.zeros(embed.shape[0], hidden)
        for k, piece in enumerate(states):
            for successor in _CHAIN[piece]:
                head[ids[successor]] += basis[k] * (LOGIT / hidden ** 0.5)
    model.config.tie_word_embeddings = False
    text.tie_word_embeddings = False
    model.lm_head = torch.nn.Linear(hidden, embed.shape[0], bias=False)
    model.lm_head.weight = torch.nn.Parameter(head)
    out.mkdir(parents=True, exist_ok=True)
    model.to(torch.bfloat16).save_pretrained(out)
    for f in tiny_dir.iterdir():
        if f.is_file() and not f.name.endswith((".safetensors", ".bin")) and f.name != "config.json":
            shutil.copy2(f, out / f.name)
    (out / "chain_policy.json").write_text(json.dumps({"chain": _CHAIN, "logit": LOGIT}, indent=1))
    return out
