"""Training under ms-swift 4 as well as 3.10: the CPU SFT and GRPO runs, the adapter's tests and
the per-message masking checked token by token (recovery trajectories included),
rerun in a subprocess with the ``.swift4`` overlay (ms-swift 4.6, transformers 5.17, trl 0.29,
datasets 4: requirements/swift4-overlay.txt) first on PYTHONPATH, on the main environment's torch.
scripts/setup.sh installs the overlay; the main environment keeps the release's ms-swift 3.10."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
OVERLAY = REPO / ".swift4"
RERUN = ["tests/test_swift4_adapter.py", "tests/test_rl_rollout_videos.py", "tests/test_qwen_positions.py",
         "tests/test_sft_masking.py",
         "tests/test_sft_train.py::test_cpu_training_run",
         "tests/test_mini.py::test_ms_swift_expands_the_compact_video_pad",
         "tests/test_rl_grpo.py::test_cpu_grpo_with_a_tool_calling_policy_gets_a_learning_signal"]


@pytest.mark.skipif(not (OVERLAY / ".complete").exists(),
                    reason="run scripts/setup.sh to install the ms-swift 4 overlay (.swift4)")
def test_training_under_ms_swift_4(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(OVERLAY))
    version = subprocess.run([sys.executable, "-m", "videotemp_o3.training.swift_cli", "version"],
                             env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert version.startswith("4."), version
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                        "--basetemp", str(tmp_path / "t"), *RERUN],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=3000)
    tail = r.stdout[-6000:] + r.stderr[-2000:]
    assert r.returncode == 0, tail
    summary = r.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "skipped" not in summary, tail  # nothing skipped under ms-swift 4
