"""Memory per opened video must not grow across a long run (an evaluation opens hundreds of
videos in one process; a rollout worker opens one per request).

Each check repeats the same work 50 times and asserts the process's resident memory grew by
less than 16 MiB, on a generated video of several MiB: a leak of a file's worth per open (what
building the index used to leak) would be hundreds of MiB. How resident memory is measured: tests/memory_helpers.py.
"""

from __future__ import annotations

import subprocess

import pytest

from memory_helpers import ON_LINUX, glibc, stays_flat
from videotemp_o3.video import FrameBudget, VideoReader, sample_many

# Slow: each check repeats its work 50 times (about 20 s of CPU for the file).
pytestmark = [pytest.mark.skipif(not ON_LINUX, reason="reads /proc/self/status, glibc malloc_trim"),
              pytest.mark.slow]


@pytest.fixture(scope="module")
def libc():
    return glibc()


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """20 s of moving 640x360 H.264 with B-frames at 3 Mbit/s: several MiB."""
    path = tmp_path_factory.mktemp("memory") / "moving.mp4"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=size=640x360:rate=30:duration=20", "-c:v", "libx264", "-preset", "veryfast",
                    "-bf", "3", "-g", "90", "-b:v", "3M", "-pix_fmt", "yuv420p", str(path)], check=True)
    assert path.stat().st_size > 4 << 20
    return path


def test_opening_and_indexing_does_not_leak(libc, video):
    def work():
        reader = VideoReader(video)
        assert reader.num_frames == 600
        del reader

    stays_flat(libc, "open + index + close", work)


def test_opening_a_matroska_file_does_not_leak(libc, video, tmp_path):
    # Matroska has no sample table: its index comes from demuxing every packet.
    mkv = tmp_path / "moving.mkv"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(video), "-c", "copy", str(mkv)], check=True)
    stays_flat(libc, "open + index + close (Matroska)", lambda: VideoReader(mkv).num_frames)


@pytest.mark.parametrize("threads", [1, 2])
def test_a_reader_dropped_mid_stream_frees_its_decoder(libc, video, threads):
    def work():
        reader = VideoReader(video, num_threads=threads)
        # Just after keyframes (GOP 90): the decoder is left mid-GOP holding pictures.
        frames = reader.frames_at_indices([91, 95, 272], size=(90, 160))
        assert len(frames) == 3
        del reader, frames

    stays_flat(libc, f"decode then drop ({threads} threads)", work)


def test_save_clip_does_not_leak(libc, video, tmp_path):
    out = tmp_path / "clip.mp4"
    stays_flat(libc, "save_clip", lambda: VideoReader(video).save_clip(5.0, 9.0, out))


def test_sample_many_does_not_leak(libc, video):
    budget = FrameBudget(max_frames=4)

    def work():
        results = sample_many([(video, 3.0, 3.5, budget)] * 3, num_threads=2)
        assert all(len(r) == 4 for r in results)

    stays_flat(libc, "sample_many", work)
