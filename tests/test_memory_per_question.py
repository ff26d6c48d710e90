"""Memory per question must not grow across a long run: an evaluation asks thousands of questions
in one process, through the embedded engine or against a server.

Each check runs the real loop of ``eval/run.py`` (``run_items``: the agent, the results file,
the saved trajectories) on questions about distinct video files (hard links of one generated
video: a cache keyed by the file keeps growing), two per round, and asserts that resident
memory grew by less than 32 MiB over 20 rounds, after 5 rounds of warm-up (the policy samples its
replies: the warm-up sees calls, clips and answers). A question decodes 16 overview frames of
224 x 224 (2.4 MB as bytes, four times that as the model's float input) and often a clip: keeping
what one question decoded or sent would grow the process by 100 MiB or more; without a leak the
data and file pages stay within a few MiB (allocator pages, lazily built processor state), while
shared libraries' code pages, not counted, can jump by tens of MiB when a reply of a new length
first reaches a kernel (CI saw +40 MiB of plain VmRSS once). The policy
calls the clip tool on half of its turns (videotemp_o3.testing.chain_policy), so the clip path
is exercised as well. How resident memory is measured: tests/memory_helpers.py.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys

import pytest

from local_server import LocalServer, QuietHandler
from memory_helpers import ON_LINUX, glibc, stays_flat
from videotemp_o3.agent import Agent, AgentConfig
from videotemp_o3.benchmarks import Item
from videotemp_o3.evaluate import ResultsFile, run_items
from videotemp_o3.video import FrameBudget

pytestmark = [pytest.mark.skipif(not ON_LINUX, reason="reads /proc/self/status, glibc malloc_trim"),
              pytest.mark.slow]

ROUNDS = 20
WARMUP = 5
PER_ROUND = 2
CONFIG = AgentConfig(overview_budget=FrameBudget(nframes=16, max_pixels=50176, min_pixels=50176),
                     clip_budget=FrameBudget(fps=2.0, max_frames=16, max_pixels=50176, min_pixels=3136),
                     max_new_tokens=24, max_turns=3, temperature=1.0)  # sampled: greedy always answers


@pytest.fixture(scope="module")
def libc():
    return glibc()


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """One 20 s 640x360 H.264 video under as many names as the checks ask questions."""
    root = tmp_path_factory.mktemp("questions")
    first = root / "v000.mp4"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=size=640x360:rate=10:duration=20", "-c:v", "libx264", "-preset", "ultrafast",
                    "-g", "50", "-pix_fmt", "yuv420p", str(first)], check=True)
    paths = [first]
    for k in range(1, (ROUNDS + WARMUP) * PER_ROUND):
        paths.append(root / f"v{k:03d}.mp4")
        os.link(first, paths[-1])
    return paths


@pytest.fixture(scope="module")
def policy(tiny_model_dir, tmp_path_factory):
    from videotemp_o3.testing.chain_policy import build_chain_policy

    return build_chain_policy(tiny_model_dir, tmp_path_factory.mktemp("policy"))


def ask_many(libc, what, agent, videos, out):
    """Rounds of PER_ROUND questions on fresh videos through run_items, memory checked."""
    numbers = itertools.count()

    def item():
        k = next(numbers)
        return Item(uid=f"q{k}", bench="videotemp", video=videos[k], question=f"Which block {k}?",
                    options=("A. left", "B. right"))

    with ResultsFile(out, "videotemp") as results:
        stays_flat(libc, what, lambda: run_items("videotemp", [item() for _ in range(PER_ROUND)], [agent], results),
                   rounds=ROUNDS, warmup=WARMUP, limit_mib=32.0)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == (ROUNDS + WARMUP) * PER_ROUND and all(r["error"] is None for r in rows), rows[-1]
    assert sum(sum(r["calls"]) for r in rows) >= 5  # the clip path ran, not only overviews
    return rows


IN_CHILD = "VIDEOTEMP_MEMORY_TEST_CHILD"


def measured_in_a_fresh_process(request, tmp_path) -> bool:
    """Runs this test again in a fresh interpreter and checks it passed there; True in the parent.

    Resident memory is compared within one process: after hundreds of other tests (models
    loaded and freed, threads started), the allocator's state moves the figure by tens of MiB
    either way, so the measurement runs where only this test has run."""
    if os.environ.get(IN_CHILD) == "1":
        return False
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--basetemp",
                          str(tmp_path / "child"), f"{__file__}::{request.node.name}"],
                         env=dict(os.environ, **{IN_CHILD: "1"}), capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    return True


def test_questions_through_the_local_engine_do_not_grow(request, tmp_path):
    if measured_in_a_fresh_process(request, tmp_path):
        return
    from videotemp_o3.engines.local import LocalEngine

    libc, policy, videos = (request.getfixturevalue(n) for n in ("libc", "policy", "videos"))
    with LocalEngine(policy, device="cpu") as engine:
        ask_many(libc, "questions through the local engine", Agent(engine, CONFIG), videos, tmp_path / "r.jsonl")


class ScriptedServer(LocalServer):
    """An OpenAI-compatible server that alternates a tool call and an answer, keeping nothing
    of the requests (so the process's memory is the client's)."""

    REPLIES = ("<think>look</think><tool_call>[1, 6]</tool_call>", "<think>seen</think><answer>A</answer>")

    def __init__(self):
        self.count = 0
        outer = self

        class Handler(QuietHandler):
            def do_POST(self):
                length = int(self.headers["Content-Length"])
                while length:  # read and drop: the body holds every frame as JPEG
                    length -= len(self.rfile.read(min(length, 1 << 20)))
                text = outer.REPLIES[outer.count % 2]
                outer.count += 1
                self.send_json(200, {"choices": [{"message": {"role": "assistant", "content": text},
                                                  "finish_reason": "stop"}],
                                     "usage": {"prompt_tokens": 100, "completion_tokens": 10}})

        super().__init__(Handler)


def test_questions_through_the_openai_engine_do_not_grow(request, tmp_path):
    if measured_in_a_fresh_process(request, tmp_path):
        return
    from videotemp_o3.engines.openai import OpenAIEngine

    libc, videos = (request.getfixturevalue(n) for n in ("libc", "videos"))

    server = ScriptedServer()
    try:
        with OpenAIEngine(server.url, model="m") as engine:
            rows = ask_many(libc, "questions through the openai engine", Agent(engine, CONFIG), videos,
                            tmp_path / "r.jsonl")
    finally:
        server.close()
    assert server.count == 2 * len(rows)  # each question: a call, its clip, then the answer
