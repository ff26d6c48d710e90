"""The embedded engine: a Qwen-VL model run in-process with transformers.

Our video layer has already decoded, sampled and resized the frames, so the processor must
take them as they are and only learn *when* they were sampled:

- No second resize, no resampling: every call passes ``do_resize=False`` and
  ``do_sample_frames=False``. (transformers 4.57's Qwen2-VL video processor would otherwise
  ``smart_resize`` with its own min/max pixels — a 56×56 test clip becomes 364×364 — and a
  checkpoint whose ``video_preprocessor_config.json`` sets ``do_sample_frames`` would
  resample to its own fps.)
- The true sampling rate reaches the model's temporal positions. Qwen2.5-VL spaces video
  frames in M-RoPE by ``second_per_grid_ts = temporal_patch_size / fps`` seconds per
  temporal patch (1.0 at 2 fps). transformers 4.57 computes it from the ``fps`` argument;
  5.x ignores ``fps`` and derives it from ``video_metadata`` (``sampled_fps = len(
  frames_indices) / total_num_frames * fps``; without metadata it assumes 24 fps and
  produces 0.083). We pass both — ``fps`` as one value per video, and ``video_metadata`` as
  ``{"total_num_frames": T, "fps": f, "frames_indices": range(T)}`` — and afterwards check
  the value the processor produced, overriding it (with a warning) if a version got it
  wrong. Qwen3-VL reads the same metadata to print ``<t seconds>`` before each temporal
  patch; those times are relative to the first frame given, as Qwen2.5-VL's temporal
  positions are. Qwen2-VL has no notion of time beyond frame order.
- T is made even by repeating the last frame (temporal patch 2), on a copy.

Devices: CUDA with bfloat16 by default, else CPU with float32. ``attn_implementation`` is
``"sdpa"`` unless asked for ``"flash_attention_2"`` (which must be installed).

Sampling knobs other than temperature are fixed per engine (``top_p``, ``top_k``,
``repetition_penalty``) and always passed explicitly, so a checkpoint's
``generation_config.json`` (Qwen2.5-VL-Instruct ships ``top_k=1, top_p=0.001,
repetition_penalty=1.05``) never changes results silently.
"""

from __future__ import annotations

import gc
import importlib.util
import logging
import math
import threading
import time
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np

from .base import (
    TRANSFORMERS_MAJOR,
    Engine,
    Generation,
    Message,
    cut_at_stop,
    pad_to_even,
    video_metadata,
    validate_messages,
    video_parts,
)
from .qwen_positions import use_reference_positions

__all__ = ["LocalEngine", "processor_video_kwargs", "SUPPORTED_MODEL_TYPES"]

logger = logging.getLogger(__name__)

# model_type in config.json -> how the processor learns the sampling rate.
SUPPORTED_MODEL_TYPES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_vl_moe")


def processor_video_kwargs(
    parts: Sequence[dict], accepted: set[str] | None = None
) -> dict[str, Any]:
    """Keyword arguments for a Qwen-VL processor call carrying the videos of ``parts``.

    ``parts`` are validated video parts (see :mod:`.base`) in placeholder order. Returns
    ``videos`` (arrays with T made even; the caller's arrays are not modified), ``fps`` (one
    float per video), ``video_metadata`` (one dict per video, ``frames_indices`` counting the
    frames given from 0), ``do_resize=False`` and ``do_sample_frames=False``. ``accepted``,
    when given, is the set of keyword names the video processor understands; others are
    left out so that older processors do not reject the call.
    """
    videos = [pad_to_even(np.asarray(p["frames"])) for p in parts]
    fps = [float(p["fps"]) for p in parts]
    metadata = [video_metadata(v.shape[0], v.shape[1], v.shape[2], f) for v, f in zip(videos, fps)]
    kwargs: dict[str, Any] = {
        "videos": videos,
        "fps": fps,
        "video_metadata": metadata,
        "do_resize": False,
        "do_sample_frames": False,
    }
    if accepted is not None:
        for optional in ("video_metadata", "do_sample_frames"):
            if optional not in accepted:
                kwargs.pop(optional)
    if TRANSFORMERS_MAJOR >= 5:
        # 5.x validates ``fps`` as one number and takes each video's rate from its metadata;
        # a list is rejected, and one shared number would be wrong for videos at other rates.
        kwargs.pop("fps")
    return kwargs


