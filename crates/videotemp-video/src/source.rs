//! Opening a file, reading its metadata, and the demux-only frame index.
//!
//! The index is built by reading every packet of the video stream once, without decoding
//! (a 30-minute 720p file takes a fraction of a second). It gives the exact frame count, the
//! presentation time of every frame and, for each frame, the keyframe to start decoding from.

use std::path::{Path, PathBuf};

use ffmpeg_next as ff;
use ff::ffi;
use ff::codec::packet::Ref as _;

use crate::error::{Result, VideoError};

/// What is known about a video without decoding it.
#[derive(Clone, Debug, PartialEq)]
pub struct VideoMetadata {
    pub path: PathBuf,
    /// Seconds, from the container (or the stream when the container does not say).
    pub duration: f64,
    /// Average frames per second of the video stream.
    pub avg_fps: f64,
    /// Frame count the container declares (0 when it declares none); see
    /// [`FrameIndex::len`] for the exact count.
    pub container_frames: u64,
    /// Coded size of the frames, before rotation.
    pub width: u32,
    pub height: u32,
    /// Clockwise rotation in degrees (0, 90, 180, 270) to apply for display.
    pub rotation: u32,
    pub codec: String,
    pub pixel_format: String,
    /// Stream time base as (numerator, denominator).
    pub time_base: (i32, i32),
    /// Seconds of the first presentation timestamp of the stream, as the container states it.
    pub start_time: f64,
    pub stream_index: usize,
}

impl VideoMetadata {
    /// Size as displayed, i.e. after rotation: (height, width).
    pub fn display_size(&self) -> (u32, u32) {
        if self.rotation % 180 == 90 {
            (self.width, self.height)
        } else {
            (self.height, self.width)
        }
    }
}

pub(crate) fn init() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        let _ = ff::init();
        // Decoder warnings on broken files are turned into our errors; FFmpeg's own chatter
        // on stderr only confuses users reading a progress bar.
        ff::util::log::set_level(ff::util::log::Level::Fatal);
    });
}

/// Opens `path` and finds its best video stream.
pub(crate) fn open_input(path: &Path) -> Result<(ff::format::context::Input, usize)> {
    init();
    if !path.exists() {
        return Err(VideoError::NotFound { path: path.to_path_buf() });
    }
    if path.is_dir() {
        return Err(VideoError::Open { path: path.to_path_buf(), reason: "is a directory".into() });
    }
    let input = ff::format::input(&path)
        .map_err(|e| VideoError::Open { path: path.to_path_buf(), reason: e.to_string() })?;
    let stream = input
        .streams()
        .best(ff::media::Type::Video)
        .ok_or_else(|| VideoError::NoVideoStream { path: path.to_path_buf() })?;
    let index = stream.index();
    Ok((input, index))
}

pub(crate) fn rational(r: ff::Rational) -> f64 {
    if r.denominator() == 0 { 0.0 } else { r.numerator() as f64 / r.denominator() as f64 }
}

pub(crate) fn read_metadata(path: &Path, input: &ff::format::context::Input, stream_index: usize) -> Result<VideoMetadata> {
    let stream = input.stream(stream_index).expect("stream index from open_input");
    let params = stream.parameters();
    let (width, height, pix_fmt, codec) = unsafe {
        let p = params.as_ptr();
        let fmt: ff::format::Pixel = std::mem::transmute::<i32, ffi::AVPixelFormat>((*p).format).into();
        let name = ff::codec::Id::from((*p).codec_id).name().to_string();
        ((*p).width, (*p).height, fmt, name)
    };
    if width <= 0 || height <= 0 {
        return Err(VideoError::Open { path: path.to_path_buf(), reason: format!("video stream has no size ({width}x{height})") });
    }
    let tb = stream.time_base();
    let tbf = rational(tb);
    let mut avg_fps = rational(stream.avg_frame_rate());
    if !(avg_fps.is_finite() && avg_fps > 0.0) {
        avg_fps = rational(stream.rate());
    }
    let start_time = if stream.start_time() == ffi::AV_NOPTS_VALUE { 0.0 } else { stream.start_time() as f64 * tbf };
    let duration = if input.duration() > 0 {
        input.duration() as f64 / ffi::AV_TIME_BASE as f64
    } else if stream.duration() > 0 {
        stream.duration() as f64 * tbf
    } else {
        0.0
    };
    let rotation = stream
        .side_data()
        .find(|sd| sd.kind() == ff::codec::packet::side_data::Type::DisplayMatrix)
        .map(|sd| display_rotation(sd.data()))
        .unwrap_or(0);
    let pixel_format = pix_fmt.descriptor().map(|d| d.name().to_string()).unwrap_or_else(|| "unknown".into());
    Ok(VideoMetadata {
        path: path.to_path_buf(),
        duration,
        avg_fps,
        container_frames: stream.frames().max(0) as u64,
        width: width as u32,
        height: height as u32,
        rotation,
        codec,
        pixel_format,
        time_base: (tb.numerator(), tb.denominator()),
        start_time,
        stream_index,
    })
}

