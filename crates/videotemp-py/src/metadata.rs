//! `VideoMetadata`: the core's `VideoMetadata` struct exposed through read-only getters — the
//! one definition of a video's metadata (no copy into a dict or a Python dataclass).

use pyo3::prelude::*;
use videotemp_video::VideoMetadata;

/// What the container and stream headers say about a video, read at open without decoding.
/// Sizes are coded sizes (before rotation); ``display_size`` is after it. Values the header
/// does not carry are None. Counts and durations measured from the content (the frame index)
/// are on the reader: ``VideoReader.num_frames``, ``VideoReader.duration_seconds`` and
/// ``VideoReader.duration_seconds_from_content``.
#[pyclass(name = "VideoMetadata", module = "videotemp_o3.video", frozen, eq)]
#[derive(PartialEq)]
pub struct PyVideoMetadata {
    pub inner: VideoMetadata,
}

#[pymethods]
impl PyVideoMetadata {
    /// The file.
    ///
    /// :type: str
    #[getter]
    fn path(&self) -> String {
        self.inner.path.to_string_lossy().into_owned()
    }
    /// Duration in seconds the container declares (the stream's when the container has none).
    ///
    /// :type: float | None
    #[getter]
    fn duration_seconds_from_header(&self) -> Option<f64> {
        self.inner.duration_seconds_from_header
    }
    /// Average frames per second the stream declares (its nominal rate when it has no average).
    ///
    /// :type: float
    #[getter]
    fn avg_fps(&self) -> f64 {
        self.inner.avg_fps
    }
    /// Frame count the container declares (the exact count is ``VideoReader.num_frames``).
    ///
    /// :type: int | None
    #[getter]
    fn num_frames_from_header(&self) -> Option<u64> {
        self.inner.num_frames_from_header
    }
    /// Coded width in pixels (before rotation).
    ///
    /// :type: int
    #[getter]
    fn width(&self) -> u32 {
        self.inner.width
    }
    /// Coded height in pixels (before rotation).
    ///
    /// :type: int
    #[getter]
    fn height(&self) -> u32 {
        self.inner.height
    }
    /// Clockwise rotation in degrees (0, 90, 180 or 270) applied for display.
    ///
    /// :type: int
    #[getter]
    fn rotation(&self) -> u32 {
        self.inner.rotation
    }
    /// ``(height, width)`` as displayed, i.e. after rotation.
    ///
    /// :type: tuple[int, int]
    #[getter]
    fn display_size(&self) -> (u32, u32) {
        self.inner.display_size()
    }
    /// Codec name (FFmpeg's), e.g. ``"h264"``.
    ///
    /// :type: str
    #[getter]
    fn codec(&self) -> String {
        self.inner.codec.clone()
    }
    /// Pixel format name (FFmpeg's), e.g. ``"yuv420p"``.
    ///
    /// :type: str
    #[getter]
    fn pixel_format(&self) -> String {
        self.inner.pixel_format.clone()
    }
    /// Stream time base as ``(numerator, denominator)``.
    ///
    /// :type: tuple[int, int]
    #[getter]
    fn time_base(&self) -> (i32, i32) {
        self.inner.time_base
    }
    /// Seconds of the stream's first presentation timestamp as the container states it (time 0
    /// of every other time in this API).
    ///
    /// :type: float
    #[getter]
    fn begin_stream_seconds_from_header(&self) -> f64 {
        self.inner.start_time
    }

    fn __repr__(&self) -> String {
        let m = &self.inner;
        format!(
            "VideoMetadata(path={:?}, {}x{} {} {}, {:.3} fps, {} s from header, rotation {})",
            m.path.to_string_lossy(),
            m.width,
            m.height,
            m.codec,
            m.pixel_format,
            m.avg_fps,
            m.duration_seconds_from_header.map_or_else(|| "no duration".to_string(), |d| format!("{d:.3}")),
            m.rotation
        )
    }
}
