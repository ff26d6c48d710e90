"""The multi-turn clip environment of GRPO, as an ms-swift 3.10.3 ``MultiTurnScheduler``.

A rollout is one conversation of the agent protocol (docs/design.md §1). After each assistant turn
ms-swift asks the scheduler two things:

* :meth:`VideoClipScheduler.check_finished` — is the conversation over? Yes when the turn
  answers, when generation hit the length limit, or at ``max_turns``.
* :meth:`VideoClipScheduler.step` — what does the model see next? A tool call is checked by
  :func:`videotemp_o3.protocol.validate_call` and answered with the real clip(s) cut by our
  video layer and handed to ms-swift through :mod:`videotemp_o3.training.swift_media`; a bad
  call gets :func:`~videotemp_o3.protocol.call_error_feedback` — the observations of the
  inference agent (:mod:`videotemp_o3.agent`), so that the policy is trained on the
  environment it will meet.

Where it runs: inside ``swift rollout`` (server mode, the release's layout; needs
``--vllm_use_async_engine true``, which ms-swift sets when a scheduler is given) and inside the
GRPO trainer's colocate loop (``--use_vllm false`` on CPU, or colocated vLLM). Both call
``step``/``check_finished`` once per turn with the live ``RolloutInferRequest``.

What a rollout records in ``rollout_infos`` (a copy of the cumulative state after each step:
ms-swift *overwrites* rollout_infos keys at every step, so every value is the whole history):

``videos``
    The overview followed by every clip, in ``<video>`` tag order, as ``file://`` URIs (see
    :func:`rollout_video_ref`). ms-swift replaces the data row's ``videos`` with this list
    before the training forward pass; without it the clip tags of the rollout would have no
    media. The trainer reads these files: it must see the rollout server's paths (one node, or
    a shared file system — as for the data set's videos).
``clip_segments``
    ``[[S, E], …]`` seconds of every clip shown, clamped to the video, in order.
``tool_calls``
    One entry per tool-call turn: ``turn``, ``requested`` (the spans as written, or ``[]`` for
    an unreadable call), ``clips`` (what was shown) and ``rejected`` (the protocol's problem
    name, or None).
``video_duration``
    Seconds, as the clips were clamped (``VideoReader.duration_seconds``).

A rollout that answers at turn 1 never reaches ``step`` and has none of these keys (ms-swift
adds only ``num_turns``): read a missing ``clip_segments`` as "no clip was asked for".
The rewards do not depend on these records — they re-read the turns through the protocol
module — so a reward can never be fooled by bookkeeping that disagrees with the text.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from swift.llm.infer.protocol import ChatCompletionResponseChoice
from swift.llm.template import RolloutInferRequest
from swift.plugin.multi_turn import MultiTurnScheduler, multi_turns

from videotemp_o3 import protocol
from videotemp_o3.protocol import CallProblem, ClipRequest, RejectedCall
from videotemp_o3.segments import Segment
from videotemp_o3.training import swift_media
from videotemp_o3.training.rewards import DEFAULT_CONFIG as REWARD_DEFAULTS
from videotemp_o3.training.rl_data import VIDEO_TAG
from videotemp_o3.training.swift_media import resolve_media_path
from videotemp_o3.video import FrameBudget, VideoReader

SCHEDULER_NAME = "videotemp_clips"
"""The name to pass as ``--multi_turn_scheduler``; importing this module registers it in
``swift.plugin.multi_turns``."""

STATE_KEY = "videotemp_clip_state"
"""Key of the per-rollout state inside ``infer_request.data_dict``. The request object lives
for the whole rollout in both server and colocate mode, so the state travels with it."""


# ---------------------------------------------------------------------------------------------
# Configuration: defaults here, environment variables mapped onto them
# ---------------------------------------------------------------------------------------------

def clip_budget_from_env() -> FrameBudget:
    """The budget of a clip: :func:`videotemp_o3.training.swift_media.clip_budget` — the
    release's 2 fps, 4–64 frames at the pixel limits of ms-swift's environment, so that clip
    and overview frames are equally sharp and ms-swift does not rescale the clip.

    Overrides (small CPU runs): ``VIDEOTEMP_CLIP_FPS``, ``VIDEOTEMP_CLIP_MIN_FRAMES``,
    ``VIDEOTEMP_CLIP_MAX_FRAMES``.
    """
    return swift_media.clip_budget(
        fps=float(os.environ.get("VIDEOTEMP_CLIP_FPS", swift_media.CLIP_FPS)),
        min_frames=int(os.environ.get("VIDEOTEMP_CLIP_MIN_FRAMES", swift_media.CLIP_MIN_FRAMES)),
        max_frames=int(os.environ.get("VIDEOTEMP_CLIP_MAX_FRAMES", swift_media.CLIP_MAX_FRAMES)))


@dataclass
class ClipEnvConfig:
    """How the environment answers tool calls."""

    max_turns: int = protocol.DEFAULT_MAX_TURNS
    max_clips: int = protocol.MAX_CLIPS_PER_CALL
    """Clips per call; the format reward's ``max_clips`` must be the same."""
    clip_budget: FrameBudget = field(default_factory=clip_budget_from_env)
    min_clip_seconds: float = REWARD_DEFAULTS.min_clip_seconds
    """Shortest clip carried out. The format reward's own minimum, so that the environment
    carries out exactly the calls the format reward accepts (a shorter call is refused here
    *and* costs format; the two never disagree). One frame interval of the video, when longer,
    is the floor as well."""
    media_dir: Path = field(default_factory=lambda: Path(
        os.environ.get("VIDEOTEMP_CLIP_DIR") or Path(tempfile.gettempdir()) / "videotemp_clips"))
    """Where clip files for ms-swift are written. In the release's layout the rollout server
    writes them and the trainer reads them: it must be a folder both machines see."""
    codec: str = field(default_factory=lambda: os.environ.get("VIDEOTEMP_CLIP_CODEC", "ffv1"))
    """``ffv1`` (lossless, 6–10 MB per 64-frame clip at the training budget) or ``mjpeg``
    (about 4× smaller, not bit-exact); see :mod:`videotemp_o3.training.swift_media`."""
    media_ttl_s: float = field(
        default_factory=lambda: float(os.environ.get("VIDEOTEMP_CLIP_TTL_S", 1800)))
    """Clip files unused for this long are deleted. The trainer encodes a rollout's clips right
    after the rollout returns (GRPO buffers the encoded batch, not the files), so minutes
    suffice; the default leaves room for slow steps."""
    reader_cache: int = 16
    """Open videos kept (a rollout batch is ``num_generations`` rollouts of a few videos)."""

    @classmethod
    def from_env(cls, max_turns: int | None = None) -> "ClipEnvConfig":
        cfg = cls()
        if max_turns:
            cfg.max_turns = max_turns
        return cfg


