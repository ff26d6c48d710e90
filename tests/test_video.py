"""The video layer through its Python API, on videos generated at test time whose frames spell
their own index (videotemp_o3.testing.videos)."""

from __future__ import annotations

import numpy as np
import pytest

from videotemp_o3.testing.videos import decode_with_ffmpeg_cli, make_indexed_video, read_index
from videotemp_o3.video import (FrameBudget, FrameIndexError, Frames, VideoError, VideoOpenError, VideoReader,
                                _open_for_benchmark, sample_many)


@pytest.fixture(scope="module")
def h264(tmp_path_factory):
    """H.264 with B-frames and a long GOP: 300 frames at 30 fps, keyframe every 120."""
    return make_indexed_video(tmp_path_factory.mktemp("v") / "h264.mp4", frames=300, fps=30, gop=120)


def spelled(frames: Frames) -> list[int]:
    return [read_index(f) for f in frames.frames]


# --- frame exactness ---------------------------------------------------------------------

CASES = {
    "h264_bframes_mp4": dict(codec="h264", name="a.mp4"),
    "h264_mkv": dict(codec="h264", name="a.mkv"),
    "hevc": dict(codec="hevc", name="a.mkv"),
    "vp9": dict(codec="vp9", name="a.webm"),
    "h264_10bit": dict(codec="h264_10bit", name="a.mkv"),
    "hevc_10bit": dict(codec="hevc_10bit", name="a.mp4"),
    "odd_size_444": dict(codec="h264_444", name="a.mp4", size=(97, 161)),
    "h264_mpegts": dict(codec="h264", name="a.ts"),
    "av1_mkv": dict(codec="av1", name="a.mkv"),
    "mpeg4_bframes_avi_no_pts": dict(codec="mpeg4_bframes", name="a.avi"),
}


# The fast subset checks one container; the rest of the matrix is slow (a video made per case).
@pytest.mark.parametrize("case", [pytest.param(c, marks=() if c == "h264_bframes_mp4" else pytest.mark.slow)
                                  for c in sorted(CASES)])
def test_seek_equals_sequential_decode(case, tmp_path):
    opts = dict(CASES[case])
    path = make_indexed_video(tmp_path / opts.pop("name"), frames=150, fps=25, gop=40, **opts)
    sequential = VideoReader(path, num_threads=1)
    n = sequential.num_frames
    assert n == 150
    everything = sequential.frames_at_indices(range(n))
    # The reference itself is right: every frame spells its index.
    assert spelled(everything) == list(range(n))
    # The independent decoder agrees on the frame order (values differ only by conversion rounding).
    cli = decode_with_ffmpeg_cli(path)
    assert cli.shape == everything.frames.shape
    assert [read_index(f) for f in cli] == list(range(n))
    rng = np.random.default_rng(7)
    picks = list(rng.integers(0, n, size=40)) + [n - 1, 0, 0, 39, 40, 41]
    for threads in (1, 2, 4):
        got = VideoReader(path, num_threads=threads).frames_at_indices(picks)
        assert np.array_equal(got.frames, everything.frames[picks]), f"{case}: {threads} threads"
        assert got.indices.tolist() == [int(p) for p in picks]


def test_frames_at_is_the_frame_displayed_at_t(h264):
    r = VideoReader(h264)
    times = [5.0, 0.0, 1 / 30 - 1e-6, 1 / 30, 9.99, 10.0 - 1e-9, 5.0]
    got = r.frames_at(times)
    assert spelled(got) == [150, 0, 0, 1, 299, 299, 150]
    assert got.timestamps[0] == pytest.approx(5.0)
    assert got.timestamps[3] == pytest.approx(1 / 30)
    # The half-open interval [0, duration_seconds_from_content): anything else is an IndexError.
    assert r.duration_seconds_from_content == pytest.approx(10.0)
    for t in (10.0, 1e6, -3.0, -1e-9, float("inf")):
        with pytest.raises(FrameIndexError, match=r"h264\.mp4: timestamps out of range") as e:
            r.frames_at([1.0, t])
        assert isinstance(e.value, IndexError) and e.value.argument == "timestamps"
    with pytest.raises(ValueError, match="not a finite number"):
        r.frames_at([float("nan")])


