//! Frame-exact decoding of a set of frames: a plan of decode runs (seek to a keyframe, decode
//! forward through the targets), spread over worker threads that each own a demuxer and a
//! decoder, writing converted frames straight into one output buffer.

use std::path::Path;

use ff::ffi;
use ffmpeg_next as ff;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use crate::convert::Converter;
use crate::error::{Result, VideoError};
use crate::source::{Demuxer, FrameIndex, NO_FRAME};

/// Seeking costs a flush and a demuxer jump; continuing to decode is preferred when the next
/// target's keyframe lies at most this many packets beyond what has been decoded anyway.
pub(crate) const SEEK_SLACK_PACKETS: u32 = 2;

/// Consecutive undecodable packets tolerated before a file is declared broken.
const MAX_BAD_PACKETS: usize = 128;

/// Decode from keyframe `key` (an index into `FrameIndex::key_pos`) through `targets`
/// (frame indices, ascending).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Run {
    pub key: u32,
    pub targets: Vec<usize>,
    /// Decode-order position of the last packet the run needs.
    pub reach: u32,
}

impl Run {
    /// Packets decoded by this run when it starts with a seek.
    pub fn cost(&self, index: &FrameIndex) -> u64 {
        (self.reach - index.key_pos[self.key as usize]) as u64 + 1
    }
}

/// Groups ascending unique frame indices into runs: a new run (a seek) starts only where the
/// target's keyframe lies beyond what the current run decodes anyway, so no packet is decoded
/// twice.
pub(crate) fn plan_runs(index: &FrameIndex, targets: &[usize]) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    for &t in targets {
        let k = index.frame_key[t];
        let kpos = index.key_pos[k as usize];
        let pos = index.decode_pos[t];
        match runs.last_mut() {
            Some(run) if k >= run.key && kpos <= run.reach + SEEK_SLACK_PACKETS => {
                run.targets.push(t);
                run.reach = run.reach.max(pos);
            }
            _ => runs.push(Run { key: k, targets: vec![t], reach: pos }),
        }
    }
    runs
}

/// Splits runs into at most `workers` contiguous groups of about equal decoding cost.
pub(crate) fn balance(index: &FrameIndex, runs: Vec<Run>, workers: usize) -> Vec<Vec<Run>> {
    let workers = workers.max(1).min(runs.len().max(1));
    if workers <= 1 {
        return vec![runs];
    }
    let total: u64 = runs.iter().map(|r| r.cost(index)).sum();
    let share = total.div_ceil(workers as u64).max(1);
    let mut groups: Vec<Vec<Run>> = vec![Vec::new()];
    let mut acc = 0;
    let n = runs.len();
    for (i, run) in runs.into_iter().enumerate() {
        let c = run.cost(index);
        let left_runs = n - i;
        let left_groups = workers - groups.len();
        // Start a new group when this one has its share, or when every remaining run must get its own.
        if !groups.last().unwrap().is_empty() && (acc + c / 2 > share || left_runs <= left_groups) && left_groups > 0 {
            groups.push(Vec::new());
            acc = 0;
        }
        acc += c;
        groups.last_mut().unwrap().push(run);
    }
    groups
}

/// A demuxer and a decoder positioned somewhere in one file.
///
/// Each packet sent to the decoder carries its decode-order position as its timestamp, so a
/// decoded frame names the packet it came from (decoders carry a packet's timestamp to the
/// frame it produces, through any reordering and frame threading): the index then says which
/// frame that is, whatever the container's timestamps (repeated, backward, hidden frames).
pub(crate) struct Session {
    demux: Demuxer,
    /// Created on first use and dropped when the session goes back to the pool idle, so an idle
    /// session holds no decoded pictures.
    decoder: Option<ff::decoder::Video>,
    params: ff::codec::Parameters,
    codec_id: ffi::AVCodecID,
    pub(crate) threads: usize,
    /// Display index of the last frame the decoder has output since the last seek.
    last_out: Option<usize>,
    /// For streams without timestamps: the index of the next frame the decoder will output.
    out_index: Option<usize>,
    eof: bool,
    /// Packets handed to the decoder since the session opened (for the decode-only bound).
    pub(crate) packets_sent: u64,
    /// Whether frames that are no run target and no reference may be skipped.
    pub(crate) skip_nonref: bool,
    converter: Converter,
    frame: ff::frame::Video,
    prev: ff::frame::Video,
    have_prev: bool,
    bytes_read: Arc<AtomicU64>,
}

