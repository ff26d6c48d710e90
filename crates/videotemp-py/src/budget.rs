use pyo3::prelude::*;
use pyo3::types::PyDict;
use videotemp_video::FrameBudget;

use crate::errors::{count, opt_count, IntoPyResult};

/// How a segment of video becomes model input (Qwen2.5-VL rules). Every argument is
/// keyword-only; the defaults are qwen-vl-utils' constants: ``fps=2.0, min_frames=4,
/// max_frames=768, min_pixels=128*28*28, max_pixels=768*28*28,
/// total_pixels=int(128000*28*28*0.9), nframes=None``. Counts are non-negative integers;
/// ``min_pixels`` stays below the largest picture FFmpeg can produce (about 268 million
/// pixels). ``FrameBudget.from_env()`` reads FPS, FPS_MIN_FRAMES, FPS_MAX_FRAMES,
/// VIDEO_MIN_PIXELS, VIDEO_MAX_PIXELS and VIDEO_TOTAL_PIXELS the way ms-swift does
/// (VIDEO_TOTAL_PIXELS keeps its own default when only VIDEO_MAX_PIXELS is set, which corrects
/// qwen-vl-utils 0.0.11 reading the total budget from VIDEO_MAX_PIXELS).
///
/// Raises ``InvalidArgumentError`` (a ``ValueError``) naming the argument for a budget no video
/// could satisfy, ``TypeError`` for a non-integer count.
#[pyclass(name = "FrameBudget", module = "videotemp_o3.video", eq, frozen, from_py_object)]
#[derive(Clone, PartialEq)]
pub struct PyFrameBudget {
    pub inner: FrameBudget,
}

