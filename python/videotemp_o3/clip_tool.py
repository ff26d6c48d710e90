"""The clip tool: one tool call in, the clips to show (or why none are shown) out.

This is the one step that the inference agent (:mod:`videotemp_o3.agent`), the GRPO environment
(:mod:`videotemp_o3.training.rl_env`) and the SFT data builder
(:mod:`videotemp_o3.training.sft_data`) share, so that what a model is trained on is what it
meets at inference. It does no decoding: each caller samples the clips it is given in its own
way (frames for an engine, a clip file for ms-swift) under :attr:`ClipTool.budget`.

A call is refused — a :class:`~videotemp_o3.protocol.RejectedCall`, never an exception — when
the protocol rejects it (:func:`~videotemp_o3.protocol.validate_call`: bad JSON, reversed or
repeated spans, too many clips, past the turn limit, …) or when a span, though long enough for
the protocol, holds fewer than two frames of the video, which no frame budget can sample
(:meth:`ClipTool.frames_in_span`; the video layer's sampling rule, docs/design.md §2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

from videotemp_o3 import protocol
from videotemp_o3.protocol import (DEFAULT_PROFILE, CallProblem, ClipRequest, PromptProfile,
                                   RejectedCall, ToolCall, format_seconds)
from videotemp_o3.segments import Segment, SpanLike
from videotemp_o3.video import FrameBudget, VideoReader


@dataclass(frozen=True)
class ClipTool:
    """How tool calls are answered in one conversation setting.

    ``budget``: how a clip is sampled (callers sample with it). ``max_clips``: clips per call.
    ``max_turns``: assistant turns per conversation; calls are carried out on turns
    1 … ``max_turns − 1`` and the observation to turn ``max_turns − 1`` asks for the answer.
    ``min_clip_seconds``: the shortest clip, never less than one frame interval of the video.
    ``profile``: the wording of every observation.
    """

    budget: FrameBudget
    max_clips: int = protocol.MAX_CLIPS_PER_CALL
    max_turns: int = protocol.DEFAULT_MAX_TURNS
    min_clip_seconds: float = protocol.MIN_CLIP_SECONDS
    profile: PromptProfile = field(default=DEFAULT_PROFILE)

    def min_length(self, reader: VideoReader) -> float:
        """The shortest clip in seconds for this video."""
        return max(self.min_clip_seconds, protocol.min_clip_length(reader.metadata.avg_fps))

    @staticmethod
    def frames_in_span(reader: VideoReader, segment: Segment) -> int:
        """How many frames of the video the sampler may pick from ``segment``: first index
        ``⌈S·fps⌉``, last ``min(⌊E·fps⌋, total − 1)``, times clamped to ``[0, total / fps]``
        first (qwen-vl-utils' rule, which :meth:`FrameBudget.plan` applies)."""
        fps, total = reader.metadata.avg_fps, reader.num_frames
        if not (total > 0 and fps > 0):
            return 0
        length = total / fps
        start = min(max(segment.start, 0.0), length)
        end = min(max(segment.end, 0.0), length)
        first = math.ceil(start * fps)
        last = min(math.floor(end * fps), total - 1)
        return max(0, last - first + 1)

    def answer(self, call: ToolCall, reader: VideoReader, previous: Sequence[SpanLike] = (),
               turn: int = 1) -> list[ClipRequest] | RejectedCall:
        """The clips of ``call``, made on assistant turn ``turn`` (1-based), or why it is refused.

        ``previous``: the clips already shown in this conversation (clamped spans, seconds); a
        call asking for one of them again is refused. Clips are clamped to the video.
        """
        checked = protocol.validate_call(call, reader.duration_seconds, self.min_length(reader),
                                         previous, self.max_clips, turn=turn,
                                         max_turns=self.max_turns)
        if isinstance(checked, RejectedCall):
            return checked
        for k, clip in enumerate(checked, 1):
            if self.frames_in_span(reader, clip.segment) < 2:
                where = f"segment {k}" if len(checked) > 1 else "the segment"
                s, e = clip.segment.start, clip.segment.end
                return RejectedCall(CallProblem.TOO_SHORT,
                                    f"{where} [{format_seconds(s)}, {format_seconds(e)}] holds "
                                    f"fewer than two frames of the video")
        return checked

    def asks_final(self, turn: int) -> bool:
        """Whether the observation to assistant turn ``turn`` asks for the final answer."""
        return turn >= self.max_turns - 1

    def observation(self, outcome: list[ClipRequest] | RejectedCall | None, turn: int, *,
                    video_tag: str = "") -> str:
        """The user turn that answers assistant turn ``turn``: after clips (``video_tag`` marks
        where each clip's frames go), a refusal, or — ``None`` — a reply with neither answer
        nor call. From turn ``max_turns − 1`` on it asks for the final answer, whatever the
        turn did, because turn ``max_turns`` must answer."""
        return self.profile.tool_feedback(outcome, ask_final=self.asks_final(turn),
                                          video_tag=video_tag)
