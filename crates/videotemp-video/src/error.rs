//! The one error type of the video layer. Every variant names the file (where there is one)
//! and what was wrong, because these messages reach users verbatim through Python exceptions.

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
}
