use pyo3::prelude::*;
use videotemp_video::FrameBudget;

use crate::errors::IntoPyResult;

/// How a segment of video becomes model input (Qwen2.5-VL rules). Defaults are qwen-vl-utils'
/// constants; `FrameBudget.from_env()` reads FPS, FPS_MIN_FRAMES, FPS_MAX_FRAMES,
/// VIDEO_MIN_PIXELS, VIDEO_MAX_PIXELS, VIDEO_TOTAL_PIXELS as ms-swift does.
#[pyclass(name = "FrameBudget", module = "videotemp_o3._core", eq, from_py_object)]
#[derive(Clone, PartialEq)]
pub struct PyFrameBudget {
    pub inner: FrameBudget,
}

#[pymethods]
impl PyFrameBudget {
    #[new]
    #[pyo3(signature = (*, fps=None, min_frames=None, max_frames=None, min_pixels=None, max_pixels=None, total_pixels=None, nframes=None))]
    fn new(
        fps: Option<f64>,
        min_frames: Option<u32>,
        max_frames: Option<u32>,
        min_pixels: Option<u64>,
        max_pixels: Option<u64>,
        total_pixels: Option<u64>,
        nframes: Option<u32>,
    ) -> PyResult<Self> {
        let d = FrameBudget::default();
        let inner = FrameBudget {
            fps: fps.unwrap_or(d.fps),
            min_frames: min_frames.unwrap_or(d.min_frames),
            max_frames: max_frames.unwrap_or(d.max_frames),
            min_pixels: min_pixels.unwrap_or(d.min_pixels),
            max_pixels: max_pixels.unwrap_or(d.max_pixels),
            total_pixels: total_pixels.unwrap_or(d.total_pixels),
            nframes,
        };
        inner.validate().py()?;
        Ok(PyFrameBudget { inner })
    }

    /// The defaults overridden by the environment variables ms-swift reads.
    #[staticmethod]
    fn from_env() -> PyResult<Self> {
        Ok(PyFrameBudget { inner: FrameBudget::from_env().py()? })
    }

    #[getter]
    fn fps(&self) -> f64 { self.inner.fps }
    #[getter]
    fn min_frames(&self) -> u32 { self.inner.min_frames }
    #[getter]
    fn max_frames(&self) -> u32 { self.inner.max_frames }
    #[getter]
    fn min_pixels(&self) -> u64 { self.inner.min_pixels }
    #[getter]
    fn max_pixels(&self) -> u64 { self.inner.max_pixels }
    #[getter]
    fn total_pixels(&self) -> u64 { self.inner.total_pixels }
    #[getter]
    fn nframes(&self) -> Option<u32> { self.inner.nframes }

    /// `(indices, height, width, sample_fps)` for a segment of a video with `total_frames`
    /// frames at `video_fps` and displayed size `height`×`width`; `start`/`end` in seconds
    /// (both `None` for the whole video).
    #[pyo3(signature = (total_frames, video_fps, height, width, start=None, end=None))]
    fn plan(
        &self,
        total_frames: usize,
        video_fps: f64,
        height: u32,
        width: u32,
        start: Option<f64>,
        end: Option<f64>,
    ) -> PyResult<(Vec<usize>, u32, u32, f64)> {
        let range = match (start, end) {
            (None, None) => None,
            (s, e) => Some((s.unwrap_or(0.0), e.unwrap_or(f64::INFINITY))),
        };
        let p = self.inner.plan(total_frames, video_fps, height, width, range).py()?;
        Ok((p.indices, p.height, p.width, p.sample_fps))
    }

    /// Frames for a segment of `total_frames` frames (qwen-vl-utils `smart_nframes`).
    fn nframes_for(&self, total_frames: usize, video_fps: f64) -> PyResult<usize> {
        self.inner.nframes_for(total_frames, video_fps).py()
    }

    /// Per-frame pixel cap for `nframes` frames.
    fn frame_max_pixels(&self, nframes: usize) -> f64 {
        self.inner.frame_max_pixels(nframes)
    }

    fn __repr__(&self) -> String {
        let b = &self.inner;
        format!(
            "FrameBudget(fps={}, min_frames={}, max_frames={}, min_pixels={}, max_pixels={}, total_pixels={}, nframes={})",
            b.fps, b.min_frames, b.max_frames, b.min_pixels, b.max_pixels, b.total_pixels,
            b.nframes.map_or("None".to_string(), |n| n.to_string())
        )
    }
}

/// qwen-vl-utils `smart_resize(height, width, factor, min_pixels, max_pixels)` → (height, width).
#[pyfunction]
#[pyo3(signature = (height, width, factor=28, min_pixels=3136.0, max_pixels=12845056.0))]
pub fn smart_resize(height: u32, width: u32, factor: u32, min_pixels: f64, max_pixels: f64) -> PyResult<(u32, u32)> {
    videotemp_video::smart_resize(height, width, factor, min_pixels, max_pixels).py()
}
