"""Qwen2.5-VL's M-RoPE position ids as the model was trained with and as vLLM serves it, for
transformers 5.x, whose ``get_rope_index`` departs from both for videos.

A Qwen2.5-VL prompt gets three position ids per token (temporal, height, width). Text tokens
carry one number three times; the tokens of a video with merged grid ``t × h × w`` (patch grid
divided by ``spatial_merge_size`` in h and w) get ``start + floor(i · second_per_grid_t ·
tokens_per_second)`` for temporal index ``i``, and ``start + row`` / ``start + column``. The text
after the video continues at **one past the largest position the video used** — for a video of
20 temporal grids, 1 s apart, at 2 tokens per second that is ``start + 39``.

That is what Qwen's reference implementation, transformers 4.x and vLLM (0.11 to at least 0.26,
``Qwen2_5_VLForConditionalGeneration.get_mrope_input_positions``) compute. transformers 5.3 to at
least 5.17 (``Qwen2_5_VLModel.get_rope_index``) differ in two ways:

* the text after a video continues at ``start + max(h, w)``, as for an image — the temporal
  extent of the video is ignored, so every later token sits ``floor((t-1) · interval) + 1 -
  max(h, w)`` positions lower than in vLLM (35 for the 20-second overview above; upstream:
  huggingface/transformers issue 45381);
* the temporal step is ``tokens_per_second · int(second_per_grid_t)``: a clip sampled at 4 fps
  (0.5 s per grid) gets step 0, every frame at one temporal position (upstream: pull request
  48669).

Under ms-swift 4 the trainer (SFT and GRPO, transformers 5) and the rollout server (vLLM) then run
the same weights at different positions: the server's model is not the trainer's, and a policy
fitted under transformers 5 is served something it never saw (issue #18's noise). The 7B
checkpoint, trained with the reference positions, is likewise evaluated and trained at shifted
positions by plain transformers 5.

:func:`use_reference_positions` replaces ``Qwen2_5_VLModel.get_rope_index`` with
:func:`reference_rope_index` when — and only when — the installed one computes something else on a
probe (so a transformers that fixes both departs from nothing and is left alone). ms-swift builds
its training position ids through that method (``Template._get_position_ids``), and the model's
own forward does too, so one patch covers SFT, GRPO's forward passes and local inference.
"""

from __future__ import annotations

import inspect
import itertools

import torch

TEXT, IMAGE, VIDEO = 0, 1, 2  # transformers 5's mm_token_type_ids values


