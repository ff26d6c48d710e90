"""The `videotemp` command: ask (tiny model, real engine) and contact-sheet."""

from __future__ import annotations

import json

from PIL import Image

from videotemp_o3.cli import main
from videotemp_o3.testing.videos import make_indexed_video

SMALL = ["--overview-frames", "8", "--overview-pixels", "12544", "--clip-pixels", "12544", "--max-new-tokens", "12"]


def test_ask_prints_turns_and_saves_the_trajectory(tiny_model_dir, tmp_path, capsys):
    video = make_indexed_video(tmp_path / "v.mp4", frames=90, fps=10)
    out = tmp_path / "t.json"
    rc = main(["ask", str(video), "Which block is bright?", "--option", "A=left", "--option", "B=right",
               "--model", str(tiny_model_dir), "--device", "cpu", "--out", str(out), "--max-turns", "2", *SMALL])
    text = capsys.readouterr().out
    assert rc == 0
    assert "[overview] 8 frames" in text and "--- turn 1" in text and "prediction:" in text
    traj = json.loads(out.read_text())
    assert traj["question"] == {"text": "Which block is bright?", "task": "mcq", "options": ["left", "right"]}
    assert traj["overview"]["frames"] == 8 and traj["turns"][0]["visual_tokens"] > 0


def test_ask_rejects_options_out_of_order(tmp_path, capsys):
    video = make_indexed_video(tmp_path / "v.mp4", frames=10)
    assert main(["ask", str(video), "q", "--option", "B=x", "--option", "A=y"]) == 2
    assert "in order" in capsys.readouterr().err


def test_contact_sheet(tmp_path, capsys):
    video = make_indexed_video(tmp_path / "v.mp4", frames=120, fps=30)
    out = tmp_path / "sheet.png"
    assert main(["contact-sheet", str(video), "--out", str(out), "--nframes", "6", "--start", "1", "--end", "3"]) == 0
    assert "6 frames" in capsys.readouterr().out
    assert Image.open(out).size[0] > 0
    assert main(["contact-sheet", str(tmp_path / "missing.mp4")]) == 2
