use std::path::{Path, PathBuf};
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use videotemp_video::{ClipRequest, ReaderOptions, VideoError, VideoReader};

use crate::budget::PyFrameBudget;
use crate::errors::{count, to_py_at, IntoPyResult};
use crate::frames;
use crate::metadata::PyVideoMetadata;

fn out_of_range(path: &Path, field: &'static str, reason: String) -> PyErr {
    to_py_at(VideoError::OutOfRange { path: path.to_path_buf(), field, reason }, None)
}

/// `size=(height, width)` as two positive integers.
fn size_arg(size: Option<&Bound<'_, PyAny>>, path: &Path) -> PyResult<Option<(u32, u32)>> {
    let Some(size) = size.filter(|s| !s.is_none()) else { return Ok(None) };
    let bad = || {
        to_py_at(
            VideoError::InvalidArgument {
                field: "size",
                reason: format!(
                    "must be (height, width) with positive integer sides, got {}",
                    size.repr().map(|r| r.to_string()).unwrap_or_default()
                ),
            },
            Some(path),
        )
    };
    let seq: Vec<Bound<'_, PyAny>> = size.extract().map_err(|_| bad())?;
    if seq.len() != 2 {
        return Err(bad());
    }
    let h: u32 = count("size", &seq[0], Some(path)).map_err(|_| bad())?;
    let w: u32 = count("size", &seq[1], Some(path)).map_err(|_| bad())?;
    if h == 0 || w == 0 {
        return Err(bad());
    }
    Ok(Some((h, w)))
}

/// Frame indices, each in `0..n`; a negative or too large one is a `FrameIndexError`.
fn index_list(indices: &Bound<'_, PyAny>, n: usize, path: &Path) -> PyResult<Vec<usize>> {
    let mut out = Vec::new();
    for (k, item) in indices.try_iter()?.enumerate() {
        let item = item?;
        let shown = || item.repr().map(|r| r.to_string()).unwrap_or_default();
        let outside = |i: String| {
            out_of_range(
                path,
                "indices",
                format!("indices[{k}] = {i}: the video has frames 0..{} ({n} frames)", n.saturating_sub(1) as i64),
            )
        };
        let i: i64 = match item.extract() {
            Ok(i) => i,
            // An integer beyond i64 is outside every video.
            Err(_) if item.is_instance_of::<pyo3::types::PyInt>() => return Err(outside(shown())),
            Err(_) => {
                return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                    "{}: indices[{k}] must be an integer, got {}",
                    path.display(),
                    shown()
                )))
            }
        };
        if i < 0 || i as u64 >= n as u64 {
            return Err(outside(i.to_string()));
        }
        out.push(i as usize);
    }
    Ok(out)
}

fn range_of(start: Option<f64>, end: Option<f64>) -> Option<(f64, f64)> {
    match (start, end) {
        (None, None) => None,
        (s, e) => Some((s.unwrap_or(0.0), e.unwrap_or(f64::INFINITY))),
    }
}

/// One open video (the private engine under ``videotemp_o3.video.VideoReader``). Decoding
/// releases the GIL and may use several threads. ``num_threads`` (0: one per core) is capped at
/// ``max_threads()`` by the core crate. ``skip_nonref`` and ``drain`` switch single
/// speed levers off for benchmarks; both are exact.
#[pyclass(name = "VideoReader", module = "videotemp_o3._core", frozen)]
pub struct PyVideoReader {
    inner: Arc<VideoReader>,
    path: PathBuf,
}

