"""Frame-budget sampling equals qwen-vl-utils 0.0.11, the reference Qwen2.5-VL uses.

Two levels: (1) over a table of (duration, fps, size, budget, range) cases, our plan equals what
qwen-vl-utils' own functions compute (calculate_video_frame_range, smart_nframes, torch.linspace,
fetch_video's per-frame pixel cap, smart_resize); (2) end to end, qwen-vl-utils' real
``fetch_video`` (decord backend) on generated videos returns the same frames (read back from the
pixels) at the same size as our reader.
"""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pytest

from videotemp_o3.testing.videos import make_indexed_video, read_index
from videotemp_o3.video import FrameBudget, VideoReader

vp = pytest.importorskip("qwen_vl_utils.vision_process")
torch = pytest.importorskip("torch")


def patch_constants(monkeypatch, b: FrameBudget):
    """Set qwen-vl-utils' module constants the way ms-swift does from env vars."""
    monkeypatch.setattr(vp, "FPS", b.fps)
    monkeypatch.setattr(vp, "FPS_MIN_FRAMES", b.min_frames)
    monkeypatch.setattr(vp, "FPS_MAX_FRAMES", b.max_frames)
    monkeypatch.setattr(vp, "VIDEO_MIN_PIXELS", b.min_pixels)
    monkeypatch.setattr(vp, "VIDEO_MAX_PIXELS", b.max_pixels)
    monkeypatch.setattr(vp, "VIDEO_TOTAL_PIXELS", b.total_pixels)


def qwen_plan(total, fps, h, w, start, end, b: FrameBudget):
    ele = {}
    if start is not None:
        ele["video_start"] = start
    if end is not None:
        ele["video_end"] = end
    if b.nframes is not None:
        ele["nframes"] = b.nframes
    first, last, count = vp.calculate_video_frame_range(ele, total, fps)
    n = vp.smart_nframes(ele, total_frames=count, video_fps=fps)
    idx = torch.linspace(first, last, n).round().long().tolist()
    # fetch_video's per-frame cap (the three lines between reading and resizing).
    min_pixels = vp.VIDEO_MIN_PIXELS
    max_pixels = max(min(vp.VIDEO_MAX_PIXELS, vp.VIDEO_TOTAL_PIXELS / n * vp.FRAME_FACTOR), int(min_pixels * 1.05))
    rh, rw = vp.smart_resize(h, w, factor=vp.IMAGE_FACTOR, min_pixels=min_pixels, max_pixels=max_pixels)
    return idx, rh, rw, n / max(count, 1e-6) * fps


BUDGETS = {
    "default": FrameBudget(),
    "release_overview": FrameBudget(min_pixels=200704, max_pixels=200704, max_frames=256),
    "release_clip": FrameBudget(fps=2.0, min_frames=4, max_frames=64),
    "training": FrameBudget(max_pixels=50176, max_frames=512),
    "tight_total": FrameBudget(total_pixels=2_000_000),
    "fps_0.5": FrameBudget(fps=0.5, min_frames=8),
    "odd_limits": FrameBudget(min_frames=5, max_frames=33),
    "nframes_7": FrameBudget(nframes=7),
    "nframes_16": FrameBudget(nframes=16),
}
VIDEOS = [  # (total frames, fps, height, width)
    (54000, 30.0, 720, 1280),     # 30 min 720p
    (5400, 29.97, 1080, 1920),
    (9000, 25.0, 480, 854),
    (301, 24.0, 1280, 720),       # portrait
    (97, 23.976, 240, 320),
    (60, 15.0, 97, 161),          # odd size
    (1801, 60.0, 2160, 3840),
    (23, 1.0, 36, 7000),          # extreme aspect ratio (within 200)
]
RANGES = [(None, None), (0.0, 3.0), (58.0, 100.0), (1.26, 2.74), (-4.0, 10_000.0), (12.5, 12.9), (3.3, 17.1)]


def cases():
    for (bname, b), v, r in itertools.product(BUDGETS.items(), VIDEOS, RANGES):
        yield pytest.param(b, v, r, id=f"{bname}-{v[0]}f@{v[1]}-{v[2]}x{v[3]}-{r[0]}:{r[1]}")


def our_refusal(qwen_message: str) -> str:
    """The message (a regex) our plan must give where qwen-vl-utils refused with ``qwen_message``."""
    m = re.search(r"Start frame (\d+) .* end frame (\d+)", qwen_message)
    if m:  # calculate_video_frame_range: the range holds fewer than two frames
        return rf"^invalid range: \[.*\] s holds fewer than two frames .*\(frames {m[1]}\.\.{m[2]} at "
    m = re.search(r"nframes should in interval \[(\d+), (\d+)\], but got (\d+)", qwen_message)
    if m:  # smart_nframes: more frames asked for than the range has
        return rf"^invalid nframes: .*: {m[3]} frames are not within \[{m[1]}, {m[2]}\]$"
    raise AssertionError(f"a refusal this table does not know: {qwen_message}")


