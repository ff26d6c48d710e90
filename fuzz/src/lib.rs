//! Fuzzing the video layer: the harness the targets share (see harness.rs and
//! scripts/fuzz_video.sh).

mod harness;
pub use harness::*;
