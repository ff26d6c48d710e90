//! The one error type of the video layer. Every variant names the file (where there is one)
//! and what was wrong, because these messages reach users verbatim through Python exceptions.
//!
//! The Python binding maps each variant to one class of the `videotemp_o3.video` exception
//! hierarchy (`crates/videotemp-py/src/errors.rs` is the only place that does): a caller that
//! needs to branch matches on the variant here or on the class there, never on the message.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    #[error("{path}: no such file")]
    NotFound { path: PathBuf },

    #[error("{path}: cannot open as a video: {reason}")]
    Open { path: PathBuf, reason: String },

    #[error("{path}: the file has no video stream")]
    NoVideoStream { path: PathBuf },

    #[error("{path}: decoding failed: {reason}")]
    Decode { path: PathBuf, reason: String },

    #[error("{path}: invalid time range [{start}, {end}] s: {reason}")]
    InvalidRange { path: PathBuf, start: f64, end: f64, reason: String },

    #[error("invalid {field}: {reason}")]
    InvalidArgument { field: &'static str, reason: String },

    /// A frame index or a time that lies outside the video (Python: an `IndexError`).
    #[error("{path}: {field} out of range: {reason}")]
    OutOfRange { path: PathBuf, field: &'static str, reason: String },

    /// The output asked for would not fit in memory; nothing was allocated.
    #[error("{path}: {what} needs {bytes} bytes ({gib:.1} GiB), more than can be allocated{hint}", gib = *.bytes as f64 / (1u64 << 30) as f64)]
    OutOfMemory { path: PathBuf, what: String, bytes: u128, hint: String },

    #[error("{path}: cannot write clip: {reason}")]
    Write { path: PathBuf, reason: String },

    /// A bug in this crate (a panic caught at a thread boundary). Reported, never propagated as a panic.
    #[error("internal error in the video layer: {0}")]
    Internal(String),
}

pub type Result<T> = std::result::Result<T, VideoError>;

impl VideoError {
    pub(crate) fn decode(path: &std::path::Path, reason: impl std::fmt::Display) -> Self {
        VideoError::Decode { path: path.to_path_buf(), reason: reason.to_string() }
    }

    pub(crate) fn argument(field: &'static str, reason: impl Into<String>) -> Self {
        VideoError::InvalidArgument { field, reason: reason.into() }
    }

    /// The argument a caller got wrong, for variants about one.
    pub fn argument_name(&self) -> Option<&'static str> {
        match self {
            VideoError::InvalidArgument { field, .. } | VideoError::OutOfRange { field, .. } => Some(field),
            VideoError::InvalidRange { .. } => Some("range"),
            _ => None,
        }
    }

    /// The file the error is about, where there is one (for a clip write: the output file).
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            VideoError::NotFound { path }
            | VideoError::Open { path, .. }
            | VideoError::NoVideoStream { path }
            | VideoError::Decode { path, .. }
            | VideoError::InvalidRange { path, .. }
            | VideoError::OutOfRange { path, .. }
            | VideoError::OutOfMemory { path, .. }
            | VideoError::Write { path, .. } => Some(path),
            VideoError::InvalidArgument { .. } | VideoError::Internal(_) => None,
        }
    }
}
