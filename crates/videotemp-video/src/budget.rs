//! Frame budgets: how many frames a segment is sampled with and at what size, reproducing
//! Qwen2.5-VL's rules (qwen-vl-utils 0.0.11 `smart_nframes`, `smart_resize`,
//! `calculate_video_frame_range` and the per-frame pixel cap of `fetch_video`) bit for bit,
//! including Python's round-half-to-even and torch's float32 `linspace`.

use crate::error::{Result, VideoError};
use crate::limits;

/// Side lengths are multiples of this (patch 14 × spatial merge 2).
pub const IMAGE_FACTOR: u32 = 28;
/// Frame counts are multiples of this (temporal patch size).
pub const FRAME_FACTOR: u32 = 2;
/// Largest accepted ratio between the long and the short side.
pub const MAX_RATIO: f64 = 200.0;

/// How a segment of video is turned into model input.
///
/// Defaults are qwen-vl-utils' module constants. [`FrameBudget::from_env`] reads the same
/// environment variables ms-swift reads (FPS, FPS_MIN_FRAMES, FPS_MAX_FRAMES, VIDEO_MIN_PIXELS,
/// VIDEO_MAX_PIXELS, VIDEO_TOTAL_PIXELS). ms-swift's behaviour is reproduced rather than
/// qwen-vl-utils' own: qwen-vl-utils 0.0.11 initialises VIDEO_TOTAL_PIXELS from the
/// *VIDEO_MAX_PIXELS* variable, which ms-swift undoes by setting VIDEO_TOTAL_PIXELS to
/// 128000·28²·0.9 whenever only VIDEO_MAX_PIXELS is given.
#[derive(Clone, Debug, PartialEq)]
pub struct FrameBudget {
    /// Sampling rate in frames per second of video time (ignored when `nframes` is set).
    pub fps: f64,
    /// Fewest frames (rounded up to even).
    pub min_frames: u32,
    /// Most frames (capped by the segment's frame count, rounded down to even).
    pub max_frames: u32,
    /// Fewest pixels per frame.
    pub min_pixels: u64,
    /// Most pixels per frame.
    pub max_pixels: u64,
    /// Pixel budget of the whole segment, shared by its frames.
    pub total_pixels: u64,
    /// A fixed frame count instead of `fps` (rounded to even, like qwen-vl-utils).
    pub nframes: Option<u32>,
}

/// `int(128000 * 28 * 28 * 0.9)`, the default total pixel budget of qwen-vl-utils and ms-swift.
pub const DEFAULT_TOTAL_PIXELS: u64 = 90_316_800;

impl Default for FrameBudget {
    fn default() -> Self {
        FrameBudget {
            fps: 2.0,
            min_frames: 4,
            max_frames: 768,
            min_pixels: 128 * 28 * 28,
            max_pixels: 768 * 28 * 28,
            total_pixels: DEFAULT_TOTAL_PIXELS,
            nframes: None,
        }
    }
}

/// The frames chosen for a segment and the size they are delivered at.
#[derive(Clone, Debug, PartialEq)]
pub struct SamplePlan {
    /// Frame indices (presentation order), ascending, possibly repeated.
    pub indices: Vec<usize>,
    /// Output height and width in pixels (multiples of [`IMAGE_FACTOR`]).
    pub height: u32,
    pub width: u32,
    /// Frames per second of the sampled sequence, as qwen-vl-utils reports it
    /// (`nframes / segment_frames * video_fps`).
    pub sample_fps: f64,
}

