"""An engine that talks to an OpenAI-compatible server (vLLM ``serve``, ``swift deploy``).

How frames travel. Our video layer has already decoded, sampled and resized the frames, so
we send those frames and their true sampling rate — never a re-cut clip file for the server
to decode and resample again (the release's path). Two wire formats, chosen per engine:

``video_format="jpeg"`` (default; vLLM)
    One ``video_url`` part per video whose URL is ``data:video/jpeg;base64,<jpeg1>,<jpeg2>,…``
    — vLLM splits it into frames and decodes each JPEG, with no sampling — and the request
    field ``mm_processor_kwargs: {"fps": f, "video_metadata": [...], "do_sample_frames":
    false}``, which vLLM hands to the HF processor, so that Qwen2.5-VL's ``second_per_grid_ts
    = 2 / f`` comes out right and no processor resamples. transformers 4.x reads ``fps`` (a
    list, one per video in order, when the videos of one request have different rates, as an
    overview and a clip do); 5.x ignores ``fps`` for the spacing (without metadata it assumes
    24 fps: 0.083 s per temporal patch), reads each video's ``video_metadata`` instead, and
    refuses ``fps`` as a list — after such a refusal (HTTP 400 "Failed to apply …Processor")
    the engine resends with the metadata alone and keeps doing so. Costs one JPEG encode per
    frame (quality ``jpeg_quality``). ``extra_body`` can add processor kwargs, e.g.
    ``{"mm_processor_kwargs": {"do_resize": False}}`` if the server's min/max pixels would
    re-size our frames. Known limit: vLLM 0.11 attaches no
    metadata to ``video/jpeg`` frames, which Qwen2.5-VL does not need but Qwen3-VL does
    (HTTP 500 there); later vLLM takes the rate from ``media_io_kwargs`` instead.

``video_format="mkv"`` (``swift deploy``)
    ms-swift 3.10.3 cannot take frames: its ``/v1/chat/completions`` accepts one string per
    video (path, URL or base64; a list of images is rejected with HTTP 422, and a
    ``video/jpeg`` frame list crashes its pt worker thread, after which the server hangs).
    It decodes that string with qwen-vl-utils. So we mux the frames, losslessly (FFV1) and
    intra-only, into a Matroska file whose frame rate *is* the sampling rate, and send it as
    ``data:video/x-matroska;base64,…``. Pixels survive exactly and qwen-vl-utils recovers
    ``fps`` from the container. Start the server with

    - ``FORCE_QWENVL_VIDEO_READER=decord`` (and decord installed): ms-swift makes only the
      decord reader read base64 in memory. qwen-vl-utils prefers torchcodec when installed,
      which fails on a ``data:`` URL, and its torchvision fallback cannot seek in one past
      ~32 KB; either way the request dies in the worker thread and the server hangs.
    - settings under which qwen-vl-utils keeps every frame at its size: ``FPS`` ≥ the highest
      rate sent, ``FPS_MAX_FRAMES`` ≥ the most frames sent, ``VIDEO_MIN_PIXELS`` ≤ the
      smallest frame area, ``VIDEO_MAX_PIXELS`` ≥ the largest and ``VIDEO_TOTAL_PIXELS`` ≥
      T·H·W/2; otherwise it resamples / resizes.

    Costs an FFV1 encode (≈ 8 ms per 448² frame on one core) and 2–8× the bytes of JPEG.
    Needs PyAV (``pip install av``) on the client.

In both formats T is made even first (repeating the last frame, on a copy), as the local
engine does, so that no server drops or duplicates frames differently.

Stop strings: sent as ``stop``, plus ``include_stop_str_in_output: true`` (vLLM; others
ignore it) so the returned text keeps ``</answer>``; a stop string the server removed anyway
is restored from vLLM's ``stop_reason``.

Token counts come from the server's ``usage``. ``visual_tokens`` is computed from the frames
sent (T/2 · H/28 · W/28 per video), which is what the server counts when it keeps the frames
as sent. Non-streaming: ``prefill_seconds``/``decode_seconds`` are NaN, ``seconds`` is the
wall time of the request.

One engine may be shared by many threads: an ``httpx.Client`` pools connections and the
engine holds no per-request state. Connection errors, HTTP 429 and 5xx are retried
``max_retries`` times with exponential backoff; a read timeout is not retried (the server
got the request and is stuck or too slow: raise ``timeout``).
"""

from __future__ import annotations

import base64
import fractions
import io
import logging
import math
import threading
import time
from typing import Any, Literal, Sequence

import numpy as np

