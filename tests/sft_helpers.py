"""Helpers shared by the ``test_sft_*`` files (not a test module itself)."""

from __future__ import annotations

import contextlib
import math
import os
from typing import Iterator

import numpy as np
import pytest

# Frames small enough for CPU tests, idempotent under qwen-vl-utils' resize (min ≤ max / 1.05),
# and a frame cap that keeps every frame of a clip (the clip budget allows 64).
SMALL_VIDEO_ENV = {"VIDEO_MIN_PIXELS": "3136", "VIDEO_MAX_PIXELS": "6272", "FPS_MAX_FRAMES": "64"}


@contextlib.contextmanager
def swift_template(model_dir: os.PathLike | str, env: dict[str, str]) -> Iterator[object]:
    """ms-swift's real Qwen2.5-VL template for ``model_dir`` in training mode, with the video
    budget ``env`` — and everything ms-swift changes process-wide put back afterwards.

    ms-swift copies the budget env vars into qwen-vl-utils' module constants once per process
    (``patch_qwen_vl_utils``, guarded by a ``_patch`` flag) and may set VIDEO_TOTAL_PIXELS in
    ``os.environ``; other tests read both, so they are saved and restored here.
    """
    from qwen_vl_utils import vision_process as vp

    constants = {k: getattr(vp, k) for k in dir(vp) if k.isupper()}
    backends = dict(vp.VIDEO_READER_BACKENDS)
    had_patch = hasattr(vp, "_patch")
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        # Set it ourselves so that the value ms-swift would write is undone with the rest.
        mp.setenv("VIDEO_TOTAL_PIXELS", env.get("VIDEO_TOTAL_PIXELS", str(int(128000 * 28 * 28 * 0.9))))
        if had_patch:
            mp.delattr(vp, "_patch")
        try:
            try:  # ms-swift 3
                from swift.llm import get_model_tokenizer, get_template

                _, processor = get_model_tokenizer(str(model_dir), load_model=False,
                                                   model_type="qwen2_5_vl")
                template = get_template("qwen2_5_vl", processor)
            except ModuleNotFoundError:  # ms-swift 4: swift.llm is gone, the same at the top
                from swift import get_processor, get_template as get_template_4

                processor = get_processor(str(model_dir), model_type="qwen2_5_vl")
                template = get_template_4(processor, template_type="qwen2_5_vl")
            template.set_mode("train")
            yield template
        finally:
            for k, v in constants.items():
                setattr(vp, k, v)
            vp.VIDEO_READER_BACKENDS.clear()
            vp.VIDEO_READER_BACKENDS.update(backends)
            if hasattr(vp, "_patch") and not had_patch:
                delattr(vp, "_patch")


def label_spans(template, encoded: dict) -> list[str]:
    """The decoded text of each maximal run of labelled tokens (labels ≠ -100)."""
    tok = template.tokenizer
    ids, labels = encoded["input_ids"], encoded["labels"]
    spans, run = [], []
    for token, label in zip(ids, labels):
        if label != -100:
            assert label == token, "a label differs from its input token"
            run.append(token)
        elif run:
            spans.append(tok.decode(run))
            run = []
    if run:
        spans.append(tok.decode(run))
    return spans


def expected_clip_indices(start: float, end: float, *, video_fps: float, total_frames: int,
                          fps: float = 2.0, min_frames: int = 4, max_frames: int = 64) -> list[int]:
    """Frame indices of the clip ``[start, end]`` seconds, written out from the sampling rule
    (docs/design.md §2–3, qwen-vl-utils 0.0.11's ``video_start``/``video_end`` path): first
    index ceil(S·fps), last min(floor(E·fps), total − 1), n = frames in range / fps × rate,
    clamped to [min, max] and to the range, floored to even; then linspace rounded. An oracle
    independent of ``FrameBudget.plan``, the code under test."""
    duration = total_frames / video_fps
    first = math.ceil(max(0.0, min(start, duration)) * video_fps)
    last = min(math.floor(max(0.0, min(end, duration)) * video_fps), total_frames - 1)
    count = last - first + 1
    n = count / video_fps * fps
    n = min(max(n, 2 * math.ceil(min_frames / 2)), 2 * (max_frames // 2), count)
    n = 2 * math.floor(n / 2)
    return [round(x) for x in np.linspace(first, last, n)]  # round half to even, as torch does