def test_variable_frame_rate(tmp_path):
    times = [0.0, 0.1, 0.5, 0.55, 1.0, 2.0, 2.04, 3.5]
    path = make_indexed_video(tmp_path / "vfr.mkv", frames=len(times), timestamps=times)
    r = VideoReader(path)
    assert r.num_frames == len(times)
    # The content ends one average frame interval (3.5 s / 7) after the last frame's time.
    assert r.duration_seconds_from_content == pytest.approx(4.0, abs=1e-3)
    got = r.frames_at([0.09, 0.1, 0.52, 0.56, 1.99, 2.0, 3.0, 3.99])
    assert spelled(got) == [0, 1, 2, 3, 4, 5, 6, 7]
    assert got.timestamps.tolist() == pytest.approx([0.0, 0.1, 0.5, 0.55, 1.0, 2.0, 2.04, 3.5], abs=1e-3)


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotation_is_applied_like_ffmpeg(rotation, tmp_path):
    path = make_indexed_video(tmp_path / "rot.mp4", frames=12, size=(96, 160), rotation=rotation)
    r = VideoReader(path)
    assert r.metadata.rotation == rotation
    assert r.metadata.display_size == ((160, 96) if rotation != 180 else (96, 160))
    got = r.frames_at_indices(range(12))
    cli = decode_with_ffmpeg_cli(path)  # FFmpeg autorotates
    assert got.frames.shape == cli.shape
    assert np.abs(got.frames.astype(int) - cli).mean() < 1.0
    # Undoing the rotation gives the spelled index back.
    assert [read_index(np.rot90(f, k=rotation // 90)) for f in got.frames] == list(range(12))


def test_single_frame_video(tmp_path):
    path = make_indexed_video(tmp_path / "one.mp4", frames=1)
    r = VideoReader(path)
    assert r.num_frames == 1
    assert spelled(r.frames_at([0.0, r.duration_seconds_from_content - 1e-6])) == [0, 0]
    with pytest.raises(FrameIndexError):
        r.frames_at([3.0])
    with pytest.raises(ValueError, match="one.mp4"):
        r.overview()


def test_speed_levers_do_not_change_pixels(h264):
    picks = [5, 290, 130, 131, 64, 0, 200]
    ref = _open_for_benchmark(h264, num_threads=1, skip_nonref=False, drain=False).frames_at_indices(picks)
    for threads in (1, 2):
        got = VideoReader(h264, num_threads=threads).frames_at_indices(picks)
        assert np.array_equal(got.frames, ref.frames)
    # The lower bound decodes from each keyframe (every 120 frames) to its targets: frames 0-64,
    # 120-200 and 240-290, i.e. 65 + 81 + 51 = 197, plus at most the decoder's reorder delay
    # (has_b_frames = 2) per run; each run on its own costs what it costs inside the whole.
    n = VideoReader(h264, num_threads=1)._decode_only(picks)
    assert 197 <= n <= 197 + 3 * 2
    runs = [VideoReader(h264, num_threads=1)._decode_only(run)
            for run in ([0, 5, 64], [130, 131, 200], [290])]
    assert n == sum(runs)


def test_keyframe_snapped_overview(h264):
    r = VideoReader(h264)
    keys = r.keyframes.tolist()
    assert keys == [0, 120, 240]
    b = FrameBudget(nframes=6)
    exact = r.overview(b)
    fast = r.overview(b, snap_to_keyframes=1.0)
    # linspace(0, 299, 6) = 0, 60, 120, 179, 239, 299: 0, 120 and 239→240 are within 1 s of a
    # keyframe; 60, 179 and 299 have none that close and move within 1 s (30 frames) to the frame
    # cheapest to decode from its keyframe (30 frames after it).
    assert exact.indices.tolist() == [0, 60, 120, 179, 239, 299]
    assert fast.indices.tolist() == [0, 30, 120, 150, 240, 269]
    assert spelled(fast) == fast.indices.tolist()
    assert r._decode_only(fast.indices) < r._decode_only(exact.indices) / 2
    assert fast.timestamps[4] == pytest.approx(8.0)  # the true time of frame 240
    assert r.overview(b, snap_to_keyframes=0.0).indices.tolist() == [0, 60, 120, 179, 239, 299]
    with pytest.raises(ValueError, match="tolerance"):
        r.overview(b, snap_to_keyframes=-1.0)


# --- sampling ----------------------------------------------------------------------------

def test_clip_follows_the_budget(h264):
    r = VideoReader(h264)
    clip = r.clip(2.0, 6.0, FrameBudget(fps=2.0, min_frames=4, max_frames=64))
    # frames 60..180 (121 frames at 30 fps) → 121/30*2 = 8.07 → 8 frames.
    assert clip.indices.tolist() == [60, 77, 94, 111, 129, 146, 163, 180]
    assert spelled(clip) == clip.indices.tolist()
    assert clip.frames.shape[1] % 28 == 0 and clip.frames.shape[2] % 28 == 0
    assert clip.sample_fps == pytest.approx(8 / 121 * 30)
    assert clip.span == pytest.approx((2.0, 6.0))


@pytest.mark.parametrize(
    "start,end,why",
    [(5.0, 5.0, "empty"), (6.0, 2.0, "reversed"), (float("nan"), 2.0, "finite"),
     (1.0, float("inf"), "finite"), (50.0, 60.0, "after the end"), (-9.0, -1.0, "before the start")],
)
def test_bad_ranges_are_errors_that_say_so(h264, start, end, why):
    with pytest.raises(ValueError, match=why) as e:
        VideoReader(h264).clip(start, end)
    assert "h264.mp4" in str(e.value)


def test_range_is_clamped_to_the_video(h264):
    clip = VideoReader(h264).clip(-5.0, 1e9, FrameBudget(fps=1.0))
    assert clip.indices[0] == 0 and clip.indices[-1] == 299


def test_budget_from_env_follows_ms_swift(monkeypatch):
    monkeypatch.setenv("VIDEO_MAX_PIXELS", "200704")
    monkeypatch.setenv("FPS_MAX_FRAMES", "256")
    monkeypatch.delenv("VIDEO_TOTAL_PIXELS", raising=False)
    b = FrameBudget.from_env()
    assert (b.max_pixels, b.max_frames, b.total_pixels) == (200704, 256, int(128000 * 28 * 28 * 0.9))
    monkeypatch.setenv("VIDEO_TOTAL_PIXELS", "1000000")
    assert FrameBudget.from_env().total_pixels == 1000000
    monkeypatch.setenv("FPS", "two")
    with pytest.raises(ValueError, match="FPS"):
        FrameBudget.from_env()


# --- zero copy -----------------------------------------------------------------------------

def test_numpy_owns_the_rust_buffer_and_torch_shares_it(h264):
    torch = pytest.importorskip("torch")
    from videotemp_o3 import _core

    raw = _core.VideoReader(str(h264), 0).sample(FrameBudget(fps=1.0), 1.0, 5.0)
    arr = raw["frames"]
    # The array's memory is the buffer Rust allocated: nothing was copied to build it.
    assert arr.ctypes.data == raw["buffer_address"]
    assert not arr.flags.owndata and arr.base is not None  # kept alive by the Rust Vec's owner
    assert arr.flags.c_contiguous and arr.dtype == np.uint8 and arr.shape[-1] == 3
    frames = Frames._from_core(raw)
    t = frames.to_torch()
    assert t.data_ptr() == arr.ctypes.data
    t[0, 0, 0, 0] = 7
    assert arr[0, 0, 0, 0] == 7
    assert torch.utils.dlpack.from_dlpack(arr).data_ptr() == arr.ctypes.data


# --- bad input -----------------------------------------------------------------------------

def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        VideoReader(tmp_path / "nope.mp4")


def test_not_a_video(tmp_path):
    p = tmp_path / "notes.mp4"
    p.write_text("this is not a video\n" * 100)
    with pytest.raises(VideoError, match="notes.mp4"):
        VideoReader(p)


def test_audio_only_file_has_no_video_stream(tmp_path):
    import ffmpeg

    p = tmp_path / "tone.m4a"
    ffmpeg.input("sine=frequency=440:duration=1", f="lavfi").output(str(p)).global_args("-loglevel", "error").run()
    with pytest.raises(VideoError, match="no video stream"):
        VideoReader(p)


def test_truncated_mp4_is_a_clear_error(h264, tmp_path):
    p = tmp_path / "cut.mp4"
    data = h264.read_bytes()
    p.write_bytes(data[: len(data) // 2])  # the index (moov) is at the end: gone
    with pytest.raises(VideoError, match="cut.mp4"):
        VideoReader(p).num_frames  # noqa: B018 — building the index is what fails


def test_truncated_stream_decodes_what_is_there(tmp_path):
    full = make_indexed_video(tmp_path / "full.mkv", frames=200, gop=30)
    p = tmp_path / "cut.mkv"
    data = full.read_bytes()
    p.write_bytes(data[: int(len(data) * 0.6)])
    r = VideoReader(p)
    n = r.num_frames
    assert 50 < n < 200
    # Frames up to the cut decode exactly (the last packets may be incomplete: allow those).
    got = r.frames_at_indices(range(0, n - 5))
    assert spelled(got) == list(range(0, n - 5))


def test_sample_many_isolates_failures(h264, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\0" * 1000)
    requests = [(h264, 1.0, 3.0, FrameBudget()), (bad, None, None, FrameBudget()), (h264, None, None, FrameBudget(nframes=4)),
                (h264, 50.0, 60.0, FrameBudget())]
    out = sample_many(requests, return_exceptions=True)
    assert isinstance(out[0], Frames) and spelled(out[0]) == out[0].indices.tolist()
    assert isinstance(out[1], VideoOpenError) and "bad.mp4" in str(out[1]) and out[1].path == str(bad)
    assert out[2].indices.tolist() == [0, 100, 199, 299]
    assert isinstance(out[3], ValueError) and "after the end" in str(out[3])
    # By default the first failure in request order is raised.
    with pytest.raises(VideoOpenError, match="bad.mp4"):
        sample_many(requests)
    assert [len(f) for f in sample_many([requests[0], requests[2]])] == [len(out[0]), 4]


def test_save_clip_remuxes_the_same_frames(h264, tmp_path):
    r = VideoReader(h264)
    out = tmp_path / "clip.mp4"
    start, end = r.save_clip(5.0, 7.0, out)
    assert start <= 5.0 and end >= 7.0 - 1 / 30
    c = VideoReader(out)
    first = round(start * 30)
    got = c.frames_at_indices(range(c.num_frames))
    assert spelled(got) == list(range(first, first + c.num_frames))
    assert np.array_equal(got.frames, r.frames_at_indices(range(first, first + c.num_frames)).frames)
