"""The timed overview (opt-in): the overview as two-frame videos, each after the time of its first
frame in text — in the protocol, the agent, the engines, the SFT builder and ms-swift's template,
and the RL rows. Off, nothing changes (the other test files pin that down byte for byte)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from sft_helpers import SMALL_VIDEO_ENV, swift_template
from videotemp_o3 import mini, protocol
from videotemp_o3.agent import Agent, AgentConfig, Question
from videotemp_o3.engines.base import Engine, Generation
from videotemp_o3.testing.videos import make_indexed_video, read_index
from videotemp_o3.training.annotations import read_annotations
from videotemp_o3.training.sft_check import validate_file
from videotemp_o3.training.sft_data import BuildConfig, build_file, build_record, main
from videotemp_o3.training.swift_media import (clip_budget, overview_for_swift, overview_source,
                                               video_for_swift)
from videotemp_o3.video import FrameBudget, VideoReader

decord = pytest.importorskip("decord")

EVIDENCE = [14.0, 17.5]


@pytest.fixture(autouse=True)
def small_env(monkeypatch):
    for k, v in SMALL_VIDEO_ENV.items():
        monkeypatch.setenv(k, v)
    # ms-swift's own overview of these videos: 12 frames (FPS_MAX_FRAMES), 6 pieces.
    monkeypatch.setenv("FPS_MAX_FRAMES", "12")


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    # 40 s at 10 fps; frame i spells i, so a decoded frame says which one it is.
    return make_indexed_video(tmp_path_factory.mktemp("timed") / "v.mp4", frames=400, fps=10.0,
                              size=(96, 160), gop=50)


@pytest.fixture
def annotations(video, tmp_path):
    rows = [
        {"video": video.name, "query": "the door opens", "span": EVIDENCE, "id": "g1"},
        {"video": video.name, "question": "What colour is the door?",
         "options": ["red", "green", "blue"], "answer": "(C)", "span": EVIDENCE, "id": "m1"},
    ]
    path = video.parent / f"ann_{tmp_path.name}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def swift_overview_budget() -> FrameBudget:
    """The agent's overview budget equal to ms-swift's environment (what the SFT data shows)."""
    return FrameBudget.from_env()


class Replay(Engine):
    def __init__(self, replies):
        self.replies, self.seen = list(replies), []

    def generate(self, messages, **kw):
        self.seen.append(list(messages))
        return Generation(self.replies.pop(0), 0, 0, 0, 0.0, 0.0)


# -- protocol --------------------------------------------------------------------------------


def test_pieces_and_labels():
    assert protocol.overview_pieces(4) == [(0, 2), (2, 4)]
    assert protocol.overview_pieces(3) == [(0, 2), (2, 3)]
    assert protocol.overview_pieces(0) == []
    assert protocol.overview_time_label(0) == "0.0 s"
    assert protocol.overview_time_label(12.25) == "12.25 s"
    assert protocol.timed_overview(["A", "B"], [0.0, 7.5]) == ["0.0 s", "A", "7.5 s", "B"]
    assert protocol.timed_overview_text([0.0, 7.5], "<video>") == "0.0 s<video>7.5 s<video>"
    with pytest.raises(ValueError, match="2 overview pieces but 1 times"):
        protocol.timed_overview(["A", "B"], [0.0])


# -- the agent -------------------------------------------------------------------------------


@pytest.mark.parametrize("nframes", [8, 6])
def test_first_turn_holds_labelled_two_frame_pieces(video, nframes):
    budget = FrameBudget(nframes=nframes, max_pixels=6272, min_pixels=3136)
    answer = [protocol.render_turn("B.", answer="B")]
    plain, timed = Replay(answer), Replay(answer)
    off = Agent(plain, AgentConfig(overview_budget=budget)).run(video, Question("q?", "mcq", ["a", "b"]))
    on = Agent(timed, AgentConfig(overview_budget=budget, overview_times=True)).run(
        video, Question("q?", "mcq", ["a", "b"]))
    assert off.error is None and on.error is None
    (one,) = [p for p in plain.seen[0][1]["content"] if p["type"] == "video"]
    first = timed.seen[0][1]["content"]
    pieces = [p for p in first if p["type"] == "video"]
    assert len(pieces) == (nframes + 1) // 2
    # Label, piece, label, piece, …, then the same question text as without.
    assert [p["type"] for p in first] == ["text", "video"] * len(pieces) + ["text"]
    assert first[-1] == plain.seen[0][1]["content"][-1]
    for k, piece in enumerate(pieces):
        assert first[2 * k]["text"] == protocol.overview_time_label(piece["timestamps"][0])
        assert piece["timestamps"] == one["timestamps"][2 * k:2 * k + 2]
        assert np.array_equal(piece["frames"], one["frames"][2 * k:2 * k + 2])
        assert piece["fps"] == one["fps"]
    # The labels are the overview's frame times: frame i of this video is shown at i / 10 s.
    shown = [read_index(f) for f in one["frames"][::2]]
    assert [float(p["text"].removesuffix(" s")) for p in first[:-1:2]] == pytest.approx(
        [i / 10 for i in shown], abs=0.01)
    assert on.overview["pieces"] == len(pieces) and "pieces" not in off.overview
    assert sum(m["frames"] for m in on.messages[1]["content"] if m["type"] == "video") == nframes


@pytest.mark.slow
def test_local_engine_runs_a_greedy_trajectory_with_it(local_engine, video):
    budget = FrameBudget(nframes=8, max_pixels=6272, min_pixels=3136)
    question = Question("q", "mcq", ["a", "b", "c"])
    off = Agent(local_engine, AgentConfig(overview_budget=budget, max_new_tokens=12,
                                          max_turns=2)).run(video, question)
    on = Agent(local_engine, AgentConfig(overview_budget=budget, max_new_tokens=12, max_turns=2,
                                         overview_times=True)).run(video, question)
    assert off.error is None and on.error is None, (off.error, on.error)
    assert 1 <= len(on.turns) <= 2 and all(t.completion_tokens > 0 for t in on.turns)
    # Same frames, same visual tokens; more prompt tokens only by the labels' text.
    assert on.turns[0].visual_tokens == off.turns[0].visual_tokens > 0
    assert on.turns[0].prompt_tokens > off.turns[0].prompt_tokens
    # What the model is given: four videos of one temporal group each, at the overview's rate.
    enc = local_engine.encode(_first_turn(video, budget))
    grid = enc["video_grid_thw"].tolist()
    assert len(grid) == 4 and all(t == 1 for t, _, _ in grid)
    assert enc["second_per_grid_ts"].tolist() == pytest.approx([2 / _overview_fps(video, budget)] * 4)


def _first_turn(video, budget) -> list[dict]:
    replay = Replay([protocol.render_turn("B.", answer="B")])
    Agent(replay, AgentConfig(overview_budget=budget, overview_times=True)).run(
        video, Question("q?", "mcq", ["a", "b"]))
    return replay.seen[0]


def _overview_fps(video, budget) -> float:
    return VideoReader(video).overview(budget).sample_fps


@pytest.mark.parametrize("video_format", ["jpeg", "mkv"])
def test_openai_engine_sends_one_video_per_piece(video, video_format):
    from videotemp_o3.engines.openai import OpenAIEngine, encode_video_url, expected_visual_tokens
    from videotemp_o3.engines.base import video_parts

    budget = FrameBudget(nframes=8, max_pixels=6272, min_pixels=3136)
    messages = _first_turn(video, budget)
    engine = OpenAIEngine("http://127.0.0.1:9", model="m", video_format=video_format)
    try:
        body = engine.build_request(messages, max_new_tokens=4)
    finally:
        engine.close()
    content = body["messages"][-1]["content"]
    kinds = [p["type"] for p in content]
    assert kinds == ["text", "video_url"] * 4 + ["text"]
    parts = video_parts(messages)
    for part, sent in zip(parts, [p for p in content if p["type"] == "video_url"], strict=True):
        url = sent["video_url"]["url"]
        if video_format == "jpeg":
            assert url == encode_video_url(part, video_format)
        else:  # Matroska writes a random segment id: compare what the server decodes
            frames, rate = _decode_mkv_url(url)
            assert np.array_equal(frames, part["frames"]) and rate == pytest.approx(part["fps"])
    assert sum(expected_visual_tokens(p["frames"]) for p in parts) == expected_visual_tokens(
        VideoReader(video).overview(budget).frames)
    if video_format == "jpeg":
        # Each piece's rate and frame count reach the server's processor.
        meta = body["mm_processor_kwargs"]["video_metadata"]
        assert [(m["total_num_frames"], m["fps"]) for m in meta] == [(2, parts[0]["fps"])] * 4


def _decode_mkv_url(url: str) -> tuple[np.ndarray, float]:
    import base64
    import io

    import av

    data = base64.b64decode(url.split(",", 1)[1])
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(stream)])
        return frames, float(stream.average_rate)


# -- SFT data --------------------------------------------------------------------------------


def _build(video, annotations, clips, seeds, **config):
    reader = VideoReader(video)
    anns, _ = read_annotations(annotations)
    return [(ann, build_record(ann, reader, random.Random(f"{seed}:{ann.uid}"), clips,
                               BuildConfig(overview_times=True, clip_max_frames=12, **config)))
            for ann in anns for seed in seeds]


def test_pieces_hold_the_overview_frames_ms_swift_samples(video, tmp_path):
    reader = VideoReader(video)
    pieces = overview_for_swift(reader, tmp_path)
    overview = reader.overview(swift_overview_budget())
    assert len(pieces) == 6 and all(len(p) == 2 for p in pieces)
    for k, piece in enumerate(pieces):
        stored = decord.VideoReader(piece.path)
        frames = stored.get_batch(list(range(len(stored)))).asnumpy()
        assert np.array_equal(frames, overview.frames[2 * k:2 * k + 2])  # lossless
        assert stored.get_avg_fps() == pytest.approx(overview.sample_fps, rel=1e-4)
        assert piece.timestamps.tolist() == overview.timestamps[2 * k:2 * k + 2].tolist()
        assert overview_source(piece.path) == str(video.resolve())
    # Written once: a second call finds the files (same paths, nothing rewritten).
    stamps = [tmp_path.joinpath(p.path).stat().st_mtime_ns for p in pieces]
    again = overview_for_swift(reader, tmp_path)
    assert [p.path for p in again] == [p.path for p in pieces]
    assert [tmp_path.joinpath(p.path).stat().st_mtime_ns for p in again] == stamps
    # Anything else stands for itself.
    assert overview_source(str(video)) == str(video)


def test_built_records_lay_out_the_timed_overview_and_pass_the_validator(video, annotations,
                                                                        tmp_path):
    built = _build(video, annotations, tmp_path / "clips", range(3), recovery=0.5)
    pieces = overview_for_swift(VideoReader(video), tmp_path / "clips")
    for ann, record in built:
        first = record["messages"][1]["content"]
        question = BuildConfig().prompt_profile.first_turn(ann.prompt(record["duration"]))
        assert first == protocol.timed_overview_text([p.start for p in pieces], "<video>") + question
        assert record["videos"][:6] == [p.path for p in pieces]
        assert all(v.endswith(".mkv") for v in record["videos"])
    data = tmp_path / "timed.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for _, r in built))
    assert validate_file(data) == (len(built), [])


def test_build_file_with_it_counts_clips_not_pieces(video, annotations, tmp_path):
    plain = build_file(annotations, tmp_path / "a.jsonl", tmp_path / "clips",
                       BuildConfig(seed=3, clip_max_frames=12), progress=False)
    timed = build_file(annotations, tmp_path / "b.jsonl", tmp_path / "clips",
                       BuildConfig(seed=3, overview_times=True, clip_max_frames=12),
                       progress=False)
    assert timed.clips == plain.clips and timed.records == plain.records == 2
    a = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    b = [json.loads(line) for line in (tmp_path / "b.jsonl").read_text().splitlines()]
    # Only the first user turn and the overview entries differ.
    for x, y in zip(a, b, strict=True):
        assert x["messages"][2:] == y["messages"][2:] and x["videos"][1:] == y["videos"][6:]
        assert x["videos"][0] == video_for_swift(video)


def test_cli_flag(annotations, tmp_path, capsys):
    out = tmp_path / "cli.jsonl"
    assert main(["build", str(annotations), "-o", str(out), "--overview-times",
                 "--clip-max-frames", "12"]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(r["messages"][1]["content"].startswith("0.0 s<video>") for r in records)
    assert "2 records" in capsys.readouterr().out


def test_agent_replayed_on_built_records_sends_the_builder_user_turns(video, annotations,
                                                                      tmp_path):
    """Each record replayed through the real agent loop with ``overview_times`` (its own clip
    tool, video layer and protocol; the engine only says the record's assistant turns): every
    user turn the builder wrote — the timed first turn included — is the one the agent sends."""
    config = BuildConfig(clip_max_frames=12)
    agent_config = AgentConfig(overview_budget=swift_overview_budget(),
                               clip_budget=clip_budget(max_frames=config.clip_max_frames),
                               overview_times=True)
    for ann, record in _build(video, annotations, tmp_path / "clips", range(4), recovery=0.5):
        msgs = record["messages"]
        replies = [m["content"] for m in msgs if m["role"] == "assistant"]
        replay = Replay(replies)
        traj = Agent(replay, agent_config).run(video, Question(ann.text, ann.task, ann.options))
        assert traj.error is None, traj.error
        assert [t.text for t in traj.turns] == replies
        sent = [m for m in traj.messages if m["role"] == "user"]
        built = [m["content"] for m in msgs if m["role"] == "user"]
        assert len(sent) == len(built)
        for agent_turn, built_turn in zip(sent, built, strict=True):
            texts = "".join(p["text"] for p in agent_turn["content"] if p["type"] == "text")
            assert texts == built_turn.replace("<video>", "")
            # The tags stand where the agent's videos are (label, video, label, …).
            layout = "".join(p["text"] if p["type"] == "text" else "<video>"
                             for p in agent_turn["content"])
            assert layout == built_turn
        # The pieces' pixels are the agent's overview frames.
        agent_pieces = [p for p in replay.seen[0][1]["content"] if p["type"] == "video"]
        for part, path in zip(agent_pieces, record["videos"], strict=False):
            stored = decord.VideoReader(path)
            assert np.array_equal(stored.get_batch(list(range(len(stored)))).asnumpy(),
                                  np.asarray(part["frames"]))


@pytest.mark.slow
def test_ms_swift_encodes_each_piece_as_one_temporal_group(tiny_model_dir, video, annotations,
                                                           tmp_path):
    env = dict(SMALL_VIDEO_ENV, FPS_MAX_FRAMES="12")
    plain_clips, timed_clips = tmp_path / "plain", tmp_path / "timed"
    anns, _ = read_annotations(annotations)
    reader = VideoReader(video)
    plain = build_record(anns[0], reader, random.Random("0:g1"), plain_clips,
                         BuildConfig(clip_max_frames=12))
    timed = build_record(anns[0], reader, random.Random("0:g1"), timed_clips,
                         BuildConfig(overview_times=True, clip_max_frames=12))
    # The miniature's plain overview: the frames ms-swift samples, pre-sampled into one lossless
    # file (as mini's data stage does), so both records carry our decoded pixels.
    plain = mini.with_overview(plain, mini.presample_overviews([plain], tmp_path / "ov", 1))
    with swift_template(tiny_model_dir, env) as template:
        a = template.encode({k: plain[k] for k in ("messages", "videos")})
        b = template.encode({k: timed[k] for k in ("messages", "videos")})
    video_token = template.tokenizer.convert_tokens_to_ids("<|video_pad|>")
    grid_a, grid_b = a["video_grid_thw"].tolist(), b["video_grid_thw"].tolist()
    n_clips = len(plain["videos"]) - 1
    assert len(grid_b) == 6 + n_clips and len(grid_a) == 1 + n_clips
    overview_t, h, w = grid_a[0]
    assert overview_t == 6 and all(g == [1, h, w] for g in grid_b[:6])
    assert grid_b[6:] == grid_a[1:]
    assert a["input_ids"].count(video_token) == b["input_ids"].count(video_token)
    # The pixels are the same overview, piece by piece.
    tokens = overview_t * h * w
    assert np.array_equal(a["pixel_values_videos"][:tokens].numpy(),
                          b["pixel_values_videos"][:tokens].numpy())
    # Each piece at the overview's rate (second_per_grid_ts = 2 / fps).
    fps = reader.overview(swift_overview_budget()).sample_fps
    assert b["second_per_grid_ts"][:6] == pytest.approx([2 / fps] * 6, rel=1e-4)
    # The labels are in the text the model reads.
    text = template.tokenizer.decode(b["input_ids"])
    assert "0.0 s<|vision_start|>" in text


def test_reading_the_pieces_logs_no_clamp_warning_once_quieted(tiny_model_dir, video, annotations,
                                                               tmp_path, caplog):
    import logging

    from videotemp_o3.training.swift_media import quiet_clamp_warnings

    anns, _ = read_annotations(annotations)
    timed = build_record(anns[0], VideoReader(video), random.Random("0:g1"), tmp_path / "clips",
                         BuildConfig(overview_times=True, clip_max_frames=12))
    logger = logging.getLogger("qwen_vl_utils.vision_process")
    kept = list(logger.filters)

    def clamp_warnings() -> int:
        caplog.clear()
        with caplog.at_level(logging.WARNING), \
                swift_template(tiny_model_dir, dict(SMALL_VIDEO_ENV, FPS_MAX_FRAMES="12")) as template:
            template.encode({k: timed[k] for k in ("messages", "videos")})
            logger.warning("smart_nframes: something else")
        assert "something else" in caplog.text  # other warnings still pass
        return caplog.text.count("> total_frames[2]")

    try:
        for f in kept:
            logger.removeFilter(f)
        assert clamp_warnings() >= 6  # one per piece read: what the plug-ins keep out of the logs
        quiet_clamp_warnings()
        quiet_clamp_warnings()
        assert len(logger.filters) == 1
        assert clamp_warnings() == 0
    finally:
        logger.filters[:] = kept


# -- RL rows ---------------------------------------------------------------------------------


@pytest.fixture
def rl_annotations(video, tmp_path):
    rows = [
        {"uid": "g1", "video": str(video), "query": "the door opens", "span": EVIDENCE},
        {"uid": "m1", "video": str(video), "question": "What colour is the door?",
         "options": ["red", "green", "blue"], "answer": "C", "timestamp": EVIDENCE},
    ]
    path = tmp_path / "rl_ann.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_rl_rows_carry_the_timed_overview_and_the_environment_clips_the_source(
        video, rl_annotations, tmp_path):
    from videotemp_o3.training.rl_check import validate_file as validate_rl
    from videotemp_o3.training.rl_data import build_rl_data
    from videotemp_o3.training.rl_env import ClipEnvConfig, ClipEnvironment

    plain = build_rl_data([rl_annotations], tmp_path / "plain")
    timed = build_rl_data([rl_annotations], tmp_path / "timed", overview_times=True)
    assert (timed.n_qa, timed.n_grounding, timed.problems) == (1, 1, [])
    pieces = overview_for_swift(VideoReader(video), tmp_path / "timed" / "overviews")
    for a_path, b_path in ((plain.qa, timed.qa), (plain.grounding, timed.grounding)):
        assert validate_rl(b_path) == []
        (a,), (b,) = ([json.loads(x) for x in p.read_text().splitlines()] for p in (a_path, b_path))
        assert a["videos"] == [str(video.absolute())] and a["messages"][1]["content"].startswith("<video>")
        assert b["videos"] == [p.path for p in pieces]
        assert b["messages"][1]["content"] == protocol.timed_overview_text(
            [p.start for p in pieces], "<video>") + a["messages"][1]["content"].removeprefix("<video>")
        assert {k: v for k, v in a.items() if k not in ("messages", "videos")} == \
            {k: v for k, v in b.items() if k not in ("messages", "videos")}
    # A row whose tags do not match its pieces, or pieces of two sources, is refused.
    (row,) = [json.loads(x) for x in timed.qa.read_text().splitlines()]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(dict(row, videos=row["videos"][:-1])) + "\n"
                   + json.dumps(dict(row, videos=[str(video)] * len(row["videos"]))) + "\n")
    problems = [str(p) for p in validate_rl(bad)]
    assert any(":1:" in p and "expected 5 <video> tags" in p for p in problems), problems
    assert any(":2:" in p and "timed overview's pieces" in p for p in problems), problems
    # The GRPO environment answers a call on such a row with a clip of the source video.
    messages = list(row["messages"]) + [{"role": "assistant", "content": protocol.render_turn(
        "Look.", segments=[(14.0, 18.0)])}]
    videos = list(row["videos"])
    env = ClipEnvironment(ClipEnvConfig(max_turns=3, media_dir=tmp_path / "clips"))
    infos = env.step(messages, videos, {}, 1)
    assert len(videos) == len(pieces) + 1 and infos["clip_segments"] == [[14.0, 18.0]]
    assert infos["video_duration"] == pytest.approx(VideoReader(video).duration_seconds)
    clip = decord.VideoReader(videos[-1])
    shown = [read_index(f) for f in clip.get_batch(list(range(len(clip)))).asnumpy()]
    assert 140 <= shown[0] and shown[-1] <= 180


# -- flags and the miniature -----------------------------------------------------------------


def test_eval_and_ask_flags_turn_it_on():
    from videotemp_o3.cli import build_parser
    from videotemp_o3.evaluate import build_parser as run_parser
    from videotemp_o3.flags import agent_config

    assert agent_config(run_parser().parse_args(["--bench", "videotemp"])).overview_times is False
    assert agent_config(run_parser().parse_args(["--bench", "videotemp", "--overview-times"])
                        ).overview_times is True
    assert agent_config(build_parser().parse_args(["ask", "v.mp4", "q", "--overview-times"])
                        ).overview_times is True


def test_miniature_knob_is_off_by_default_and_reaches_every_stage(monkeypatch):
    from dataclasses import replace

    full = mini.SCALES["full"]
    assert not full.overview_times and not mini.SCALES["smoke"].overview_times
    timed = replace(full, overview_times=True)
    for stage in mini.STAGES:
        assert "--overview-times" not in mini.eval_flags(full, stage)
        assert mini.eval_flags(timed, stage) == ["--overview-times", *mini.eval_flags(full, stage)]
    plain = mini.sft_build_command("py", Path("a.jsonl"), 0, Path("c"))
    assert mini.sft_build_command("py", Path("a.jsonl"), 0, Path("c"), True) == [*plain, "--overview-times"]

    seen = {}

    def fake_run(work, results, scale, **kw):
        seen.update(scale=scale, command=kw["command"])
        return {}

    import signal

    monkeypatch.setattr(mini, "run", fake_run)
    monkeypatch.setattr(signal, "signal", lambda *_: None)  # main's stop handlers: not in pytest
    monkeypatch.delenv("MINI_OVERVIEW_TIMES", raising=False)
    assert mini.main(["run", "--device", "cpu", "--scale", "smoke"]) == 0
    assert seen["scale"] == mini.SCALES["smoke"] and "MINI_OVERVIEW_TIMES" not in seen["command"]
    monkeypatch.setenv("MINI_OVERVIEW_TIMES", "1")
    assert mini.main(["run", "--device", "cpu", "--scale", "smoke"]) == 0
    assert seen["scale"] == replace(mini.SCALES["smoke"], overview_times=True)
    assert seen["command"].startswith("DEVICE=cpu MINI_SCALE=smoke SEED=0 MINI_OVERVIEW_TIMES=1 ")
