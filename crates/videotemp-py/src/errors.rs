//! The one place where video-layer errors become Python exceptions.
//!
//! - a missing file → `FileNotFoundError`
//! - a bad argument or time range → `ValueError`
//! - a file that cannot be opened, decoded or written → `videotemp_o3.video.VideoError`
//!
//! Messages name the file and what was wrong; they come from `VideoError`'s `Display`.

use pyo3::exceptions::{PyFileNotFoundError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use videotemp_video::VideoError;

pyo3::create_exception!(
    _core,
    PyVideoError,
    PyRuntimeError,
    "A video could not be opened, decoded or written. The message names the file and the reason."
);

pub fn to_py(err: VideoError) -> PyErr {
    let msg = err.to_string();
    match err {
        VideoError::NotFound { .. } => PyFileNotFoundError::new_err(msg),
        VideoError::InvalidRange { .. } | VideoError::InvalidArgument { .. } => PyValueError::new_err(msg),
        _ => PyVideoError::new_err(msg),
    }
}

pub trait IntoPyResult<T> {
    fn py(self) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for videotemp_video::Result<T> {
    fn py(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}