#[pymethods]
impl PyVideoReader {
    #[new]
    #[pyo3(
        signature = (path, num_threads=None, *, skip_nonref=true, drain=true),
        text_signature = "(path: str | os.PathLike[str], num_threads: int = 0, *, skip_nonref: bool = True, drain: bool = True)"
    )]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        num_threads: Option<&Bound<'_, PyAny>>,
        skip_nonref: bool,
        drain: bool,
    ) -> PyResult<Self> {
        let requested: usize = match num_threads {
            Some(n) => count("num_threads", n, Some(&path))?,
            None => 0,
        };
        let options = ReaderOptions { threads: requested, skip_nonref, drain, ..ReaderOptions::default() };
        let p = path.clone();
        let reader = py.detach(move || VideoReader::open_with(&p, options)).py()?;
        Ok(PyVideoReader { inner: Arc::new(reader), path })
    }

    /// What the headers say (no decoding).
    ///
    /// :rtype: VideoMetadata
    #[pyo3(text_signature = "(self)")]
    fn metadata(&self) -> PyVideoMetadata {
        PyVideoMetadata { inner: self.inner.metadata().clone() }
    }

    /// Decoding threads this reader uses (after the cap at ``max_threads()``).
    ///
    /// :rtype: int
    #[pyo3(text_signature = "(self)")]
    fn threads(&self) -> usize {
        self.inner.threads()
    }

    /// Exact frame count, from the frame index (built on first use; nothing is decoded).
    ///
    /// :rtype: int
    #[pyo3(text_signature = "(self)")]
    fn num_frames(&self, py: Python<'_>) -> PyResult<usize> {
        let r = self.inner.clone();
        py.detach(move || r.num_frames()).py_at(&self.path)
    }

    /// Seconds from time 0 to the end of the last frame, from the frame index.
    ///
    /// :rtype: float
    #[pyo3(text_signature = "(self)")]
    fn duration_seconds_from_content(&self, py: Python<'_>) -> PyResult<f64> {
        let r = self.inner.clone();
        py.detach(move || r.duration_seconds_from_content()).py_at(&self.path)
    }

    /// Frames displayed at ``timestamps`` (seconds, each in ``[0, duration_seconds_from_content)``).
    /// Returns ``{"frames", "timestamps", "indices", "sample_fps", "buffer_address"}``.
    ///
    /// :rtype: dict[str, Any]
    #[pyo3(
        signature = (timestamps, size=None),
        text_signature = "(self, timestamps: Sequence[float], size: tuple[int, int] | None = None)"
    )]
    fn frames_at<'py>(
        &self,
        py: Python<'py>,
        timestamps: Vec<f64>,
        size: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let size = size_arg(size, &self.path)?;
        let r = self.inner.clone();
        let end = py.detach(|| r.duration_seconds_from_content()).py_at(&self.path)?;
        for (k, &t) in timestamps.iter().enumerate() {
            // NaN is left to the core, which names it as not a number.
            if t < 0.0 || t >= end {
                return Err(out_of_range(
                    &self.path,
                    "timestamps",
                    format!("timestamps[{k}] = {t} s lies outside the video [0, {end:.6}) s"),
                ));
            }
        }
        let f = py.detach(move || r.frames_at(&timestamps, size)).py_at(&self.path)?;
        frames::into_py(py, f)
    }

    /// Frames by index (presentation order; each in ``[0, num_frames)``).
    ///
    /// :rtype: dict[str, Any]
    #[pyo3(
        signature = (indices, size=None),
        text_signature = "(self, indices: Iterable[int], size: tuple[int, int] | None = None)"
    )]
    fn frames_at_indices<'py>(
        &self,
        py: Python<'py>,
        indices: &Bound<'py, PyAny>,
        size: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let size = size_arg(size, &self.path)?;
        let r = self.inner.clone();
        let n = py.detach(|| r.num_frames()).py_at(&self.path)?;
        let indices = index_list(indices, n, &self.path)?;
        let f = py.detach(move || r.frames_at_indices(&indices, size)).py_at(&self.path)?;
        frames::into_py(py, f)
    }

    /// Frames ``budget`` picks from ``[start, end]`` seconds, or from the whole video when both
    /// are None. With ``snap_to_keyframes`` (seconds), samples move to keyframes within that
    /// tolerance.
    ///
    /// :rtype: dict[str, Any]
    #[pyo3(
        signature = (budget, start=None, end=None, snap_to_keyframes=None),
        text_signature = "(self, budget: FrameBudget, start: float | None = None, end: float | None = None, snap_to_keyframes: float | None = None)"
    )]
    fn sample<'py>(
        &self,
        py: Python<'py>,
        budget: PyFrameBudget,
        start: Option<f64>,
        end: Option<f64>,
        snap_to_keyframes: Option<f64>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let r = self.inner.clone();
        let range = range_of(start, end);
        let f = py
            .detach(move || match snap_to_keyframes {
                None => r.sample(range, &budget.inner),
                Some(tol) => r.sample_snapped(range, &budget.inner, tol),
            })
            .py_at(&self.path)?;
        frames::into_py(py, f)
    }

    /// Decodes ``indices`` with the real seek plan but no conversion; returns packets decoded.
    ///
    /// :rtype: int
    #[pyo3(text_signature = "(self, indices: Iterable[int])")]
    fn decode_only(&self, py: Python<'_>, indices: &Bound<'_, PyAny>) -> PyResult<u64> {
        let r = self.inner.clone();
        let n = py.detach(|| r.num_frames()).py_at(&self.path)?;
        let indices = index_list(indices, n, &self.path)?;
        py.detach(move || r.decode_only(&indices)).py_at(&self.path)
    }

    /// Presentation-order indices of the keyframes.
    ///
    /// :rtype: list[int]
    #[pyo3(text_signature = "(self)")]
    fn keyframe_indices(&self, py: Python<'_>) -> PyResult<Vec<usize>> {
        let r = self.inner.clone();
        py.detach(move || r.index().map(|ix| ix.keyframe_indices())).py_at(&self.path)
    }

    /// Remuxes ``[start, end]`` seconds into ``path``; returns ``(start, end, packets)``: the
    /// seconds the file covers and the video packets written.
    ///
    /// :rtype: tuple[float, float, int]
    #[pyo3(text_signature = "(self, start: float, end: float, path: str | os.PathLike[str])")]
    fn save_clip(&self, py: Python<'_>, start: f64, end: f64, path: PathBuf) -> PyResult<(f64, f64, usize)> {
        let r = self.inner.clone();
        let s = py.detach(move || r.save_clip(start, end, &path)).py_at(&self.path)?;
        Ok((s.start, s.end, s.packets))
    }
}

