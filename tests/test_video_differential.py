"""Differential test of the video layer against a full sequential decode, on every kind of
generated test video: ordinary encodes (codecs, containers, bit depths, no timestamps) and odd
streams (VP9 hidden frames as packets of their own, MPEG-TS timestamps jumping back, open GOPs
in MPEG-TS, a Matroska keyframe repeating its predecessor's timestamp, an MP4 sample table
claiming more than the file holds, Matroska without cues or duration).

The oracle: the FFmpeg CLI decodes the whole file (an independent decoder: how many frames a
sequential decode displays, and which source frame each one shows), and the layer's own
sequential decode (every frame in one pass, one thread) gives the reference pixels. Every frame
the layer returns for random indices, random timestamps, random clips and saved clips, at 1, 2,
4 and 16 threads, must be that reference frame, pixel for pixel.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from videotemp_o3.testing.videos import ODD_VIDEOS, decode_with_ffmpeg_cli, make_indexed_video, read_index
from videotemp_o3.video import FrameBudget, FrameIndexError, VideoReader

ORDINARY = {
    # kind: (codec, file name)
    "h264_bframes_mp4": ("h264", "h264.mp4"),
    "h264_mkv": ("h264", "h264.mkv"),
    "h264_mpegts": ("h264", "h264.ts"),
    "hevc_10bit_mp4": ("hevc_10bit", "hevc10.mp4"),
    "vp9_webm": ("vp9", "vp9.webm"),
    "av1_mkv": ("av1", "av1.mkv"),
    "mpeg4_bframes_avi_no_pts": ("mpeg4_bframes", "mpeg4.avi"),
}
ORDINARY_FRAMES = 90
KINDS = sorted([*ORDINARY, *ODD_VIDEOS])
THREADS = (1, 2, 4, 16)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """kind -> (path, frames a sequential decode displays), each made once on first use."""
    folder = tmp_path_factory.mktemp("differential")
    made = {}

    def get(kind):
        if kind not in made:
            if kind in ORDINARY:
                codec, name = ORDINARY[kind]
                path = make_indexed_video(folder / name, frames=ORDINARY_FRAMES, fps=25, gop=30, codec=codec)
                made[kind] = (path, ORDINARY_FRAMES)
            else:
                maker, name, frames = ODD_VIDEOS[kind]
                made[kind] = (maker(folder / name), frames)
        return made[kind]

    return get


def spelled(frames) -> list[int]:
    return [read_index(f) for f in frames]


def frame_at(times: np.ndarray, t: float) -> int:
    """The oracle's "frame displayed at t": the last frame whose time is <= t (the first before)."""
    return max(0, int(np.searchsorted(times, t + 1e-9, side="right")) - 1)


# The fast subset checks H.264 in MP4; the other containers and codecs and every odd video (each a
# case the index once got wrong, a video made on first use) run in the whole suite.
@pytest.mark.parametrize("kind", [pytest.param(k, marks=() if k == "h264_bframes_mp4" else pytest.mark.slow)
                                  for k in KINDS])
