"""The `videotemp` command: ask (tiny model, real engine) and contact-sheet."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from videotemp_o3.cli import main
from videotemp_o3.testing.videos import make_indexed_video, read_index

SMALL = ["--overview-frames", "8", "--overview-pixels", "12544", "--clip-pixels", "12544", "--max-new-tokens", "12"]


@pytest.mark.slow
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
    # 6 frames -> 4 columns x 2 rows of 240-px tiles (frames of 420x252 -> 144 px high), a
    # 24-px title and a 16-px label under each row; the tiles hold frames 30, 42, ..., 90:
    # [1 s, 3 s] at 30 fps is frames 30-90, six of them evenly spaced.
    sheet = np.asarray(Image.open(out).convert("RGB"))
    assert sheet.shape == (24 + 2 * (144 + 16), 4 * 240, 3)
    tiles = [sheet[24 + r * 160:24 + r * 160 + 144, c * 240:(c + 1) * 240]
             for r, c in (divmod(k, 4) for k in range(6))]
    assert [read_index(t) for t in tiles] == [30, 42, 54, 66, 78, 90]
    assert main(["contact-sheet", str(tmp_path / "missing.mp4")]) == 2


def test_agent_flags_are_defined_once_with_the_release_defaults():
    from videotemp_o3.budgets import release_clip_budget, release_overview_budget
    from videotemp_o3.cli import build_parser
    from videotemp_o3.evaluate import build_parser as run_parser
    from videotemp_o3.flags import agent_config
    from videotemp_o3.protocol import DEFAULT_PROFILE

    def options(parser):
        return {a.dest: (tuple(a.option_strings), a.default, a.type) for a in parser._actions if a.option_strings}

    ask = build_parser().parse_args(["ask", "v.mp4", "q"])
    run = run_parser().parse_args(["--bench", "videotemp"])
    subparsers = next(a for a in build_parser()._actions if a.dest == "command")
    shared = options(subparsers.choices["ask"]).keys() & options(run_parser()).keys()
    agent = {"overview_frames", "overview_pixels", "clip_fps", "clip_max_frames", "clip_pixels", "max_turns",
             "max_new_tokens", "temperature", "system_prompt", "prompt_profile", "engine", "model", "device", "video_format",
             "request_timeout"}
    assert agent <= shared
    assert all(getattr(ask, d) == getattr(run, d) for d in agent)
    ov, cl = release_overview_budget(), release_clip_budget()
    config = agent_config(run)
    assert (config.overview_budget.max_frames, config.overview_budget.max_pixels) == (ov.max_frames, ov.max_pixels)
    assert (config.clip_budget.fps, config.clip_budget.max_frames, config.clip_budget.min_frames) \
        == (cl.fps, cl.max_frames, cl.min_frames)
    assert config.prompt_profile == DEFAULT_PROFILE  # our wording unless --prompt-profile names another
    assert run.model is None  # local: the default checkpoint; openai: what the server serves


def test_contact_sheet_bounds_and_bad_input_are_one_line(tmp_path, capsys):
    video = make_indexed_video(tmp_path / "v.mp4", frames=120, fps=30)
    out = tmp_path / "sheet.png"
    # One bound alone: from the start / to the end of the 4 s video (was ignored / a TypeError).
    def tile_indices() -> list[int]:  # 4 tiles of 240 x 144 px in 3 columns, under a 24-px title
        sheet = np.asarray(Image.open(out).convert("RGB"))
        return [read_index(sheet[24 + r * 160:24 + r * 160 + 144, c * 240:(c + 1) * 240])
                for r, c in (divmod(k, 3) for k in range(4))]

    assert main(["contact-sheet", str(video), "--out", str(out), "--nframes", "4", "--end", "2"]) == 0
    assert "4 frames" in capsys.readouterr().out
    assert tile_indices() == [0, 20, 40, 60]  # [0, 2] s at 30 fps
    assert main(["contact-sheet", str(video), "--out", str(out), "--nframes", "4", "--start", "3"]) == 0
    capsys.readouterr()
    assert min(tile_indices()) >= 90 and max(tile_indices()) == 119  # [3 s, the end]
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 50)
    for argv, status, says in (
        (["contact-sheet", str(bad)], 1, "bad.mp4: cannot open as a video"),
        (["contact-sheet", str(video), "--start", "9", "--end", "10"], 2, "after the end"),
        (["contact-sheet", str(video), "--max-frames", "-2"], 2, "max_frames"),
    ):
        assert main(argv + ["--out", str(out)]) == status
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and says in err and "Traceback" not in err, err
