"""Loaded by ``sft.sh`` with ``--external_plugins`` on every run: the package's ms-swift adapter
(:mod:`videotemp_o3.training.swift_plugin`), which under transformers 5 gives Qwen2.5-VL the
M-RoPE positions the model was trained with and vLLM serves (a no-op under 4.x), makes the
Qwen2.5-VL template take the video pad id from the checkpoint's tokenizer (the miniature's
compact vocabulary), and keeps qwen-vl-utils from logging a warning for every pre-sampled
overview it reads. Its rewards and scheduler, registered too, are unused by SFT."""

import videotemp_o3.training.swift_plugin  # noqa: F401  (patches on import)