# ---------------------------------------------------------------------------------------------
# The environment: a turn in, an observation out (ms-swift is not involved here)
# ---------------------------------------------------------------------------------------------

@dataclass
class Observation:
    """What the model sees after a turn that did not answer.

    ``text``: the user turn, with one ``<video>`` tag per clip at the clip's place.
    ``media``: one ms-swift video (a file path) per clip, in tag order. ``clips``: what was
    carried out. ``rejected``: why nothing was carried out (None on success or when the turn
    made no call). ``requested``: the spans as the model wrote them (empty for an unreadable
    call). ``made_call``: whether the turn held a tool call at all.
    """

    text: str
    media: list[Any] = field(default_factory=list)
    clips: list[ClipRequest] = field(default_factory=list)
    rejected: RejectedCall | None = None
    requested: list[Segment] = field(default_factory=list)
    made_call: bool = False


class ClipEnvironment:
    """Answers the turns of many rollouts: opens each video once, cuts clips with our video
    layer and writes them for ms-swift through :func:`~videotemp_o3.training.swift_media.
    clip_for_swift`.

    Costs: a clip is decoded once and stored losslessly (swift_media's docstring has the
    numbers); clip files are named by source, span and budget, so the ``num_generations``
    rollouts of one prompt that ask for the same span share one file. The step runs inside the
    rollout's event loop (ms-swift calls ``step`` synchronously); decoding releases the GIL
    but still delays the other rollouts of that process by the clip's decode time.
    """

    def __init__(self, config: ClipEnvConfig | None = None):
        self.config = config or ClipEnvConfig.from_env()
        self._readers: OrderedDict[Path, VideoReader] = OrderedDict()
        self._lock = threading.Lock()
        self._last_sweep = 0.0

    # -- videos ----------------------------------------------------------------------------

    def reader(self, video: str | os.PathLike) -> VideoReader:
        """The open reader of ``video`` (path resolved as ms-swift resolves it)."""
        path = resolve_media_path(os.fspath(video))
        with self._lock:
            if path in self._readers:
                self._readers.move_to_end(path)
                return self._readers[path]
        reader = VideoReader(path)
        with self._lock:
            self._readers[path] = reader
            while len(self._readers) > self.config.reader_cache:
                self._readers.popitem(last=False)
        return reader

    def min_length(self, reader: VideoReader) -> float:
        return max(self.config.min_clip_seconds, protocol.min_clip_length(reader.metadata.avg_fps))

    # -- one turn --------------------------------------------------------------------------

    def observe(self, video: str | os.PathLike, turn_text: str, turn: int,
                previous: Sequence[Segment] = ()) -> Observation:
        """The observation after assistant turn number ``turn`` (1-based) that did not answer.

        ``previous``: the clips already shown in this conversation (a repeat is refused). The
        text is :func:`videotemp_o3.protocol.tool_feedback`'s, as the agent and the SFT data
        compose it. One difference from the agent, forced by training: the agent lets a model
        that is still calling at the limit have one extra turn to answer, but a rollout ends at
        ``max_turns`` (ms-swift stops it there, and the format reward fails longer
        trajectories). So the observation to turn ``max_turns − 1`` always asks for the final
        answer — whether its call succeeded (as in the agent), failed, or was missing.
        """
        ask_final = turn >= self.config.max_turns - 1
        call = protocol.parse_turn(turn_text).tool_call
        if call is None:
            return Observation(protocol.tool_feedback(None, ask_final=ask_final))
        requested = list(call.spans) if call.error is None else []
        outcome, media = self._answer_call(video, call, turn, previous)
        text = protocol.tool_feedback(outcome, ask_final=ask_final, video_tag=VIDEO_TAG)
        if isinstance(outcome, RejectedCall):
            return Observation(text, rejected=outcome, requested=requested, made_call=True)
        return Observation(text, media=media, clips=list(outcome), requested=requested,
                           made_call=True)

    def _answer_call(self, video, call: protocol.ToolCall, turn: int, previous: Sequence[Segment]
                     ) -> tuple[list[ClipRequest] | RejectedCall, list[str]]:
        """``(clip requests, their files)`` for a call carried out, ``(rejection, [])`` else."""
        cfg = self.config
        reader = self.reader(video)
        checked = protocol.validate_call(call, reader.duration_seconds, self.min_length(reader),
                                         previous, cfg.max_clips, turn=turn,
                                         max_turns=cfg.max_turns)
        if isinstance(checked, RejectedCall):
            return checked, []
        meta = reader.metadata
        for clip in checked:
            try:
                cfg.clip_budget.plan(reader.num_frames, meta.avg_fps, *meta.display_size,
                                     clip.segment.start, clip.segment.end)
            except ValueError as e:
                # Passed the protocol's checks, but the budget cannot sample it (fewer than two
                # frames in the span): refused like any other bad call, as the agent does.
                return RejectedCall(CallProblem.TOO_SHORT, str(e).split(": ", 1)[-1]), []
        # Outside the try: any error here is a setup error (e.g. a budget that differs from
        # ms-swift's environment) and must stop the run, not turn into an observation.
        return checked, [self._clip_file(reader, clip.segment) for clip in checked]

    # -- clip files ------------------------------------------------------------------------

    def _clip_file(self, reader: VideoReader, segment: Segment) -> str:
        """The clip as an ms-swift video: the path of the file swift_media wrote (or found)."""
        root = self.config.media_dir
        now = time.time()
        if now - self._last_sweep > 60:
            self._last_sweep = now
            self._sweep(root, now)
        clip = swift_media.clip_for_swift(reader, segment.start, segment.end,
                                          self.config.clip_budget, root,
                                          codec=self.config.codec)  # type: ignore[arg-type]
        # A file found again is in use again: refresh its age so the sweep keeps it.
        for path in (Path(clip.path), Path(clip.path).with_suffix(".json")):
            try:
                os.utime(path, (now, now))
            except FileNotFoundError:
                pass
        return clip.path

    def _sweep(self, root: Path, now: float) -> None:
        """Delete clip files (and their sidecars) unused for longer than the TTL. Only the
        files swift_media writes are touched: ``*.mkv``/``*.avi`` clips and ``*.json`` sidecars
        directly in ``root``."""
        if not root.is_dir():
            return
        for entry in root.iterdir():
            if entry.suffix not in (".mkv", ".avi", ".json") or not entry.is_file():
                continue
            try:
                if now - entry.stat().st_mtime > self.config.media_ttl_s:
                    entry.unlink()
            except FileNotFoundError:  # another process swept it first
                pass


