//! Helpers shared by the integration tests (each test file is its own crate: `mod common;`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs the FFmpeg CLI with `args` (inputs from lavfi) writing `name` in `dir`; panics naming
/// the file if FFmpeg fails.
pub fn ffmpeg(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .arg(&out)
        .status()
        .expect("ffmpeg CLI is installed");
    assert!(status.success(), "ffmpeg failed for {name}");
    out
}
