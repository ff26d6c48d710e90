//! # videotemp-video
//!
//! The video layer of VideoTemp-o3: frame-exact seek-and-decode over FFmpeg, clip sampling
//! with Qwen2.5-VL's frame budgets, and clip export by remuxing. No Python here; the
//! `videotemp-py` crate binds it.
//!
//! Semantics:
//! - Time is seconds from the video stream's start time.
//! - "The frame at t" is the frame displayed at t: the last frame whose presentation time is
//!   ≤ t (the first frame for t before it).
//! - A clip `[S, E]` is sampled as qwen-vl-utils does with `video_start`/`video_end`: start
//!   index ⌈S·fps⌉, end index min(⌊E·fps⌋, total − 1), `n` frames by rounded linspace.
//! - Output is RGB24, `[T, H, W, 3]`, rotation metadata applied, in one buffer allocated once.
//!
//! ```no_run
//! use videotemp_video::{FrameBudget, VideoReader};
//! let reader = VideoReader::open("video.mp4")?;
//! let clip = reader.sample(Some((58.0, 100.0)), &FrameBudget::default())?;
//! println!("{} frames of {}x{} at t = {:?}", clip.count, clip.width, clip.height, clip.timestamps);
//! # Ok::<(), videotemp_video::VideoError>(())
//! ```

pub mod budget;
mod convert;
mod decode;
pub mod limits;
mod reader;
mod remux;
mod source;

pub use budget::{smart_resize, FrameBudget, SamplePlan, FRAME_FACTOR, IMAGE_FACTOR};
pub use error::{Result, VideoError};
pub use reader::{decode_many, max_threads, ClipRequest, Frames, ReaderOptions, VideoReader};
pub use remux::SavedClip;
pub use source::{FrameIndex, IndexScan, Timeline, VideoMetadata, NO_FRAME};

pub mod error;