impl FrameBudget {
    /// The defaults overridden by environment variables, as ms-swift reads them.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`FrameBudget::from_env`], with the variables taken from `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        fn parse<T: std::str::FromStr>(name: &'static str, v: Option<String>, default: T) -> Result<T> {
            match v {
                None => Ok(default),
                Some(s) => s.trim().parse().map_err(|_| {
                    VideoError::argument(name, format!("environment variable {name}={s:?} is not a number"))
                }),
            }
        }
        let d = FrameBudget::default();
        let b = FrameBudget {
            fps: parse("FPS", lookup("FPS"), d.fps)?,
            min_frames: parse("FPS_MIN_FRAMES", lookup("FPS_MIN_FRAMES"), d.min_frames)?,
            max_frames: parse("FPS_MAX_FRAMES", lookup("FPS_MAX_FRAMES"), d.max_frames)?,
            min_pixels: parse("VIDEO_MIN_PIXELS", lookup("VIDEO_MIN_PIXELS"), d.min_pixels)?,
            max_pixels: parse("VIDEO_MAX_PIXELS", lookup("VIDEO_MAX_PIXELS"), d.max_pixels)?,
            // ms-swift: VIDEO_TOTAL_PIXELS is its own variable with the 128000·28²·0.9 default.
            total_pixels: parse("VIDEO_TOTAL_PIXELS", lookup("VIDEO_TOTAL_PIXELS"), d.total_pixels)?,
            nframes: None,
        };
        b.validate()?;
        Ok(b)
    }

    /// Rejects budgets no video could satisfy (NaN fps, zero pixels, min above max...).
    pub fn validate(&self) -> Result<()> {
        if !(self.fps.is_finite() && self.fps > 0.0) {
            return Err(VideoError::argument("fps", format!("must be a positive number, got {}", self.fps)));
        }
        if self.max_frames < FRAME_FACTOR {
            return Err(VideoError::argument(
                "max_frames",
                format!("must be at least {FRAME_FACTOR}, got {}", self.max_frames),
            ));
        }
        if self.min_frames > self.max_frames {
            return Err(VideoError::argument(
                "min_frames",
                format!("{} exceeds max_frames {}", self.min_frames, self.max_frames),
            ));
        }
        for (field, v) in
            [("min_pixels", self.min_pixels), ("max_pixels", self.max_pixels), ("total_pixels", self.total_pixels)]
        {
            if v == 0 {
                return Err(VideoError::argument(field, "must be positive, got 0"));
            }
        }
        // Frames are scaled up to min_pixels: a floor above the largest picture FFmpeg can
        // produce could never be met (and would ask for terabytes).
        if self.min_pixels >= limits::PICTURE_LIMIT {
            return Err(VideoError::argument(
                "min_pixels",
                format!(
                    "{} is above the largest picture FFmpeg can produce (about {} pixels)",
                    self.min_pixels,
                    limits::PICTURE_LIMIT
                ),
            ));
        }
        if let Some(n) = self.nframes {
            if n == 0 {
                return Err(VideoError::argument("nframes", "must be positive"));
            }
        }
        Ok(())
    }

    /// Number of frames for a segment of `total_frames` frames of a `video_fps` video
    /// (qwen-vl-utils `smart_nframes`).
    pub fn nframes_for(&self, total_frames: usize, video_fps: f64) -> Result<usize> {
        let total = total_frames as f64;
        let ff = FRAME_FACTOR as f64;
        let n = match self.nframes {
            Some(n) => round_half_even(n as f64 / ff) * ff,
            None => {
                let min_frames = (self.min_frames as f64 / ff).ceil() * ff;
                let max_frames = ((self.max_frames as f64).min(total) / ff).floor() * ff;
                let n = total / video_fps * self.fps;
                let n = n.max(min_frames).min(max_frames).min(total);
                (n / ff).floor() * ff
            }
        };
        if !(n >= ff && n <= total) {
            return Err(VideoError::argument(
                "nframes",
                format!("a segment of {total_frames} frames cannot be sampled: {n} frames are not within [{FRAME_FACTOR}, {total_frames}]"),
            ));
        }
        Ok(n as usize)
    }

    /// The per-frame pixel cap for `nframes` frames: `max(min(max_pixels, total_pixels / n · 2),
    /// int(min_pixels · 1.05))`, as in qwen-vl-utils `fetch_video`.
    pub fn frame_max_pixels(&self, nframes: usize) -> f64 {
        let by_total = self.total_pixels as f64 / nframes as f64 * FRAME_FACTOR as f64;
        let cap = (self.max_pixels as f64).min(by_total);
        cap.max((self.min_pixels as f64 * 1.05).trunc())
    }

    /// Frames and output size for the segment `[start, end]` seconds (or the whole video when
    /// `range` is `None`) of a video with `total_frames` frames at `video_fps` whose displayed
    /// size is `height`×`width`.
    pub fn plan(
        &self,
        total_frames: usize,
        video_fps: f64,
        height: u32,
        width: u32,
        range: Option<(f64, f64)>,
    ) -> Result<SamplePlan> {
        self.validate()?;
        let (first, last) = frame_range(total_frames, video_fps, range)?;
        let count = last - first + 1;
        let n = self.nframes_for(count, video_fps)?;
        let indices = linspace_round(first as f32, last as f32, n);
        let (h, w) = smart_resize(height, width, IMAGE_FACTOR, self.min_pixels as f64, self.frame_max_pixels(n))?;
        if !limits::picture_fits(w as u64, h as u64) {
            return Err(VideoError::argument(
                if h as u64 * w as u64 > height as u64 * width as u64 { "min_pixels" } else { "max_pixels" },
                format!(
                    "the budget asks for {w}x{h} frames of this {width}x{height} video, larger than FFmpeg's scaler can \
                     produce ((w + 128) x (h + 128) < {})",
                    limits::PICTURE_LIMIT
                ),
            ));
        }
        Ok(SamplePlan { indices, height: h, width: w, sample_fps: n as f64 / count as f64 * video_fps })
    }
}

