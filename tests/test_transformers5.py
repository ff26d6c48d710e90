"""The embedded engine and the agent loop under transformers 5.x as well as 4.x.

transformers 5 takes a video's rate from ``video_metadata`` (not ``fps``) and changed
``get_rope_index``; ms-swift 3.10 pins 4.x in the main environment, so the 5.x run uses the
``.tf5`` overlay that scripts/setup.sh installs, in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
OVERLAY = REPO / ".tf5"


@pytest.mark.slow
@pytest.mark.skipif(not (OVERLAY / ".complete").exists(), reason="run scripts/setup.sh to install the transformers 5 overlay")
def test_engine_and_agent_under_transformers_5(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(OVERLAY))
    version = subprocess.run([sys.executable, "-c", "import transformers; print(transformers.__version__)"],
                             env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert version.startswith("5."), version
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--basetemp", str(tmp_path / "t"),
                        "tests/test_engine_local.py", "tests/test_agent.py", "tests/test_tiny_model.py",
                        # what the OpenAI engine sends gives each video its rate under 5.x too
                        "tests/test_engine_openai.py::test_processor_gets_each_videos_rate_from_the_request",
                        # a timed overview: several two-frame videos, each with its rate
                        "tests/test_timed_overview.py::test_local_engine_runs_a_greedy_trajectory_with_it"],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert " passed" in r.stdout.splitlines()[-1]
