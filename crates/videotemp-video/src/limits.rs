//! Sizes checked before anything large is allocated, so that a bad argument or a file that
//! declares an absurd picture ends in an error, never in an aborted or killed process.
//!
//! - Pictures: FFmpeg decodes and scales nothing larger than `av_image_check_size` allows,
//!   `(w + 128) · (h + 128) < i32::MAX / 8` (about 268 million pixels: 16255×16255 fits,
//!   16384×16384 does not). A stream or an output size beyond that is refused with that reason
//!   instead of FFmpeg's own error codes (a Y4M header declaring 60000×60000 makes FFmpeg answer
//!   "Device or resource busy").
//! - Output buffers: the byte count is computed without overflow, compared with the machine's
//!   physical memory, and allocated fallibly; a request that cannot be met is a
//!   [`VideoError::OutOfMemory`] naming the bytes, and nothing is allocated.

use std::io::Read;
use std::path::Path;

use crate::error::{Result, VideoError};

/// `i32::MAX / 8`: FFmpeg's bound on `(w + 128) · (h + 128)` (libavutil `av_image_check_size`).
pub const PICTURE_LIMIT: u64 = (i32::MAX / 8) as u64;

/// Whether FFmpeg can decode or scale a `width`×`height` picture.
pub fn picture_fits(width: u64, height: u64) -> bool {
    width > 0 && height > 0 && width.saturating_add(128).saturating_mul(height.saturating_add(128)) < PICTURE_LIMIT
}

fn too_large(width: u64, height: u64) -> String {
    format!(
        "the picture size {width}x{height} exceeds what FFmpeg can decode or scale \
         ((width + 128) x (height + 128) must stay below {PICTURE_LIMIT}; 16255x16255 is the largest square)"
    )
}

/// Refuses a video stream whose declared picture FFmpeg could not decode.
pub(crate) fn check_stream_picture(path: &Path, width: u32, height: u32) -> Result<()> {
    if picture_fits(width as u64, height as u64) {
        return Ok(());
    }
    Err(VideoError::Open { path: path.to_path_buf(), reason: too_large(width as u64, height as u64) })
}

/// Refuses an output size (`field` names the argument that asked for it) that cannot be produced.
pub(crate) fn check_output_picture(field: &'static str, height: u32, width: u32) -> Result<()> {
    if height == 0 || width == 0 {
        return Err(VideoError::argument(field, format!("output size {width}x{height} has a zero side")));
    }
    if picture_fits(width as u64, height as u64) {
        return Ok(());
    }
    Err(VideoError::argument(
        field,
        format!(
            "output size {width}x{height} is larger than FFmpeg can scale to ((width + 128) x (height + 128) \
             must stay below {PICTURE_LIMIT}; 16255x16255 is the largest square)"
        ),
    ))
}

/// Bytes of `count` RGB24 frames of `height`×`width`, exactly (no overflow).
pub fn frames_bytes(count: usize, height: u32, width: u32) -> u128 {
    count as u128 * height as u128 * width as u128 * 3
}

/// Physical memory of the machine in bytes (`None` where it cannot be read).
pub fn physical_memory() -> Option<u64> {
    // SAFETY: sysconf has no preconditions.
    let (pages, page) = unsafe { (libc::sysconf(libc::_SC_PHYS_PAGES), libc::sysconf(libc::_SC_PAGESIZE)) };
    (pages > 0 && page > 0).then(|| pages as u64 * page as u64)
}

/// The zeroed output buffer of `count` frames of `height`×`width` RGB24, or an error when it
/// cannot exist: larger than the machine's memory, than the address space, or refused by the
/// allocator. `what` says what asked for it (it goes into the message).
pub(crate) fn frame_buffer(path: &Path, what: &str, count: usize, height: u32, width: u32) -> Result<Vec<u8>> {
    let bytes = frames_bytes(count, height, width);
    let fail = |hint: String| VideoError::OutOfMemory {
        path: path.to_path_buf(),
        what: format!("{what} ({count} frames of {width}x{height} RGB)"),
        bytes,
        hint,
    };
    if bytes == 0 {
        return Ok(Vec::new());
    }
    if let Some(total) = physical_memory() {
        if bytes > total as u128 {
            return Err(fail(format!(
                ": this machine has {:.1} GiB; ask for fewer frames or a smaller size",
                total as f64 / (1u64 << 30) as f64
            )));
        }
    }
    if bytes > isize::MAX as u128 {
        return Err(fail(String::new()));
    }
    try_zeroed(bytes as usize).ok_or_else(|| fail(": the allocation was refused".into()))
}

