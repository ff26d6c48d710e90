"""Bad input to the video layer: every case ends in one Python exception of the documented
hierarchy naming the file and the argument — never in an aborted or killed process. The cases
that used to end the process run in a child process, so a regression fails its test instead of
taking the test session down."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import videotemp_o3
from videotemp_o3 import video as V
from videotemp_o3.testing.videos import make_indexed_video, read_index
from videotemp_o3.video import FrameBudget, VideoReader


@pytest.fixture(scope="module")
def ten(tmp_path_factory):
    """10 s, 300 frames at 30 fps."""
    return make_indexed_video(tmp_path_factory.mktemp("v") / "ten.mp4", frames=300, fps=30)


def in_child(code: str, timeout: float = 120) -> tuple[int, str]:
    """Runs ``code`` (with ``p``, the video path, and the video module's names) in a fresh
    interpreter under a 2 GiB address-space limit (an attempt to allocate the machine away fails
    fast there); returns the exit status and the last line it printed."""
    prog = "import resource, sys\nresource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))\n" \
           "from videotemp_o3.video import *\np = sys.argv[1]\n" + textwrap.dedent(code)
    return prog


def run_child(code: str, path, timeout: float = 120) -> tuple[int, str]:
    r = subprocess.run([sys.executable, "-c", in_child(code), str(path)], capture_output=True, text=True, timeout=timeout)
    lines = (r.stdout + r.stderr).strip().splitlines()
    return r.returncode, lines[-1] if lines else ""


# --- inputs that used to end the process ----------------------------------------------------------


def test_huge_output_size_raises_instead_of_aborting(ten):
    # Was: "memory allocation of 30000000000 bytes failed", SIGABRT.
    rc, last = run_child("""
        try:
            VideoReader(p).frames_at([1.0], size=(100000, 100000))
        except InvalidArgumentError as e:
            print("RAISED", type(e).__name__, e.argument, e.path, "|", e)
    """, ten)
    assert rc == 0, last
    assert last.startswith("RAISED InvalidArgumentError size ") and "ten.mp4" in last and "100000x100000" in last


FUZZ = os.path.join(os.path.dirname(__file__), os.pardir, "fuzz", "regressions")
FUZZ_EXTENSIONS = ["mp4", "mkv", "ts", "webm", "avi", "y4m", "mov", "flv"]  # fuzz/src/harness.rs


@pytest.mark.parametrize("finding", ["open_index-declared-frame-count-1e10", "remux-mov-declared-frame-count"])
def test_a_header_declaring_billions_of_frames_is_indexed_from_its_packets(tmp_path, finding):
    # Found by fuzzing (fuzz/regressions/): a damaged AVI / MOV header declares ~3.4e9 frames, and
    # reserving an index entry for each was "memory allocation of 161598145968 bytes failed", SIGABRT.
    with open(os.path.join(FUZZ, finding), "rb") as f:
        data = f.read()
    path = tmp_path / f"damaged.{FUZZ_EXTENSIONS[data[0] & 7]}"
    path.write_bytes(data[2:])  # the harness's input: extension byte, option byte, the file
    rc, last = run_child("""
        from videotemp_o3.video import VideoError
        try:
            print("FRAMES", VideoReader(p).num_frames)
        except VideoError as e:
            print("RAISED", type(e).__name__, e)
    """, path)
    assert rc == 0, last
    assert last.startswith("FRAMES") or (last.startswith("RAISED") and "damaged" in last), last


def test_output_that_cannot_fit_in_memory_is_a_memory_error(ten):
    # Sizes FFmpeg can scale to, but 300 frames of them need 170 GiB.
    rc, last = run_child("""
        try:
            VideoReader(p).frames_at_indices(range(300), size=(10000, 20000))
        except VideoMemoryError as e:
            assert isinstance(e, MemoryError)
            print("RAISED", e)
    """, ten)
    assert rc == 0 and last.startswith("RAISED") and "ten.mp4" in last and "180000000000 bytes" in last, last


def test_budget_with_absurd_min_pixels_raises_instead_of_aborting(ten):
    rc, last = run_child("""
        try:
            VideoReader(p).clip(1.0, 3.0, FrameBudget(min_pixels=10**12))
        except InvalidArgumentError as e:
            print("RAISED", e.argument, "|", e)
    """, ten)
    assert rc == 0 and last.startswith("RAISED min_pixels |") and "10000000000" in last, last


def test_thread_count_is_capped_at_max_threads(ten):
    # Was: the process killed (100000 decoder contexts).
    rc, last = run_child("""
        import os
        from videotemp_o3.testing.videos import read_index
        from videotemp_o3.video import max_threads
        r = VideoReader(p, num_threads=100000)
        f = r.frames_at_indices(range(0, 300, 7))
        assert [read_index(x) for x in f.frames] == list(range(0, 300, 7))
        print("THREADS", r.num_threads, max_threads(), len(os.sched_getaffinity(0)))
    """, ten, timeout=300)
    assert rc == 0, last
    used, cap, cores = map(int, last.split()[1:])
    # The cap is the core crate's one rule: the cores, but at least 16.
    assert used == cap and cap >= 16 and cap >= min(cores, cap)


def test_thread_counts_up_to_16_are_kept_on_any_machine(ten):
    # A request plans the same decode runs on a 2-core machine as on a 16-core one, so a
    # count up to 16 is not cut to the cores (0 still means one per core).
    for n in (1, 3, 16):
        assert VideoReader(ten, num_threads=n).num_threads == n
    assert 1 <= VideoReader(ten).num_threads <= (os.cpu_count() or 1)


# --- bad arguments ------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["min_frames", "max_frames", "min_pixels", "max_pixels", "total_pixels", "nframes"])
def test_negative_budget_values_name_the_argument(field):
    # Was: a bare "OverflowError: can't convert negative int to unsigned".
    with pytest.raises(V.InvalidArgumentError, match=f"invalid {field}: must be ≥ 0, got -3") as e:
        FrameBudget(**{field: -3})
    assert isinstance(e.value, ValueError) and e.value.argument == field
    with pytest.raises(V.InvalidArgumentError, match=f"invalid {field}: .* too large"):
        FrameBudget(**{field: 2**70})
    with pytest.raises(TypeError, match=f"{field} must be an integer, got float 2.5"):
        FrameBudget(**{field: 2.5})


def test_numpy_integers_are_counts():
    assert FrameBudget(max_frames=np.int64(64)).max_frames == 64


def test_negative_and_past_the_end_indices_are_index_errors(ten):
    r = VideoReader(ten)
    for bad in (-1, 300, 10**30):
        with pytest.raises(V.FrameIndexError, match=r"ten\.mp4: indices out of range: indices\[1\]") as e:
            r.frames_at_indices([0, bad])
        assert isinstance(e.value, IndexError) and e.value.argument == "indices" and e.value.path == str(ten)
    with pytest.raises(TypeError, match=r"indices\[0\] must be an integer"):
        r.frames_at_indices(["x"])
    assert [read_index(f) for f in r.frames_at_indices(np.array([299, 0])).frames] == [299, 0]


@pytest.mark.parametrize("size", [(-5, 10), (0, 10), (10,), (1.5, 3), "ab"])
def test_bad_sizes_name_the_argument(ten, size):
    with pytest.raises(V.InvalidArgumentError, match=r"ten\.mp4: invalid size: must be \(height, width\)") as e:
        VideoReader(ten).frames_at([1.0], size=size)
    assert e.value.argument == "size"


def test_negative_thread_counts(ten):
    with pytest.raises(V.InvalidArgumentError, match=r"ten\.mp4: invalid num_threads: must be ≥ 0, got -1"):
        VideoReader(ten, num_threads=-1)
    with pytest.raises(V.InvalidArgumentError, match="num_threads"):
        V.sample_many([(ten, None, None, FrameBudget())], num_threads=-2)


# --- pictures FFmpeg cannot decode --------------------------------------------------------------


def y4m(path, width: int, height: int, frames: int = 0):
    """A YUV4MPEG2 file: the header, then ``frames`` grey 4:2:0 frames."""
    data = f"YUV4MPEG2 W{width} H{height} F30:1 Ip A1:1 C420jpeg\n".encode()
    for k in range(frames):
        data += b"FRAME\n" + bytes([16 + 20 * k]) * (width * height) + b"\x80" * (2 * ((width + 1) // 2) * ((height + 1) // 2))
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("side", [60000, 16384])
def test_y4m_declaring_a_huge_picture_says_so(tmp_path, side):
    # Was: FFmpeg's "Device or resource busy".
    p = y4m(tmp_path / "big.y4m", side, side)
    with pytest.raises(V.VideoOpenError, match=rf"big\.y4m: cannot open as a video: the picture size {side}x{side} exceeds what FFmpeg can decode"):
        VideoReader(p)


def test_y4m_of_an_ordinary_size_still_decodes(tmp_path):
    p = y4m(tmp_path / "small.y4m", 64, 48, frames=3)
    r = VideoReader(p)
    assert r.num_frames == 3 and r.metadata.display_size == (48, 64)
    f = r.frames_at_indices([2, 0])
    assert f.frames.shape == (2, 48, 64, 3)
    assert f.frames[0].mean() > f.frames[1].mean()  # frame 2 is the brighter one


# --- the hierarchy -----------------------------------------------------------------------------


def test_hierarchy_is_public_and_picklable(ten, tmp_path):
    assert videotemp_o3.VideoError is V.VideoError
    for cls, also in [(V.VideoNotFoundError, FileNotFoundError), (V.InvalidArgumentError, ValueError),
                      (V.InvalidRangeError, V.InvalidArgumentError), (V.FrameIndexError, IndexError),
                      (V.VideoMemoryError, MemoryError), (V.ClipWriteError, OSError),
                      (V.NoVideoStreamError, V.VideoOpenError), (V.VideoDecodeError, V.VideoError)]:
        assert issubclass(cls, V.VideoError) and issubclass(cls, also)
        assert cls.__module__ == "videotemp_o3.video"
    raised = []
    for call in (lambda: VideoReader(tmp_path / "missing.mp4"),
                 lambda: VideoReader(ten).clip(6.0, 2.0),
                 lambda: VideoReader(ten).frames_at_indices([400]),
                 lambda: VideoReader(ten).save_clip(1.0, 2.0, tmp_path / "no" / "dir" / "c.mp4")):
        with pytest.raises(V.VideoError) as e:
            call()
        raised.append(e.value)
    assert [type(e).__name__ for e in raised] == ["VideoNotFoundError", "InvalidRangeError", "FrameIndexError", "ClipWriteError"]
    assert (raised[1].start, raised[1].end, raised[1].argument) == (6.0, 2.0, "range")
    for e in raised:
        back = pickle.loads(pickle.dumps(e))
        assert type(back) is type(e) and str(back) == str(e)
        assert (back.path, back.argument) == (e.path, e.argument)
    assert raised[0].path.endswith("missing.mp4") and raised[3].path.endswith("c.mp4")


def test_budget_pickles():
    b = FrameBudget(fps=1.0, max_frames=64, min_pixels=3136, nframes=8)
    assert pickle.loads(pickle.dumps(b)) == b
