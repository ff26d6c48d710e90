//! What one fuzz input does to the video layer, shared by the libFuzzer targets (fuzz/) and the
//! regression test that replays every kept input (crates/videotemp-video/tests/fuzz_regressions.rs).
//!
//! An input is a two-byte header and a file: byte 0 picks the file's extension (which FFmpeg's
//! probe and the clip muxer look at) and the decoder threads, byte 1 seeds the choice of frames
//! and times, and the rest is written to a scratch file and opened like any video. Errors are
//! the expected outcome for most mutated files; what must never happen is a panic, an abort, a
//! leak, a hang, or an internal error (a panic the layer caught at a thread boundary), so
//! [`VideoError::Internal`] is turned into a panic here for the fuzzer to report.

use std::path::{Path, PathBuf};

use videotemp_video::{FrameBudget, ReaderOptions, VideoError, VideoReader};

/// Extensions byte 0 chooses from (low three bits).
pub const EXTENSIONS: [&str; 8] = ["mp4", "mkv", "ts", "webm", "avi", "y4m", "mov", "flv"];

/// Videos with more frames than this are only opened and indexed (decoding them whole would
/// make one input cost seconds).
const MAX_FRAMES_DECODED: usize = 4000;

/// Which operations an input goes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// open, metadata and the frame index alone (the cheapest: most executions go here).
    OpenIndex,
    /// open, metadata, index, seek + decode by index and by time, budget sampling (exact and
    /// keyframe-snapped).
    OpenDecode,
    /// open, index, save_clip (remux), reopen the clip and decode its first and last frames.
    Remux,
}

/// The header byte that selects `extension` with one decoder thread.
pub fn header_for(extension: &str) -> u8 {
    EXTENSIONS.iter().position(|e| *e == extension).unwrap_or(0) as u8
}

fn ok<T>(r: videotemp_video::Result<T>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(VideoError::Internal(msg)) => panic!("internal error reached the caller: {msg}"),
        Err(_) => None,
    }
}

/// A scratch folder for this process (under the system's temp dir, /dev/shm when it exists).
pub fn scratch_dir() -> PathBuf {
    let base = if Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
    let dir = base.join(format!("videotemp-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Runs `data` through `target` in `scratch`.
pub fn exercise(data: &[u8], target: Target, scratch: &Path) {
    if data.len() < 3 {
        return;
    }
    let (control, seed, file) = (data[0], data[1] as usize, &data[2..]);
    let ext = EXTENSIONS[(control & 7) as usize];
    let threads = if control & 8 != 0 { 2 } else { 1 };
    let path = scratch.join(format!("in.{ext}"));
    std::fs::write(&path, file).expect("write scratch input");
    let reader = match VideoReader::open_with(&path, ReaderOptions { threads, ..ReaderOptions::default() }) {
        Ok(r) => r,
        Err(VideoError::Internal(msg)) => panic!("internal error reached the caller: {msg}"),
        Err(_) => return,
    };
    let meta = reader.metadata().clone();
    assert!(meta.width > 0 && meta.height > 0, "opened with an empty picture {}x{}", meta.width, meta.height);
    let Some(n) = ok(reader.num_frames()) else { return };
    assert!(n > 0, "an index without frames was accepted");
    if let Some(index) = ok(reader.index()) {
        let keys = index.keyframe_indices();
        assert!(keys.iter().all(|&k| k < n), "keyframe index outside the video");
    }
    match target {
        Target::OpenIndex => {}
        Target::OpenDecode => open_decode(&reader, n, seed),
        Target::Remux => remux(&reader, n, seed, scratch, control),
    }
}

fn open_decode(reader: &VideoReader, n: usize, seed: usize) {
    if n > MAX_FRAMES_DECODED {
        return;
    }
    // A few frames by index, out of order and repeated, at a small size.
    let picks = [n - 1, seed % n, 0, (seed * 7 + 3) % n, n / 2, seed % n];
    if let Some(f) = ok(reader.frames_at_indices(&picks, Some((24, 32)))) {
        assert_eq!(f.count, picks.len());
        assert_eq!(f.data.len(), f.count * 24 * 32 * 3);
        assert_eq!(f.indices, picks.to_vec());
    }
    // By time, inside and outside the video.
    let fps = reader.metadata().avg_fps;
    let times = [0.0, (seed % 50) as f64 / 10.0, -1.0, 1e9, n as f64 / fps.max(1e-3) / 2.0];
    if let Some(f) = ok(reader.frames_at(&times, Some((16, 16)))) {
        assert_eq!(f.count, times.len());
    }
    // Budget sampling, whole video and a range, exact and snapped to keyframes.
    let budget = FrameBudget { min_pixels: 784, max_pixels: 3136, nframes: Some(4), ..FrameBudget::default() };
    if let Some(f) = ok(reader.sample(None, &budget)) {
        assert_eq!(f.data.len(), f.count * f.height as usize * f.width as usize * 3);
    }
    let start = (seed % 20) as f64 / 4.0;
    let _ = ok(reader.sample(Some((start, start + 2.0)), &budget));
    let _ = ok(reader.sample_snapped(None, &budget, 1.0));
}

fn remux(reader: &VideoReader, n: usize, seed: usize, scratch: &Path, control: u8) {
    let fps = reader.metadata().avg_fps.max(1e-3);
    let duration = n as f64 / fps;
    let start = duration * (seed % 16) as f64 / 16.0;
    let end = start + duration * ((seed / 16) % 16 + 1) as f64 / 16.0;
    let out = scratch.join(if control & 16 != 0 { "clip.mp4" } else { "clip.mkv" });
    let _ = std::fs::remove_file(&out);
    let Some(saved) = ok(reader.save_clip(start, end, &out)) else { return };
    assert!(saved.start <= saved.end + 1e-9, "clip span reversed: {saved:?}");
    // The clip is a video of its own: open it and decode its ends.
    let Ok(clip) = VideoReader::open_with(&out, ReaderOptions { threads: 1, ..ReaderOptions::default() }) else {
        return;
    };
    let Some(m) = ok(clip.num_frames()) else { return };
    if m <= MAX_FRAMES_DECODED {
        let _ = ok(clip.frames_at_indices(&[0, m - 1], Some((16, 16))));
    }
}
