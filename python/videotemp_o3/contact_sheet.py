"""Contact sheets: a PNG grid of the frames a budget picks, each labelled with its timestamp.

Useful to see what the model sees: the overview of a whole video, or a clip."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import numpy as np

from .video import Frames


def contact_sheet(frames: Frames, out: Path, *, columns: Optional[int] = None, thumb_width: int = 240, title: str = "") -> Path:
    """Writes ``frames`` as a grid PNG to ``out`` and returns the path."""
    from PIL import Image, ImageDraw

    n = len(frames)
    if n == 0:
        raise ValueError("no frames to draw")
    cols = columns or max(1, min(n, math.ceil(math.sqrt(n * 16 / 9))))
    rows = math.ceil(n / cols)
    h, w = frames.frames.shape[1:3]
    tw = thumb_width
    th = max(1, round(h * tw / w))
    label_h, head = 16, 24 if title else 0
    sheet = Image.new("RGB", (cols * tw, head + rows * (th + label_h)), (20, 20, 20))
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((6, 5), title, fill=(240, 240, 240))
    for k in range(n):
        r, c = divmod(k, cols)
        x, y = c * tw, head + r * (th + label_h)
        sheet.paste(Image.fromarray(np.ascontiguousarray(frames.frames[k])).resize((tw, th)), (x, y))
        t = float(frames.timestamps[k])
        draw.text((x + 4, y + th + 2), f"#{int(frames.indices[k])}  {t // 60:02.0f}:{t % 60:06.3f}", fill=(200, 200, 200))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return out
