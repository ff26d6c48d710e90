"""swift_media: the clip files hold exactly our frames, and ms-swift reads them back as such.

The claims of the module docstring, checked against the real components: the frames in a clip
file are bit-identical to the video layer's (read back by their spelled index and by value),
ms-swift's Qwen2.5-VL template turns the file into the same pixel values as our frames with the
clip's true rate (``second_per_grid_ts = 2 / fps``) under both its decord and torchvision
readers, and the non-idempotent budget of the release still gives the overview's frame size.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from sft_helpers import SMALL_VIDEO_ENV, expected_clip_indices, swift_template
from videotemp_o3.testing.videos import make_indexed_video, read_index
from videotemp_o3.training.swift_media import (clip_budget, clip_for_swift, swift_frame_size,
                                               video_for_swift)
from videotemp_o3.video import FrameBudget, VideoReader

decord = pytest.importorskip("decord")
torch = pytest.importorskip("torch")

FPS = 10.0


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    # 30 s at 10 fps with a long GOP, so a clip's frames need real seeking.
    return make_indexed_video(tmp_path_factory.mktemp("media") / "v.mp4", frames=300, fps=FPS,
                              size=(96, 160), gop=60)


@pytest.fixture
def small_env(monkeypatch):
    for k, v in SMALL_VIDEO_ENV.items():
        monkeypatch.setenv(k, v)


def read_file(path) -> np.ndarray:
    vr = decord.VideoReader(str(path))
    return vr.get_batch(list(range(len(vr)))).asnumpy(), vr.get_avg_fps()


@pytest.mark.parametrize("span,expected", [
    # 95 frames in range at 2 of 10 fps -> 19 -> 18 (even), linspace(33, 127, 18).
    ((3.3, 12.7), [33, 39, 44, 50, 55, 61, 66, 72, 77, 83, 88, 94, 99, 105, 110, 116, 121, 127]),
    ((20.0, 21.0), [200, 203, 207, 210]),  # 11 frames -> 2.2, raised to the minimum 4
    ((0.0, 30.0), expected_clip_indices(0.0, 30.0, video_fps=FPS, total_frames=300,
                                        max_frames=32)),  # 60 capped at 32
], ids=["2fps", "short-min-frames", "long-max-frames"])
def test_clip_file_holds_exactly_the_budgets_frames(video, small_env, tmp_path, span, expected):
    reader = VideoReader(video)
    budget = clip_budget(max_frames=32)
    clip = clip_for_swift(reader, *span, budget, tmp_path)
    m = reader.metadata
    indices, h, w, fps = budget.plan(reader.num_frames, m.avg_fps, *m.display_size, *span)
    assert list(indices) == expected == expected_clip_indices(
        *span, video_fps=FPS, total_frames=300, max_frames=32)

    frames, file_fps = read_file(clip.path)
    assert clip.indices.tolist() == expected
    assert [read_index(f) for f in frames] == expected
    # Bit-exact: the same pixels the video layer gives for those frames at that size.
    assert np.array_equal(frames, reader.frames_at_indices(indices, size=(h, w)).frames)
    assert clip.size == clip.stored_size == (h, w)
    assert clip.fps == pytest.approx(fps) and file_fps == pytest.approx(fps, rel=1e-6)
    assert span[0] - 1e-9 <= clip.timestamps[0] and clip.timestamps[-1] <= span[1] + 1e-9
    np.testing.assert_allclose(clip.timestamps, np.asarray(indices) / FPS)


def test_written_once_then_found(video, small_env, tmp_path):
    reader = VideoReader(video)
    first = clip_for_swift(reader, 5.0, 9.0, None, tmp_path)
    stamp = os.stat(first.path).st_mtime_ns
    again = clip_for_swift(reader, 5.0, 9.0, None, tmp_path)
    assert again.path == first.path and os.stat(again.path).st_mtime_ns == stamp
    np.testing.assert_array_equal(again.timestamps, first.timestamps)
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".json", ".mkv"]  # no temp files left
    other = clip_for_swift(reader, 5.0, 9.5, None, tmp_path)
    assert other.path != first.path


def test_budget_must_match_the_environment(video, small_env, tmp_path):
    with pytest.raises(ValueError, match="ms-swift would rescale"):
        clip_for_swift(VideoReader(video), 1.0, 5.0, FrameBudget(fps=2.0, max_frames=64), tmp_path)
    with pytest.raises(ValueError, match="codec"):
        clip_for_swift(VideoReader(video), 1.0, 5.0, None, tmp_path, codec="h264")  # type: ignore[arg-type]


def test_warns_when_ms_swift_would_drop_frames(video, small_env, monkeypatch, tmp_path):
    monkeypatch.setenv("FPS_MAX_FRAMES", "8")
    with pytest.warns(UserWarning, match="keeps 8 of this clip's 18 frames"):
        clip_for_swift(VideoReader(video), 3.3, 12.7, None, tmp_path)


def test_overview_is_the_original_file(video, tmp_path):
    assert video_for_swift(video) == str(video.resolve())
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        video_for_swift(tmp_path / "missing.mp4")


@pytest.mark.parametrize("backend", ["decord", "torchvision"])
def test_ms_swift_reads_the_clip_as_our_frames(tiny_model_dir, video, tmp_path, backend):
    from qwen_vl_utils import vision_process as vp

    with swift_template(tiny_model_dir, SMALL_VIDEO_ENV) as template, \
            pytest.MonkeyPatch.context() as mp:
        for k, v in SMALL_VIDEO_ENV.items():
            mp.setenv(k, v)
        mp.setattr(vp, "FORCE_QWENVL_VIDEO_READER", backend)
        vp.get_video_reader_backend.cache_clear()
        try:
            reader = VideoReader(video)
            clips = [clip_for_swift(reader, 3.3, 12.7, None, tmp_path),   # ≈ 2 fps
                     clip_for_swift(reader, 20.0, 21.0, None, tmp_path)]  # min_frames: 4 in 1 s
            enc = template.encode({"messages": [
                {"role": "user", "content": "<video><video>Which frames?"},
                {"role": "assistant", "content": "<think>x</think>\n<answer>A</answer>"}],
                "videos": [c.path for c in clips]})
        finally:
            vp.get_video_reader_backend.cache_clear()

        processor = template.processor.video_processor
        ours = processor(videos=[torch.from_numpy(reader.frames_at_indices(c.indices, size=c.size).frames)
                                 .permute(0, 3, 1, 2) for c in clips],
                         return_tensors="pt", do_resize=False)
    assert torch.equal(enc["video_grid_thw"], ours["video_grid_thw"])
    assert torch.equal(enc["pixel_values_videos"], ours["pixel_values_videos"])
    # The model is told each clip's true rate, not the 2 fps an image list would get.
    assert enc["second_per_grid_ts"] == pytest.approx([2.0 / c.fps for c in clips], rel=1e-6)
    assert len(clips[1]) == 4 and clips[1].fps > 3  # 4 frames from 11: 3.6 fps, not 2


def test_non_idempotent_budget_still_gives_the_overview_size(tiny_model_dir, video, tmp_path):
    # The release's shape of budget: VIDEO_MAX_PIXELS below VIDEO_MIN_PIXELS · 1.05.
    env = {"VIDEO_MIN_PIXELS": "12544", "VIDEO_MAX_PIXELS": "6272", "FPS_MAX_FRAMES": "64"}
    with swift_template(tiny_model_dir, env) as template, pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        reader = VideoReader(video)
        clip = clip_for_swift(reader, 3.0, 9.0, None, tmp_path)
        target = clip.size
        # ms-swift's resize of the target would change it; of the stored size, it gives the target.
        assert swift_frame_size(*target, len(clip)) != target
        assert clip.stored_size != target
        assert swift_frame_size(*clip.stored_size, len(clip)) == target
        msgs = [{"role": "user", "content": "<video><video>q"},
                {"role": "assistant", "content": "<think>x</think>\n<answer>A</answer>"}]
        enc = template.encode({"messages": msgs, "videos": [video_for_swift(video), clip.path]})
    # Overview (sampled by ms-swift from the source) and clip have the same frame grid.
    overview_hw, clip_hw = enc["video_grid_thw"][0, 1:], enc["video_grid_thw"][1, 1:]
    assert torch.equal(overview_hw, clip_hw)
    assert (clip_hw * 14).tolist() == list(target)


def test_mjpeg_is_close_but_smaller(video, small_env, tmp_path):
    reader = VideoReader(video)
    lossless = clip_for_swift(reader, 3.0, 9.0, None, tmp_path)
    jpeg = clip_for_swift(reader, 3.0, 9.0, None, tmp_path, codec="mjpeg")
    assert jpeg.path.endswith(".avi")
    a, _ = read_file(lossless.path)
    b, _ = read_file(jpeg.path)
    assert [read_index(f) for f in b] == lossless.indices.tolist()
    assert np.abs(a.astype(int) - b.astype(int)).mean() < 3