/// First and last frame index of `[start, end]` seconds (qwen-vl-utils
/// `calculate_video_frame_range`): start index ⌈S·fps⌉, end index min(⌊E·fps⌋, total − 1),
/// both times clamped to the video first.
pub fn frame_range(total_frames: usize, video_fps: f64, range: Option<(f64, f64)>) -> Result<(usize, usize)> {
    if !(video_fps.is_finite() && video_fps > 0.0) {
        return Err(VideoError::argument("video_fps", format!("must be positive, got {video_fps}")));
    }
    if total_frames == 0 {
        return Err(VideoError::argument("total_frames", "the video has no frames"));
    }
    let Some((start, end)) = range else {
        return Ok((0, total_frames - 1));
    };
    let max_duration = total_frames as f64 / video_fps;
    let s = start.min(max_duration).max(0.0);
    let e = end.min(max_duration).max(0.0);
    let first = (s * video_fps).ceil() as usize;
    let last = ((e * video_fps).floor() as usize).min(total_frames - 1);
    if first >= last {
        return Err(VideoError::argument(
            "range",
            format!(
                "[{start}, {end}] s holds fewer than two frames of this {max_duration:.3} s video \
                 (frames {first}..{last} at {video_fps} fps)"
            ),
        ));
    }
    Ok((first, last))
}

/// qwen-vl-utils `smart_resize`: both sides multiples of `factor`, area within
/// `[min_pixels, max_pixels]`, aspect ratio kept as closely as possible.
pub fn smart_resize(height: u32, width: u32, factor: u32, min_pixels: f64, max_pixels: f64) -> Result<(u32, u32)> {
    if height == 0 || width == 0 {
        return Err(VideoError::argument("size", format!("{width}x{height} has a zero side")));
    }
    let (h, w, f) = (height as f64, width as f64, factor as f64);
    let ratio = h.max(w) / h.min(w);
    if ratio > MAX_RATIO {
        return Err(VideoError::argument(
            "size",
            format!("aspect ratio of {width}x{height} is {ratio:.1}, above the limit {MAX_RATIO}"),
        ));
    }
    let mut h_bar = f.max(round_half_even(h / f) * f);
    let mut w_bar = f.max(round_half_even(w / f) * f);
    if h_bar * w_bar > max_pixels {
        let beta = (h * w / max_pixels).sqrt();
        h_bar = (h / beta / f).floor() * f;
        w_bar = (w / beta / f).floor() * f;
    } else if h_bar * w_bar < min_pixels {
        let beta = (min_pixels / (h * w)).sqrt();
        h_bar = (h * beta / f).ceil() * f;
        w_bar = (w * beta / f).ceil() * f;
    }
    if h_bar < f || w_bar < f {
        // qwen-vl-utils would hand a zero-sized frame to the resizer here; refuse instead.
        return Err(VideoError::argument(
            "size",
            format!("{width}x{height} cannot fit {max_pixels} pixels with sides multiple of {factor}"),
        ));
    }
    Ok((h_bar as u32, w_bar as u32))
}

/// Python's `round`: halves go to the even neighbour.
pub fn round_half_even(x: f64) -> f64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 {
        2.0 * (x / 2.0).round()
    } else {
        r
    }
}

