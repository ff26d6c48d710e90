"""The agent loop: overview → think → clip → (refine) → answer.

One question about one video is one conversation:

1. the system prompt, then a user turn with the whole video under the *overview* budget and
   the question (with :attr:`AgentConfig.overview_times`, the overview as two-frame videos, each
   after the time of its first frame in text);
2. each assistant turn either answers or calls ``get_video_clip_frame``; a valid call is
   answered with the requested clip(s) from the video layer under the *clip* budget, in a
   user turn that states each clip's absolute span; a bad call is answered with an
   observation saying what was wrong, and the loop goes on;
3. tool calls are carried out on turns 1 … ``max_turns − 1`` (the feedback to turn
   ``max_turns − 1`` asks for the answer, whatever that turn did); turn ``max_turns`` must
   answer, and the conversation ends there with or without an answer — never more than
   ``max_turns`` assistant turns (a tool call on that turn is recorded as over the limit).

Prompts, parsing and every text the model reads come from :mod:`videotemp_o3.protocol` (in the
wording of :attr:`AgentConfig.prompt_profile`), and a call becomes clips through
:class:`videotemp_o3.clip_tool.ClipTool`, the step the RL environment and the SFT builder use
too; the agent only sequences them. Frames are decoded once per question: a clip reuses the frames of
the overview or of earlier clips that it shares (same frame, same size).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from . import protocol
from .budgets import release_clip_budget, release_overview_budget
from .clip_tool import ClipTool
from .engines.base import Engine, Generation
from .protocol import DEFAULT_PROFILE, PromptProfile
from .segments import Segment
from .video import FrameBudget, Frames, VideoReader

STOP = ("</answer>", "</tool_call>")


@dataclass
class Question:
    """What is asked. ``task``: ``mcq`` (``options`` are the choices, letters A, B, … in order),
    ``grounding`` (``text`` is the event to find; the answer is ``[start, end]`` seconds) or
    ``open``."""

    text: str
    task: protocol.Task = "mcq"
    options: Sequence[str] = ()

    def prompt(self, duration: float | None) -> str:
        """The question as the first user turn states it (without a profile's prefix)."""
        if self.task == "mcq":
            return protocol.mcq_prompt(self.text, self.options, duration=duration)
        if self.task == "grounding":
            return protocol.grounding_prompt(self.text, duration=duration)
        if self.task == "open":
            return protocol.open_prompt(self.text, duration=duration)
        raise ValueError(f"unknown question task {self.task!r} (mcq, open or grounding)")

    def parse(self, answer: str | None) -> Any:
        """The prediction in the benchmark's terms: a letter, ``[start, end]`` or text."""
        if answer is None:
            return None
        if self.task == "mcq":
            return protocol.parse_choice(answer, max(len(self.options), 2))
        if self.task == "grounding":
            seg = protocol.parse_span(answer)
            return None if seg is None else [seg.start, seg.end]
        return answer.strip()


@dataclass
class AgentConfig:
    overview_budget: FrameBudget = field(default_factory=release_overview_budget)
    clip_budget: FrameBudget = field(default_factory=release_clip_budget)
    max_turns: int = protocol.DEFAULT_MAX_TURNS
    max_clips: int = protocol.MAX_CLIPS_PER_CALL
    max_new_tokens: int = 1024
    temperature: float = 0.0
    seed: Optional[int] = None
    system_prompt_path: Optional[str] = None
    """A file with the system prompt to use verbatim; it takes the place of the profile's."""
    decode_threads: int = 0
    prompt_profile: PromptProfile = DEFAULT_PROFILE
    """The wording of every text the model reads besides the question (a released
    checkpoint's, e.g.: ``PromptProfile.load(path)``)."""
    overview_times: bool = False
    """A timed overview: the overview goes to the model as consecutive two-frame videos (one
    temporal token group each), each after the time of its first frame in text
    (:func:`videotemp_o3.protocol.timed_overview`) — the same frames, pixels and visual tokens
    as the one overview video. For a checkpoint trained that way (``sft_data build
    --overview-times``); off, the overview is one video, as the release's."""

    def clip_tool(self) -> ClipTool:
        """The clip tool of this configuration (its budget, limits and wording)."""
        return ClipTool(self.clip_budget, max_clips=self.max_clips, max_turns=self.max_turns,
                        profile=self.prompt_profile)

    def system_text(self) -> str:
        """The system prompt; "" when there is none (the chat template's default applies)."""
        if self.system_prompt_path is not None:
            return protocol.system_prompt(self.system_prompt_path)
        return self.prompt_profile.system_text(max_clips=self.max_clips)


@dataclass
class ClipRecord:
    requested: list[float]
    segment: list[float]
    frames: int
    size: list[int]
    fps: float
    first_frame: float
    last_frame: float
    reused_frames: int
    file: Optional[str] = None
    file_span: Optional[list[float]] = None


@dataclass
class TurnRecord:
    index: int
    text: str
    action: str
    issues: list[str]
    clips: list[ClipRecord] = field(default_factory=list)
    rejected: Optional[dict] = None
    observation: Optional[str] = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    visual_tokens: int = 0
    prefill_seconds: float = math.nan
    decode_seconds: float = math.nan
    generate_seconds: float = 0.0
    video_seconds: float = 0.0


@dataclass
class Trajectory:
    """Everything that happened for one question, JSON-serialisable via :meth:`to_json`."""

    video: str
    question: dict
    messages: list[dict] = field(default_factory=list)
    turns: list[TurnRecord] = field(default_factory=list)
    segments: list[list[float]] = field(default_factory=list)
    answer: Optional[str] = None
    prediction: Any = None
    raw: str = ""
    error: Optional[str] = None
    overview: Optional[dict] = None
    seconds: float = 0.0
    video_seconds: float = 0.0
    generate_seconds: float = 0.0

    def to_json(self) -> dict:
        return _jsonable(asdict(self))

    def save(self, path: os.PathLike | str) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1, ensure_ascii=False))
        tmp.replace(path)
        return path


