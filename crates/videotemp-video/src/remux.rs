//! Writing a clip to a file by copying packets (no re-encode), for saved trajectories.
//!
//! A stream copy can only start at a keyframe, so the file starts at the keyframe decoding of the
//! requested start begins from; [`SavedClip`] reports the span the file really covers.

use std::path::Path;

use ff::ffi;
use ffmpeg_next as ff;

use crate::error::{Result, VideoError};
use crate::reader::VideoReader;
use crate::source::{Demuxer, FrameIndex, Timeline, NO_FRAME};

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
    /// frame at `end` (and the frames those packets show, so the clip has no gap: it may end a
    /// few frames after `end`); open-GOP leading pictures of that keyframe (which need the group
    /// before it) are left out. A stream without presentation timestamps (AVI with B-frames) can
    /// only be saved as AVI. Where the source's timestamps go back (an MPEG-TS discontinuity), later
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
        let lead_limit = if index.by_output_order { 0 } else { index.key_frame[key] };
        // Every packet up to the last one the frame at `end` needs; those packets may show later
        // frames (a P-frame B-frames refer to), and the clip then holds every frame up to them,
        // so that it has no gap.
        let mut upto = last;
        let mut reach = key_pos;
        loop {
            reach = reach.max(index.decode_pos[first..=upto].iter().copied().max().unwrap_or(key_pos));
            let shown = index.packet_frame[key_pos as usize..=reach as usize]
                .iter()
                .filter(|&&f| f != NO_FRAME)
                .max()
                .map_or(upto, |&f| f as usize);
            if shown <= upto {
                break;
            }
            upto = shown;
        }
        if index.by_output_order {
            // Without timestamps which frame a packet shows is known only after decoding: end at
            // the next keyframe, where every frame before it has been shown.
            let next_key = index.key_pos.partition_point(|&k| k <= reach);
            reach = index.key_pos.get(next_key).map_or(index.packets as u32 - 1, |&k| k - 1);
        }
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
        if index.by_output_order && output.format().name() != "avi" {
            // Its packets carry decode times only; other containers need presentation times.
            return Err(werr(format!(
                "the source ({}) has no presentation timestamps; save its clips as .avi",
                src.display()
            )));
        }
        output.write_header().map_err(|e| werr(format!("cannot write header: {e}")))?;
        let out_tb = output.stream(0).unwrap().time_base();

        let mut packet = demux.seek_to_key(src, index, key, &self.bytes_read_counter())?;
        let mut pos = key_pos;
        let origin = packet.pts().or(packet.dts()).unwrap_or(0);
        let is_leading = |pos: u32| {
            let shown = index.packet_frame[pos as usize];
            shown != NO_FRAME && shown < lead_limit
        };
        // Where the source's timestamps repeat or go back, the file gets the index's timeline.
        let retimed = (index.timeline == Timeline::Monotonic)
            .then(|| retime(index, (key_pos..=reach).filter(|&q| !is_leading(q))));
        let mut written = 0usize;
        let mut last_shown = index.key_frame[key];
        loop {
            if !is_leading(pos) {
                let shown = index.packet_frame[pos as usize];
                if shown != NO_FRAME {
                    last_shown = last_shown.max(shown);
                }
                match &retimed {
                    Some(times) => {
                        let (pts, dts) = times.get(&pos).copied().unwrap_or((None, None));
                        packet.set_pts(pts);
                        packet.set_dts(dts);
                    }
                    None => {
                        packet.set_pts(packet.pts().map(|p| p - origin));
                        packet.set_dts(packet.dts().map(|d| d - origin));
                    }
                }
                packet.set_stream(0);
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

/// Timestamps (pts, dts) for the packets at `positions` (decode order) from the index's
/// timeline, starting at 0: each displayed frame keeps its time, and decode times are the same
/// times in ascending order, moved back by the reorder delay so that none is after its frame's
/// presentation. Packets that display nothing get no timestamps.
fn retime(
    index: &FrameIndex,
    positions: impl Iterator<Item = u32>,
) -> std::collections::HashMap<u32, (Option<i64>, Option<i64>)> {
    let shown: Vec<(u32, i64)> = positions
        .filter_map(|q| match index.packet_frame[q as usize] {
            NO_FRAME => None,
            f => Some((q, index.pts[f as usize])),
        })
        .collect();
    let mut sorted: Vec<i64> = shown.iter().map(|s| s.1).collect();
    sorted.sort_unstable();
    let delay = shown.iter().zip(&sorted).map(|(s, &d)| d - s.1).max().unwrap_or(0).max(0);
    let origin = sorted.first().copied().unwrap_or(0);
    shown.iter().zip(&sorted).map(|(&(q, pts), &d)| (q, (Some(pts - origin), Some(d - delay - origin)))).collect()
}
