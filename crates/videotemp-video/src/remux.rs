//! Writing a clip to a file by copying packets (no re-encode), for saved trajectories.
//!
//! A stream copy can only start at a keyframe, so the file starts at the keyframe at or before
//! the requested start; [`SavedClip`] reports the span the file really covers.

use std::path::Path;

use ffmpeg_next as ff;
use ff::ffi;

use crate::error::{Result, VideoError};
use crate::reader::VideoReader;
use crate::source::open_input;

/// What [`VideoReader::save_clip`] wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct SavedClip {
    /// Seconds (of the source video) of the first and last frame in the file.
    pub start: f64,
    pub end: f64,
    /// Video packets written.
    pub packets: usize,
}

impl VideoReader {
    /// Copies the video packets covering `[start, end]` seconds into `out` (container chosen
    /// by its extension), timestamps shifted so the file starts at 0.
    pub fn save_clip(&self, start: f64, end: f64, out: impl AsRef<Path>) -> Result<SavedClip> {
        let out = out.as_ref();
        let index = self.index()?;
        let src = self.path();
        if !(start.is_finite() && end.is_finite()) || start >= end {
            return Err(VideoError::InvalidRange {
                path: src.to_path_buf(),
                start,
                end,
                reason: "need finite start < end".into(),
            });
        }
        let first = index.frame_at(start.max(0.0));
        let last = index.frame_at(end);
        let key = index.frame_key[first] as usize;
        let key_pts = index.key_pts[key];
        let end_pts = index.pts[last];
        let werr = |reason: String| VideoError::Write { path: out.to_path_buf(), reason };

        let (mut input, stream_index) = open_input(src)?;
        let mut output = ff::format::output(&out).map_err(|e| werr(format!("cannot create: {e}")))?;
        let in_tb = input.stream(stream_index).unwrap().time_base();
        {
            let in_stream = input.stream(stream_index).unwrap();
            let mut ost = output
                .add_stream(ff::encoder::find(ff::codec::Id::None))
                .map_err(|e| werr(format!("cannot add stream: {e}")))?;
            ost.set_parameters(in_stream.parameters());
            ost.set_time_base(in_tb);
            unsafe {
                // Let the muxer pick its own codec tag for the copied stream.
                (*(*ost.as_mut_ptr()).codecpar).codec_tag = 0;
                // Carry the rotation over so the clip displays like the source.
                let n = (*in_stream.as_ptr()).nb_side_data;
                let sd = (*in_stream.as_ptr()).side_data;
                for i in 0..n.max(0) as isize {
                    let item = &*sd.offset(i);
                    if item.type_ == ffi::AVPacketSideDataType::AV_PKT_DATA_DISPLAYMATRIX {
                        let dst = ffi::av_stream_new_side_data(ost.as_mut_ptr(), item.type_, item.size);
                        if !dst.is_null() {
                            std::ptr::copy_nonoverlapping(item.data, dst, item.size);
                        }
                    }
                }
            }
        }
        output.write_header().map_err(|e| werr(format!("cannot write header: {e}")))?;
        let out_tb = output.stream(0).unwrap().time_base();

        let rc = unsafe { ffi::avformat_seek_file(input.as_mut_ptr(), stream_index as i32, i64::MIN, key_pts, key_pts, 0) };
        if rc < 0 {
            return Err(VideoError::decode(src, "cannot seek for the clip"));
        }
        let mut packet = ff::Packet::empty();
        let mut started = false;
        let mut written = 0usize;
        let mut failures = 0;
        loop {
            match packet.read(&mut input) {
                Ok(()) => {
                    if packet.stream() != stream_index {
                        continue;
                    }
                    let ts = packet.pts().or(packet.dts());
                    if !started {
                        if !(packet.is_key() && ts == Some(key_pts)) {
                            continue;
                        }
                        started = true;
                    }
                    // Once a packet's decode time is past the last frame wanted, every later
                    // packet is displayed after it too.
                    if packet.dts().or(ts).unwrap_or(i64::MIN) > end_pts {
                        break;
                    }
                    // A packet carrying a frame after `end` is still copied when an earlier
                    // frame references it (it is decoded before them).
                    packet.set_stream(0);
                    if let Some(p) = packet.pts() {
                        packet.set_pts(Some(p - key_pts));
                    }
                    if let Some(d) = packet.dts() {
                        packet.set_dts(Some(d - key_pts));
                    }
                    packet.rescale_ts(in_tb, out_tb);
                    packet.set_position(-1);
                    packet
                        .write_interleaved(&mut output)
                        .map_err(|e| werr(format!("cannot write packet: {e}")))?;
                    written += 1;
                }
                Err(ff::Error::Eof) => break,
                Err(_) => {
                    failures += 1;
                    if failures > 64 {
                        return Err(VideoError::decode(src, "cannot read packets for the clip"));
                    }
                }
            }
        }
        if !started {
            return Err(VideoError::decode(src, format!("keyframe at pts {key_pts} not found for the clip")));
        }
        output.write_trailer().map_err(|e| werr(format!("cannot finish file: {e}")))?;
        let key_frame = index.pts.partition_point(|&p| p < key_pts);
        Ok(SavedClip { start: index.time_of(key_frame.min(index.len() - 1)), end: index.time_of(last), packets: written })
    }
}