/// Most decoder threads one decoder gets: FFmpeg's own automatic limit; more only add memory
/// (a picture per thread) and latency.
pub(crate) const MAX_DECODER_THREADS: usize = 16;

const DECODER: &str = "decode_run creates the decoder first";

impl Session {
    pub(crate) fn open(path: &Path, threads: usize, bytes_read: &Arc<AtomicU64>) -> Result<Session> {
        Self::from_demuxer(Demuxer::open(path, bytes_read)?, threads, bytes_read)
    }

    pub(crate) fn from_demuxer(demux: Demuxer, threads: usize, bytes_read: &Arc<AtomicU64>) -> Result<Session> {
        let params = demux.input().stream(demux.stream_index).expect("stream exists").parameters();
        let codec_id = unsafe { (*params.as_ptr()).codec_id };
        Ok(Session {
            demux,
            decoder: None,
            params,
            codec_id,
            threads,
            last_out: None,
            out_index: Some(0),
            eof: false,
            packets_sent: 0,
            skip_nonref: true,
            converter: Converter::new(),
            frame: ff::frame::Video::empty(),
            prev: ff::frame::Video::empty(),
            have_prev: false,
            bytes_read: bytes_read.clone(),
        })
    }

    pub(crate) fn demuxer_mut(&mut self) -> &mut Demuxer {
        &mut self.demux
    }

    /// The demuxer has not read a packet yet.
    pub(crate) fn is_fresh(&self) -> bool {
        self.demux.fresh
    }

    pub(crate) fn has_decoder(&self) -> bool {
        self.decoder.is_some()
    }

    /// Sets the decoder threads of the next runs (a decoder made for another count is dropped).
    pub(crate) fn set_threads(&mut self, threads: usize) {
        if threads != self.threads {
            self.release_decoder();
            self.threads = threads;
        }
    }

    fn decoder(&mut self, path: &Path) -> Result<&mut ff::decoder::Video> {
        if self.decoder.is_none() {
            let mut ctx = ff::codec::context::Context::from_parameters(self.params.clone())
                .map_err(|e| VideoError::Open { path: path.to_path_buf(), reason: format!("codec parameters: {e}") })?;
            let threads = self.threads.clamp(1, MAX_DECODER_THREADS);
            unsafe {
                let c = ctx.as_mut_ptr();
                (*c).thread_count = threads as i32;
                (*c).thread_type = if threads > 1 { ffi::FF_THREAD_FRAME | ffi::FF_THREAD_SLICE } else { 0 };
            }
            let decoder = ctx.decoder().video().map_err(|e| VideoError::Open {
                path: path.to_path_buf(),
                reason: format!("no decoder for this codec in the FFmpeg build: {e}"),
            })?;
            self.decoder = Some(decoder);
            // A new decoder has seen nothing: it may only continue from the first packet.
            if self.demux.next_pos != Some(0) {
                self.demux.next_pos = None;
            }
            self.last_out = None;
            self.out_index = Some(0);
            self.eof = false;
            self.have_prev = false;
        }
        Ok(self.decoder.as_mut().expect("created above"))
    }

    /// Drops the decoder and the pictures this session holds (it keeps its demuxer). The next
    /// run starts with a seek.
    pub(crate) fn release_decoder(&mut self) {
        self.decoder = None;
        self.frame = ff::frame::Video::empty();
        self.prev = ff::frame::Video::empty();
        self.have_prev = false;
        self.last_out = None;
        self.demux.next_pos = None;
    }

    /// Positions demuxer and decoder at keyframe `k` and returns its packet.
    fn seek_to_key(&mut self, path: &Path, index: &FrameIndex, k: usize) -> Result<ff::Packet> {
        self.decoder(path)?.flush();
        self.last_out = None;
        self.have_prev = false;
        self.eof = false;
        let key_pos = index.key_pos[k];
        self.out_index =
            if index.by_output_order { Some(index.decode_pos.partition_point(|&p| p < key_pos)) } else { None };
        let bytes_read = self.bytes_read.clone();
        self.demux.seek_to_key(path, index, k, &bytes_read)
    }