/// A zero-filled `Vec<u8>` of `len` bytes, or `None` when the allocator refuses (`vec![0; len]`
/// would abort the process instead). Zeroed pages come from the allocator (calloc), untouched.
pub(crate) fn try_zeroed(len: usize) -> Option<Vec<u8>> {
    if len == 0 {
        return Some(Vec::new());
    }
    let layout = std::alloc::Layout::array::<u8>(len).ok()?;
    // SAFETY: the layout has a non-zero size; the pointer, when not null, is a fresh allocation
    // of `len` initialised (zero) bytes from the global allocator with u8's alignment, which is
    // exactly what Vec::from_raw_parts requires.
    unsafe {
        let ptr = std::alloc::alloc_zeroed(layout);
        if ptr.is_null() {
            return None;
        }
        Some(Vec::from_raw_parts(ptr, len, len))
    }
}

/// Re-explains a failure to open `path`: where the file is a Y4M stream whose header declares a
/// picture FFmpeg cannot decode, that is the reason (FFmpeg's own error code says something
/// unrelated). Any other error is returned unchanged.
pub(crate) fn explain_open_failure(path: &Path, err: VideoError) -> VideoError {
    if let VideoError::Open { .. } = err {
        if let Some((w, h)) = y4m_declared_size(path) {
            if !picture_fits(w, h) {
                return VideoError::Open { path: path.to_path_buf(), reason: too_large(w, h) };
            }
        }
    }
    err
}

/// Width and height a YUV4MPEG2 header declares (`YUV4MPEG2 W<w> H<h> ...` on the first line).
fn y4m_declared_size(path: &Path) -> Option<(u64, u64)> {
    let mut head = [0u8; 512];
    let n = std::fs::File::open(path).ok()?.read(&mut head).ok()?;
    let line = head[..n].split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut tokens = line.split(' ');
    if tokens.next()? != "YUV4MPEG2" {
        return None;
    }
    let (mut w, mut h) = (None, None);
    for t in tokens {
        match t.as_bytes().first() {
            Some(b'W') => w = t[1..].parse().ok(),
            Some(b'H') => h = t[1..].parse().ok(),
            _ => {}
        }
    }
    Some((w?, h?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picture_limit_is_ffmpegs() {
        assert!(picture_fits(16255, 16255));
        assert!(!picture_fits(16256, 16256));
        assert!(!picture_fits(16384, 16384));
        assert!(!picture_fits(60000, 60000));
        assert!(!picture_fits(0, 10));
        assert!(picture_fits(7680, 4320));
        assert!(!picture_fits(u64::MAX, u64::MAX)); // no overflow
    }

    #[test]
    fn impossible_buffers_are_errors_not_aborts() {
        let p = Path::new("v.mp4");
        let e = frame_buffer(p, "frames_at", 1, 100_000, 100_000).unwrap_err();
        assert!(matches!(e, VideoError::OutOfMemory { bytes: 30_000_000_000, .. }), "{e}");
        assert!(e.to_string().contains("v.mp4") && e.to_string().contains("30000000000"), "{e}");
        let e = frame_buffer(p, "x", usize::MAX, u32::MAX, u32::MAX).unwrap_err();
        assert!(matches!(e, VideoError::OutOfMemory { .. }));
        let ok = frame_buffer(p, "x", 2, 4, 5).unwrap();
        assert_eq!(ok.len(), 120);
        assert!(ok.iter().all(|&b| b == 0));
        assert!(frame_buffer(p, "x", 0, 4, 5).unwrap().is_empty());
    }

    #[test]
    fn y4m_header_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.y4m");
        std::fs::write(&p, b"YUV4MPEG2 W60000 H50000 F30:1 Ip A1:1 C420jpeg\nFRAME\n").unwrap();
        assert_eq!(y4m_declared_size(&p), Some((60000, 50000)));
        let e =
            explain_open_failure(&p, VideoError::Open { path: p.clone(), reason: "Device or resource busy".into() });
        assert!(e.to_string().contains("60000x50000 exceeds what FFmpeg can decode"), "{e}");
        std::fs::write(&p, b"RIFF....").unwrap();
        assert_eq!(y4m_declared_size(&p), None);
    }
}
