//! Writing a clip to a file by copying packets (no re-encode), for saved trajectories.
//!
//! A stream copy can only start at a keyframe, so the file starts at the keyframe decoding of the
//! requested start begins from; [`SavedClip`] reports the span the file really covers.

use std::path::Path;

use ffmpeg_next as ff;
use ff::ffi;

use crate::error::{Result, VideoError};
use crate::reader::VideoReader;
use crate::source::{Demuxer, FrameIndex, NO_FRAME};

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
    ///
    /// The range is checked as [`VideoReader::sample`] checks it (an empty, reversed or
    /// non-finite range, or one starting at or after the end of the video, is an error); an end
    /// past the video is clamped to its last frame. The file starts at the keyframe decoding of
    /// the first frame starts from and holds every packet up to the last one needed for the
    /// frame at `end`; open-GOP leading pictures of that keyframe (which need the group before
    /// it) are left out. Where the source's timestamps go back (an MPEG-TS discontinuity), later
    /// packets are shifted forward so the file's timestamps only increase.
    pub fn save_clip(&self, start: f64, end: f64, out: impl AsRef<Path>) -> Result<SavedClip> {
        let out = out.as_ref();
        let index = self.index()?;
        let src = self.path();
        self.check_range(start, end, index.len() as f64 / self.metadata().avg_fps)?;
        let first = index.frame_at(start.max(0.0));
        let last = index.frame_at(end);
        let key = index.frame_key[first] as usize;
        let key_pos = index.key_pos[key];
        let reach = index.decode_pos[first..=last].iter().copied().max().unwrap_or(key_pos);
        let lead_limit = if index.by_output_order { 0 } else { index.key_frame[key] };
        let werr = |reason: String| VideoError::Write { path: out.to_path_buf(), reason };

        let mut demux = Demuxer::open(src, &self.bytes_read_counter())?;
        let stream_index = demux.stream_index;
        let mut output = ff::format::output(&out).map_err(|e| werr(format!("cannot create: {e}")))?;
        let in_tb = demux.input().stream(stream_index).unwrap().time_base();
        {
            let in_stream = demux.input().stream(stream_index).unwrap();
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

        let mut packet = demux.seek_to_key(src, index, key, &self.bytes_read_counter())?;
        let mut pos = key_pos;
        let origin = packet.pts().or(packet.dts()).unwrap_or(0);
        // Shift added to every later timestamp where the source's go back.
        let step = frame_step(index);
        let mut shift = -origin;
        let mut prev_dts: Option<i64> = None;
        let mut written = 0usize;
        let mut last_shown = index.key_frame[key];
        loop {
            let shown = index.packet_frame[pos as usize];
            let leading = shown != NO_FRAME && shown < lead_limit;
            if !leading {
                if shown != NO_FRAME {
                    last_shown = last_shown.max(shown);
                }
                if let (Some(d), Some(p)) = (packet.dts(), prev_dts) {
                    if d + shift <= p {
                        shift = p + step - d;
                    }
                }
                packet.set_stream(0);
                if let Some(p) = packet.pts() {
                    packet.set_pts(Some(p + shift));
                }
                if let Some(d) = packet.dts() {
                    packet.set_dts(Some(d + shift));
                    prev_dts = Some(d + shift);
                }
                packet.rescale_ts(in_tb, out_tb);
                packet.set_position(-1);
                packet.write_interleaved(&mut output).map_err(|e| werr(format!("cannot write packet: {e}")))?;
                written += 1;
            }
            if pos >= reach {
                break;
            }
            match demux.read_video_packet(src)? {
                Some((p, Some(q))) => {
                    packet = p;
                    pos = q;
                }
                _ => break,
            }
        }
        output.write_trailer().map_err(|e| werr(format!("cannot finish file: {e}")))?;
        Ok(SavedClip {
            start: index.time_of(index.key_frame[key] as usize),
            end: index.time_of(last_shown as usize),
            packets: written,
        })
    }
}

/// The typical distance between consecutive frames' timestamps (at least one tick).
fn frame_step(index: &FrameIndex) -> i64 {
    let n = index.len();
    if n < 2 {
        return 1;
    }
    ((index.pts[n - 1] - index.pts[0]) / (n as i64 - 1)).max(1)
}
