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
           "--rows", "ours,ours-decode-only", "--threads", "1,2", "--out", str(out), "--videos", str(tmp_path / "videos")]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]

    md = (out / "results.md").read_text()
    assert (out / "chart.png").stat().st_size > 1000
    assert "| **ours@1** |" in md and "| **ours@2** |" in md
    assert "DIFFERENT FRAMES" not in md
    assert "| row | W1 f/s" in p.stdout  # the table is printed too

    summary = json.loads((out / "results.json").read_text())["summary"]["h264"]
    for row in ("ours@1", "ours@2"):
        s = summary[row]
        assert s["identity_checked"] and s["frames_wrong"] == 0
        assert s["frames_total"] == 256 + 3 * 60
        assert s["fps"]["W1"]["median"] > 0
        assert s["rss_peak_mib"] > 0 and s["peak_threads"] >= 1
    # The lower bound returns no frames but is timed (when this build has it).
    if "ours-decode-only@1" in summary:
        assert summary["ours-decode-only@1"]["packets_w1"] > 0


def test_inputs_without_the_ffmpeg_cli_are_made_by_pyav(tmp_path, monkeypatch):
    """The GPU machine has no FFmpeg CLI: H.264 inputs come from PyAV's libx264, same GOP and
    B-frames, frames spelling their index."""
    pytest.importorskip("av")
    sys.path.insert(0, str(REPO / "benches" / "compare"))
    try:
        import inputs
    finally:
        sys.path.pop(0)
    from videotemp_o3.video import VideoReader

    monkeypatch.setattr(inputs.shutil, "which", lambda name: None)
    p = inputs.make_input(tmp_path / "in.mp4", codec="h264", seconds=10, size=(320, 180))
    assert p.name == "in-pyav.mp4"
    r = VideoReader(p)
    assert r.num_frames == 300 and r.metadata.codec == "h264"
    assert r.keyframes.tolist() == [0, 250]
    picks = [0, 1, 2, 149, 250, 299]
    assert [inputs.read_frame_index(f) for f in r.frames_at_indices(picks).frames] == picks
    with pytest.raises(SystemExit, match="hevc input needs the FFmpeg CLI"):
        inputs.make_input(tmp_path / "h.mp4", codec="hevc", seconds=1)
