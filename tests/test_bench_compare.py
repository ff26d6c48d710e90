"""Smoke test of the side-by-side decoding comparison (benches/compare/run.py): one repetition on
a tiny generated video, our rows only (every peer is optional), checking that the table and chart
are written, our rows are in them, and our frames passed the identity check."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RUN = REPO / "benches" / "compare" / "run.py"

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the FFmpeg CLI")


@pytest.mark.slow
def test_compare_harness_smoke(tmp_path):
    out = tmp_path / "out"
    # 36 s so that the 30 s clips fit; 320x180 keeps decoding trivial (the budget upsizes it).
    cmd = [sys.executable, str(RUN), "--seconds", "36", "--size", "320x180", "--reps", "1", "--codecs", "h264",
           "--rows", "ours-1t,ours,ours-decode-only", "--out", str(out), "--videos", str(tmp_path / "videos")]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]

    md = (out / "results.md").read_text()
    assert (out / "chart.png").stat().st_size > 1000
    assert "| **ours** |" in md and "| **ours-1t** |" in md
    assert "DIFFERENT FRAMES" not in md
    assert "| row | W1 f/s" in p.stdout  # the table is printed too

    summary = json.loads((out / "results.json").read_text())["summary"]["h264"]
    for row in ("ours", "ours-1t"):
        s = summary[row]
        assert s["identity_checked"] and s["frames_wrong"] == 0
        assert s["frames_total"] == 256 + 3 * 60
        assert s["fps"]["W1"]["median"] > 0
        assert s["pixel_mae"] == 0.0 or row == "ours"  # 1 thread and all cores give the same pixels
    # The lower bound returns no frames but is timed (when this build has it).
    if "ours-decode-only" in summary:
        assert summary["ours-decode-only"]["packets_w1"] > 0