/// Samples many segments in parallel: ``requests`` is a list of ``(path, start, end, budget)``
/// (start/end None for the whole video). Returns, per request in order, either the frames dict
/// or the exception it raised (one bad video fails only itself); ``videotemp_o3.video.sample_many``
/// turns that into its documented contract. ``num_threads`` (0: one per core) is capped at
/// ``max_threads()``.
///
/// :rtype: list[dict[str, Any] | VideoError]
#[pyfunction]
#[pyo3(
    signature = (requests, num_threads=None),
    text_signature = "(requests: Sequence[tuple[str | os.PathLike[str], float | None, float | None, FrameBudget]], num_threads: int = 0)"
)]
pub fn sample_many<'py>(
    py: Python<'py>,
    requests: Vec<(PathBuf, Option<f64>, Option<f64>, PyFrameBudget)>,
    num_threads: Option<&Bound<'py, PyAny>>,
) -> PyResult<Vec<Py<PyAny>>> {
    let threads = match num_threads {
        Some(n) => count("num_threads", n, None)?,
        None => 0,
    };
    let paths: Vec<PathBuf> = requests.iter().map(|r| r.0.clone()).collect();
    let reqs: Vec<ClipRequest> = requests
        .into_iter()
        .map(|(path, s, e, b)| ClipRequest { path, range: range_of(s, e), budget: b.inner })
        .collect();
    let results = py.detach(move || videotemp_video::decode_many(&reqs, threads));
    results
        .into_iter()
        .zip(paths)
        .map(|(r, path)| match r {
            Ok(f) => Ok(frames::into_py(py, f)?.into_any().unbind()),
            Err(e) => Ok(to_py_at(e, Some(&path)).into_value(py).into_any()),
        })
        .collect()
}

/// The most decoding threads a reader or ``sample_many`` uses: the machine's cores, but at least
/// 16, so a request plans the same decode runs (the same pixels) on any machine up to 16 cores.
///
/// :rtype: int
#[pyfunction]
#[pyo3(text_signature = "()")]
pub fn max_threads() -> usize {
    videotemp_video::max_threads()
}
