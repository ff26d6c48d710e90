"""Loaded by ``sft.sh`` with ``--external_plugins`` on every run: under transformers 5 it gives
Qwen2.5-VL the M-RoPE positions the model was trained with and vLLM serves
(:mod:`videotemp_o3.engines.qwen_positions` says how 5.x departs); a no-op under 4.x. It also
keeps qwen-vl-utils from logging a warning for every pre-sampled overview it reads
(:func:`videotemp_o3.training.swift_media.quiet_clamp_warnings`)."""

from videotemp_o3.engines.qwen_positions import use_reference_positions
from videotemp_o3.training.swift_media import quiet_clamp_warnings

use_reference_positions()
quiet_clamp_warnings()