    /// Decodes `run`, handing each target frame to `emit(frame_index, frame)`.
    ///
    /// Packets that carry no target are decoded with `skip_frame = NONREF`: a frame nothing
    /// references is never needed unless it is a target, so skipping it cannot change any
    /// returned pixel (the tests compare against a full sequential decode). With `drain`, once
    /// every target's packet has been sent the decoder is drained instead of being fed more
    /// packets to push delayed (reordered) frames out; callers set it when the next run seeks.
    pub(crate) fn decode_run(
        &mut self,
        path: &Path,
        index: &FrameIndex,
        run: &Run,
        drain: bool,
        emit: &mut dyn FnMut(usize, &ff::frame::Video, &mut Converter) -> Result<()>,
    ) -> Result<()> {
        let first_target = run.targets[0];
        self.decoder(path)?;
        let kpos = index.key_pos[run.key as usize];
        // Continuing is always valid while the first target has not been output yet (the
        // decoder's state comes from an earlier keyframe); it is cheaper than a seek unless the
        // target's keyframe lies further ahead than the seek costs.
        let can_continue = self.decoder.is_some()
            && !self.eof
            && matches!(self.demux.next_pos, Some(p) if kpos <= p + SEEK_SLACK_PACKETS)
            && self.last_out.map_or(true, |last| last < first_target);
        let mut pending: Option<(ff::Packet, Option<u32>)> = None;
        if !can_continue {
            pending = Some((self.seek_to_key(path, index, run.key as usize)?, Some(kpos)));
        }
        // Decode-order positions of the packets carrying targets, ascending.
        let mut target_pos: Vec<u32> = run.targets.iter().map(|&t| index.decode_pos[t]).collect();
        target_pos.sort_unstable();
        let last_target_pos = *target_pos.last().expect("a run has targets");
        let may_drain = self.may_drain(index);
        let mut cursor = 0; // next target to deliver
        let mut bad = 0usize;
        let mut drained_early = false;
        while cursor < run.targets.len() {
            // Drain decoded frames first.
            loop {
                let received = self.decoder.as_mut().expect(DECODER).receive_frame(&mut self.frame);
                match received {
                    Ok(()) => {
                        let Some(shown) = self.identify(index) else {
                            // A picture no sequential decode displays (the index says so).
                            continue;
                        };
                        cursor = self.deliver(run, cursor, Some(shown), emit)?;
                        self.last_out = Some(shown);
                        std::mem::swap(&mut self.frame, &mut self.prev);
                        self.have_prev = true;
                        if cursor == run.targets.len() {
                            return Ok(());
                        }
                    }
                    Err(ff::Error::Eof) => {
                        if drained_early {
                            // A target did not come out of a decoder drained early: H.264 drops
                            // pictures decoded after a seek to a recovery point (an open-GOP
                            // keyframe) but before that keyframe was output, when flushed. Decode
                            // the rest again from the keyframe, feeding packets instead.
                            let rest = Run { key: run.key, targets: run.targets[cursor..].to_vec(), reach: run.reach };
                            self.demux.next_pos = None;
                            return self.decode_run(path, index, &rest, false, emit);
                        }
                        // Everything decodable has been output: remaining targets show the last frame.
                        cursor = self.deliver(run, cursor, None, emit)?;
                        if cursor < run.targets.len() {
                            let t = run.targets[cursor];
                            return Err(VideoError::decode(
                                path,
                                format!("frame {t} (t = {:.3} s) could not be decoded", index.time_of(t)),
                            ));
                        }
                        return Ok(());
                    }
                    Err(ff::Error::Other { errno }) if errno == ffi::EAGAIN => break,
                    Err(e) => {
                        bad += 1;
                        if bad > MAX_BAD_PACKETS {
                            return Err(VideoError::decode(path, e));
                        }
                        break;
                    }
                }
            }
            // Feed the next packet of the video stream.
            let next = match pending.take() {
                Some(p) => Some(p),
                None => self.demux.read_video_packet(path)?,
            };
            match next {
                Some((mut p, pos)) => {
                    // Without timestamps, frames are counted as they come out: none may be skipped.
                    let needed = index.by_output_order || pos.map_or(true, |q| target_pos.binary_search(&q).is_ok());
                    let skip_nonref = self.skip_nonref;
                    let decoder = self.decoder.as_mut().expect(DECODER);
                    decoder.skip_frame(if needed || !skip_nonref {
                        ff::Discard::Default
                    } else {
                        ff::Discard::NonReference
                    });
                    // The packet's identity travels to the frame it produces (see the type's docs).
                    let id = pos.map(|q| q as i64);
                    p.set_pts(id);
                    p.set_dts(id);
                    match decoder.send_packet(&p) {
                        Ok(()) => {
                            bad = 0;
                            self.packets_sent += 1;
                            // Every target is in the decoder: flush the rest out rather than
                            // decode further packets just to push delayed frames out.
                            if drain && may_drain && !self.eof && pos.is_some_and(|q| q >= last_target_pos) {
                                self.eof = true;
                                drained_early = true;
                                let _ = self.decoder.as_mut().expect(DECODER).send_eof();
                            }
                        }
                        // Decoder full: drain it first and send the same packet again.
                        Err(ff::Error::Other { errno }) if errno == ffi::EAGAIN => pending = Some((p, pos)),
                        Err(_) => {
                            // A corrupt packet: skip it, as a sequential decode would.
                            bad += 1;
                            if bad > MAX_BAD_PACKETS {
                                return Err(VideoError::decode(path, "too many undecodable packets in a row"));
                            }
                        }
                    }
                }
                None if !self.eof => {
                    self.eof = true;
                    let _ = self.decoder.as_mut().expect(DECODER).send_eof();
                }
                None => {
                    // Drained after end of stream without an Eof answer: treat as the end.
                    cursor = self.deliver(run, cursor, None, emit)?;
                    if cursor < run.targets.len() {
                        return Err(VideoError::decode(path, "the stream ended before the requested frames"));
                    }
                }
            }
        }
        Ok(())
    }