#[pymethods]
impl PyFrameBudget {
    #[new]
    #[pyo3(
        signature = (*, fps=None, min_frames=None, max_frames=None, min_pixels=None, max_pixels=None, total_pixels=None, nframes=None),
        text_signature = "(*, fps: float | None = None, min_frames: int | None = None, max_frames: int | None = None, min_pixels: int | None = None, max_pixels: int | None = None, total_pixels: int | None = None, nframes: int | None = None)"
    )]
    fn new(
        fps: Option<f64>,
        min_frames: Option<&Bound<'_, PyAny>>,
        max_frames: Option<&Bound<'_, PyAny>>,
        min_pixels: Option<&Bound<'_, PyAny>>,
        max_pixels: Option<&Bound<'_, PyAny>>,
        total_pixels: Option<&Bound<'_, PyAny>>,
        nframes: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let d = FrameBudget::default();
        let inner = FrameBudget {
            fps: fps.unwrap_or(d.fps),
            min_frames: opt_count("min_frames", min_frames)?.unwrap_or(d.min_frames),
            max_frames: opt_count("max_frames", max_frames)?.unwrap_or(d.max_frames),
            min_pixels: opt_count("min_pixels", min_pixels)?.unwrap_or(d.min_pixels),
            max_pixels: opt_count("max_pixels", max_pixels)?.unwrap_or(d.max_pixels),
            total_pixels: opt_count("total_pixels", total_pixels)?.unwrap_or(d.total_pixels),
            nframes: opt_count("nframes", nframes)?,
        };
        inner.validate().py()?;
        Ok(PyFrameBudget { inner })
    }

    /// The defaults overridden by the environment variables ms-swift reads.
    ///
    /// :rtype: FrameBudget
    #[staticmethod]
    #[pyo3(text_signature = "()")]
    fn from_env() -> PyResult<Self> {
        Ok(PyFrameBudget { inner: FrameBudget::from_env().py()? })
    }

    /// Sampling rate in frames per second of video time (ignored when ``nframes`` is set).
    ///
    /// :type: float
    #[getter]
    fn fps(&self) -> f64 {
        self.inner.fps
    }
    /// Fewest frames (rounded up to even).
    ///
    /// :type: int
    #[getter]
    fn min_frames(&self) -> u32 {
        self.inner.min_frames
    }
    /// Most frames (capped by the segment's frame count, rounded down to even).
    ///
    /// :type: int
    #[getter]
    fn max_frames(&self) -> u32 {
        self.inner.max_frames
    }
    /// Fewest pixels per frame.
    ///
    /// :type: int
    #[getter]
    fn min_pixels(&self) -> u64 {
        self.inner.min_pixels
    }
    /// Most pixels per frame.
    ///
    /// :type: int
    #[getter]
    fn max_pixels(&self) -> u64 {
        self.inner.max_pixels
    }
    /// Pixel budget of the whole segment, shared by its frames.
    ///
    /// :type: int
    #[getter]
    fn total_pixels(&self) -> u64 {
        self.inner.total_pixels
    }
    /// A fixed frame count instead of ``fps`` (rounded to even), or None.
    ///
    /// :type: int | None
    #[getter]
    fn nframes(&self) -> Option<u32> {
        self.inner.nframes
    }

    /// ``(indices, height, width, sample_fps)`` for a segment of a video with ``total_frames``
    /// frames at ``video_fps`` and displayed size ``height`` x ``width``; ``start``/``end`` in
    /// seconds (both None for the whole video).
    ///
    /// :rtype: tuple[list[int], int, int, float]
    #[pyo3(
        signature = (total_frames, video_fps, height, width, start=None, end=None),
        text_signature = "(self, total_frames: int, video_fps: float, height: int, width: int, start: float | None = None, end: float | None = None)"
    )]
    fn plan(
        &self,
        total_frames: &Bound<'_, PyAny>,
        video_fps: f64,
        height: &Bound<'_, PyAny>,
        width: &Bound<'_, PyAny>,
        start: Option<f64>,
        end: Option<f64>,
    ) -> PyResult<(Vec<usize>, u32, u32, f64)> {
        let range = match (start, end) {
            (None, None) => None,
            (s, e) => Some((s.unwrap_or(0.0), e.unwrap_or(f64::INFINITY))),
        };
        let (n, h, w) =
            (count("total_frames", total_frames, None)?, count("height", height, None)?, count("width", width, None)?);
        let p = self.inner.plan(n, video_fps, h, w, range).py()?;
        Ok((p.indices, p.height, p.width, p.sample_fps))
    }

    /// Frames for a segment of ``total_frames`` frames (qwen-vl-utils ``smart_nframes``).
    ///
    /// :rtype: int
    #[pyo3(text_signature = "(self, total_frames: int, video_fps: float)")]
    fn nframes_for(&self, total_frames: &Bound<'_, PyAny>, video_fps: f64) -> PyResult<usize> {
        self.inner.nframes_for(count("total_frames", total_frames, None)?, video_fps).py()
    }

    /// Per-frame pixel cap for ``nframes`` frames.
    ///
    /// :rtype: float
    #[pyo3(text_signature = "(self, nframes: int)")]
    fn frame_max_pixels(&self, nframes: &Bound<'_, PyAny>) -> PyResult<f64> {
        let n: usize = count("nframes", nframes, None)?;
        if n == 0 {
            return Err(crate::errors::to_py(videotemp_video::VideoError::InvalidArgument {
                field: "nframes",
                reason: "must be positive, got 0".into(),
            }));
        }
        Ok(self.inner.frame_max_pixels(n))
    }

    /// Pickling: the budget is rebuilt from its keyword arguments.
    ///
    /// :rtype: tuple[tuple[()], dict[str, float | int | None]]
    #[pyo3(text_signature = "(self)")]
    fn __getnewargs_ex__<'py>(&self, py: Python<'py>) -> PyResult<((), Bound<'py, PyDict>)> {
        let b = &self.inner;
        let kw = PyDict::new(py);
        kw.set_item("fps", b.fps)?;
        kw.set_item("min_frames", b.min_frames)?;
        kw.set_item("max_frames", b.max_frames)?;
        kw.set_item("min_pixels", b.min_pixels)?;
        kw.set_item("max_pixels", b.max_pixels)?;
        kw.set_item("total_pixels", b.total_pixels)?;
        kw.set_item("nframes", b.nframes)?;
        Ok(((), kw))
    }

    fn __repr__(&self) -> String {
        let b = &self.inner;
        format!(
            "FrameBudget(fps={}, min_frames={}, max_frames={}, min_pixels={}, max_pixels={}, total_pixels={}, nframes={})",
            b.fps,
            b.min_frames,
            b.max_frames,
            b.min_pixels,
            b.max_pixels,
            b.total_pixels,
            b.nframes.map_or("None".to_string(), |n| n.to_string())
        )
    }
}

/// qwen-vl-utils ``smart_resize(height, width, factor, min_pixels, max_pixels)``: both sides
/// multiples of ``factor``, area within ``[min_pixels, max_pixels]``.
///
/// :rtype: tuple[int, int]
#[pyfunction]
#[pyo3(
    signature = (height, width, factor=None, min_pixels=3136.0, max_pixels=12845056.0),
    text_signature = "(height: int, width: int, factor: int = 28, min_pixels: float = 3136.0, max_pixels: float = 12845056.0)"
)]
pub fn smart_resize(
    height: &Bound<'_, PyAny>,
    width: &Bound<'_, PyAny>,
    factor: Option<&Bound<'_, PyAny>>,
    min_pixels: f64,
    max_pixels: f64,
) -> PyResult<(u32, u32)> {
    let factor: u32 = opt_count("factor", factor)?.unwrap_or(videotemp_video::IMAGE_FACTOR);
    if factor == 0 {
        return Err(crate::errors::to_py(videotemp_video::VideoError::InvalidArgument {
            field: "factor",
            reason: "must be positive, got 0".into(),
        }));
    }
    videotemp_video::smart_resize(
        count("height", height, None)?,
        count("width", width, None)?,
        factor,
        min_pixels,
        max_pixels,
    )
    .py()
}
