"""VideoTemp-o3: agentic thinking with long videos.

A vision-language model answers questions about long videos by grounding itself in time: it
looks at an overview of the whole video, calls a clip tool on the segment it needs, refines
the segment if needed, and answers. This package holds the agent loop, the engines, the
benchmark registry and scorer, and the training plug-ins; :mod:`videotemp_o3.video` is the
video layer (a Rust extension).
"""

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .video import VideoError as VideoError


def __getattr__(name: str):
    # `videotemp_o3.VideoError` without importing the video layer (and numpy, and the
    # extension) for every user of the package.
    if name == "VideoError":
        from .video import VideoError

        return VideoError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