    /// The display index of the frame just received, or `None` for a picture the index does
    /// not count (a sequential decode would not display it either).
    fn identify(&mut self, index: &FrameIndex) -> Option<usize> {
        if index.by_output_order {
            // No timestamps: the n-th frame out after a keyframe is the keyframe's frame + n.
            let i = self.out_index.unwrap_or(usize::MAX);
            self.out_index = self.out_index.map(|i| i + 1);
            return Some(i);
        }
        let pos = self.frame.pts().or_else(|| self.frame.timestamp())?;
        match index.packet_frame.get(usize::try_from(pos).ok()?) {
            Some(&f) if f != NO_FRAME => Some(f as usize),
            _ => None,
        }
    }

    /// Draining early is exact only where the target packets are known and the decoder does not
    /// run frame threads of its own in dav1d (seen dropping the last frames of a drain).
    fn may_drain(&self, index: &FrameIndex) -> bool {
        !index.by_output_order && (self.threads <= 1 || self.codec_id != ffi::AVCodecID::AV_CODEC_ID_AV1)
    }

    /// Delivers every pending target displayed at or before the frame just decoded (display
    /// index `shown`), or all remaining ones when `shown` is `None` (end of stream). A target
    /// whose own frame never came out (a corrupt packet) shows the frame displayed before it, as
    /// a sequential decode would.
    fn deliver(
        &mut self,
        run: &Run,
        mut cursor: usize,
        shown: Option<usize>,
        emit: &mut dyn FnMut(usize, &ff::frame::Video, &mut Converter) -> Result<()>,
    ) -> Result<usize> {
        while cursor < run.targets.len() {
            let t = run.targets[cursor];
            match shown {
                Some(s) if s == t => emit(t, &self.frame, &mut self.converter)?,
                Some(s) if s > t => {
                    if !self.have_prev {
                        // The first frame after the seek is already later: only possible for a
                        // target before the stream's first decodable frame. Show this frame.
                        emit(t, &self.frame, &mut self.converter)?;
                    } else {
                        emit(t, &self.prev, &mut self.converter)?;
                    }
                }
                Some(_) => break,
                None => {
                    if !self.have_prev {
                        break;
                    }
                    emit(t, &self.prev, &mut self.converter)?;
                }
            }
            cursor += 1;
        }
        Ok(cursor)
    }
}

/// Output buffer shared by worker threads. Each frame slot is written by exactly one worker
/// (every unique target belongs to exactly one run), so the writes never overlap.
pub(crate) struct SharedOut {
    ptr: *mut u8,
    len: usize,
}

unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}

impl SharedOut {
    pub(crate) fn new(buf: &mut [u8]) -> Self {
        SharedOut { ptr: buf.as_mut_ptr(), len: buf.len() }
    }

    /// # Safety
    /// No two live slices may overlap: callers write each slot from one thread only.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn slot(&self, offset: usize, len: usize) -> &mut [u8] {
        assert!(offset + len <= self.len, "slot out of bounds");
        std::slice::from_raw_parts_mut(self.ptr.add(offset), len)
    }
}