def _accepted_video_kwargs(processor) -> set[str] | None:
    """Names the processor's video processor validates, or None if it does not say."""
    video_processor = getattr(processor, "video_processor", None)
    valid = getattr(video_processor, "valid_kwargs", None)
    names = getattr(valid, "__annotations__", None)
    return set(names) if names else None


def _to_hf_messages(messages: Sequence[Message]) -> list[dict]:
    """Our messages in the shape HF chat templates expect (frames replaced by a marker)."""
    out = []
    for message in messages:
        content = message["content"]
        if isinstance(content, str):
            parts = [{"type": "text", "text": content}]
        else:
            parts = [
                {"type": "text", "text": p["text"]} if p["type"] == "text" else {"type": "video"}
                for p in content
            ]
        out.append({"role": message["role"], "content": parts})
    return out


def _auto_model_class():
    import transformers

    for name in ("AutoModelForImageTextToText", "AutoModelForVision2Seq"):
        if hasattr(transformers, name):
            return getattr(transformers, name)
    raise ImportError("this transformers has no AutoModelForImageTextToText; need >= 4.49")


def _dtype_kwarg_name() -> str:
    # transformers 4.56 renamed from_pretrained's `torch_dtype` to `dtype`.
    import transformers
    from packaging.version import Version

    return "dtype" if Version(transformers.__version__) >= Version("4.56") else "torch_dtype"


class _FirstTokenClock:
    """A stopping criterion that never stops; it timestamps the first generated token."""

    def __init__(self, synchronize):
        self._synchronize = synchronize
        self.first_token_at: float | None = None

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        if self.first_token_at is None:
            self._synchronize()
            self.first_token_at = time.perf_counter()
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