/// `torch.linspace(start, end, n).round().long()` with torch's float32 arithmetic: the first
/// half counts up from `start`, the second half down from `end`, and halves round to even.
///
/// torch's CPU kernel computes `start + step * i` in float32, and its x86 builds (AVX2/AVX512
/// kernels, compiled with FMA and GCC's default floating-point contraction) fuse that into one
/// fused multiply-add. Without the FMA about 5% of 300-frame clips differ by one frame index at
/// .5 boundaries, so the FMA is reproduced here (`f32::mul_add` rounds once, like the hardware).
pub fn linspace_round(start: f32, end: f32, n: usize) -> Vec<usize> {
    if n == 0 {
        return Vec::new();
    }
    if n == 1 {
        return vec![start.round_ties_even() as usize];
    }
    let step = (end - start) / (n - 1) as f32;
    let half = n / 2;
    (0..n)
        .map(|i| {
            let v = if i < half { step.mul_add(i as f32, start) } else { (-step).mul_add((n - i - 1) as f32, end) };
            v.round_ties_even().max(0.0) as usize
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_qwen_vl_utils_constants() {
        let b = FrameBudget::default();
        assert_eq!(b.min_pixels, 100_352);
        assert_eq!(b.max_pixels, 602_112);
        assert_eq!(b.total_pixels, (128_000.0f64 * 784.0 * 0.9) as u64);
    }

    #[test]
    fn env_overrides_follow_ms_swift() {
        let env = |k: &str| match k {
            "VIDEO_MAX_PIXELS" => Some("200704".to_string()),
            "FPS_MAX_FRAMES" => Some("256".to_string()),
            _ => None,
        };
        let b = FrameBudget::from_lookup(env).unwrap();
        assert_eq!(b.max_pixels, 200_704);
        assert_eq!(b.max_frames, 256);
        // Only VIDEO_MAX_PIXELS given: the total budget keeps ms-swift's default.
        assert_eq!(b.total_pixels, DEFAULT_TOTAL_PIXELS);
        let bad = FrameBudget::from_lookup(|k| (k == "FPS").then(|| "fast".to_string()));
        assert!(bad.unwrap_err().to_string().contains("FPS=\"fast\""));
    }

    #[test]
    fn round_half_even_matches_python() {
        for (x, r) in [(0.5, 0.0), (1.5, 2.0), (2.5, 2.0), (-0.5, 0.0), (3.4999, 3.0), (7.5, 8.0)] {
            assert_eq!(round_half_even(x), r, "round({x})");
        }
    }

    #[test]
    fn smart_resize_known_values() {
        // 720p at the 200704-pixel budget of the release: 336x588 (12x21 patches of 28).
        assert_eq!(smart_resize(720, 1280, 28, 100_352.0, 200_704.0).unwrap(), (336, 588));
        // sqrt(100352 / 100) = 31.68 -> 316.8 -> ceil to 12 patches.
        assert_eq!(smart_resize(10, 10, 28, 100_352.0, 602_112.0).unwrap(), (336, 336));
        assert!(smart_resize(1, 500, 28, 1.0, 1e9).is_err());
    }

    #[test]
    fn budgets_that_would_ask_for_absurd_frames_are_refused() {
        let b = FrameBudget { min_pixels: 1_000_000_000_000, ..FrameBudget::default() };
        let e = b.validate().unwrap_err();
        assert!(matches!(e, VideoError::InvalidArgument { field: "min_pixels", .. }), "{e}");
        // Below the floor check but still upscaled past the scaler's limit.
        let b = FrameBudget { min_pixels: 267_000_000, max_pixels: 267_000_000, ..FrameBudget::default() };
        let e = b.plan(300, 30.0, 720, 1280, None).unwrap_err();
        assert!(e.to_string().contains("larger than FFmpeg's scaler"), "{e}");
        let zero = FrameBudget { total_pixels: 0, ..FrameBudget::default() };
        assert!(matches!(zero.validate().unwrap_err(), VideoError::InvalidArgument { field: "total_pixels", .. }));
    }

    #[test]
    fn clip_range_rules() {
        assert_eq!(frame_range(300, 30.0, Some((1.0, 2.0))).unwrap(), (30, 60));
        assert_eq!(frame_range(300, 30.0, Some((-5.0, 100.0))).unwrap(), (0, 299));
        assert!(frame_range(300, 30.0, Some((2.0, 2.0))).is_err());
        assert!(frame_range(300, 30.0, Some((5.0, 1.0))).is_err());
    }

    #[test]
    fn linspace_matches_torch_examples() {
        assert_eq!(linspace_round(0.0, 3.0, 3), vec![0, 2, 3]); // 1.5 rounds to 2
        assert_eq!(linspace_round(0.0, 5.0, 3), vec![0, 2, 5]); // 2.5 rounds to 2
        assert_eq!(linspace_round(10.0, 20.0, 2), vec![10, 20]);
    }
}