from .base import (
    IMAGE_FACTOR,
    Engine,
    EngineError,
    Generation,
    Message,
    cut_at_stop,
    pad_to_even,
    video_metadata,
    validate_messages,
    video_parts,
)

__all__ = ["OpenAIEngine", "encode_video_url", "expected_visual_tokens"]

logger = logging.getLogger(__name__)

VideoFormat = Literal["jpeg", "mkv"]
_RETRY_STATUS = {429, 500, 502, 503, 504}


def _shorten(text: str, head: int = 300, tail: int = 1200) -> str:
    """``text`` cut in the middle when long. A server's error body can hold a whole array's
    repr before its reason (vLLM's "Failed to apply …Processor on data={…}" ends with the
    exception), so the end is kept as well as the start."""
    if len(text) <= head + tail + 40:
        return text
    return f"{text[:head]} … [{len(text) - head - tail} characters left out] … {text[-tail:]}"


def expected_visual_tokens(frames: np.ndarray) -> int:
    """Visual tokens Qwen2/2.5-VL spends on ``frames`` [T, H, W, 3] (T padded to even)."""
    t, h, w = frames.shape[:3]
    return ((t + 1) // 2) * (h // IMAGE_FACTOR) * (w // IMAGE_FACTOR)


def _jpeg_frames_url(frames: np.ndarray, quality: int) -> str:
    from PIL import Image

    encoded = []
    for frame in frames:
        buf = io.BytesIO()
        Image.fromarray(frame).save(buf, format="JPEG", quality=quality)
        encoded.append(base64.b64encode(buf.getvalue()).decode("ascii"))
    return "data:video/jpeg;base64," + ",".join(encoded)


def _mkv_url(frames: np.ndarray, fps: float) -> str:
    try:
        import av
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("video_format='mkv' needs PyAV: pip install av") from exc

    buf = io.BytesIO()
    with av.open(buf, mode="w", format="matroska") as container:
        # The container rate is the sampling rate: that is how the server learns fps.
        rate = fractions.Fraction(fps).limit_denominator(100000)
        stream = container.add_stream("ffv1", rate=rate)
        stream.height, stream.width = int(frames.shape[1]), int(frames.shape[2])
        stream.pix_fmt = "bgr0"  # FFV1's lossless RGB layout: no YUV round trip
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return "data:video/x-matroska;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def encode_video_url(part: dict, video_format: VideoFormat, jpeg_quality: int = 95) -> str:
    """The ``video_url`` URL for a validated video part (see module docstring)."""
    frames = pad_to_even(np.asarray(part["frames"]))
    if video_format == "jpeg":
        return _jpeg_frames_url(frames, jpeg_quality)
    if video_format == "mkv":
        return _mkv_url(frames, float(part["fps"]))
    raise ValueError(f"video_format must be 'jpeg' or 'mkv', got {video_format!r}")


def _text_of(content) -> str:
    if isinstance(content, str):
        return content
    return "".join(p["text"] for p in content if p["type"] == "text")


class OpenAIEngine(Engine):
    """Client of an OpenAI-compatible ``/v1/chat/completions`` endpoint.

    ``base_url`` is the server root or its ``/v1`` URL (``http://host:8000`` or
    ``http://host:8000/v1``). ``model`` defaults to the first id the server lists at
    ``/v1/models``. ``timeout`` bounds each request (seconds to read the reply);
    ``connect_timeout`` bounds connecting. ``extra_body`` is merged into every request
    (nested dicts such as ``mm_processor_kwargs`` are merged key by key).
    """

    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        *,
        api_key: str | None = None,
        video_format: VideoFormat = "jpeg",
        jpeg_quality: int = 95,
        timeout: float = 600.0,
        connect_timeout: float = 10.0,
        max_retries: int = 3,
        backoff_seconds: float = 1.0,
        max_connections: int = 64,
        extra_body: dict[str, Any] | None = None,
    ):
        import httpx

        if video_format not in ("jpeg", "mkv"):
            raise ValueError(f"video_format must be 'jpeg' or 'mkv', got {video_format!r}")
        root = base_url.rstrip("/")
        self.base_url = root if root.endswith("/v1") else root + "/v1"
        self.video_format = video_format
        self.jpeg_quality = int(jpeg_quality)
        self.max_retries = int(max_retries)
        self.backoff_seconds = float(backoff_seconds)
        self.extra_body = dict(extra_body or {})
        self._metadata_only = False
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=max_connections),
            headers=headers,
        )
        self._model = model
        self._model_lock = threading.Lock()

    # -- HTTP -----------------------------------------------------------------------------

    def _request(self, method: str, path: str, json_body: dict | None = None) -> dict:
        """One JSON request with bounded retries; raises EngineError naming the URL."""
        import httpx

        url = self.base_url + path
        attempt = 0
        while True:
            try:
                response = self._client.request(method, url, json=json_body)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError,
                    httpx.ReadError, httpx.WriteError, httpx.PoolTimeout) as exc:
                failure = f"{type(exc).__name__}: {exc}"
            except httpx.ReadTimeout as exc:
                raise EngineError(
                    f"{method} {url}: no reply within {self._client.timeout.read} s "
                    "(server stuck or overloaded; raise timeout=)"
                ) from exc
            except httpx.HTTPError as exc:
                raise EngineError(f"{method} {url}: {type(exc).__name__}: {exc}") from exc
            else:
                if response.status_code < 400:
                    try:
                        return response.json()
                    except ValueError as exc:
                        raise EngineError(
                            f"{method} {url}: reply is not JSON: {response.text[:300]!r}"
                        ) from exc
                failure = f"HTTP {response.status_code}: {_shorten(response.text)}"
                if response.status_code not in _RETRY_STATUS:
                    raise EngineError(f"{method} {url}: {failure}")
            if attempt >= self.max_retries:
                raise EngineError(f"{method} {url}: {failure} (gave up after {attempt + 1} tries)")
            delay = min(self.backoff_seconds * 2**attempt, 30.0)
            logger.warning("%s %s: %s; retry %d/%d in %.1f s", method, url, failure,
                           attempt + 1, self.max_retries, delay)
            time.sleep(delay)
            attempt += 1

    def served_models(self, timeout: float = 10.0) -> list[str]:
        """The model ids the server lists at ``/v1/models``: one request, no retries, at most
        ``timeout`` seconds. Raises :class:`EngineError` with one line saying what is wrong
        (nothing listening, no reply, an HTTP error, not an OpenAI-compatible reply)."""
        import httpx

        url = f"{self.base_url}/models"
        try:
            response = self._client.get(url, timeout=httpx.Timeout(timeout))
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise EngineError(f"no server answers at {self.base_url} ({type(exc).__name__}: {exc}); start it "
                              "(e.g. bash eval/7b_deploy_256.sh) or fix --base-url") from exc
        except httpx.TimeoutException as exc:
            raise EngineError(f"the server at {self.base_url} accepted the connection but did not answer "
                              f"GET /v1/models within {timeout:g} s; is it still starting, or stuck?") from exc
        except httpx.HTTPError as exc:
            raise EngineError(f"GET {url}: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 400:
            raise EngineError(f"GET {url}: HTTP {response.status_code}: {response.text[:300]}; "
                              "is --base-url an OpenAI-compatible server (its /v1 root)?")
        try:
            ids = [str(m["id"]) for m in response.json()["data"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise EngineError(f"GET {url}: not an OpenAI-compatible model list: {response.text[:300]!r}") from exc
        if not ids:
            raise EngineError(f"GET {url}: the server lists no model")
        return ids

    def check(self, timeout: float = 10.0) -> str:
        """Early health check, before any question is sent: the server answers ``/v1/models``
        within ``timeout`` seconds and serves the model asked for (without one, the first it
        lists becomes the model). Returns the model id; raises :class:`EngineError` (one line)."""
        ids = self.served_models(timeout)
        with self._model_lock:
            if self._model is None:
                self._model = ids[0]
            elif self._model not in ids:
                raise EngineError(f"the server at {self.base_url} serves {', '.join(ids)}, not {self._model!r}; "
                                  f"pass --model {ids[0]} or leave --model out")
        return self._model

    @property
    def model(self) -> str:
        """The served model id (asked from ``/v1/models`` once if not given)."""
        if self._model is None:
            with self._model_lock:
                if self._model is None:
                    listing = self._request("GET", "/models")
                    data = listing.get("data") or []
                    if not data:
                        raise EngineError(f"GET {self.base_url}/models: the server lists no model")
                    self._model = data[0]["id"]
        return self._model

    # -- requests -------------------------------------------------------------------------

    def build_request(
        self,
        messages: Sequence[Message],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
        seed: int | None = None,
    ) -> dict:
        """The JSON body :meth:`generate` posts (public for inspection and tests)."""
        validate_messages(messages)
        wire_messages = []
        for message in messages:
            role, content = message["role"], message["content"]
            if role != "user" or isinstance(content, str):
                # System and assistant turns as plain strings: ms-swift takes a system
                # prompt only as a string.
                wire_messages.append({"role": role, "content": _text_of(content)})
                continue
            parts = []
            for part in content:
                if part["type"] == "text":
                    parts.append({"type": "text", "text": part["text"]})
                else:
                    url = encode_video_url(part, self.video_format, self.jpeg_quality)
                    parts.append({"type": "video_url", "video_url": {"url": url}})
            wire_messages.append({"role": role, "content": parts})

        body: dict[str, Any] = {
            "model": self.model,
            "messages": wire_messages,
            "max_tokens": int(max_new_tokens),
            "temperature": float(temperature),
        }
        stop = [s for s in stop if s]
        if stop:
            body["stop"] = stop
            body["include_stop_str_in_output"] = True
        if seed is not None:
            body["seed"] = int(seed)
        videos = video_parts(messages)
        if videos and self.video_format == "jpeg":
            body["mm_processor_kwargs"] = self._processor_kwargs(videos)
        for key, value in self.extra_body.items():
            if isinstance(value, dict) and isinstance(body.get(key), dict):
                body[key] = {**body[key], **value}
            else:
                body[key] = value
        return body

    def _processor_kwargs(self, videos: Sequence[dict]) -> dict[str, Any]:
        """How the server's processor learns each video's rate (see the module notes): the
        sampling rate as ``fps`` (transformers 4.x reads it, one number or one per video) and
        as each video's ``video_metadata`` (transformers 5.x reads that and ignores ``fps``
        for the temporal spacing). 5.x refuses ``fps`` as a list, so once a server has
        refused one, this engine sends the metadata alone."""
        fps = [float(p["fps"]) for p in videos]
        kwargs: dict[str, Any] = {"do_sample_frames": False, "video_metadata": []}
        for f, part in zip(fps, videos):
            t, h, w = np.shape(part["frames"])[:3]
            kwargs["video_metadata"].append(video_metadata(t + t % 2, h, w, f))  # T as sent: made even
        if not self._metadata_only:
            kwargs["fps"] = fps[0] if all(f == fps[0] for f in fps) else fps
        return kwargs

    def generate(
        self,
        messages: Sequence[Message],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
        seed: int | None = None,
    ) -> Generation:
        """See :meth:`Engine.generate`. Whether ``seed`` is honoured depends on the server
        (vLLM: yes; ms-swift's pt backend: no)."""
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        if not (temperature >= 0 and math.isfinite(temperature)):
            raise ValueError(f"temperature must be a finite number >= 0, got {temperature}")
        started = time.perf_counter()
        stop = [s for s in stop if s]
        body = self.build_request(
            messages, max_new_tokens=max_new_tokens, temperature=temperature, stop=stop, seed=seed
        )
        try:
            reply = self._request("POST", "/chat/completions", body)
        except EngineError as exc:
            fps = body.get("mm_processor_kwargs", {}).get("fps")
            if not (isinstance(fps, list) and "HTTP 400" in str(exc) and "Failed to apply" in str(exc)):
                raise
            # vLLM under transformers 5 refuses `fps` as a list (one per video) in its
            # processor call; the per-video metadata sent beside it says the same, and 5.x
            # reads that. Resend without `fps`, and send it no more.
            logger.warning("%s: the server's processor refused fps as a list (transformers 5); "
                           "sending each video's rate as video_metadata only", self.base_url)
            self._metadata_only = True
            body["mm_processor_kwargs"] = {k: v for k, v in body["mm_processor_kwargs"].items() if k != "fps"}
            reply = self._request("POST", "/chat/completions", body)
        seconds = time.perf_counter() - started
        try:
            choice = reply["choices"][0]
            text = choice["message"].get("content") or ""
            usage = reply["usage"]
            prompt_tokens = int(usage["prompt_tokens"])
            completion_tokens = int(usage["completion_tokens"])
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise EngineError(
                f"POST {self.base_url}/chat/completions: unexpected reply {str(reply)[:300]}"
            ) from exc
        text, matched = cut_at_stop(text, stop)
        stop_reason = choice.get("stop_reason")
        if matched is None and isinstance(stop_reason, str) and stop_reason in stop:
            text += stop_reason  # the server removed the stop string; put it back
        finish: Literal["stop", "length"] = "length" if choice.get("finish_reason") == "length" else "stop"
        visual = sum(expected_visual_tokens(p["frames"]) for p in video_parts(messages))
        return Generation(
            text=text,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            visual_tokens=visual,
            prefill_seconds=math.nan,
            decode_seconds=math.nan,
            finish_reason=finish,
            seconds=seconds,
        )

    def close(self) -> None:
        """Close the connection pool. Idempotent."""
        self._client.close()
