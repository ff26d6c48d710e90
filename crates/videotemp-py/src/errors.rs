//! The one place where video-layer errors become Python exceptions.
//!
//! Each `VideoError` variant maps to one class of the hierarchy declared, documented and made
//! picklable in `videotemp_o3/video.py` (its public module; `videotemp_o3.VideoError` is the
//! same class):
//!
//! | variant           | class                  | also a              |
//! |-------------------|------------------------|---------------------|
//! | `NotFound`        | `VideoNotFoundError`   | `FileNotFoundError` |
//! | `Open`            | `VideoOpenError`       |                     |
//! | `NoVideoStream`   | `NoVideoStreamError`   | (a `VideoOpenError`)|
//! | `Decode`          | `VideoDecodeError`     |                     |
//! | `InvalidArgument` | `InvalidArgumentError` | `ValueError`        |
//! | `InvalidRange`    | `InvalidRangeError`    | (an `InvalidArgumentError`) |
//! | `OutOfRange`      | `FrameIndexError`      | `IndexError`        |
//! | `OutOfMemory`     | `VideoMemoryError`     | `MemoryError`       |
//! | `Write`           | `ClipWriteError`       | `OSError`           |
//! | `Internal`        | `VideoError`           |                     |
//!
//! Every exception carries `path` (the file, or None) and `argument` (the argument at fault,
//! or None) besides its message, which names the file and what was wrong.

use std::path::Path;

use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyModule;
use videotemp_video::VideoError;

/// The module that declares the exception classes.
const PUBLIC_MODULE: &str = "videotemp_o3.video";

fn class_name(err: &VideoError) -> &'static str {
    match err {
        VideoError::NotFound { .. } => "VideoNotFoundError",
        VideoError::Open { .. } => "VideoOpenError",
        VideoError::NoVideoStream { .. } => "NoVideoStreamError",
        VideoError::Decode { .. } => "VideoDecodeError",
        VideoError::InvalidArgument { .. } => "InvalidArgumentError",
        VideoError::InvalidRange { .. } => "InvalidRangeError",
        VideoError::OutOfRange { .. } => "FrameIndexError",
        VideoError::OutOfMemory { .. } => "VideoMemoryError",
        VideoError::Write { .. } => "ClipWriteError",
        VideoError::Internal(_) => "VideoError",
    }
}

fn module(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    MODULE.get_or_try_init(py, || Ok::<_, PyErr>(py.import(PUBLIC_MODULE)?.unbind())).map(|m| m.bind(py))
}

/// `err` as a Python exception. `file` is the file the call was about (a reader's video); it
/// becomes the exception's `path` and is prefixed to the message when the error itself names
/// no file, so that every message says which video it concerns.
pub fn to_py_at(err: VideoError, file: Option<&Path>) -> PyErr {
    Python::attach(|py| {
        let own_path = err.path().map(|p| p.to_path_buf());
        let path = own_path.clone().or_else(|| file.map(Path::to_path_buf));
        let mut msg = err.to_string();
        if let (None, Some(f)) = (&own_path, file) {
            let shown = f.display().to_string();
            if !msg.contains(&shown) {
                msg = format!("{shown}: {msg}");
            }
        }
        let build = || -> PyResult<PyErr> {
            let cls = module(py)?.getattr(class_name(&err))?;
            let exc = cls.call1((msg.clone(),))?;
            exc.setattr("path", path.as_ref().map(|p| p.to_string_lossy().into_owned()))?;
            exc.setattr("argument", err.argument_name())?;
            if let VideoError::InvalidRange { start, end, .. } = err {
                exc.setattr("start", start)?;
                exc.setattr("end", end)?;
            }
            Ok(PyErr::from_value(exc))
        };
        // The classes live in the package; should it be unimportable, the message still arrives.
        build().unwrap_or_else(|_| PyRuntimeError::new_err(msg.clone()))
    })
}

pub fn to_py(err: VideoError) -> PyErr {
    to_py_at(err, None)
}

pub trait IntoPyResult<T> {
    /// The error as its Python exception.
    fn py(self) -> PyResult<T>;
    /// The same, for a call about `file` (see [`to_py_at`]).
    fn py_at(self, file: &Path) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for videotemp_video::Result<T> {
    fn py(self) -> PyResult<T> {
        self.map_err(to_py)
    }

    fn py_at(self, file: &Path) -> PyResult<T> {
        self.map_err(|e| to_py_at(e, Some(file)))
    }
}

/// A Python integer argument as a non-negative count, with one clear error naming `name` for
/// anything else: not an integer → `TypeError`; negative or too large for `T` →
/// `InvalidArgumentError` (a `ValueError`). PyO3's own conversion would give a bare
/// `OverflowError: can't convert negative int to unsigned`.
pub fn count<T: Count>(name: &'static str, value: &Bound<'_, PyAny>, file: Option<&Path>) -> PyResult<T> {
    let invalid = |reason: String| to_py_at(VideoError::InvalidArgument { field: name, reason }, file);
    if value.is_instance_of::<pyo3::types::PyBool>() || !value.is_instance_of::<pyo3::types::PyInt>() {
        // numpy integers are not PyInt but convert through __index__.
        if !value.hasattr("__index__")? || value.is_instance_of::<pyo3::types::PyBool>() {
            return Err(PyTypeError::new_err(format!(
                "{name} must be an integer, got {} {}",
                value.get_type().name()?,
                value.repr()?
            )));
        }
    }
    if value.lt(0i32)? {
        return Err(invalid(format!("must be ≥ 0, got {}", value.str()?)));
    }
    let too_large = || {
        let v = value.str().map(|s| s.to_string()).unwrap_or_default();
        invalid(format!("{v} is too large (at most {})", T::MAX_COUNT))
    };
    let v: u64 = value.extract().map_err(|_| too_large())?;
    T::try_from(v).map_err(|_| too_large())
}

/// `count` for an optional argument.
pub fn opt_count<T: Count>(name: &'static str, value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<T>> {
    match value {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => count(name, v, None).map(Some),
    }
}

/// Unsigned integer types a Python count converts to.
pub trait Count: TryFrom<u64> {
    const MAX_COUNT: u64;
}

impl Count for u32 {
    const MAX_COUNT: u64 = u32::MAX as u64;
}

impl Count for u64 {
    const MAX_COUNT: u64 = u64::MAX;
}

impl Count for usize {
    const MAX_COUNT: u64 = usize::MAX as u64;
}