def _jsonable(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    return x


class FrameCache:
    """Frames of one video decoded during one question, by (frame index, height, width).

    Holds views into the decoded arrays (no copies); a clip whose frames were all decoded
    already is assembled from them, and only missing frames are decoded."""

    def __init__(self, reader: VideoReader):
        self.reader = reader
        self._frames: dict[tuple[int, int, int], tuple[np.ndarray, float]] = {}

    def add(self, frames: Frames) -> None:
        h, w = frames.frames.shape[1:3]
        for k, i in enumerate(frames.indices.tolist()):
            self._frames.setdefault((i, h, w), (frames.frames[k], float(frames.timestamps[k])))

    def sample(self, budget: FrameBudget, start: float | None = None, end: float | None = None) -> tuple[Frames, int]:
        """The frames ``budget`` picks from ``[start, end]`` (whole video for None), and how many
        of them came from the cache."""
        m = self.reader.metadata
        h0, w0 = m.display_size
        indices, h, w, fps = budget.plan(self.reader.num_frames, m.avg_fps, h0, w0, start, end)
        missing = sorted({i for i in indices if (i, h, w) not in self._frames})
        if len(missing) == len(set(indices)):
            # Nothing to reuse: the decoder's own buffer is the result (no copy).
            decoded = self.reader.frames_at_indices(indices, size=(h, w))
            frames = Frames(decoded.frames, decoded.timestamps, decoded.indices, fps)
            self.add(frames)
            return frames, 0
        if missing:
            self.add(self.reader.frames_at_indices(missing, size=(h, w)))
        rows = [self._frames[(i, h, w)] for i in indices]
        frames = Frames(np.stack([r[0] for r in rows]), np.array([r[1] for r in rows]), np.asarray(indices, dtype=np.int64), fps)
        return frames, len(set(indices)) - len(missing)


def _video_part(frames: Frames) -> dict:
    return {"type": "video", "frames": frames.frames, "fps": frames.sample_fps, "timestamps": frames.timestamps.tolist()}


def _overview_parts(overview: Frames, timed: bool) -> list[dict]:
    """The first user turn's overview: one video part, or the timed overview's labels and
    two-frame parts (:attr:`AgentConfig.overview_times`), each at the overview's rate."""
    if not timed:
        return [_video_part(overview)]
    pieces = protocol.overview_pieces(len(overview))
    parts = [_video_part(Frames(overview.frames[a:b], overview.timestamps[a:b], overview.indices[a:b],
                                overview.sample_fps)) for a, b in pieces]
    layout = protocol.timed_overview(parts, [float(overview.timestamps[a]) for a, _ in pieces])
    return [{"type": "text", "text": p} if isinstance(p, str) else p for p in layout]


def _describe(part: dict) -> dict:
    """A message part as the trajectory records it (no pixel data)."""
    if part["type"] != "video":
        return dict(part)
    t = part["timestamps"]
    return {"type": "video", "frames": int(part["frames"].shape[0]), "size": list(part["frames"].shape[1:3]),
            "fps": part["fps"], "span": [t[0], t[-1]] if t else None}


class Agent:
    """Runs the protocol for one question at a time with ``engine``."""

    def __init__(self, engine: Engine, config: Optional[AgentConfig] = None):
        self.engine = engine
        self.config = config or AgentConfig()

    def run(self, video: str | os.PathLike | VideoReader, question: Question, *,
            clip_dir: str | os.PathLike | None = None,
            on_turn: Optional[Callable[["Trajectory", Optional["TurnRecord"]], None]] = None) -> Trajectory:
        """Answers ``question`` about ``video``. Never raises for a bad video or a failing
        engine: the trajectory's ``error`` says what went wrong and keeps what was done.
        ``clip_dir``: also write each clip there as a file (remuxed, not re-encoded).
        ``on_turn(traj, turn)``: called as the conversation goes — with ``None`` once the
        overview is decoded, then with each turn once it is complete (its clips or observation
        included), for live display."""
        started = time.perf_counter()
        path = video.path if isinstance(video, VideoReader) else os.fspath(video)
        traj = Trajectory(video=path, question={"text": question.text, "task": question.task, "options": list(question.options)})
        try:
            self._run(video, question, traj, clip_dir, on_turn or (lambda _traj, _turn: None))
        except Exception as e:  # noqa: BLE001 — recorded, never raised: one bad item must not stop an evaluation
            traj.error = f"{type(e).__name__}: {e}"
        traj.seconds = time.perf_counter() - started
        traj.video_seconds = sum(t.video_seconds for t in traj.turns) + (traj.overview or {}).get("seconds", 0.0)
        traj.generate_seconds = sum(t.generate_seconds for t in traj.turns)
        return traj

    def _run(self, video, question: Question, traj: Trajectory, clip_dir, on_turn) -> None:
        cfg = self.config
        t0 = time.perf_counter()
        reader = video if isinstance(video, VideoReader) else VideoReader(video, num_threads=cfg.decode_threads)
        duration = reader.duration_seconds
        cache = FrameCache(reader)
        overview, _ = cache.sample(cfg.overview_budget)
        traj.overview = {"frames": len(overview), "size": list(overview.frames.shape[1:3]), "fps": overview.sample_fps,
                         "seconds": time.perf_counter() - t0, "duration": duration}
        if cfg.overview_times:
            traj.overview["pieces"] = len(protocol.overview_pieces(len(overview)))
        on_turn(traj, None)
        system = cfg.system_text()
        messages: list[dict] = [{"role": "system", "content": [{"type": "text", "text": system}]}] \
            if system else []
        messages.append({"role": "user", "content": [
            *_overview_parts(overview, cfg.overview_times),
            {"type": "text", "text": cfg.prompt_profile.first_turn(question.prompt(duration), max_clips=cfg.max_clips)}]})
        tool = cfg.clip_tool()
        turn_no = 0
        while True:
            turn_no += 1
            gen = self._generate(messages)
            parsed = protocol.parse_turn(gen.text)
            rec = TurnRecord(index=turn_no, text=gen.text, action=parsed.action, issues=[i.value for i in parsed.issues],
                             prompt_tokens=gen.prompt_tokens, completion_tokens=gen.completion_tokens,
                             visual_tokens=gen.visual_tokens, prefill_seconds=gen.prefill_seconds,
                             decode_seconds=gen.decode_seconds, generate_seconds=gen.seconds)
            traj.turns.append(rec)
            messages.append({"role": "assistant", "content": [{"type": "text", "text": gen.text}]})
            traj.raw = gen.text
            if parsed.answer is not None:
                traj.answer = parsed.answer
                traj.prediction = question.parse(parsed.answer)
                on_turn(traj, rec)
                break
            if turn_no >= cfg.max_turns:
                # The last turn had to answer and did not: the conversation ends without one.
                if parsed.tool_call is not None:
                    over = protocol.RejectedCall(protocol.CallProblem.TURN_LIMIT, f"turn {turn_no} of {cfg.max_turns}")
                    rec.rejected = {"problem": over.problem.value, "detail": over.detail}
                on_turn(traj, rec)
                break
            if parsed.tool_call is not None:
                outcome, clips = self._answer_call(reader, cache, tool, parsed.tool_call, turn_no, traj, rec, clip_dir)
            else:
                outcome, clips = None, []
            # From the turn before the limit on, the feedback asks for the final answer (the
            # clip tool decides, as in the RL environment, whose rollouts end at the limit).
            marker = "\x00clip\x00"
            text = tool.observation(outcome, turn_no, video_tag=marker)
            rec.observation = text.replace(marker, "")
            pieces = text.split(marker)
            content = [{"type": "text", "text": pieces[0]}] if pieces[0] else []
            for frames, piece in zip(clips, pieces[1:]):
                content.append(_video_part(frames))
                if piece:
                    content.append({"type": "text", "text": piece})
            messages.append({"role": "user", "content": content})
            on_turn(traj, rec)
        traj.messages = [{"role": m["role"], "content": [_describe(p) for p in m["content"]]} for m in messages]

    def _generate(self, messages: list[dict]) -> Generation:
        cfg = self.config
        t = time.perf_counter()
        gen = self.engine.generate(messages, max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature,
                                   stop=STOP, seed=cfg.seed)
        if not math.isfinite(gen.seconds):
            gen = Generation(**{**asdict(gen), "seconds": time.perf_counter() - t})
        return gen

    def _answer_call(self, reader, cache, tool: ClipTool, call, turn_no, traj, rec, clip_dir):
        """Answers the call with the clip tool and samples its clips: ``(outcome, frames per
        clip)`` where outcome is the clip requests or the
        :class:`~videotemp_o3.protocol.RejectedCall`."""
        checked = tool.answer(call, reader, [Segment.of(s) for s in traj.segments], turn_no)
        if isinstance(checked, protocol.RejectedCall):
            rec.rejected = {"problem": checked.problem.value, "detail": checked.detail}
            return checked, []
        t0 = time.perf_counter()
        sampled = [cache.sample(tool.budget, req.segment.start, req.segment.end) for req in checked]
        for k, ((frames, reused), req) in enumerate(zip(sampled, checked)):
            clip = ClipRecord(requested=req.requested.as_list(), segment=req.segment.as_list(), frames=len(frames),
                              size=list(frames.frames.shape[1:3]), fps=frames.sample_fps, first_frame=float(frames.timestamps[0]),
                              last_frame=float(frames.timestamps[-1]), reused_frames=reused)
            if clip_dir is not None:
                out = Path(clip_dir) / f"turn{turn_no}_clip{k + 1}_{req.segment.start:.2f}-{req.segment.end:.2f}.mp4"
                out.parent.mkdir(parents=True, exist_ok=True)
                s, e = reader.save_clip(req.segment.start, req.segment.end, out)
                clip.file, clip.file_span = str(out), [s, e]
            rec.clips.append(clip)
            traj.segments.append(req.segment.as_list())
        rec.video_seconds = time.perf_counter() - t0
        return checked, [f for f, _ in sampled]