/// Clockwise display rotation from an FFmpeg display matrix, snapped to a multiple of 90°.
fn display_rotation(matrix: &[u8]) -> u32 {
    if matrix.len() < 36 {
        return 0;
    }
    let mut m = [0i32; 9];
    for (i, v) in m.iter_mut().enumerate() {
        *v = i32::from_ne_bytes(matrix[4 * i..4 * i + 4].try_into().unwrap());
    }
    // av_display_rotation_get gives the counter-clockwise angle; FFmpeg's autorotate turns the
    // picture by its negation.
    let ccw = unsafe { ffi::av_display_rotation_get(m.as_ptr()) };
    if !ccw.is_finite() {
        return 0;
    }
    let cw = (-ccw).rem_euclid(360.0);
    ((cw / 90.0).round() as u32 % 4) * 90
}

/// Every displayable frame of the video stream, in presentation order, and where decoding
/// must start to reach it.
#[derive(Clone, Debug)]
pub struct FrameIndex {
    /// Presentation timestamps (stream time base), ascending. `pts.len()` is the exact frame count.
    pub pts: Vec<i64>,
    /// For each frame, the position in decode order of the packet that carries it.
    pub decode_pos: Vec<u32>,
    /// Decode-order positions of keyframes, ascending.
    pub key_pos: Vec<u32>,
    /// Presentation timestamps of those keyframes.
    pub key_pts: Vec<i64>,
    /// For each frame, the index into `key_pos` of the keyframe decoding starts from.
    pub frame_key: Vec<u32>,
    /// The timestamp that time 0 s refers to (stream time base).
    pub origin_pts: i64,
    /// Seconds per time-base unit.
    pub time_base: f64,
    /// Number of video packets in decode order.
    pub packets: usize,
    /// The stream carries no presentation timestamps (e.g. AVI): frames are numbered in decode
    /// order, and a decoded frame is identified by its place in the decoder's output after a
    /// keyframe rather than by its timestamp.
    pub by_output_order: bool,
}

impl FrameIndex {
    pub fn len(&self) -> usize {
        self.pts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pts.is_empty()
    }

    /// Seconds from the stream's start of frame `i`.
    pub fn time_of(&self, i: usize) -> f64 {
        (self.pts[i] - self.origin_pts) as f64 * self.time_base
    }

    /// The frame displayed at `t` seconds: the last frame whose presentation time is ≤ t
    /// (the first frame for t before it). `t` must be finite.
    pub fn frame_at(&self, t: f64) -> usize {
        let target = self.origin_pts as f64 + t / self.time_base;
        // A tolerance of a thousandth of a tick absorbs the rounding of t = pts · time_base.
        let target = (target + 1e-3).floor();
        let n = self.pts.partition_point(|&p| (p as f64) <= target);
        n.saturating_sub(1)
    }

