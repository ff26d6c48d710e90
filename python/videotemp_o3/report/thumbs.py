"""Thumbnails for the report, drawn from the video by the video layer.

For one question: the overview frames nearest to each span of interest (the clips it asked
for; the truth spans when it asked for none), and a selection of the frames each clip
actually returned. The frame indices are recomputed with the same rules the agent used
(:meth:`FrameBudget.plan`: an overview of ``n`` frames is the rounded linspace over the whole
video, a clip of ``n`` frames the rounded linspace over ``[start, end]``), so the thumbnails
show the frames the model was given, at a small size.

Files: ``<folder>/<frame index>.webp`` (WebP, quality 70), with ``frames.json`` beside them
listing what was drawn; a rebuild that asks for the same frames of the same video reuses them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from ..video import FrameBudget, VideoReader

THUMB_HEIGHT = 72
OVERVIEW_CONTEXT = 2  # overview frames shown before and after each span
MAX_OVERVIEW_PER_SPAN = 8
MAX_PER_CLIP = 8
MANIFEST = "frames.json"


@dataclass(frozen=True)
class ClipFrames:
    """A clip as the trajectory records it: ``segment`` (seconds, as sampled) and ``frames``
    (how many the model got)."""

    segment: tuple[float, float]
    frames: int


def _evenly(seq: Sequence[int], k: int) -> list[int]:
    """At most ``k`` elements of ``seq`` evenly spread, first and last kept."""
    if len(seq) <= k:
        return list(seq)
    return [seq[i] for i in np.round(np.linspace(0, len(seq) - 1, k)).astype(int)]


def overview_near(times: np.ndarray, span: tuple[float, float]) -> list[int]:
    """Positions in ``times`` (overview frame times, ascending) of the frames inside ``span``
    (at most :data:`MAX_OVERVIEW_PER_SPAN`, evenly picked) and the ``OVERVIEW_CONTEXT`` frames
    on each side of it."""
    s, e = span
    first = int(np.searchsorted(times, s, side="left"))
    after = int(np.searchsorted(times, e, side="right"))
    inside = list(range(first, after))
    before = list(range(max(0, first - OVERVIEW_CONTEXT), first))
    behind = list(range(after, min(len(times), after + OVERVIEW_CONTEXT)))
    return before + _evenly(inside, MAX_OVERVIEW_PER_SPAN - 2 * OVERVIEW_CONTEXT) + behind


def draw(reader: VideoReader, folder: Path, *, overview_frames: Optional[int], spans: Sequence[tuple[float, float]],
         clips: Sequence[ClipFrames]) -> dict[str, Any]:
    """Draws the thumbnails of one question about ``reader``'s video into ``folder``; returns
    ``{"overview": [{"i": index, "t": seconds}], "clips": [[{"i", "t"}, …] per clip]}`` (file
    ``<i>.webp`` in ``folder``). ``overview_frames``: frames of the question's overview (None:
    the trajectory does not say; then no overview thumbnails). Raises what the video layer
    raises for an unreadable video. Questions about the same video share one reader, so the
    file is opened and indexed once."""
    video = reader.path
    total = reader.num_frames
    fps = reader.metadata.avg_fps
    h0, w0 = reader.metadata.display_size

    overview_idx: list[int] = []
    if overview_frames and spans:
        idx = FrameBudget(nframes=overview_frames).plan(total, fps, h0, w0)[0]
        times = np.asarray(idx, dtype=np.float64) / fps
        picked = sorted({p for span in spans for p in overview_near(times, span)})
        overview_idx = [idx[p] for p in picked]
    clip_idx = []
    for c in clips:
        try:
            idx = FrameBudget(nframes=c.frames).plan(total, fps, h0, w0, c.segment[0], c.segment[1])[0]
        except ValueError:  # a span the budget cannot sample now (the file changed since the run)
            idx = []
        clip_idx.append(_evenly(idx, MAX_PER_CLIP))

    wanted = sorted(set(overview_idx).union(*clip_idx))
    height = THUMB_HEIGHT
    width = max(2, int(round(w0 * height / h0 / 2)) * 2)
    key = {"video": os.path.abspath(video), "size": os.path.getsize(video), "frames": wanted, "height": height}
    manifest = folder / MANIFEST
    times_of: dict[int, float] = {}
    if manifest.is_file():
        try:
            old = json.loads(manifest.read_text())
            if old.get("key") == key and all((folder / f"{i}.webp").is_file() for i in wanted):
                times_of = {int(i): t for i, t in old["times"].items()}
        except (ValueError, KeyError, AttributeError):
            times_of = {}
    if not times_of and wanted:
        from PIL import Image

        decoded = reader.frames_at_indices(wanted, size=(height, width))
        folder.mkdir(parents=True, exist_ok=True)
        for k, i in enumerate(wanted):
            Image.fromarray(decoded.frames[k]).save(folder / f"{i}.webp", quality=70, method=4)
            times_of[i] = float(decoded.timestamps[k])
        manifest.write_text(json.dumps({"key": key, "times": {str(i): t for i, t in times_of.items()}}))

    def entries(idx: Sequence[int]) -> list[dict[str, Any]]:
        return [{"i": i, "t": round(times_of[i], 3)} for i in idx]

    return {"overview": entries(overview_idx), "clips": [entries(c) for c in clip_idx]}
