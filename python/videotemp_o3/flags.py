"""Command-line flags defined once: the agent and engine flags of ``videotemp ask`` and
``eval/run.py``, the value checks every command uses, and a parser whose errors are one line.

Every flag value is checked when the command line is read, before anything is loaded or run:
a bad value is one line naming the flag, what it got and what it takes, and exit status 2.
Defaults are the release's inference setting, taken from :func:`videotemp_o3.budgets.
release_overview_budget` and :func:`~videotemp_o3.budgets.release_clip_budget` (defined there
only); the wording is :data:`videotemp_o3.protocol.DEFAULT_PROFILE` unless ``--prompt-profile``
names another.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Callable, NoReturn, Optional

from . import protocol


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line on stderr (exit status 2): the
    flag, the problem, and where to read more — not the whole usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def integer(minimum: int, what: str = "") -> Callable[[str], int]:
    """An ``argparse`` type: an integer ≥ ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}{what}, got {value}")
        return value

    return parse


def number(minimum: float, *, exclusive: bool = False, what: str = "") -> Callable[[str], float]:
    """An ``argparse`` type: a finite number ≥ ``minimum`` (> with ``exclusive``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        if value < minimum or (exclusive and value == minimum):
            raise argparse.ArgumentTypeError(
                f"must be {'greater than' if exclusive else 'at least'} {minimum:g}{what}, got {text}")
        return value

    return parse


def prompt_profile_file(path: str) -> protocol.PromptProfile:
    """An ``argparse`` type: the :class:`~videotemp_o3.protocol.PromptProfile` in the JSON file
    ``path``; a file that cannot be used is refused naming it and the key."""
    try:
        return protocol.PromptProfile.load(path)
    except protocol.PromptProfileError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_engine_args(p: argparse.ArgumentParser, *, several_servers: bool) -> None:
    """``--model --engine --base-url --device --video-format --request-timeout``.

    ``--model`` has no default here: the local engine then loads
    :data:`~videotemp_o3.engines.factory.DEFAULT_MODEL`, the openai engine asks the server
    which model it serves (``/v1/models``)."""
    g = p.add_argument_group("engine")
    g.add_argument("--engine", choices=["local", "openai"], default="local",
                   help="local: transformers in this process; openai: an OpenAI-compatible server (vLLM, swift deploy)")
    g.add_argument("--model", help="local: checkpoint directory or hub id (default $VIDEOTEMP_MODEL or "
                                   "Qwen/Qwen2.5-VL-7B-Instruct); openai: served model name (default: what the "
                                   "server lists at /v1/models)")
    if several_servers:
        g.add_argument("--base-url", action="append", default=[],
                       help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1; repeat to spread over servers")
    else:
        g.add_argument("--base-url", help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
    g.add_argument("--device", help="local engine device (default cuda if available)")
    g.add_argument("--video-format", choices=["jpeg", "mkv"], default="jpeg",
                   help="how the openai engine sends frames: jpeg for vLLM, mkv for swift deploy")
    g.add_argument("--request-timeout", type=number(0, exclusive=True), default=600.0, metavar="SECONDS",
                   help="openai engine: seconds to wait for one reply before it counts as failed (default 600)")


def add_agent_args(p: argparse.ArgumentParser) -> None:
    """The agent's budgets, generation settings and wording (defaults: the release's inference
    setting, our wording)."""
    from .budgets import release_clip_budget, release_overview_budget

    ov, cl = release_overview_budget(), release_clip_budget()
    g = p.add_argument_group("agent (defaults: the release's inference setting)")
    g.add_argument("--overview-frames", type=integer(2, " (frames come in pairs)"), default=ov.max_frames,
                   help=f"most frames of the whole-video overview (default {ov.max_frames})")
    g.add_argument("--overview-pixels", type=integer(28 * 28), default=ov.max_pixels,
                   help=f"pixels per overview frame (default {ov.max_pixels})")
    g.add_argument("--overview-times", action="store_true",
                   help="timed overview: the overview as two-frame videos, each after the time of its "
                        "first frame in text — for a checkpoint trained so (sft_data build "
                        "--overview-times); default: one overview video, as the release")
    g.add_argument("--clip-fps", type=number(0, exclusive=True), default=cl.fps,
                   help=f"sampling rate of a requested clip (default {cl.fps:g})")
    g.add_argument("--clip-max-frames", type=integer(2, " (frames come in pairs)"), default=cl.max_frames,
                   help=f"most frames of one clip (default {cl.max_frames})")
    g.add_argument("--clip-pixels", type=integer(28 * 28), default=cl.max_pixels,
                   help=f"pixels per clip frame (default {cl.max_pixels})")
    g.add_argument("--max-turns", type=integer(1), default=protocol.DEFAULT_MAX_TURNS,
                   help=f"assistant turns per question; the last must answer (default {protocol.DEFAULT_MAX_TURNS})")
    g.add_argument("--max-new-tokens", type=integer(1), default=1024, help="tokens per assistant turn (default 1024)")
    g.add_argument("--temperature", type=number(0), default=0.0, help="0 = greedy (default)")
    g.add_argument("--system-prompt", metavar="FILE",
                   help="file whose text replaces the system prompt (the prompt profile's included)")
    g.add_argument("--prompt-profile", metavar="FILE", type=prompt_profile_file,
                   help="JSON prompt profile: the wording of the system prompt, the first turn's prefix "
                        "and the tool feedback — use the one the checkpoint was trained with (default: "
                        "ours; README: prompt profiles)")


def check_agent_args(a: argparse.Namespace) -> Optional[str]:
    """A problem with the agent/engine flags that no single flag shows (``None``: fine)."""
    if a.system_prompt is not None:
        import os

        if not os.path.isfile(a.system_prompt):
            return f"--system-prompt: {a.system_prompt} is not a file"
    urls = a.base_url if isinstance(a.base_url, list) else ([a.base_url] if a.base_url else [])
    if a.engine == "openai" and not urls:
        return "--engine openai needs --base-url (e.g. http://127.0.0.1:8000/v1)"
    if a.engine == "local" and urls:
        return "--base-url is for --engine openai; add --engine openai or drop --base-url"
    return None


def agent_config(a: argparse.Namespace):
    """The :class:`~videotemp_o3.agent.AgentConfig` the flags of :func:`add_agent_args` ask for.
    Minimum pixels and frames follow the release's budgets, lowered to the maximum when that is
    smaller. A combination the video layer refuses raises ``ValueError`` naming it."""
    from .agent import AgentConfig
    from .budgets import release_clip_budget, release_overview_budget
    from .video import FrameBudget

    ov, cl = release_overview_budget(), release_clip_budget()
    overview = FrameBudget(min_pixels=min(a.overview_pixels, ov.min_pixels), max_pixels=a.overview_pixels,
                           min_frames=min(ov.min_frames, a.overview_frames), max_frames=a.overview_frames)
    clip = FrameBudget(fps=a.clip_fps, min_frames=min(cl.min_frames, a.clip_max_frames), max_frames=a.clip_max_frames,
                       min_pixels=min(a.clip_pixels, cl.min_pixels), max_pixels=a.clip_pixels)
    return AgentConfig(overview_budget=overview, clip_budget=clip, max_turns=a.max_turns,
                       max_new_tokens=a.max_new_tokens, temperature=a.temperature, system_prompt_path=a.system_prompt,
                       prompt_profile=a.prompt_profile or protocol.DEFAULT_PROFILE,
                       overview_times=a.overview_times)


def make_engines_from_args(a: argparse.Namespace):
    """The engines the engine flags ask for (one per ``--base-url``; one local engine)."""
    from .engines.factory import make_engines

    urls = a.base_url if isinstance(a.base_url, list) else ([a.base_url] if a.base_url else [])
    return make_engines(a.engine, a.model, base_urls=urls, device=a.device, video_format=a.video_format,
                        timeout=a.request_timeout)


def fail(prog: str, message: str, status: int = 2) -> int:
    """Print ``prog: message`` on stderr as one line; return ``status`` for ``main`` to return."""
    print(f"{prog}: {message}", file=sys.stderr)
    return status