def reference_rope_index(
    self,
    input_ids: torch.LongTensor,
    mm_token_type_ids: torch.Tensor,
    image_grid_thw: torch.LongTensor | None = None,
    video_grid_thw: torch.LongTensor | None = None,
    second_per_grid_ts: torch.Tensor | None = None,
    attention_mask: torch.Tensor | None = None,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Drop-in for transformers 5's ``Qwen2_5_VLModel.get_rope_index`` (same arguments, same
    return: position ids ``(3, batch, length)``, zero where ``attention_mask`` is 0, and per row
    ``max position + 1 - unmasked length``), computing the reference positions (module doc).

    ``mm_token_type_ids`` marks each token text (0), image (1) or video (2); a run of one kind is
    one item, matched in order with ``image_grid_thw`` / ``video_grid_thw`` (patch grids) and, for
    videos, ``second_per_grid_ts`` (seconds per temporal grid, 1.0 when absent)."""
    vision = self.config.vision_config
    merge = vision.spatial_merge_size
    tokens_per_second = getattr(vision, "tokens_per_second", 1.0)
    grids = {IMAGE: iter(image_grid_thw if image_grid_thw is not None else ()),
             VIDEO: iter(video_grid_thw if video_grid_thw is not None else ())}
    if second_per_grid_ts is None:
        seconds = iter(())
    elif isinstance(second_per_grid_ts, torch.Tensor):
        seconds = iter(second_per_grid_ts.tolist())
    else:
        seconds = iter(second_per_grid_ts)
    device = input_ids.device
    position_ids = torch.zeros(3, *input_ids.shape, dtype=input_ids.dtype, device=device)
    deltas = []
    for row in range(input_ids.shape[0]):
        kinds = mm_token_type_ids[row]
        if attention_mask is not None:
            kinds = kinds[attention_mask[row].bool()]
        pieces: list[torch.Tensor] = []
        start = 0
        for kind, run in itertools.groupby(kinds.tolist()):
            length = len(list(run))
            if kind == TEXT:
                pieces.append(torch.arange(length, device=device).expand(3, -1) + start)
                start += length
                continue
            t, h, w = (int(x) for x in next(grids[kind]))
            h, w = h // merge, w // merge
            step = float(next(seconds, 1.0)) * tokens_per_second if kind == VIDEO else 1.0
            if t * h * w != length:
                raise ValueError(f"a run of {length} vision tokens for a grid of {t}x{h}x{w} "
                                 "merged patches: mm_token_type_ids and the grids disagree")
            temporal = (torch.arange(t, device=device, dtype=torch.float64) * step).long()
            grid = torch.stack(torch.meshgrid(temporal, torch.arange(h, device=device),
                                              torch.arange(w, device=device), indexing="ij"))
            piece = grid.reshape(3, -1) + start
            pieces.append(piece)
            start = int(piece.max()) + 1
        positions = torch.cat(pieces, dim=1) if pieces else torch.zeros(3, 0, dtype=torch.long, device=device)
        if attention_mask is not None:
            position_ids[:, row, attention_mask[row].bool()] = positions.to(position_ids.dtype)
        else:
            position_ids[:, row] = positions.to(position_ids.dtype)
        deltas.append(start - positions.shape[1])
    return position_ids, torch.tensor(deltas, device=device).unsqueeze(1)


def _probe_departs(model_class) -> bool:
    """Does ``model_class.get_rope_index`` place a probe (text, a video of 3 grids 0.5 s apart,
    text) other than :func:`reference_rope_index` does?"""
    from types import SimpleNamespace

    model = model_class.__new__(model_class)  # no weights: the method reads only the config
    torch.nn.Module.__init__(model)
    model.config = SimpleNamespace(vision_config=SimpleNamespace(
        spatial_merge_size=2, tokens_per_second=2, temporal_patch_size=2))
    kinds = torch.tensor([[TEXT] * 2 + [VIDEO] * 12 + [TEXT] * 2])
    ids = torch.zeros_like(kinds)
    args = dict(video_grid_thw=torch.tensor([[3, 4, 4]]), second_per_grid_ts=torch.tensor([0.5]),
                attention_mask=torch.ones_like(kinds))
    want, _ = reference_rope_index(model, ids, kinds, **args)
    try:
        got, _ = model_class.get_rope_index(model, ids, kinds, **args)
    except (TypeError, AttributeError, ValueError, IndexError, RuntimeError, StopIteration):
        # another signature or layout: not the function this module knows how to replace
        return False
    return not torch.equal(got, want)


def use_reference_positions() -> bool:
    """Make transformers' Qwen2.5-VL compute the reference positions (module doc). Returns whether
    it patched; idempotent; a no-op under transformers 4.x (already the reference) and wherever
    the installed ``get_rope_index`` already agrees with :func:`reference_rope_index`."""
    try:
        from transformers.models.qwen2_5_vl import modeling_qwen2_5_vl as modeling
    except ImportError:
        return False
    model_class = modeling.Qwen2_5_VLModel
    current = model_class.get_rope_index
    if current is reference_rope_index:
        return False
    if "mm_token_type_ids" not in inspect.signature(current).parameters:
        return False  # transformers 4.x: finds vision tokens by id, already the reference
    if not _probe_departs(model_class):
        return False
    model_class.get_rope_index = reference_rope_index
    return True
