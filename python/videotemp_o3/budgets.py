"""The release's frame budgets, defined once (docs/design.md §3).

* Inference: an overview of up to 256 frames at 200704 pixels each (the release serves with
  ``VIDEO_MIN_PIXELS = VIDEO_MAX_PIXELS = 200704``, ``FPS_MAX_FRAMES = 256``); clips at 2 fps,
  4–64 frames, at the same pixels.
* Training (SFT and RL): ms-swift samples the overview under ``VIDEO_MIN_PIXELS =
  VIDEO_MAX_PIXELS = 50176`` and ``FPS_MAX_FRAMES = 512``, as the release's ``sft/sft.sh`` and
  ``rl/grpo.sh`` set them (:data:`TRAINING_VIDEO_ENV`; ``sft/sft.sh`` and ``rl/env.sh`` set the
  same defaults, a test keeps them in step; ``VIDEO_MIN_PIXELS`` defaults to whatever
  ``VIDEO_MAX_PIXELS`` is); clips keep 2 fps, 4–64 frames, at the pixel limits of that
  environment (:func:`videotemp_o3.training.swift_media.clip_budget`).
"""

from __future__ import annotations

from videotemp_o3.video import FrameBudget

INFERENCE_FRAME_PIXELS = 200704
"""Pixels per frame at inference, overview and clips (256 × 28²)."""
OVERVIEW_MAX_FRAMES = 256
CLIP_FPS = 2.0
CLIP_MIN_FRAMES = 4
CLIP_MAX_FRAMES = 64
"""The release's clip sampling: 2 fps, 4–64 frames."""
TRAINING_FRAME_PIXELS = 50176
TRAINING_MAX_FRAMES = 512
TRAINING_VIDEO_ENV = {"VIDEO_MIN_PIXELS": str(TRAINING_FRAME_PIXELS),
                      "VIDEO_MAX_PIXELS": str(TRAINING_FRAME_PIXELS),
                      "FPS_MAX_FRAMES": str(TRAINING_MAX_FRAMES)}
"""The release's training budget (SFT and RL), as ms-swift environment variables. Without
``VIDEO_MIN_PIXELS`` qwen-vl-utils' minimum (100352 pixels) would win over the 50176 maximum
and frames would get about twice the release's pixels."""


def release_overview_budget(pixels: int = INFERENCE_FRAME_PIXELS,
                            frames: int = OVERVIEW_MAX_FRAMES) -> FrameBudget:
    """The release's inference overview: up to ``frames`` frames at ``pixels`` each (a frame is
    never scaled up past the release's 200704 pixels to reach a larger ``pixels``)."""
    return FrameBudget(min_pixels=min(pixels, INFERENCE_FRAME_PIXELS), max_pixels=pixels,
                       max_frames=frames)


def release_clip_budget(pixels: int = INFERENCE_FRAME_PIXELS) -> FrameBudget:
    """The release's clips at inference: 2 fps, 4–64 frames, ``pixels`` each."""
    return FrameBudget(fps=CLIP_FPS, min_frames=CLIP_MIN_FRAMES, max_frames=CLIP_MAX_FRAMES,
                       min_pixels=min(pixels, INFERENCE_FRAME_PIXELS), max_pixels=pixels)
