"""The synthetic task family: seeded disjoint splits, the frame layout (clock, card, pattern),
the rendered videos as our video layer reads them, and the oracle's claim that the pattern is
legible at the clip budget and not at the overview budget."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from videotemp_o3 import synthetic as S
from videotemp_o3.video import VideoReader


def test_splits_are_seeded_disjoint_and_stratified():
    train = S.split_specs("train", 12, seed=0)
    assert S.split_specs("train", 12, seed=0) == train            # deterministic
    assert S.split_specs("train", 6, seed=0) == train[:6]         # a split grows, never changes
    assert S.split_specs("train", 12, seed=1) != train            # the seed matters
    def key(s):
        return (s.duration, s.start, s.end, s.pattern, s.colour, s.slot)
    seen = {key(s) for s in train}
    for other in ("val", "test", "bench"):
        assert not seen & {key(s) for s in S.split_specs(other, 12, seed=0)}
    for k, spec in enumerate(train):
        lo, hi = S.DURATION_BINS[k % 4]
        assert lo <= spec.duration < hi
        assert 0.05 * spec.duration <= spec.start < spec.end <= spec.duration
        # The card stays for 1–2 intervals of a 32-frame overview (at least 8 s).
        interval = spec.duration / (S.EVENT_OVERVIEW_FRAMES - 1)
        length = spec.end - spec.start
        assert max(S.MIN_EVENT_SECONDS, interval) - 0.5 <= length <= max(S.MIN_EVENT_SECONDS, 2 * interval) + 1
        assert sorted(spec.options) == sorted(S.PATTERNS) and spec.pattern in spec.options
    assert {s.answer for s in train} <= set("ABCD")


def _spec(**kw):
    base = dict(uid="t", duration=40.0, start=12.0, end=21.5, pattern="horizontal stripes",
                colour="blue", slot=2, options=S.PATTERNS)
    base.update(kw)
    return S.VideoSpec(**base)


def test_frame_shows_the_clock_and_the_card_only_in_its_span():
    spec = _spec()
    oracle = S.Oracle()
    for index in range(0, 80, 3):
        t = index / S.FPS
        frame = S.draw_frame(spec, index)
        assert frame.shape == (S.FRAME_HEIGHT, S.FRAME_WIDTH, 3)
        assert oracle.clock(frame) == int(t)
        half = np.clip(S._resize(frame, 56, 112).round(), 0, 255).astype(np.uint8)
        assert oracle.clock(half) == int(t)
        assert oracle.card_slot(frame) == (spec.slot if spec.start <= t < spec.end else None)


def test_patterns_differ_at_clip_size_and_vanish_at_overview_size():
    full = {p: S._card("yellow", p).astype(np.float32) for p in S.PATTERNS}
    half = {p: S._resize(S._card("yellow", p), 28, 28) for p in S.PATTERNS}
    for p in S.PATTERNS:
        for q in S.PATTERNS:
            if p != q:
                assert np.abs(full[p] - full[q]).max() >= S.PATTERN_CONTRAST - 1
                assert np.abs(half[p] - half[q]).max() < 1.5, (p, q)
    # No channel is clipped: the modulation is luma only.
    card = S._card("yellow", "checkerboard").astype(int)
    assert card.min() > 0 and card.max() < 255


def test_rendered_video_reads_back_through_the_budgets(tmp_path):
    spec = _spec()
    path = tmp_path / "v.mp4"
    S.render_video(path, spec)
    reader = VideoReader(path)
    assert reader.num_frames == 80 and reader.duration_seconds == pytest.approx(40.0)
    oracle = S.Oracle()
    overview = reader.overview(S.overview_budget())
    assert overview.frames.shape[:3] == (32, 56, 112)
    for frame, t in zip(overview.frames, overview.timestamps):
        assert oracle.clock(frame) == int(t)
    clip = reader.clip(11.0, 23.0, S.clip_budget())
    assert clip.frames.shape[:3] == (S.CLIP_MAX_FRAMES, 112, 224)
    for frame, t in zip(clip.frames, clip.timestamps):
        assert oracle.clock(frame) == int(t)
        slot = oracle.card_slot(frame)
        assert slot == (spec.slot if spec.start <= t < spec.end else None)
        if slot is not None:
            assert oracle.pattern(frame, slot, S.PATTERNS) == spec.pattern


def test_oracle_needs_the_clip_for_the_pattern(tmp_path):
    # Each pattern twice, so that a reader who always says the same pattern scores 25 %.
    specs = [dataclasses.replace(S.draw_spec(S._stream(7, "oracle-test", k), f"o{k}", 60 + 4 * k),
                                 pattern=S.PATTERNS[k % 4]) for k in range(8)]
    S.write_specs(tmp_path, specs, progress=False)
    report = S.oracle_report(tmp_path)
    assert report["questions"] == 8
    assert report["clip"]["mcq_accuracy"] == 1.0
    assert report["overview"]["mcq_accuracy"] <= 0.5        # chance is 0.25
    for view in ("overview", "clip"):
        assert report[view]["card_seen"] == 1.0              # the overview always shows *when*
        assert report[view]["clock_read_right"] == 1.0
    assert report["clip"]["grounding_miou"] > report["overview"]["grounding_miou"]
    assert report["overview"]["frame_size"] == [56, 112] and report["clip"]["frame_size"] == [112, 224]


def test_generate_writes_the_benchmark_records(tmp_path):
    data = S.generate(tmp_path, durations=(20, 30), event_seconds=(3.0, 5.0), progress=False)
    records = [json.loads(line) for line in data.read_text().splitlines()]
    assert [r["duration"] for r in records] == [20.0, 30.0]
    for r in records:
        assert (tmp_path / r["videos"][0]).is_file()
        lines = r["question"].splitlines()
        assert [line[:3] for line in lines[1:]] == ["A. ", "B. ", "C. ", "D. "]
        assert r["answer"] in "ABCD" and lines[1 + "ABCD".index(r["answer"])][3:] == r["pattern"]
        start, end = r["timestamp"]
        assert 3.0 <= end - start <= 5.5 and r["query"]
        assert S.spec_of(r).answer == r["answer"]
    # Kept when complete: a rerun does not render again.
    mtime = (tmp_path / records[0]["videos"][0]).stat().st_mtime_ns
    S.generate(tmp_path, durations=(20, 30), event_seconds=(3.0, 5.0), progress=False)
    assert (tmp_path / records[0]["videos"][0]).stat().st_mtime_ns == mtime
