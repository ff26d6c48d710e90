#![no_main]
//! Mutated container files through open, metadata and the frame index (see fuzz/src/harness.rs).

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static SCRATCH: OnceLock<std::path::PathBuf> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let dir = SCRATCH.get_or_init(videotemp_video_fuzz::scratch_dir);
    videotemp_video_fuzz::exercise(data, videotemp_video_fuzz::Target::OpenIndex, dir);
});