class LocalEngine(Engine):
    """A Qwen2-VL / Qwen2.5-VL / Qwen3-VL checkpoint run in this process.

    ``model_path`` is a local checkpoint directory (or a hub id when the hub is reachable).
    ``device`` defaults to ``"cuda"`` when available else ``"cpu"``; ``device_map`` (e.g.
    ``"auto"`` to spread a large model over GPUs) overrides it. ``dtype`` defaults to
    bfloat16 on CUDA and float32 on CPU. ``generate`` calls are serialised by a lock, so
    one engine may be shared between threads (they queue).
    """

    def __init__(
        self,
        model_path: str | Path,
        *,
        device: str | None = None,
        device_map: str | dict | None = None,
        dtype: Any = None,
        attn_implementation: str = "sdpa",
        top_p: float = 1.0,
        top_k: int | None = None,
        repetition_penalty: float = 1.0,
    ):
        import torch
        from transformers import AutoConfig, AutoProcessor

        self.model_path = str(model_path)
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if dtype is None:
            dtype = torch.bfloat16 if str(device).startswith("cuda") else torch.float32
        elif isinstance(dtype, str):
            dtype = getattr(torch, dtype)
        if attn_implementation == "flash_attention_2" and importlib.util.find_spec(
            "flash_attn"
        ) is None:
            raise ValueError(
                "attn_implementation='flash_attention_2' needs the flash-attn package: "
                "`pip install flash-attn --no-build-isolation`, or use 'sdpa'"
            )

        config = AutoConfig.from_pretrained(self.model_path)
        # The class attribute, not `config.model_type`: transformers 4.57's Qwen2.5-VL config
        # forwards attribute reads to its text_config, whose model_type is "..._text".
        self.model_type = type(config).model_type
        if self.model_type not in SUPPORTED_MODEL_TYPES:
            raise ValueError(
                f"{self.model_path}: model_type {self.model_type!r} is not supported by "
                f"LocalEngine (supported: {', '.join(SUPPORTED_MODEL_TYPES)})"
            )
        self.processor = AutoProcessor.from_pretrained(self.model_path)
        load_kwargs: dict[str, Any] = {
            _dtype_kwarg_name(): dtype,
            "attn_implementation": attn_implementation,
        }
        if device_map is not None:
            load_kwargs["device_map"] = device_map
        model = _auto_model_class().from_pretrained(self.model_path, **load_kwargs)
        if device_map is None:
            model = model.to(device)
        self._setup(model, dtype, top_p=top_p, top_k=top_k, repetition_penalty=repetition_penalty)

    @classmethod
    def from_model(cls, model, processor, *, top_p: float = 1.0, top_k: int | None = None,
                   repetition_penalty: float = 1.0) -> "LocalEngine":
        """An engine around a model and processor already in memory (a model loaded or built
        your own way: quantised, merged adapters, or randomly initialised for benchmarks)."""
        self = cls.__new__(cls)
        self.model_path = getattr(model, "name_or_path", "") or "<in-memory model>"
        self.model_type = type(model.config).model_type
        if self.model_type not in SUPPORTED_MODEL_TYPES:
            raise ValueError(f"model_type {self.model_type!r} is not supported by LocalEngine "
                             f"(supported: {', '.join(SUPPORTED_MODEL_TYPES)})")
        self.processor = processor
        self._setup(model, model.dtype, top_p=top_p, top_k=top_k, repetition_penalty=repetition_penalty)
        return self

    def _setup(self, model, dtype, *, top_p, top_k, repetition_penalty) -> None:
        if self.model_type == "qwen2_5_vl":
            use_reference_positions()  # transformers 5.x places video prompts otherwise
        self.model = model.eval()
        self.device = self.model.device
        self.dtype = dtype
        self._sampling = {"top_p": top_p, "top_k": top_k, "repetition_penalty": repetition_penalty}
        self._accepted = _accepted_video_kwargs(self.processor)
        self._lock = threading.Lock()
        self._stop_criteria: dict[tuple[str, ...], Any] = {}

        tokenizer = self.processor.tokenizer
        # The placeholder tokens that carry vision features; what visual_tokens counts.
        placeholders = (("image_token", "<|image_pad|>"), ("video_token", "<|video_pad|>"))
        self._visual_ids = {
            tokenizer.convert_tokens_to_ids(getattr(self.processor, attr, default))
            for attr, default in placeholders
        }
        eos = self.model.generation_config.eos_token_id
        eos = [eos] if isinstance(eos, int) else list(eos or [])
        if tokenizer.eos_token_id is not None:
            eos.append(tokenizer.eos_token_id)
        self._eos_ids = set(eos)
        vp = getattr(self.processor, "video_processor", None) or self.processor.image_processor
        self.temporal_patch_size = int(getattr(vp, "temporal_patch_size", 2))

    # -- inputs ---------------------------------------------------------------------------

    def encode(self, messages: Sequence[Message]):
        """The exact model inputs (a ``BatchFeature`` on the model's device) for ``messages``.

        Public so tests and tools can inspect what the model sees: ``input_ids``,
        ``pixel_values_videos``, ``video_grid_thw`` and, for Qwen2.5-VL,
        ``second_per_grid_ts`` (= temporal_patch_size / fps per video).
        """
        validate_messages(messages)
        prompt = self.processor.apply_chat_template(
            _to_hf_messages(messages), tokenize=False, add_generation_prompt=True
        )
        parts = video_parts(messages)
        kwargs: dict[str, Any] = {}
        if parts:
            kwargs = processor_video_kwargs(parts, self._accepted)
        inputs = self.processor(text=[prompt], return_tensors="pt", **kwargs)
        if parts and self.model_type == "qwen2_5_vl":
            self._check_time_scale(inputs, [float(p["fps"]) for p in parts])
        return inputs.to(self.device)

    def _check_time_scale(self, inputs, fps: list[float]) -> None:
        import torch

        expected = torch.tensor([self.temporal_patch_size / f for f in fps], dtype=torch.float32)
        got = inputs.get("second_per_grid_ts")
        if got is not None:
            got = torch.as_tensor(got, dtype=torch.float32).flatten()
            if got.shape == expected.shape and torch.allclose(got, expected, rtol=1e-5):
                return
            logger.warning(
                "processor produced second_per_grid_ts=%s for fps=%s; using %s (this "
                "transformers version did not honour the sampling rate)",
                got.tolist(), fps, expected.tolist(),
            )
        inputs["second_per_grid_ts"] = expected

    # -- generation -----------------------------------------------------------------------

    def generate(
        self,
        messages: Sequence[Message],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
        seed: int | None = None,
    ) -> Generation:
        """See :meth:`Engine.generate`. ``seed`` reseeds torch's global RNG (all devices)."""
        import torch

        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        if not (temperature >= 0 and math.isfinite(temperature)):
            raise ValueError(f"temperature must be a finite number >= 0, got {temperature}")
        stop = [s for s in stop if s]
        with self._lock:
            started = time.perf_counter()
            inputs = self.encode(messages)
            input_ids = inputs["input_ids"]
            prompt_tokens = int(input_ids.shape[1])
            visual_tokens = int(sum((input_ids == i).sum().item() for i in self._visual_ids))
            sync = torch.cuda.synchronize if self.device.type == "cuda" else (lambda: None)
            criteria = [_FirstTokenClock(sync)]
            if stop:
                criteria.append(self._stop_criterion(stop))
            gen_kwargs = self._generation_kwargs(max_new_tokens, temperature)
            if seed is not None:
                torch.manual_seed(seed)
            sync()
            t0 = time.perf_counter()
            with torch.inference_mode():
                output = self.model.generate(**inputs, **gen_kwargs, stopping_criteria=criteria)
            sync()
            t1 = time.perf_counter()

        new_ids = output[0, prompt_tokens:].tolist()
        text = self.processor.tokenizer.decode(
            new_ids, skip_special_tokens=True, clean_up_tokenization_spaces=False
        )
        text, matched = cut_at_stop(text, stop)
        finish: Literal["stop", "length"]
        if (new_ids and new_ids[-1] in self._eos_ids) or matched is not None:
            finish = "stop"
        else:
            finish = "length" if len(new_ids) >= max_new_tokens else "stop"
        first = criteria[0].first_token_at
        first = t1 if first is None else first
        return Generation(
            text=text,
            prompt_tokens=prompt_tokens,
            completion_tokens=len(new_ids),
            visual_tokens=visual_tokens,
            prefill_seconds=first - t0,
            decode_seconds=t1 - first,
            finish_reason=finish,
            seconds=t1 - started,
        )

    def _stop_criterion(self, stop: list[str]):
        """transformers' stop-string criterion for ``stop``, built once per stop list.

        The same thing ``generate(stop_strings=..., tokenizer=...)`` builds, but built here:
        its set-up scans the whole vocabulary (about 1.5 s for Qwen's 151k tokens), which
        would otherwise be re-done per call and counted as prefill time.
        """
        from transformers import StopStringCriteria

        key = tuple(stop)
        criterion = self._stop_criteria.get(key)
        if criterion is None:
            criterion = StopStringCriteria(self.processor.tokenizer, list(stop))
            self._stop_criteria[key] = criterion
        return criterion

    def _generation_kwargs(self, max_new_tokens: int, temperature: float):
        kwargs: dict[str, Any] = {
            "max_new_tokens": max_new_tokens,
            "repetition_penalty": self._sampling["repetition_penalty"],
            "pad_token_id": self.processor.tokenizer.pad_token_id,
        }
        if temperature > 0:
            kwargs.update(
                do_sample=True,
                temperature=temperature,
                top_p=self._sampling["top_p"],
                # 0 disables top-k filtering in transformers; None would fall back to 50.
                top_k=self._sampling["top_k"] or 0,
            )
        else:
            # Neutral values: greedy ignores them, and non-neutral ones make transformers
            # warn when the checkpoint's generation_config sets sampling parameters.
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        return kwargs

    def close(self) -> None:
        """Drop the model and processor and return their memory (CUDA cache included)."""
        model = self.__dict__.pop("model", None)
        self.__dict__.pop("processor", None)
        if model is None:
            return
        del model
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass
