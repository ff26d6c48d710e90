"""The engine interface the agent loop talks to, and the message format it speaks.

Messages are our own neutral format, independent of any server or processor::

    [{"role": "system" | "user" | "assistant",
      "content": [{"type": "text", "text": str},
                  {"type": "video", "frames": uint8 [T, H, W, 3], "fps": float,
                   "timestamps": [float, ...]},
                  ...]}]

A video part holds frames already decoded and resized by our video layer: RGB, H and W
multiples of 28, ``fps`` the rate of the *sampled* sequence (frames per second of the
frames given, not of the source file), ``timestamps`` the presentation time in seconds of
each frame in the source video (``len(timestamps) == T``). Engines only read the arrays:
the caller keeps ownership, nothing is modified in place, and an engine that needs an even
``T`` pads a copy.

An :class:`Engine` turns a conversation into the next assistant message
(:meth:`Engine.generate`) and reports what it cost (:class:`Generation`).
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from typing import Any, Literal, Sequence

import numpy as np

__all__ = [
    "Engine",
    "Generation",
    "Message",
    "EngineError",
    "validate_messages",
    "video_parts",
    "pad_to_even",
    "video_metadata",
    "TRANSFORMERS_MAJOR",
    "cut_at_stop",
]

Message = dict[str, Any]

ROLES = ("system", "user", "assistant")
# The spatial unit of Qwen2/2.5/3-VL: patch 14 × spatial merge 2. Frames must already be
# sized to it; resizing here would hide a budget bug in the video layer.
IMAGE_FACTOR = 28


class EngineError(RuntimeError):
    """An engine could not produce a generation (bad server reply, server unreachable…)."""


@dataclass(frozen=True)
class Generation:
    """One assistant reply and its cost.

    ``text`` is the decoded completion without special tokens. When generation stopped on
    one of the ``stop`` strings, ``text`` ends with that string (so ``…</answer>`` keeps its
    closing tag) and nothing after it. Token counts are model tokens: ``prompt_tokens``
    includes ``visual_tokens`` (the ``<|video_pad|>``/``<|image_pad|>`` placeholders that
    carry vision features); ``completion_tokens`` counts every generated token, including
    any that ran past the end of a stop string. ``prefill_seconds`` is the time until the
    first token (vision encoder + prompt), ``decode_seconds`` the rest; engines that cannot
    measure them report ``math.nan``. ``finish_reason`` is ``"stop"`` (end-of-turn token or
    stop string) or ``"length"`` (``max_new_tokens`` reached). ``seconds`` is the wall time
    of the whole call: input preparation, any network transfer, and generation.
    """

    text: str
    prompt_tokens: int
    completion_tokens: int
    visual_tokens: int
    prefill_seconds: float
    decode_seconds: float
    finish_reason: Literal["stop", "length"] = "stop"
    seconds: float = math.nan


class Engine(abc.ABC):
    """Generates the next assistant turn of a conversation.

    Implementations must be safe to call from several threads only if they say so; the
    agent loop calls one engine from one thread unless the engine documents otherwise.
    Use as a context manager or call :meth:`close` to free the model or connections.
    """

    @abc.abstractmethod
    def generate(
        self,
        messages: Sequence[Message],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
        seed: int | None = None,
    ) -> Generation:
        """Generate the assistant's reply to ``messages``.

        ``temperature`` 0 means greedy decoding; above 0, sampling at that temperature,
        reproducible when ``seed`` is given. Generation ends at the model's end-of-turn
        token, at the first occurrence of any string in ``stop``, or after
        ``max_new_tokens`` tokens. ``messages`` must end with a user (or system) turn.
        """

    def close(self) -> None:  # noqa: B027 — optional: an engine holding nothing keeps the default
        """Release the model / connections. Idempotent. The default does nothing."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def validate_messages(messages: Sequence[Message]) -> None:
    """Raise ``ValueError`` naming the offending message/part if ``messages`` is malformed.

    Checks roles, part types, and for video parts: uint8 ``[T, H, W, 3]`` with T ≥ 1 and
    H, W multiples of 28, finite ``fps`` > 0, one timestamp per frame.
    """
    if not messages:
        raise ValueError("messages is empty: need at least one user turn")
    for i, message in enumerate(messages):
        role = message.get("role")
        if role not in ROLES:
            raise ValueError(f"messages[{i}]: role {role!r} is not one of {ROLES}")
        content = message.get("content")
        if isinstance(content, str):
            continue
        if not isinstance(content, (list, tuple)):
            raise ValueError(f"messages[{i}]: content must be a str or a list of parts")
        for j, part in enumerate(content):
            where = f"messages[{i}].content[{j}]"
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text":
                if not isinstance(part.get("text"), str):
                    raise ValueError(f"{where}: text part needs a str 'text'")
            elif kind == "video":
                if role == "assistant":
                    raise ValueError(f"{where}: videos belong in user turns, not assistant")
                _validate_video(part, where)
            else:
                raise ValueError(f"{where}: unknown part type {kind!r} (text or video)")
    if messages[-1]["role"] == "assistant":
        raise ValueError("the last message is an assistant turn: nothing to reply to")


def _validate_video(part: dict, where: str) -> None:
    frames = part.get("frames")
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4:
        raise ValueError(f"{where}: 'frames' must be a uint8 numpy array [T, H, W, 3]")
    t, h, w, c = frames.shape
    if t < 1 or c != 3:
        raise ValueError(f"{where}: frames shape {frames.shape} is not [T>=1, H, W, 3]")
    if h % IMAGE_FACTOR or w % IMAGE_FACTOR or h == 0 or w == 0:
        raise ValueError(
            f"{where}: frame size {h}x{w} is not a multiple of {IMAGE_FACTOR}; resize "
            "frames with the video layer's budget (smart_resize) before the engine"
        )
    fps = part.get("fps")
    if not isinstance(fps, (int, float)) or not math.isfinite(fps) or fps <= 0:
        raise ValueError(f"{where}: 'fps' must be a finite number > 0, got {fps!r}")
    timestamps = part.get("timestamps")
    if timestamps is None or len(timestamps) != t:
        n = None if timestamps is None else len(timestamps)
        raise ValueError(f"{where}: need one timestamp per frame ({t}), got {n}")


def video_parts(messages: Sequence[Message]) -> list[dict]:
    """The video parts of ``messages`` in conversation order (the order placeholders appear)."""
    return [
        part
        for message in messages
        if not isinstance(message.get("content"), str)
        for part in message["content"]
        if part.get("type") == "video"
    ]


def pad_to_even(frames: np.ndarray) -> np.ndarray:
    """``frames`` with T made even by repeating the last frame.

    Qwen-VL's temporal patch is 2 frames. Returns ``frames`` itself when T is already even,
    else a new array (the caller's array is never modified).
    """
    if frames.shape[0] % 2 == 0:
        return frames
    return np.concatenate([frames, frames[-1:]], axis=0)


def _transformers_major() -> int:
    try:
        from importlib.metadata import version

        return int(version("transformers").split(".")[0])
    except Exception:  # noqa: BLE001 — not installed: no engine can run anyway
        return 0


TRANSFORMERS_MAJOR = _transformers_major()
"""The installed transformers' major version (0 when it is missing): 5.x reads a video's rate
from ``video_metadata`` and refuses ``fps`` as a list, 4.x reads ``fps``."""


def video_metadata(frames: int, height: int, width: int, fps: float) -> dict[str, Any]:
    """What a transformers 5 Qwen-VL processor reads a video's rate from (``video_metadata``,
    one per video): ``frames`` frames of ``height`` × ``width`` as handed over (T already
    even), every one of them sampled, at ``fps``. Its ``sampled_fps`` = len(frames_indices) /
    total_num_frames · fps = ``fps``, which gives Qwen2.5-VL's ``second_per_grid_ts``; 5.x
    ignores the ``fps`` argument there."""
    t, h, w = int(frames), int(height), int(width)
    return {"total_num_frames": t, "fps": float(fps), "frames_indices": list(range(t)),
            "duration": t / float(fps), "height": h, "width": w}


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, str | None]:
    """Cut ``text`` right after the earliest-ending occurrence of any stop string.

    Returns ``(text, matched)``: the kept text (ending with the stop string) and the stop
    string that matched, or ``(text, None)`` unchanged if none occurs. "Earliest-ending"
    is what a token-by-token generator sees first, so engines agree on where they stopped.
    """
    best_end, matched = None, None
    for s in stop:
        if not s:
            continue
        i = text.find(s)
        if i >= 0 and (best_end is None or i + len(s) < best_end):
            best_end, matched = i + len(s), s
    if best_end is None:
        return text, None
    return text[:best_end], matched