    /// Presentation-order indices of the keyframes, ascending.
    pub fn keyframe_indices(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self
            .key_pts
            .iter()
            .filter_map(|&kp| self.pts.binary_search(&kp).ok())
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Seconds from the start to the end of the last frame, using the average frame interval
    /// for the last frame's duration.
    pub fn duration(&self) -> f64 {
        match self.pts.len() {
            0 => 0.0,
            1 => 0.0,
            n => {
                let span = self.time_of(n - 1);
                span + span / (n - 1) as f64
            }
        }
    }

    pub(crate) fn build(path: &Path, input: &mut ff::format::context::Input, stream_index: usize) -> Result<FrameIndex> {
        let stream = input.stream(stream_index).expect("stream index from open_input");
        let time_base = rational(stream.time_base());
        let declared_start = stream.start_time();
        struct Pkt {
            pts: i64,
            key: bool,
        }
        let mut pkts: Vec<Pkt> = Vec::with_capacity(stream.frames().max(0) as usize + 16);
        let mut packet = ff::Packet::empty();
        let mut failures = 0;
        let mut last_ts = i64::MIN;
        let mut missing_pts = false;
        loop {
            match packet.read(input) {
                Ok(()) => {
                    failures = 0;
                    if packet.stream() != stream_index {
                        continue;
                    }
                    let discard = unsafe { (*packet.as_ptr()).flags & ffi::AV_PKT_FLAG_DISCARD != 0 };
                    missing_pts |= packet.pts().is_none() && !discard;
                    // Packets the demuxer marks for discard (e.g. before an MP4 edit list's start)
                    // never produce a displayed frame, so they are not frames of the video.
                    let ts = packet.pts().or(packet.dts());
                    let Some(ts) = ts else {
                        // No timestamp at all (raw streams): continue the sequence.
                        let ts = if last_ts == i64::MIN { 0 } else { last_ts + packet.duration().max(1) };
                        last_ts = ts;
                        pkts.push(Pkt { pts: ts, key: packet.is_key() });
                        continue;
                    };
                    last_ts = ts;
                    if discard {
                        pkts.push(Pkt { pts: i64::MIN, key: packet.is_key() });
                    } else {
                        pkts.push(Pkt { pts: ts, key: packet.is_key() });
                    }
                }
                Err(ff::Error::Eof) => break,
                Err(e) => {
                    failures += 1;
                    if failures > 64 {
                        return Err(VideoError::decode(path, format!("cannot read packets: {e}")));
                    }
                }
            }
        }
        let mut frames: Vec<(i64, u32)> = pkts
            .iter()
            .enumerate()
            .filter(|(_, p)| p.pts != i64::MIN)
            .map(|(i, p)| (p.pts, i as u32))
            .collect();
        frames.sort_unstable();
        // Two packets claiming one timestamp display one frame (the later-decoded wins in
        // FFmpeg's output order); keep one so the index matches a sequential decode.
        frames.dedup_by_key(|f| f.0);
        if frames.is_empty() {
            return Err(VideoError::decode(path, "the video stream has no frames"));
        }
        let mut key_pos = Vec::new();
        let mut key_pts = Vec::new();
        for (i, p) in pkts.iter().enumerate() {
            if p.key && p.pts != i64::MIN {
                key_pos.push(i as u32);
                key_pts.push(p.pts);
            }
        }
        if key_pos.is_empty() || key_pos[0] != 0 {
            // Streams that start without a flagged keyframe are decoded from their first packet.
            key_pos.insert(0, 0);
            key_pts.insert(0, pkts[0].pts.max(frames[0].0.min(i64::MAX)));
        }
        // Without timestamps a frame is known only by its place in the decoder's output, and
        // after a seek into an open GOP the decoder drops leading B-frames it cannot decode, so
        // the count would slip: such streams are always decoded from their first packet.
        let frame_key = frames
            .iter()
            .map(|&(pts, pos)| {
                if missing_pts {
                    return 0;
                }
                // The last keyframe at or before the frame's packet in decode order that is also
                // displayed no later than the frame: open-GOP leading pictures need the GOP before.
                let mut k = key_pos.partition_point(|&kp| kp <= pos).saturating_sub(1);
                while k > 0 && key_pts[k] > pts {
                    k -= 1;
                }
                k as u32
            })
            .collect();
        let origin_pts = if declared_start != ffi::AV_NOPTS_VALUE { declared_start } else { frames[0].0 };
        Ok(FrameIndex {
            pts: frames.iter().map(|f| f.0).collect(),
            decode_pos: frames.iter().map(|f| f.1).collect(),
            key_pos,
            key_pts,
            frame_key,
            origin_pts,
            time_base,
            packets: pkts.len(),
            by_output_order: missing_pts,
        })
    }
}