def test_every_frame_returned_is_the_sequential_decodes(kind, videos, tmp_path):
    path, expected_frames = videos(kind)
    sequential = VideoReader(path, num_threads=1)
    n = sequential.num_frames
    assert n == expected_frames, f"{kind}: num_frames must count the frames a sequential decode displays"
    reference = sequential.frames_at_indices(range(n))
    cli = decode_with_ffmpeg_cli(path)
    assert len(cli) == n
    assert spelled(reference.frames) == [read_index(f) for f in cli], f"{kind}: frame order differs from FFmpeg's"
    times = reference.timestamps
    assert np.all(np.diff(times) > 0), f"{kind}: frame times must increase"
    duration = float(times[-1]) + 1e-3

    rng = np.random.default_rng(zlib.crc32(kind.encode()))
    for threads in THREADS:
        reader = VideoReader(path, num_threads=threads)  # fresh: its own index and sessions
        where = f"{kind}, {threads} threads"

        picks = [int(i) for i in rng.integers(0, n, size=24)] + [0, n - 1, n // 2, n // 2]
        got = reader.frames_at_indices(picks)
        assert got.indices.tolist() == picks
        for k, i in enumerate(picks):
            assert np.array_equal(got.frames[k], reference.frames[i]), f"{where}: frame {i}"

        # Times within the video, [0, duration_seconds_from_content); outside, FrameIndexError.
        end_of_content = reader.duration_seconds_from_content
        assert end_of_content > float(times[-1])
        stamps = ([float(t) for t in rng.uniform(0.0, end_of_content, size=24)]
                  + [0.0, float(times[-1]), float(times[n // 3]), float(np.nextafter(end_of_content, 0.0))])
        for outside in (-0.01, end_of_content):
            with pytest.raises(FrameIndexError):
                reader.frames_at([outside])
        got = reader.frames_at(stamps)
        want = [frame_at(times, t) for t in stamps]
        assert got.indices.tolist() == want, f"{where}: frames at {stamps}"
        for k, i in enumerate(want):
            assert np.array_equal(got.frames[k], reference.frames[i]), f"{where}: frame at t = {stamps[k]}"

        # Pairs of nearby frames, each on a fresh reader: one short decode run from a seek, where
        # a run that stops early (drains after the wrong packet) shows.
        for i in rng.integers(0, n - 1, size=12):
            pair = [int(i), int(min(n - 1, i + rng.integers(1, 8)))]
            got = VideoReader(path, num_threads=threads).frames_at_indices(pair)
            for k, j in enumerate(pair):
                assert np.array_equal(got.frames[k], reference.frames[j]), f"{where}: frame {j} of the pair {pair}"

        start, end = sorted(float(t) for t in rng.uniform(0, duration * 0.9, size=2))
        end = max(end, start + 0.5)
        clip = reader.clip(start, end, FrameBudget(fps=4.0, max_frames=8))
        h, w = clip.frames.shape[1:3]
        same = sequential.frames_at_indices(clip.indices.tolist(), size=(h, w))
        assert np.array_equal(clip.frames, same.frames), f"{where}: clip [{start:.3f}, {end:.3f}]"
        assert np.allclose(clip.timestamps, times[clip.indices])

    # A saved clip holds, bit for bit, the source's frames from the span it reports.
    start = float(rng.uniform(0, duration * 0.6))
    end = min(start + 1.2, duration)
    # A stream without presentation timestamps can only go to a container that needs none.
    out = tmp_path / ("clip.avi" if kind.endswith("no_pts") else "clip.mkv")
    first, last = sequential.save_clip(start, end, out)
    assert first <= start + 1e-6 and last >= float(times[frame_at(times, end)]) - 1e-6, (first, last, start, end)
    saved = VideoReader(out, num_threads=1)
    m = saved.num_frames
    i0 = frame_at(times, first)
    got = saved.frames_at_indices(range(m))
    assert spelled(got.frames) == spelled(reference.frames[i0:i0 + m]), f"{kind}: saved clip [{start:.3f}, {end:.3f}] as [{first:.3f}, {last:.3f}], {m} frames"
    assert np.array_equal(got.frames, reference.frames[i0:i0 + m])
    assert float(times[min(i0 + m - 1, n - 1)]) >= last - 1e-6


def test_matroska_without_duration_reports_the_frames_duration(videos):
    path, frames = videos("mkv_without_cues_or_duration")
    # The container declares no duration: the header's is None (never 0), the content's is the
    # frames' (30 fps), and each says where it comes from.
    reader = VideoReader(path)
    assert reader.metadata.duration_seconds_from_header is None
    assert reader.duration_seconds_from_content == pytest.approx(frames / 30.0, abs=1e-3)
    assert reader.duration_seconds == pytest.approx(frames / 30.0, abs=1e-3)
