"""Building an engine from command-line settings: the one place the CLI and eval/run.py share."""

from __future__ import annotations

import os
from typing import Optional, Sequence

from .base import Engine

DEFAULT_MODEL = os.environ.get("VIDEOTEMP_MODEL", "Qwen/Qwen2.5-VL-7B-Instruct")
"""A local checkpoint directory or a hub id; the VIDEOTEMP_MODEL environment variable overrides."""


def make_engines(kind: str, model: Optional[str] = None, *, base_urls: Sequence[str] = (),
                 device: Optional[str] = None, api_key: Optional[str] = None,
                 timeout: float = 600.0, video_format: str = "jpeg") -> list[Engine]:
    """One engine per server for ``openai`` (questions are spread over them), one in-process
    engine for ``local``. ``video_format``: ``jpeg`` (a data URL of JPEG frames, what vLLM
    takes) or ``mkv`` (frames losslessly in a Matroska file at the sampling rate, what
    ``swift deploy`` takes; start it with FORCE_QWENVL_VIDEO_READER=decord)."""
    if kind == "local":
        from .local import LocalEngine

        return [LocalEngine(model or DEFAULT_MODEL, device=device)]
    if kind == "openai":
        if not base_urls:
            raise ValueError("--engine openai needs at least one --base-url (e.g. http://127.0.0.1:8000/v1)")
        from .openai import OpenAIEngine

        return [OpenAIEngine(url, model, api_key=api_key or os.environ.get("OPENAI_API_KEY"), timeout=timeout,
                             video_format=video_format)
                for url in base_urls]
    raise ValueError(f"unknown engine {kind!r}: use local or openai")
