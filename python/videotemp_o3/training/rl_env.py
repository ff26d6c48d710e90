"""The GRPO environment without ms-swift: the multi-turn clip environment and what the
trainer's reward calls mean, in plain Python.

:mod:`videotemp_o3.training.swift_plugin` adapts this module to ms-swift's plug-in classes and is
the only module that imports them; everything here runs (and is tested) without ms-swift.

The clip environment
--------------------
A rollout is one conversation of the agent protocol (docs/design.md §1). After each assistant
turn ms-swift asks the scheduler two things, answered here:

* :meth:`ClipEnvironment.is_final` — is the conversation over? Yes when the turn answers (and,
  in the adapter, when generation hit the length limit or ``max_turns``).
* :meth:`ClipEnvironment.step` — what does the model see next? The turn's tool call goes
  through :class:`videotemp_o3.clip_tool.ClipTool` — the agent's own step — and a call carried
  out is answered with the real clip(s), cut by our video layer and written for ms-swift by
  :mod:`videotemp_o3.training.swift_media`; the observation text is the agent's.

Where it runs: inside ``swift rollout`` (server mode, the release's layout; needs
``--vllm_use_async_engine true``, which ms-swift sets when a scheduler is given) and inside the
GRPO trainer's colocate loop (``--use_vllm false`` on CPU, or colocated vLLM). Both call the
scheduler once per turn with the live request.

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
adds only ``num_turns``): read a missing ``clip_segments`` as "no clip was asked for". The
rewards do not depend on these records — they re-read the turns — so a reward can never be
fooled by bookkeeping that disagrees with the text.

Rewards as ms-swift calls them
------------------------------
ms-swift 3.10.3 (``GRPOTrainer._compute_rewards_per_func``) calls each reward function as::

    reward_func(completions, trainer_state=…, [trajectory_inputs=…,] **rows_to_batched(inputs))

* ``completions[i]`` is the content of row i's *last* message only, so the whole conversation is
  read from ``messages[i]`` (after a multi-turn rollout it holds every turn).
* Every other column arrives as a list, one entry per row: the data set's (see
  :meth:`~videotemp_o3.training.rewards.GroundTruth.from_row`), ``rollout_infos`` (the
  environment's record; used as a fallback for e.g. ``duration``), ``request_id``.
* ``trajectory_inputs`` (server multi-turn mode): ``{request_id: [row, …]}``; a scheduler that
  returns one output per round gives several rows per request, and the one with the most
  assistant turns is the whole trajectory.

ms-swift 4.x (``swift.rl_core.grpo_algorithm.compute_rewards_per_func``) calls them the same
way, but its rollout loops hand over every assistant turn but the last as the policy's token
ids; the scheduler records each turn's text under ``rollout_infos[TEXT_TURNS_KEY]`` and
:func:`with_text_turns` puts it back before scoring.

ms-swift turns a None reward into NaN; a row the rewards cannot score raises
:class:`~videotemp_o3.training.rewards.UnscorableRow` instead, naming the row — the data
validator (``python -m videotemp_o3.training.rl_data validate``, run by ``rl/grpo.sh``) finds
such rows, with ``file:line``, before training starts.
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
from typing import Any, Mapping, Sequence

from videotemp_o3 import budgets, protocol
from videotemp_o3.clip_tool import ClipTool
from videotemp_o3.protocol import ClipRequest, PromptProfile, RejectedCall
from videotemp_o3.segments import Segment
from videotemp_o3.training import swift_media
from videotemp_o3.training.rewards import (DEFAULT_CONFIG, REWARD_SETS, GroundTruth,
                                           RewardConfig, Rollout, UnscorableRow)
from videotemp_o3.training.swift_media import VIDEO_TAG, overview_source, resolve_media_path
from videotemp_o3.video import FrameBudget, VideoReader

SCHEDULER_NAME = "videotemp_clips"
"""The name to pass as ``--multi_turn_scheduler`` (registered by the ms-swift adapter)."""

STATE_KEY = "videotemp_clip_state"
"""Key of the per-rollout state inside the request's ``data_dict``. The request object lives
for the whole rollout in both server and colocate mode, so the state travels with it."""

TEXT_TURNS_KEY = "videotemp_text_turns"
"""Key, in ``rollout_infos`` (and the request's ``data_dict``), of the text of every assistant
turn of the rollout, in order, as the policy wrote it (see :func:`with_text_turns`)."""

PROFILE_ENV = "VIDEOTEMP_PROMPT_PROFILE"
"""Environment variable naming a prompt profile file (``--prompt-profile`` of the scripts):
the wording of the observations. The data rows' system prompt and first turn are written by
``rl_data build --prompt-profile`` with the same file."""


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
        fps=float(os.environ.get("VIDEOTEMP_CLIP_FPS", budgets.CLIP_FPS)),
        min_frames=int(os.environ.get("VIDEOTEMP_CLIP_MIN_FRAMES", budgets.CLIP_MIN_FRAMES)),
        max_frames=int(os.environ.get("VIDEOTEMP_CLIP_MAX_FRAMES", budgets.CLIP_MAX_FRAMES)))


def profile_from_env() -> PromptProfile:
    """The prompt profile named by ``VIDEOTEMP_PROMPT_PROFILE``, else our wording."""
    path = os.environ.get(PROFILE_ENV)
    return PromptProfile.load(path) if path else protocol.DEFAULT_PROFILE


@dataclass
class ClipEnvConfig:
    """How the environment answers tool calls."""

    max_turns: int = protocol.DEFAULT_MAX_TURNS
    max_clips: int = protocol.MAX_CLIPS_PER_CALL
    """Clips per call; our format reward's ``max_clips`` must be the same."""
    clip_budget: FrameBudget = field(default_factory=clip_budget_from_env)
    min_clip_seconds: float = DEFAULT_CONFIG.min_clip_seconds
    """Shortest clip carried out: our format reward's own minimum, so that the environment
    carries out exactly the calls that reward accepts. One frame interval of the video, when
    longer, is the floor as well."""
    prompt_profile: PromptProfile = field(default_factory=profile_from_env)
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

    def clip_tool(self) -> ClipTool:
        return ClipTool(self.clip_budget, max_clips=self.max_clips, max_turns=self.max_turns,
                        min_clip_seconds=self.min_clip_seconds, profile=self.prompt_profile)


# ---------------------------------------------------------------------------------------------
# The environment: a turn in, an observation out
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


@dataclass
class RolloutState:
    """What one rollout has done so far (kept in the request's ``data_dict``)."""

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


class ClipEnvironment:
    """Answers the turns of many rollouts: opens each video once, answers each call with the
    clip tool and writes the clips for ms-swift through
    :func:`~videotemp_o3.training.swift_media.clip_for_swift`.

    Costs: a clip is decoded once and stored losslessly (swift_media's docstring has the
    numbers); clip files are named by source, span and budget, so the ``num_generations``
    rollouts of one prompt that ask for the same span share one file. The step runs inside the
    rollout's event loop (ms-swift calls ``step`` synchronously); decoding releases the GIL
    but still delays the other rollouts of that process by the clip's decode time.
    """

    def __init__(self, config: ClipEnvConfig | None = None):
        self.config = config or ClipEnvConfig.from_env()
        self.tool = self.config.clip_tool()
        self._readers: OrderedDict[Path, VideoReader] = OrderedDict()
        self._lock = threading.Lock()
        self._last_sweep = 0.0

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

    @staticmethod
    def is_final(turn_text: str) -> bool:
        """Whether an assistant turn ends the conversation by answering."""
        return protocol.parse_turn(turn_text).action == "answer"

    def observe(self, video: str | os.PathLike, turn_text: str, turn: int,
                previous: Sequence[Segment] = ()) -> Observation:
        """The observation after assistant turn number ``turn`` (1-based) that did not answer.

        ``previous``: the clips already shown in this conversation (a repeat is refused). One
        difference from the agent, forced by training: the agent lets a model that is still
        calling at the limit have one extra turn to answer, but a rollout ends at ``max_turns``
        (ms-swift stops it there, and our format reward fails longer trajectories). The
        observation to turn ``max_turns − 1`` asks for the final answer in both.
        """
        call = protocol.parse_turn(turn_text).tool_call
        if call is None:
            return Observation(self.tool.observation(None, turn))
        requested = list(call.spans) if call.error is None else []
        reader = self.reader(video)
        outcome = self.tool.answer(call, reader, previous, turn)
        text = self.tool.observation(outcome, turn, video_tag=VIDEO_TAG)
        if isinstance(outcome, RejectedCall):
            return Observation(text, rejected=outcome, requested=requested, made_call=True)
        # Any error while writing the clips is a setup error (e.g. a budget that differs from
        # ms-swift's environment) and must stop the run, not turn into an observation.
        media = [self._clip_file(reader, clip.segment) for clip in outcome]
        return Observation(text, media=media, clips=list(outcome), requested=requested,
                           made_call=True)

    def step(self, messages: list[dict], videos: list[str], data_dict: dict, turn: int,
             reply: str = "") -> dict:
        """One environment step on a live rollout: appends the observation to ``messages`` and
        its clips to ``videos`` (both in place) and returns the ``rollout_infos`` to record.

        The turn is read from the last message when it is the assistant's (after a
        continuation it holds more than ``reply``, the engine's latest output), else from
        ``reply``.
        """
        last = messages[-1] if messages else {}
        turn_text = message_text(last.get("content")) if last.get("role") == "assistant" \
            else reply
        if not videos:
            raise ValueError(f"{SCHEDULER_NAME}: the request has no video; every RL row needs "
                             "its overview video in 'videos' (see training/rl_data.py)")
        video = overview_source(videos[0])  # a timed overview's first piece names its source
        state = RolloutState.of(data_dict)
        obs = self.observe(video, turn_text, turn, [Segment.of(s) for s in state.clip_segments])
        messages.append({"role": "user", "content": obs.text})
        videos.extend(obs.media)
        state.record(turn, obs, self.reader(video).duration_seconds)
        state.save(data_dict)
        return {"videos": [rollout_video_ref(v) for v in videos], **dataclasses.asdict(state)}

    @staticmethod
    def record_text_turn(messages: list[dict], data_dict: dict, turn: int, reply: str = "") -> list[str]:
        """Records the text of assistant turn number ``turn`` (1-based) of a live rollout and
        returns the texts of turns 1..``turn`` (the value of ``rollout_infos[TEXT_TURNS_KEY]``).

        Called once per turn while the turn is still text (ms-swift 4 freezes it as token ids
        afterwards). The turn is read as :meth:`step` reads it. A turn recorded again (the same
        request driven twice) replaces the later ones.
        """
        last = messages[-1] if messages else {}
        text = message_text(last.get("content")) if last.get("role") == "assistant" else reply
        texts = list(data_dict.get(TEXT_TURNS_KEY) or [])[:max(turn - 1, 0)]
        texts.append(text)
        data_dict[TEXT_TURNS_KEY] = texts
        return list(texts)

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
    to that check, so it passes unchanged. qwen-vl-utils' own readers open such URIs, but
    ms-swift routes its decord reader (4.x: all but torchvision's first try) through its
    ``load_file``, which reads them only because the adapter
    (:mod:`videotemp_o3.training.swift_plugin`, imported wherever the rollout runs or is
    encoded) teaches it to. The path is not percent-encoded: FFmpeg's ``file:`` protocol and
    that ``load_file`` take it verbatim. URLs and data strings are returned as they are.
    """
    if video.startswith(("file://", "http://", "https://", "data:")):
        return video
    path = resolve_media_path(video)
    return f"file://{path}" if path.is_file() else video


# ---------------------------------------------------------------------------------------------
# Rewards as the trainer calls them
# ---------------------------------------------------------------------------------------------


def message_text(content: Any) -> str:
    """A message's content as text; multimodal content is a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text") or "" for p in content if isinstance(p, dict))
    return ""


def token_ids_of(content: Any) -> list[int] | None:
    """The token ids of an assistant turn that a rollout loop froze as ids (ms-swift 4: a list
    of ints, or a dict with ``token_ids``/``input_ids``), else None (a text turn)."""
    ids = content.get("token_ids", content.get("input_ids")) if isinstance(content, dict) else content
    if isinstance(ids, list) and ids and all(isinstance(i, int) for i in ids):
        return ids
    return None


def with_text_turns(messages: Sequence[Mapping[str, Any]] | None,
                    rollout_infos: Mapping[str, Any] | None) -> list[dict]:
    """The conversation with every assistant turn as text: turns frozen as token ids get the
    text the scheduler recorded (``rollout_infos[TEXT_TURNS_KEY]``, one entry per assistant
    turn, in order). A new list of new dicts; ``messages`` is left as it was.

    ms-swift 4's rollout loops (the server's ``MultiTurnScheduler.run`` and the trainer's
    ``run_multi_turn``) replace every assistant turn but the last with the policy's sampled
    token ids, and the reward functions receive the conversation that way. Decoding the ids
    again could differ from what the policy wrote, so the rewards read the recorded text.
    ValueError when an id turn has no recorded text (the rollout did not run our scheduler).
    """
    out = [dict(m) for m in messages or ()]
    texts = (rollout_infos or {}).get(TEXT_TURNS_KEY) if isinstance(rollout_infos, Mapping) else None
    n_assistant = 0
    for m in out:
        if m.get("role") != "assistant":
            continue
        n_assistant += 1
        if token_ids_of(m.get("content")) is None:
            continue
        if not texts or len(texts) < n_assistant:
            raise ValueError(
                f"assistant turn {n_assistant} arrived as token ids without its text in "
                f"rollout_infos[{TEXT_TURNS_KEY!r}]; the rewards score trajectories written by "
                f"--multi_turn_scheduler {SCHEDULER_NAME} (rl/grpo.sh and rl/rollout.sh pass it)")
        m["content"] = texts[n_assistant - 1]
    return out


def assistant_turns(messages: Sequence[Mapping[str, Any]] | None) -> list[str]:
    """The assistant texts of a conversation, in order (ms-swift's empty placeholders dropped)."""
    return [message_text(m["content"]) for m in messages or ()
            if m.get("role") == "assistant" and m.get("content")]


def trajectory_turns(completion: str, messages: Sequence[Mapping[str, Any]] | None,
                     request_id: str | None,
                     trajectory_inputs: Mapping[str, list[dict]] | None) -> list[str]:
    """The longest record of the conversation among the row and its request's rows."""
    candidates = [assistant_turns(messages)]
    if trajectory_inputs and request_id is not None and request_id in trajectory_inputs:
        candidates += [assistant_turns(with_text_turns(r.get("messages"), r.get("rollout_infos")))
                       for r in trajectory_inputs[request_id]]
    turns = max(candidates, key=len)
    return turns or [completion]


def row_truth(row: Mapping[str, Any]) -> GroundTruth:
    """The ground truth of one row: its columns, with ``rollout_infos`` filling gaps."""
    info = row.get("rollout_infos")
    merged = dict(info) if isinstance(info, Mapping) else {}
    merged.update({k: v for k, v in row.items() if v is not None})  # the data row wins
    try:
        return GroundTruth.from_row(merged)
    except UnscorableRow as e:
        ident = next((f"{k} {row[k]!r}" for k in ("uid", "request_id") if row.get(k)), "a row")
        raise UnscorableRow(f"{ident}: {e} (check the data with `python -m "
                            "videotemp_o3.training.rl_data validate FILE`)") from None


def score_batch(reward_set: str, name: str, completions: Sequence[str], *,
                messages: Sequence[Any] | None = None,
                trajectory_inputs: Mapping[str, list[dict]] | None = None,
                config: RewardConfig = DEFAULT_CONFIG, **columns: Any) -> list[float]:
    """One reward of one set for a batch, given exactly what ms-swift passes (module docstring)."""
    fn = REWARD_SETS[reward_set][name]
    n = len(completions)
    batched = {k: v for k, v in columns.items() if isinstance(v, list) and len(v) == n}
    out = []
    for i in range(n):
        row = {k: v[i] for k, v in batched.items()}
        row_messages = with_text_turns(messages[i], row.get("rollout_infos")) if messages else None
        turns = trajectory_turns(completions[i], row_messages, row.get("request_id"), trajectory_inputs)
        out.append(fn(Rollout(turns), row_truth(row), config))
    return out
