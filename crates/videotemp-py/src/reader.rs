use std::path::PathBuf;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use videotemp_video::{ClipRequest, ReaderOptions, VideoReader};

use crate::budget::PyFrameBudget;
use crate::errors::IntoPyResult;
use crate::frames;

/// One open video. Decoding releases the GIL and may use several threads.
#[pyclass(name = "VideoReader", module = "videotemp_o3._core", frozen)]
pub struct PyVideoReader {
    inner: Arc<VideoReader>,
}

#[pymethods]
impl PyVideoReader {
    #[new]
    #[pyo3(signature = (path, num_threads=0, skip_nonref=true, drain=true))]
    fn new(py: Python<'_>, path: PathBuf, num_threads: usize, skip_nonref: bool, drain: bool) -> PyResult<Self> {
        let options = ReaderOptions { threads: num_threads, skip_nonref, drain, ..ReaderOptions::default() };
        let reader = py.detach(|| VideoReader::open_with(&path, options)).py()?;
        Ok(PyVideoReader { inner: Arc::new(reader) })
    }

    /// Metadata as a dict (no decoding).
    fn metadata<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let m = self.inner.metadata();
        let d = PyDict::new(py);
        d.set_item("path", m.path.to_string_lossy())?;
        // The container's claim, else (no claim, e.g. Matroska written to a pipe) the frames'.
        let duration = match m.duration_seconds_from_header {
            Some(d) => d,
            None => py.detach(|| self.inner.duration_seconds_from_content()).py()?,
        };
        d.set_item("duration", duration)?;
        d.set_item("avg_fps", m.avg_fps)?;
        d.set_item("container_frames", m.num_frames_from_header.unwrap_or(0))?;
        d.set_item("width", m.width)?;
        d.set_item("height", m.height)?;
        d.set_item("rotation", m.rotation)?;
        d.set_item("codec", &m.codec)?;
        d.set_item("pixel_format", &m.pixel_format)?;
        d.set_item("time_base", m.time_base)?;
        d.set_item("start_time", m.start_time)?;
        Ok(d)
    }

    /// Exact frame count (demuxes the file once, decodes nothing).
    fn num_frames(&self, py: Python<'_>) -> PyResult<usize> {
        let r = self.inner.clone();
        py.detach(move || r.num_frames()).py()
    }

    /// Duration from the frame index: last frame's time plus one average frame interval.
    fn exact_duration(&self, py: Python<'_>) -> PyResult<f64> {
        let r = self.inner.clone();
        py.detach(move || r.duration_seconds_from_content()).py()
    }

    #[pyo3(signature = (timestamps, size=None))]
    fn frames_at<'py>(&self, py: Python<'py>, timestamps: Vec<f64>, size: Option<(u32, u32)>) -> PyResult<Bound<'py, PyDict>> {
        let r = self.inner.clone();
        let f = py.detach(move || r.frames_at(&timestamps, size)).py()?;
        frames::into_py(py, f)
    }

    #[pyo3(signature = (indices, size=None))]
    fn frames_at_indices<'py>(&self, py: Python<'py>, indices: Vec<usize>, size: Option<(u32, u32)>) -> PyResult<Bound<'py, PyDict>> {
        let r = self.inner.clone();
        let f = py.detach(move || r.frames_at_indices(&indices, size)).py()?;
        frames::into_py(py, f)
    }

    /// Frames `budget` picks from `[start, end]` seconds, or from the whole video when both are None.
    /// With `snap_to_keyframes` (seconds), samples move to keyframes within that tolerance.
    #[pyo3(signature = (budget, start=None, end=None, snap_to_keyframes=None))]
    fn sample<'py>(
        &self,
        py: Python<'py>,
        budget: PyFrameBudget,
        start: Option<f64>,
        end: Option<f64>,
        snap_to_keyframes: Option<f64>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let r = self.inner.clone();
        let range = match (start, end) {
            (None, None) => None,
            (s, e) => Some((s.unwrap_or(0.0), e.unwrap_or(f64::INFINITY))),
        };
        let f = py
            .detach(move || match snap_to_keyframes {
                None => r.sample(range, &budget.inner),
                Some(tol) => r.sample_snapped(range, &budget.inner, tol),
            })
            .py()?;
        frames::into_py(py, f)
    }

    /// Decodes `indices` with the real seek plan but no conversion; returns packets decoded.
    fn decode_only(&self, py: Python<'_>, indices: Vec<usize>) -> PyResult<u64> {
        let r = self.inner.clone();
        py.detach(move || r.decode_only(&indices)).py()
    }

    /// Presentation-order indices of the keyframes.
    fn keyframe_indices(&self, py: Python<'_>) -> PyResult<Vec<usize>> {
        let r = self.inner.clone();
        py.detach(move || r.index().map(|ix| ix.keyframe_indices())).py()
    }

    /// Remuxes `[start, end]` seconds into `path`; returns (start, end) actually covered.
    fn save_clip(&self, py: Python<'_>, start: f64, end: f64, path: PathBuf) -> PyResult<(f64, f64, usize)> {
        let r = self.inner.clone();
        let s = py.detach(move || r.save_clip(start, end, &path)).py()?;
        Ok((s.start, s.end, s.packets))
    }
}

/// Samples many segments in parallel: `requests` is a list of `(path, start, end, budget)`
/// (start/end None for the whole video). Returns, per request, either the frames dict or the
/// exception it raised — one bad video fails only itself.
#[pyfunction]
#[pyo3(signature = (requests, num_threads=0))]
pub fn sample_many<'py>(
    py: Python<'py>,
    requests: Vec<(PathBuf, Option<f64>, Option<f64>, PyFrameBudget)>,
    num_threads: usize,
) -> PyResult<Vec<Py<PyAny>>> {
    let reqs: Vec<ClipRequest> = requests
        .into_iter()
        .map(|(path, s, e, b)| ClipRequest {
            path,
            range: match (s, e) {
                (None, None) => None,
                (s, e) => Some((s.unwrap_or(0.0), e.unwrap_or(f64::INFINITY))),
            },
            budget: b.inner,
        })
        .collect();
    let results = py.detach(move || videotemp_video::decode_many(&reqs, num_threads));
    results
        .into_iter()
        .map(|r| match r {
            Ok(f) => Ok(frames::into_py(py, f)?.into_any().unbind()),
            Err(e) => Ok(crate::errors::to_py(e).into_value(py).into_any()),
        })
        .collect()
}