def rollout_video_ref(video: str) -> str:
    """A video as ``rollout_infos['videos']`` must carry it: ``file://`` + absolute path.

    ms-swift 3.10.3 (``RolloutOutput.mminfo_to_serializable``) replaces every entry of
    ``rollout_infos['videos']`` that is an existing local file by the base64 of the whole file.
    That is meant for images; for videos it would copy each source video (hundreds of MB)
    into every rollout output, and the Qwen2.5-VL template cannot read it back (qwen-vl-utils
    opens a video string as a path: "File name too long"). A ``file://`` URI is no file path
    to that check, so it passes unchanged, and all three qwen-vl-utils readers (decord,
    torchcodec, torchvision) open it. The path is not percent-encoded: FFmpeg's ``file:``
    protocol takes it verbatim. URLs and data strings are returned as they are.
    """
    if video.startswith(("file://", "http://", "https://", "data:")):
        return video
    path = resolve_media_path(video)
    return f"file://{path}" if path.is_file() else video


# ---------------------------------------------------------------------------------------------
# Per-rollout state, and what goes into rollout_infos
# ---------------------------------------------------------------------------------------------

@dataclass
class RolloutState:
    clip_segments: list[list[float]] = field(default_factory=list)
    tool_calls: list[dict] = field(default_factory=list)
    video_duration: float | None = None

    @classmethod
    def of(cls, data_dict: dict) -> "RolloutState":
        raw = data_dict.get(STATE_KEY)
        return cls(**raw) if isinstance(raw, dict) else cls()

    def save(self, data_dict: dict) -> None:
        data_dict[STATE_KEY] = dataclasses.asdict(self)

    def record(self, turn: int, obs: Observation, duration: float) -> None:
        self.video_duration = duration
        if obs.made_call:
            clips = [c.segment.as_list() for c in obs.clips]
            self.tool_calls.append({
                "turn": turn,
                "requested": [s.as_list() for s in obs.requested],
                "clips": clips,
                "rejected": obs.rejected.problem.value if obs.rejected else None,
            })
            self.clip_segments.extend(clips)


