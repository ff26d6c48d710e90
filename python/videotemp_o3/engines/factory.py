"""Building engines from command-line settings: the one place the CLI and eval/run.py share,
and the checks both run before the first question (so a wrong server or an absent model is
one line at once, not an error per question)."""

from __future__ import annotations

import os
import socket
from typing import Literal, Optional, Sequence
from urllib.parse import urlparse

from .base import Engine, EngineError

DEFAULT_MODEL = os.environ.get("VIDEOTEMP_MODEL", "Qwen/Qwen2.5-VL-7B-Instruct")
"""The local engine's model when none is named: a local checkpoint directory or a hub id; the
VIDEOTEMP_MODEL environment variable overrides. (The openai engine asks its server instead.)"""

HUB_PROBE_SECONDS = 5.0


def _hub_endpoint() -> tuple[str, int]:
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    return url.hostname or "huggingface.co", url.port or (80 if url.scheme == "http" else 443)


def check_local_model(model: str) -> None:
    """Raise :class:`EngineError` (one line) when the local engine could not get ``model``:
    not a folder, not in the Hugging Face cache, and the hub offline (``HF_HUB_OFFLINE``) or
    unreachable within :data:`HUB_PROBE_SECONDS`. Loading would otherwise spend its retries
    (tens of seconds) and end in a raw ``OSError``. A model that is there passes at once."""
    if os.path.isdir(os.path.expanduser(model)):
        return
    if model.startswith((".", "/", "~")) or model.count("/") > 1:
        raise EngineError(f"--model {model}: no such checkpoint directory")
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - transformers depends on it
        return
    if isinstance(try_to_load_from_cache(model, "config.json"), str):
        return  # cached: transformers loads it without the network
    fix = f"download it first (huggingface-cli download {model}) or pass --model DIR"
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        raise EngineError(f"model {model} is not a local folder nor in the Hugging Face cache, and HF_HUB_OFFLINE "
                          f"is set; {fix}")
    host, port = _hub_endpoint()
    try:
        socket.create_connection((host, port), timeout=HUB_PROBE_SECONDS).close()
    except OSError as exc:
        raise EngineError(f"model {model} is not a local folder nor in the Hugging Face cache, and {host} cannot "
                          f"be reached ({exc}); {fix}") from None


def make_engines(kind: str, model: Optional[str] = None, *, base_urls: Sequence[str] = (),
                 device: Optional[str] = None, api_key: Optional[str] = None,
                 timeout: float = 600.0, video_format: Literal["jpeg", "mkv"] = "jpeg") -> list[Engine]:
    """One engine per server for ``openai`` (questions are spread over them), one in-process
    engine for ``local``. ``model``: for ``local`` a checkpoint folder or hub id (default
    :data:`DEFAULT_MODEL`); for ``openai`` the served name (default: what the server lists
    first at ``/v1/models``). ``video_format``: ``jpeg`` (a data URL of JPEG frames, what vLLM
    takes) or ``mkv`` (frames losslessly in a Matroska file at the sampling rate, what
    ``swift deploy`` takes; start it with FORCE_QWENVL_VIDEO_READER=decord). ``timeout``:
    seconds to wait for one reply (openai). Raises :class:`EngineError` (one line) for a local
    model that cannot be had; the servers are checked by :func:`check_engines`."""
    if kind == "local":
        model = model or DEFAULT_MODEL
        check_local_model(model)  # before importing torch and transformers: seconds, not a minute
        from .local import LocalEngine

        try:
            return [LocalEngine(model, device=device)]
        except OSError as exc:  # transformers: missing files, no access, a broken download
            raise EngineError(f"cannot load model {model}: {str(exc).splitlines()[0] if str(exc) else exc}") from exc
    if kind == "openai":
        if not base_urls:
            raise ValueError("--engine openai needs at least one --base-url (e.g. http://127.0.0.1:8000/v1)")
        from .openai import OpenAIEngine

        return [OpenAIEngine(url, model, api_key=api_key or os.environ.get("OPENAI_API_KEY"), timeout=timeout,
                             video_format=video_format)
                for url in base_urls]
    raise ValueError(f"unknown engine {kind!r}: use local or openai")


def check_engines(engines: Sequence[Engine], timeout: float = 10.0) -> list[str]:
    """The early health check: every server answers and serves the model (see
    :meth:`~.openai.OpenAIEngine.check`); returns one line per server naming the model it
    serves. Local engines are ready once built. Raises :class:`EngineError` (one line)."""
    lines = []
    for engine in engines:
        check = getattr(engine, "check", None)
        if check is not None:
            lines.append(f"{getattr(engine, 'base_url', engine)}: serving {check(timeout)}")
    return lines
