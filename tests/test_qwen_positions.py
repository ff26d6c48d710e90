"""Qwen2.5-VL's M-RoPE positions: the reference placement (what vLLM serves and transformers 4.x
computes) and the patch that gives it to transformers 5 (issue #18: a trainer under 5.17 and a
vLLM rollout server ran the same weights at different positions). Runs under either
transformers; tests/test_swift4.py reruns this file under transformers 5.17."""

from __future__ import annotations

import inspect
from types import SimpleNamespace

import pytest
import torch

from videotemp_o3.engines.qwen_positions import (
    TEXT,
    VIDEO,
    reference_rope_index,
    use_reference_positions,
)

MODEL = SimpleNamespace(config=SimpleNamespace(vision_config=SimpleNamespace(spatial_merge_size=2, tokens_per_second=2)))


def _positions(kinds, grids, seconds, mask=None):
    kinds = torch.tensor([kinds])
    pos, delta = reference_rope_index(MODEL, torch.zeros_like(kinds), kinds, video_grid_thw=torch.tensor(grids),
                                      second_per_grid_ts=torch.tensor(seconds),
                                      attention_mask=None if mask is None else torch.tensor([mask]))
    return pos[:, 0], delta


def test_text_after_a_video_continues_past_its_temporal_extent():
    # 3 text, a video of 20 temporal grids × (4/2 × 8/2) merged patches 1 s apart, 2 text. At 2
    # tokens per second the temporal positions are 3, 5, ..., 41; the text goes on at 42 (what
    # vLLM computes), not at 3 + max(2, 4) = 7 (transformers 5.17).
    pos, delta = _positions([TEXT] * 3 + [VIDEO] * 160 + [TEXT] * 2, [[20, 4, 8]], [1.0])
    assert pos[:, :3].tolist() == [[0, 1, 2]] * 3
    video = pos[:, 3:163]
    assert sorted(set(video[0].tolist())) == list(range(3, 42, 2))
    assert video[1].max() == 3 + 1 and video[2].max() == 3 + 3
    assert video[:, :8].tolist() == [[3] * 8, [3, 3, 3, 3, 4, 4, 4, 4], [3, 4, 5, 6, 3, 4, 5, 6]]
    assert pos[:, 163:].tolist() == [[42, 43]] * 3
    assert delta.tolist() == [[44 - 165]]


@pytest.mark.parametrize("seconds, temporal", [(0.5, [0, 1, 2, 3]), (0.75, [0, 1, 3, 4]), (2.0, [0, 4, 8, 12])])
def test_fractional_seconds_per_grid_keep_their_temporal_step(seconds, temporal):
    # floor(i × seconds × 2): a clip at 4 fps (0.5 s per grid) must not collapse to one position.
    pos, _ = _positions([VIDEO] * 4 + [TEXT], [[4, 2, 2]], [seconds])
    assert pos[0, :4].tolist() == temporal
    assert pos[:, 4].tolist() == [temporal[-1] + 1] * 3


def test_two_videos_and_left_padding():
    kinds = [TEXT, TEXT] + [TEXT] * 2 + [VIDEO] * 2 + [TEXT] + [VIDEO] * 2 + [TEXT]
    mask = [0, 0] + [1] * 8
    pos, delta = _positions(kinds, [[2, 2, 2], [2, 2, 2]], [1.0, 0.5], mask)
    assert pos[:, :2].tolist() == [[0, 0]] * 3  # padding
    # text 0 1 | video t 2, 4 | text 5 | video t 6, 7 | text 8
    assert pos[0, 2:].tolist() == [0, 1, 2, 4, 5, 6, 7, 8]
    assert delta.tolist() == [[9 - 8]]


def test_a_run_that_does_not_fit_its_grid_is_refused():
    with pytest.raises(ValueError, match="3x1x2"):
        _positions([VIDEO] * 5 + [TEXT], [[3, 2, 4]], [1.0])


def test_transformers_qwen2_5_vl_computes_the_reference_positions():
    """After the patch (applied by importing the ms-swift adapter, sft/plugin.py or the local
    engine), transformers' own get_rope_index is the reference: the patch under 5.x, the
    original under 4.x — checked on the tiny model's real config either way."""
    import transformers
    from transformers.models.qwen2_5_vl import modeling_qwen2_5_vl as modeling

    from videotemp_o3.testing.tiny_model import _build_config

    patched = use_reference_positions()
    assert use_reference_positions() is False  # idempotent
    method = modeling.Qwen2_5_VLModel.get_rope_index
    major = int(transformers.__version__.split(".")[0])
    if major >= 5:
        assert method is reference_rope_index
        assert patched or method is reference_rope_index
    else:
        assert not patched and "mm_token_type_ids" not in inspect.signature(method).parameters
    config = _build_config("tiny-h32")
    model = SimpleNamespace(config=config, spatial_merge_size=2)
    video_id = config.video_token_id
    kinds = [TEXT] * 3 + [VIDEO] * 40 + [TEXT] * 2
    ids = torch.tensor([[video_id if k == VIDEO else 100 for k in kinds]])
    ids[0, 2] = config.vision_start_token_id  # how 4.x finds the video
    grid, seconds = torch.tensor([[10, 4, 4]]), torch.tensor([1.0])
    args = dict(video_grid_thw=grid, second_per_grid_ts=seconds, attention_mask=torch.ones_like(ids))
    if major >= 5:
        got, _ = method(model, ids, torch.tensor([kinds]), **args)
    else:
        got, _ = method(model, ids, **args)
    want, _ = reference_rope_index(model, ids, torch.tensor([kinds]), **args)
    assert torch.equal(got, want)
    assert got[:, 0, -2].tolist() == [3 + 18 + 1] * 3  # 10 grids at 2 tokens/s: last t = 3 + 18