def _message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text") or "" for p in content if isinstance(p, dict))
    return ""


# ---------------------------------------------------------------------------------------------
# The ms-swift plug-in
# ---------------------------------------------------------------------------------------------

class VideoClipScheduler(MultiTurnScheduler):
    """ms-swift ``MultiTurnScheduler`` for the clip tool; see the module docstring.

    ``max_turns`` comes from ``--max_turns`` (default: the protocol's 3). The environment is
    configured from environment variables (:meth:`ClipEnvConfig.from_env`).
    """

    def __init__(self, infer_engine=None, max_turns: int | None = None, *args,
                 environment: ClipEnvironment | None = None, **kwargs):
        max_turns = max_turns or protocol.DEFAULT_MAX_TURNS
        super().__init__(infer_engine, max_turns, *args, **kwargs)
        self.environment = environment or ClipEnvironment(ClipEnvConfig.from_env(max_turns))
        if self.environment.config.max_turns != max_turns:
            raise ValueError(f"the environment allows {self.environment.config.max_turns} turns "
                             f"but ms-swift was given --max_turns {max_turns}")

    def check_finished(self, infer_request: RolloutInferRequest,
                       response_choice: ChatCompletionResponseChoice, current_turn: int) -> bool:
        # Base: finish_reason == "length" (a truncated turn is final) or the turn limit.
        if super().check_finished(infer_request, response_choice, current_turn):
            return True
        return protocol.parse_turn(response_choice.message.content or "").action == "answer"

    def step(self, infer_request: RolloutInferRequest,
             response_choice: ChatCompletionResponseChoice, current_turn: int) -> dict:
        # The loop has already appended this turn as the last assistant message; after a
        # continuation it holds more than this response, so it is read from there.
        last = infer_request.messages[-1]
        turn_text = _message_text(last["content"]) if last["role"] == "assistant" \
            else (response_choice.message.content or "")
        if not infer_request.videos:
            raise ValueError(f"{SCHEDULER_NAME}: the request has no video; every RL row needs "
                             "its overview video in 'videos' (see training/rl_data.py)")
        video = infer_request.videos[0]
        state = RolloutState.of(infer_request.data_dict)
        env = self.environment
        obs = env.observe(video, turn_text, current_turn,
                          [Segment.of(s) for s in state.clip_segments])
        infer_request.messages.append({"role": "user", "content": obs.text})
        infer_request.videos.extend(obs.media)
        state.record(current_turn, obs, env.reader(video).duration_seconds)
        state.save(infer_request.data_dict)
        return {"infer_request": infer_request,
                "rollout_infos": {"videos": [rollout_video_ref(v) for v in infer_request.videos],
                                  **dataclasses.asdict(state)}}


multi_turns[SCHEDULER_NAME] = VideoClipScheduler