@pytest.mark.parametrize("budget,video,rng", list(cases()))
def test_plan_equals_qwen_vl_utils(monkeypatch, budget, video, rng):
    patch_constants(monkeypatch, budget)
    total, fps, h, w = video
    start, end = rng
    try:
        expected = qwen_plan(total, fps, h, w, start, end, budget)
    except (ValueError, AssertionError) as e:
        # qwen-vl-utils refuses (range too short, too few frames): so must we, with a ValueError
        # that names the same cause with the same frame numbers.
        with pytest.raises(ValueError, match=our_refusal(str(e))):
            budget.plan(total, fps, h, w, start, end)
        return
    if 0 in expected[1:3]:
        # qwen-vl-utils would go on with a zero-sized frame (and fail later in the resizer);
        # we refuse up front — the one documented difference.
        with pytest.raises(ValueError, match="cannot fit"):
            budget.plan(total, fps, h, w, start, end)
        return
    got = budget.plan(total, fps, h, w, start, end)
    assert list(got[0]) == expected[0], "frame indices"
    assert (got[1], got[2]) == (expected[1], expected[2]), "output size"
    assert math.isclose(got[3], expected[3], rel_tol=1e-12), "sample fps"


def test_linspace_matches_torch_float32_everywhere():
    rng = np.random.default_rng(0)
    for _ in range(3000):
        first = int(rng.integers(0, 5000))
        last = first + int(rng.integers(1, 60000))
        n = int(rng.integers(1, 400)) * 2
        n = min(n, last - first + 1) // 2 * 2 or 2
        fps = 30.0
        b = FrameBudget(nframes=n)
        start, end = first / fps, last / fps
        # Our plan's indices for the same first/last/n as torch computes them.
        want = torch.linspace(first, last, n).round().long().tolist()
        got, *_ = b.plan(last + 1, fps, 28, 28, start, end)
        f2, l2, _ = vp.calculate_video_frame_range({"video_start": start, "video_end": end}, last + 1, fps)
        if (f2, l2) != (first, last):
            continue  # float time round-trip moved the range; covered by the table test
        assert list(got) == want, (first, last, n)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    d = tmp_path_factory.mktemp("qwen")
    return {
        "h264_30fps": make_indexed_video(d / "a.mp4", frames=450, fps=30, size=(120, 200), gop=90),
        "hevc_24fps": make_indexed_video(d / "b.mkv", frames=240, fps=24, size=(96, 160), codec="hevc", gop=48),
    }


@pytest.mark.parametrize("name", ["h264_30fps", pytest.param("hevc_24fps", marks=pytest.mark.slow)])
@pytest.mark.parametrize(
    "budget,rng",
    [
        (FrameBudget(), (None, None)),
        (FrameBudget(min_pixels=200704, max_pixels=200704, max_frames=256), (None, None)),
        (FrameBudget(fps=2.0, min_frames=4, max_frames=64), (2.0, 7.5)),
        (FrameBudget(fps=4.0, max_frames=16, max_pixels=50176), (0.7, 9.3)),
        (FrameBudget(nframes=10), (1.0, 4.0)),
    ],
)
def test_fetch_video_end_to_end(monkeypatch, videos, name, budget, rng):
    """qwen-vl-utils' own fetch_video (decord) and our reader pick the same frames, same size."""
    pytest.importorskip("decord")
    monkeypatch.setenv("FORCE_QWENVL_VIDEO_READER", "decord")
    monkeypatch.setattr(vp, "FORCE_QWENVL_VIDEO_READER", "decord", raising=False)
    patch_constants(monkeypatch, budget)
    path = str(videos[name])
    ele = {"video": path}
    if rng[0] is not None:
        ele.update(video_start=rng[0], video_end=rng[1])
    if budget.nframes is not None:
        ele["nframes"] = budget.nframes
    theirs, their_fps = vp.fetch_video(ele, return_video_sample_fps=True)  # float [T, 3, H, W]
    reader = VideoReader(path)
    ours = reader.clip(*rng, budget) if rng[0] is not None else reader.overview(budget)
    assert tuple(theirs.shape) == (len(ours), 3, ours.frames.shape[1], ours.frames.shape[2])
    their_idx = [read_index(f.permute(1, 2, 0).clamp(0, 255).byte().numpy()) for f in theirs]
    assert their_idx == ours.indices.tolist() == [read_index(f) for f in ours.frames]
    assert math.isclose(their_fps, ours.sample_fps, rel_tol=1e-9)
