//! Opening a file, reading its metadata, and the frame index.
//!
//! Every demuxer reads the file through [`FileIo`], our own `AVIOContext` over a `std::fs::File`:
//! it counts the bytes read (so tests can check what opening costs) and, for the index pass over
//! an MP4/MOV sample table, can answer reads without touching the disk (see [`FrameIndex`]).
//!
//! Packets are always read through [`read_packet`], which releases the previous packet's buffer
//! first: FFmpeg 5's `av_read_frame` overwrites the packet it is given without unreferencing it,
//! so a reused packet leaks every buffer it ever held (about the file's size per index pass).

use std::ffi::{c_int, c_void, CString};
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ff::codec::packet::{Mut as _, Ref as _};
use ff::ffi;
use ffmpeg_next as ff;

use crate::error::{Result, VideoError};

/// What is known about a video without decoding it (nor reading more than its headers).
///
/// Field names that say `from_header` hold what the container (or stream header) declares,
/// which may be absent or wrong; the frame index ([`FrameIndex`]) gives the values measured
/// from the packets themselves (`FrameIndex::len`, `FrameIndex::duration_seconds_from_content`).
#[derive(Clone, Debug, PartialEq)]
pub struct VideoMetadata {
    pub path: PathBuf,
    /// Seconds the container declares (its own duration, else the video stream's), `None` when
    /// it declares none (e.g. Matroska written to a pipe: no Duration element, no cues).
    pub duration_seconds_from_header: Option<f64>,
    /// Average frames per second of the video stream.
    pub avg_fps: f64,
    /// Frame count the container declares, `None` when it declares none; see
    /// [`FrameIndex::len`] for the count a sequential decode displays.
    pub num_frames_from_header: Option<u64>,
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
    /// The container format's short name as FFmpeg knows it (e.g. "mov,mp4,m4a,3gp,3g2,mj2").
    pub format: String,
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

/// Size of the read buffer of each demuxer.
const IO_BUFFER_BYTES: usize = 64 * 1024;

/// The file behind one demuxer's `AVIOContext`.
struct FileIo {
    file: File,
    pos: u64,
    size: u64,
    /// Answer reads with their length but without reading: the bytes are left as they are.
    /// Only for the index pass over demuxers that never look at sample data (see `FrameIndex`).
    skip_data: bool,
    bytes_read: Arc<AtomicU64>,
}

unsafe extern "C" fn io_read(opaque: *mut c_void, buf: *mut u8, len: c_int) -> c_int {
    let io = &mut *(opaque as *mut FileIo);
    if len <= 0 {
        return 0;
    }
    if io.skip_data {
        // Behave exactly like the real file at its end, so truncated samples stay truncated.
        let n = (len as u64).min(io.size.saturating_sub(io.pos));
        if n == 0 {
            return ffi::AVERROR_EOF;
        }
        // Zeros, so that whatever looks at the bytes (a parser the demuxer runs) sees the same
        // thing every time; the index takes nothing from them.
        std::ptr::write_bytes(buf, 0, n as usize);
        io.pos += n;
        return n as c_int;
    }
    let out = std::slice::from_raw_parts_mut(buf, len as usize);
    loop {
        match io.file.read_at(out, io.pos) {
            Ok(0) => return ffi::AVERROR_EOF,
            Ok(n) => {
                io.pos += n as u64;
                io.bytes_read.fetch_add(n as u64, Ordering::Relaxed);
                return n as c_int;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return -(e.raw_os_error().unwrap_or(EIO)),
        }
    }
}

const EIO: i32 = 5;
const EINVAL: i64 = 22;

unsafe extern "C" fn io_seek(opaque: *mut c_void, offset: i64, whence: c_int) -> i64 {
    let io = &mut *(opaque as *mut FileIo);
    if whence & ffi::AVSEEK_SIZE != 0 {
        return io.file.metadata().map(|m| m.len() as i64).unwrap_or(io.size as i64);
    }
    let base = match whence & !ffi::AVSEEK_FORCE {
        0 => 0,              // SEEK_SET
        1 => io.pos as i64,  // SEEK_CUR
        2 => io.size as i64, // SEEK_END
        _ => return -EINVAL,
    };
    let target = base.saturating_add(offset);
    if target < 0 {
        return -EINVAL;
    }
    io.pos = target as u64;
    target
}

/// An opened demuxer: FFmpeg's format context over our [`FileIo`], its best video stream, and
/// the position (in decode order) of the next video packet it will return, when known.
pub(crate) struct Demuxer {
    // Field order is drop order: the format context goes before the I/O it reads from.
    input: ff::format::context::Input,
    io: IoHandle,
    pub(crate) stream_index: usize,
    pub(crate) next_pos: Option<u32>,
    /// No packet has been read yet (what building the index needs).
    pub(crate) fresh: bool,
}

/// Owns the `AVIOContext` (and its buffer) and the `FileIo` it points to.
struct IoHandle {
    ctx: *mut ffi::AVIOContext,
    file: *mut FileIo,
}

unsafe impl Send for IoHandle {}

impl Drop for IoHandle {
    fn drop(&mut self) {
        unsafe {
            if !self.ctx.is_null() {
                // The context may have replaced the buffer it was given: free the current one.
                ffi::av_freep(&mut (*self.ctx).buffer as *mut *mut u8 as *mut c_void);
                ffi::avio_context_free(&mut self.ctx);
            }
            drop(Box::from_raw(self.file));
        }
    }
}

impl Demuxer {
    /// Opens `path` (probing streams as `ffmpeg` does) and picks its best video stream. Bytes
    /// read from the file are added to `bytes_read`.
    pub(crate) fn open(path: &Path, bytes_read: &Arc<AtomicU64>) -> Result<Demuxer> {
        init();
        let open_err = |reason: String| VideoError::Open { path: path.to_path_buf(), reason };
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(VideoError::NotFound { path: path.to_path_buf() });
            }
            Err(e) => return Err(open_err(e.to_string())),
        };
        let meta = file.metadata().map_err(|e| open_err(e.to_string()))?;
        if meta.is_dir() {
            return Err(open_err("is a directory".into()));
        }
        let file = Box::into_raw(Box::new(FileIo {
            file,
            pos: 0,
            size: meta.len(),
            skip_data: false,
            bytes_read: bytes_read.clone(),
        }));
        let mut io = IoHandle { ctx: std::ptr::null_mut(), file };
        unsafe {
            let buffer = ffi::av_malloc(IO_BUFFER_BYTES) as *mut u8;
            if buffer.is_null() {
                return Err(open_err("out of memory for the read buffer".into()));
            }
            io.ctx = ffi::avio_alloc_context(
                buffer,
                IO_BUFFER_BYTES as c_int,
                0,
                file as *mut c_void,
                Some(io_read),
                None,
                Some(io_seek),
            );
            if io.ctx.is_null() {
                ffi::av_free(buffer as *mut c_void);
                return Err(open_err("out of memory for the reader".into()));
            }
            let mut ctx = ffi::avformat_alloc_context();
            if ctx.is_null() {
                return Err(open_err("out of memory for the demuxer".into()));
            }
            (*ctx).pb = io.ctx;
            // The file name still guides format probing (raw streams are known by extension).
            let url =
                CString::new(path.as_os_str().as_bytes()).map_err(|_| open_err("path contains a NUL byte".into()))?;
            let rc = ffi::avformat_open_input(&mut ctx, url.as_ptr(), std::ptr::null(), std::ptr::null_mut());
            if rc < 0 {
                // avformat_open_input freed the context; `io` frees our I/O.
                return Err(open_err(ff::Error::from(rc).to_string()));
            }
            let input = ff::format::context::Input::wrap(ctx);
            let rc = ffi::avformat_find_stream_info(ctx, std::ptr::null_mut());
            let mut demuxer = Demuxer { input, io, stream_index: 0, next_pos: Some(0), fresh: true };
            if rc < 0 {
                return Err(open_err(ff::Error::from(rc).to_string()));
            }
            let stream = demuxer
                .input
                .streams()
                .best(ff::media::Type::Video)
                .ok_or_else(|| VideoError::NoVideoStream { path: path.to_path_buf() })?;
            demuxer.stream_index = stream.index();
            Ok(demuxer)
        }
    }

    pub(crate) fn input(&self) -> &ff::format::context::Input {
        &self.input
    }

    pub(crate) fn input_mut(&mut self) -> &mut ff::format::context::Input {
        &mut self.input
    }

    fn set_skip_data(&mut self, skip: bool) {
        unsafe { (*self.io.file).skip_data = skip };
    }

    fn file_size(&self) -> u64 {
        unsafe { (*self.io.file).size }
    }

    /// The next packet of the video stream with its decode-order position (when known), or
    /// `None` at the end of the file.
    pub(crate) fn read_video_packet(&mut self, path: &Path) -> Result<Option<(ff::Packet, Option<u32>)>> {
        self.fresh = false;
        let mut packet = ff::Packet::empty();
        let mut failures = 0;
        loop {
            match read_packet(&mut self.input, &mut packet) {
                Ok(()) if packet.stream() == self.stream_index => {
                    let pos = self.next_pos;
                    if let Some(p) = self.next_pos.as_mut() {
                        *p += 1;
                    }
                    return Ok(Some((packet, pos)));
                }
                Ok(()) => continue,
                Err(ff::Error::Eof) => return Ok(None),
                Err(e) => {
                    failures += 1;
                    if failures > MAX_READ_FAILURES {
                        return Err(VideoError::decode(path, format!("cannot read packets: {e}")));
                    }
                }
            }
        }
    }

    /// Positions the demuxer so that the next packet read is keyframe `k`'s packet, and returns
    /// that packet (the packet after it is then at decode position `key_pos[k] + 1`).
    ///
    /// The seek is by timestamp, or by byte position where timestamps are not trustworthy (they
    /// repeat or go back) and the container allows it; the keyframe is recognised by its byte
    /// position (or its timestamp where positions are unknown). Where the seek does not land at
    /// or shortly before the keyframe, the file is reopened and read from its first packet,
    /// whose position is known exactly, so the keyframe is found by counting packets.
    pub(crate) fn seek_to_key(
        &mut self,
        path: &Path,
        index: &FrameIndex,
        k: usize,
        bytes_read: &Arc<AtomicU64>,
    ) -> Result<ff::Packet> {
        let key_ts = index.key_ts[k];
        let key_pos = index.key_pos[k];
        let key_byte = index.key_byte_pos[k];
        self.next_pos = None;
        self.fresh = false;
        if key_pos > 0 {
            let by_bytes = index.timeline != Timeline::Container && key_byte >= 0 && self.byte_seekable();
            let rc = unsafe {
                if by_bytes {
                    ffi::avformat_seek_file(
                        self.input.as_mut_ptr(),
                        -1,
                        i64::MIN,
                        key_byte,
                        key_byte,
                        ffi::AVSEEK_FLAG_BYTE,
                    )
                } else {
                    ffi::avformat_seek_file(
                        self.input.as_mut_ptr(),
                        self.stream_index as i32,
                        i64::MIN,
                        key_ts,
                        key_ts,
                        0,
                    )
                }
            };
            if rc >= 0 {
                // A seek lands at most a keyframe interval or so before the target.
                let budget = index.max_key_interval as usize * 2 + 64;
                let mut packet = ff::Packet::empty();
                let mut seen = 0usize;
                let mut failures = 0;
                while seen <= budget {
                    match read_packet(&mut self.input, &mut packet) {
                        Ok(()) => {
                            if packet.stream() != self.stream_index {
                                continue;
                            }
                            seen += 1;
                            let ts = packet.pts().or(packet.dts());
                            let byte = packet.position() as i64;
                            let same = if key_byte >= 0 && byte >= 0 { byte == key_byte } else { ts == Some(key_ts) };
                            if same && packet.is_key() {
                                self.next_pos = Some(key_pos + 1);
                                return Ok(packet);
                            }
                            // Past the keyframe without meeting it: the seek landed too late.
                            if index.timeline == Timeline::Container
                                && ts.unwrap_or(i64::MIN) > key_ts
                                && packet.dts().unwrap_or(i64::MIN) > key_ts
                            {
                                break;
                            }
                        }
                        Err(ff::Error::Eof) => break,
                        Err(_) => {
                            failures += 1;
                            if failures > MAX_READ_FAILURES {
                                break;
                            }
                        }
                    }
                }
            }
        }
        // Reopen and count packets from the first one.
        *self = Demuxer::open(path, bytes_read)?;
        loop {
            match self.read_video_packet(path)? {
                Some((packet, Some(pos))) if pos == key_pos => return Ok(packet),
                Some(_) => continue,
                None => break,
            }
        }
        Err(VideoError::decode(path, format!("keyframe {k} (packet {key_pos}) not found")))
    }

    fn byte_seekable(&self) -> bool {
        unsafe {
            let iformat = (*self.input.as_ptr()).iformat;
            !iformat.is_null() && (*iformat).flags & ffi::AVFMT_NO_BYTE_SEEK == 0
        }
    }
}

/// Consecutive packet read errors tolerated before a file is declared unreadable.
pub(crate) const MAX_READ_FAILURES: usize = 64;

/// `av_read_frame` into `packet`, releasing what `packet` held first (see the module docs).
pub(crate) fn read_packet(
    input: &mut ff::format::context::Input,
    packet: &mut ff::Packet,
) -> std::result::Result<(), ff::Error> {
    unsafe {
        ffi::av_packet_unref(packet.as_mut_ptr());
        match ffi::av_read_frame(input.as_mut_ptr(), packet.as_mut_ptr()) {
            0 => Ok(()),
            e => Err(ff::Error::from(e)),
        }
    }
}

pub(crate) fn rational(r: ff::Rational) -> f64 {
    if r.denominator() == 0 {
        0.0
    } else {
        r.numerator() as f64 / r.denominator() as f64
    }
}

pub(crate) fn read_metadata(path: &Path, demuxer: &Demuxer) -> Result<VideoMetadata> {
    let input = demuxer.input();
    let stream_index = demuxer.stream_index;
    let stream = input.stream(stream_index).expect("stream index from Demuxer::open");
    let params = stream.parameters();
    let (width, height, pix_fmt, codec) = unsafe {
        let p = params.as_ptr();
        let fmt: ff::format::Pixel = std::mem::transmute::<i32, ffi::AVPixelFormat>((*p).format).into();
        let name = ff::codec::Id::from((*p).codec_id).name().to_string();
        ((*p).width, (*p).height, fmt, name)
    };
    if width <= 0 || height <= 0 {
        return Err(VideoError::Open {
            path: path.to_path_buf(),
            reason: format!("video stream has no size ({width}x{height})"),
        });
    }
    let tb = stream.time_base();
    let tbf = rational(tb);
    let mut avg_fps = rational(stream.avg_frame_rate());
    if !(avg_fps.is_finite() && avg_fps > 0.0) {
        avg_fps = rational(stream.rate());
    }
    if !(avg_fps.is_finite() && avg_fps > 0.0) {
        return Err(VideoError::Open {
            path: path.to_path_buf(),
            reason: "the video stream declares no frame rate".into(),
        });
    }
    let start_time = if stream.start_time() == ffi::AV_NOPTS_VALUE { 0.0 } else { stream.start_time() as f64 * tbf };
    let duration = if input.duration() > 0 {
        Some(input.duration() as f64 / ffi::AV_TIME_BASE as f64)
    } else if stream.duration() > 0 && stream.duration() != ffi::AV_NOPTS_VALUE {
        Some(stream.duration() as f64 * tbf)
    } else {
        None
    };
    let rotation = stream
        .side_data()
        .find(|sd| sd.kind() == ff::codec::packet::side_data::Type::DisplayMatrix)
        .map(|sd| display_rotation(sd.data()))
        .unwrap_or(0);
    let pixel_format = pix_fmt.descriptor().map(|d| d.name().to_string()).unwrap_or_else(|| "unknown".into());
    Ok(VideoMetadata {
        path: path.to_path_buf(),
        duration_seconds_from_header: duration,
        avg_fps,
        num_frames_from_header: (stream.frames() > 0).then_some(stream.frames() as u64),
        width: width as u32,
        height: height as u32,
        rotation,
        codec,
        pixel_format,
        time_base: (tb.numerator(), tb.denominator()),
        start_time,
        stream_index,
        format: input.format().name().to_string(),
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

/// Where the times of a [`FrameIndex`] come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timeline {
    /// The container's presentation timestamps, which increase along the display order.
    Container,
    /// The container's timestamps repeat or go back somewhere (an MPEG-TS discontinuity, a
    /// keyframe repeating its predecessor's time). Frames are in the order a sequential decode
    /// displays them (each keyframe's group in timestamp order, the groups in decode order) and
    /// their times are made increasing: a frame whose time is not after its predecessor's is
    /// placed one frame interval (the stream's median interval) after it; where the timestamps
    /// jump back by more than two intervals, everything from there on is moved forward by the
    /// same amount (the segments laid end to end, each keeping its own timing). "The frame at t"
    /// then refers to this timeline, which equals the container's until the first repeat or jump.
    Monotonic,
    /// The stream carries no presentation timestamps (e.g. AVI with B-frames): frames are in
    /// decode order with times from the decode timestamps or packet durations, and a decoded
    /// frame is known by its place in the decoder's output counted from the first packet.
    DecodeOrder,
}

/// How the index was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexScan {
    /// From the container's sample table (MP4/MOV): the demuxer walks its table at open without
    /// reading sample data, so building the index costs the headers, not the file.
    SampleTable,
    /// By demuxing every packet of the file (containers without a complete table, and codecs
    /// whose packets must be looked at, e.g. VP9's hidden frames).
    Packets,
}

/// Sentinel of [`FrameIndex::packet_frame`] for packets that display no frame.
pub const NO_FRAME: u32 = u32::MAX;

/// Every displayed frame of the video stream, in display order, and where decoding must start
/// to reach it.
///
/// Frames are those a sequential decode displays: packets the demuxer marks for discard
/// (before an MP4 edit list's start), VP9 frames that are decoded but never shown (alt-ref
/// frames stored as packets of their own), and a last packet cut short by the end of the file
/// are not frames. A decoded frame is recognised by the packet it came from (FFmpeg carries the
/// packet's position to the frame), so repeated or backward timestamps cannot confuse it.
#[derive(Clone, Debug)]
pub struct FrameIndex {
    /// Presentation time of each frame (stream time base) on the index's [`Timeline`], strictly
    /// increasing. `pts.len()` is the frame count.
    pub pts: Vec<i64>,
    /// For each frame, the position in decode order of the packet that displays it.
    pub decode_pos: Vec<u32>,
    /// For each packet in decode order, the frame it displays, or [`NO_FRAME`].
    pub packet_frame: Vec<u32>,
    /// Decode-order positions of keyframes, ascending.
    pub key_pos: Vec<u32>,
    /// The timestamp of each keyframe's packet as the demuxer returns it (pts, else dts): what a
    /// seek aims at.
    pub key_ts: Vec<i64>,
    /// Byte position of each keyframe's packet in the file (-1 where unknown).
    pub key_byte_pos: Vec<i64>,
    /// The frame each keyframe displays (its index in display order).
    pub key_frame: Vec<u32>,
    /// For each frame, the index into `key_pos` of the keyframe decoding starts from.
    pub frame_key: Vec<u32>,
    /// The timestamp that time 0 s refers to (stream time base).
    pub origin_pts: i64,
    /// Seconds per time-base unit.
    pub time_base: f64,
    /// Number of video packets in decode order.
    pub packets: usize,
    /// The longest distance between consecutive keyframes, in packets.
    pub max_key_interval: u32,
    pub timeline: Timeline,
    pub scan: IndexScan,
    /// Frames are identified by their place in the decoder's output (see [`Timeline::DecodeOrder`]).
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

    /// Display-order indices of the keyframes, ascending.
    pub fn keyframe_indices(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self.key_frame.iter().filter(|&&f| f != NO_FRAME).map(|&f| f as usize).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Seconds from the stream's start (time 0) to the end of the last frame, the last frame
    /// lasting the average frame interval of the stream; a one-frame stream has no interval of
    /// its own, so its frame lasts `nominal_fps`'s (the header's frame rate). 0 for an empty
    /// index.
    pub fn duration_seconds_from_content(&self, nominal_fps: f64) -> f64 {
        match self.pts.len() {
            0 => 0.0,
            1 => self.time_of(0).max(0.0) + 1.0 / nominal_fps,
            n => {
                let interval = (self.time_of(n - 1) - self.time_of(0)) / (n - 1) as f64;
                self.time_of(n - 1) + interval
            }
        }
    }

    /// Packets needed to decode frame `i` from its keyframe (1 for a keyframe).
    pub fn decode_cost(&self, i: usize) -> u32 {
        self.decode_pos[i] - self.key_pos[self.frame_key[i] as usize] + 1
    }

    /// Builds the index of `demuxer`'s video stream, which must be freshly opened (its packets
    /// not yet read). The demuxer's position is unknown afterwards.
    pub(crate) fn build(path: &Path, demuxer: &mut Demuxer, from_sample_table: bool) -> Result<FrameIndex> {
        debug_assert!(demuxer.fresh, "the index is built from a demuxer's first packet");
        demuxer.fresh = false;
        let table = from_sample_table && sample_table_readable(demuxer);
        let packets = if table {
            demuxer.set_skip_data(true);
            let streams = demuxer.input().nb_streams() as usize;
            let saved = set_discard_others(demuxer, streams);
            let r = read_all_packets(path, demuxer, PacketSource::SampleTable);
            restore_discard(demuxer, saved);
            demuxer.set_skip_data(false);
            r?
        } else {
            let vp9 = unsafe {
                (*(*demuxer.input().stream(demuxer.stream_index).unwrap().as_ptr()).codecpar).codec_id
                    == ffi::AVCodecID::AV_CODEC_ID_VP9
            };
            read_all_packets(path, demuxer, if vp9 { PacketSource::Vp9 } else { PacketSource::Demuxer })?
        };
        demuxer.next_pos = None;
        let declared_start = demuxer.input().stream(demuxer.stream_index).unwrap().start_time();
        let time_base = rational(demuxer.input().stream(demuxer.stream_index).unwrap().time_base());
        let size = demuxer.file_size();
        let mut index = from_packets(path, packets, declared_start, time_base, size)?;
        index.scan = if table { IndexScan::SampleTable } else { IndexScan::Packets };
        Ok(index)
    }
}

/// What the index needs of one packet.
#[derive(Clone, Copy, Debug)]
struct PacketInfo {
    pts: Option<i64>,
    dts: Option<i64>,
    duration: i64,
    byte_pos: i64,
    key: bool,
    discard: bool,
    corrupt: bool,
    shown: bool,
}

/// Whether the index can come from the demuxer's sample table without reading sample data:
/// an MP4/MOV whose table holds every sample of the stream (not a fragmented file), for a codec
/// whose packets the demuxer delivers as the table says whatever their bytes. For H.264 and HEVC
/// FFmpeg runs a header parser that only decides the keyframe flag (the table's sync samples
/// stand in for it, see `PacketSource::SampleTable`); VP9, AV1 and MPEG-1/2 video are parsed
/// fully and take the full demux.
fn sample_table_readable(demuxer: &Demuxer) -> bool {
    use ffi::AVCodecID::*;
    unsafe {
        let ctx = demuxer.input().as_ptr();
        let iformat = (*ctx).iformat;
        if iformat.is_null() {
            return false;
        }
        let name = std::ffi::CStr::from_ptr((*iformat).name).to_bytes();
        if name != b"mov,mp4,m4a,3gp,3g2,mj2" {
            return false;
        }
        let st = *(*ctx).streams.add(demuxer.stream_index);
        let untouched = matches!(
            (*(*st).codecpar).codec_id,
            AV_CODEC_ID_H264 | AV_CODEC_ID_HEVC | AV_CODEC_ID_MPEG4 | AV_CODEC_ID_PRORES | AV_CODEC_ID_MJPEG
        );
        let entries = ffi::avformat_index_get_entries_count(st);
        // A fragmented file's sample table lives in its fragments, read as the file is read.
        untouched && entries > 0 && (*st).nb_frames == entries as i64
    }
}

fn set_discard_others(demuxer: &mut Demuxer, streams: usize) -> Vec<ffi::AVDiscard> {
    let mut saved = Vec::with_capacity(streams);
    unsafe {
        let ctx = demuxer.input_mut().as_mut_ptr();
        for i in 0..streams {
            let st = *(*ctx).streams.add(i);
            saved.push((*st).discard);
            if i != demuxer.stream_index {
                (*st).discard = ffi::AVDiscard::AVDISCARD_ALL;
            }
        }
    }
    saved
}

fn restore_discard(demuxer: &mut Demuxer, saved: Vec<ffi::AVDiscard>) {
    unsafe {
        let ctx = demuxer.input_mut().as_mut_ptr();
        for (i, d) in saved.into_iter().enumerate() {
            (*(*(*ctx).streams.add(i))).discard = d;
        }
    }
}

/// Where the index's packet facts come from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PacketSource {
    /// The demuxer's packets as they are.
    Demuxer,
    /// The demuxer's packets, and VP9 frame headers for which packets display a frame.
    Vp9,
    /// Packets read without their data: the keyframe flags come from the sample table's own
    /// (sync samples), since what the demuxer's parser says of zeros is no information.
    SampleTable,
}

/// The most packet entries reserved up front from a header's frame count (under 4 MB): every
/// video up to 18 minutes at 60 fps fits without a reallocation.
const PREALLOCATED_PACKETS: i64 = 1 << 16;

fn read_all_packets(path: &Path, demuxer: &mut Demuxer, source: PacketSource) -> Result<Vec<PacketInfo>> {
    let vp9 = source == PacketSource::Vp9;
    let st = unsafe { *(*demuxer.input().as_ptr()).streams.add(demuxer.stream_index) };
    let stream = demuxer.input().stream(demuxer.stream_index).unwrap();
    // The header's frame count is a hint only: a damaged AVI header declared 3.4 billion frames,
    // and reserving for them aborted the process. Reserve at most PREALLOCATED_PACKETS; the
    // vector grows past that as packets actually arrive.
    let declared = stream.frames().clamp(0, PREALLOCATED_PACKETS) as usize;
    let mut out: Vec<PacketInfo> = Vec::with_capacity(declared + 16);
    let stream_index = demuxer.stream_index;
    let mut packet = ff::Packet::empty();
    let mut failures = 0;
    loop {
        match read_packet(demuxer.input_mut(), &mut packet) {
            Ok(()) => {
                failures = 0;
                if packet.stream() != stream_index {
                    continue;
                }
                let flags = unsafe { (*packet.as_ptr()).flags };
                let key = if source == PacketSource::SampleTable {
                    let entry = unsafe { ffi::avformat_index_get_entry(st, out.len() as c_int) };
                    !entry.is_null() && unsafe { (*entry).flags() } & ffi::AVINDEX_KEYFRAME != 0
                } else {
                    packet.is_key()
                };
                out.push(PacketInfo {
                    pts: packet.pts(),
                    dts: packet.dts(),
                    duration: packet.duration(),
                    byte_pos: packet.position() as i64,
                    key,
                    discard: flags & ffi::AV_PKT_FLAG_DISCARD != 0,
                    corrupt: flags & ffi::AV_PKT_FLAG_CORRUPT != 0,
                    shown: !vp9 || packet.data().map_or(true, vp9_shows_a_frame),
                });
            }
            Err(ff::Error::Eof) => break,
            Err(e) => {
                failures += 1;
                if failures > MAX_READ_FAILURES {
                    return Err(VideoError::decode(path, format!("cannot read packets: {e}")));
                }
            }
        }
    }
    Ok(out)
}

/// Whether a VP9 packet (a frame, or a superframe of several) displays a frame: some frame in it
/// has `show_frame` or `show_existing_frame` set (VP9 bitstream spec §6.2, uncompressed header).
/// A hidden alt-ref frame stored as a packet of its own displays none.
fn vp9_shows_a_frame(data: &[u8]) -> bool {
    fn shows(frame: &[u8]) -> bool {
        let Some(&b) = frame.first() else { return false };
        // frame_marker(2) profile_low(1) profile_high(1) [reserved_zero(1) if profile 3]
        // show_existing_frame(1) frame_type(1) show_frame(1)
        if b >> 6 != 2 {
            return true; // not a VP9 frame header we understand: assume it displays
        }
        let profile = ((b >> 5) & 1) | (((b >> 4) & 1) << 1);
        let mut bit = 4; // bits consumed
        if profile == 3 {
            bit += 1;
        }
        let get = |k: usize| -> u8 {
            let byte = k / 8;
            frame.get(byte).map_or(0, |v| (v >> (7 - k % 8)) & 1)
        };
        if get(bit) == 1 {
            return true; // show_existing_frame
        }
        get(bit + 2) == 1 // show_frame (after frame_type)
    }
    let Some(&marker) = data.last() else { return false };
    if marker & 0xe0 == 0xc0 {
        let frames = (marker & 7) as usize + 1;
        let mag = ((marker >> 3) & 3) as usize + 1;
        let index_len = 2 + mag * frames;
        if data.len() >= index_len && data[data.len() - index_len] == marker {
            let mut at = 0usize;
            let mut p = data.len() - index_len + 1;
            let mut any = false;
            for _ in 0..frames {
                let mut size = 0usize;
                for j in 0..mag {
                    size |= (data[p + j] as usize) << (8 * j);
                }
                p += mag;
                if at + size > data.len() - index_len {
                    return true; // malformed index: let the decoder decide
                }
                any |= shows(&data[at..at + size]);
                at += size;
            }
            return any;
        }
    }
    shows(data)
}

fn from_packets(
    path: &Path,
    mut pkts: Vec<PacketInfo>,
    declared_start: i64,
    time_base: f64,
    file_size: u64,
) -> Result<FrameIndex> {
    // A last packet cut short by the end of the file (a sample table claiming more than the file
    // holds) does not decode: it is no frame. Corrupt packets elsewhere still decode to something.
    let mut n_real = pkts.len();
    while n_real > 0 && {
        let p = &pkts[n_real - 1];
        p.corrupt || (p.byte_pos >= 0 && p.byte_pos as u64 >= file_size)
    } {
        n_real -= 1;
    }
    for p in &mut pkts[n_real..] {
        p.shown = false;
    }
    let displayed = |p: &PacketInfo| p.shown && !p.discard;
    let missing_pts = pkts.iter().any(|p| displayed(p) && p.pts.is_none());

    // (timestamp, packet position) of every displayed frame, in display order.
    let mut frames: Vec<(i64, u32)>;
    let timeline;
    if missing_pts {
        // Without presentation timestamps frames are taken in decode order, timed by their
        // decode timestamps or, lacking those, by continuing the sequence.
        let mut last = i64::MIN;
        frames = Vec::with_capacity(pkts.len());
        for (i, p) in pkts.iter().enumerate() {
            let mut ts = p.dts.or(p.pts).unwrap_or(if last == i64::MIN { 0 } else { last + p.duration.max(1) });
            if last != i64::MIN && ts <= last {
                ts = last + p.duration.max(1);
            }
            if displayed(p) {
                last = ts;
                frames.push((ts, i as u32));
            }
        }
        timeline = Timeline::DecodeOrder;
    } else {
        // Display order within each keyframe's group of packets (decode order split at
        // keyframes), the groups in decode order: a sequential decode displays them so even where
        // timestamps go back between groups. Equal timestamps keep decode order.
        frames = Vec::with_capacity(pkts.len());
        let mut group_start = 0;
        for (i, p) in pkts.iter().enumerate() {
            if p.key && !p.discard && i > 0 {
                sort_group(&mut frames[group_start..]);
                group_start = frames.len();
            }
            if displayed(p) {
                frames.push((p.pts.unwrap(), i as u32));
            }
        }
        sort_group(&mut frames[group_start..]);
        let increasing = frames.windows(2).all(|w| w[0].0 < w[1].0);
        if increasing {
            timeline = Timeline::Container;
        } else {
            // Open-GOP leading pictures displayed before their keyframe but after the previous
            // group are still in order; only repeats and jumps back end up here.
            let mut diffs: Vec<i64> = frames.windows(2).map(|w| w[1].0 - w[0].0).filter(|&d| d > 0).collect();
            diffs.sort_unstable();
            let step = diffs.get(diffs.len() / 2).copied().unwrap_or(1).max(1);
            let mut offset = 0i64;
            for i in 1..frames.len() {
                let prev = frames[i - 1].0;
                let t = frames[i].0.saturating_add(offset);
                frames[i].0 = if t > prev {
                    t
                } else if prev - t > 2 * step {
                    // A jump back (a discontinuity): lay what follows after what came before.
                    offset += prev + step - t;
                    prev + step
                } else {
                    // A repeated (or slightly early) timestamp: this frame only moves.
                    prev + step
                };
            }
            timeline = Timeline::Monotonic;
        }
    }
    if frames.is_empty() {
        return Err(VideoError::decode(path, "the video stream has no frames"));
    }
    let mut packet_frame = vec![NO_FRAME; pkts.len()];
    for (f, &(_, pos)) in frames.iter().enumerate() {
        packet_frame[pos as usize] = f as u32;
    }
    let mut key_pos = Vec::new();
    for (i, p) in pkts.iter().enumerate() {
        if p.key && !p.discard && packet_frame[i] != NO_FRAME {
            key_pos.push(i as u32);
        }
    }
    if key_pos.first() != Some(&0) {
        // Streams that start without a flagged keyframe are decoded from their first packet.
        key_pos.insert(0, 0);
    }
    let key_ts: Vec<i64> = key_pos
        .iter()
        .map(|&k| {
            let p = &pkts[k as usize];
            p.pts.or(p.dts).unwrap_or(i64::MIN)
        })
        .collect();
    let key_byte_pos: Vec<i64> = key_pos.iter().map(|&k| pkts[k as usize].byte_pos).collect();
    // The frame each keyframe displays; packet 0 when it displays nothing (it was added above as
    // the start of everything) counts as the start of frame 0.
    let key_frame: Vec<u32> = key_pos
        .iter()
        .map(|&k| match packet_frame[k as usize] {
            NO_FRAME => 0,
            f => f,
        })
        .collect();
    let max_key_interval = key_pos
        .windows(2)
        .map(|w| w[1] - w[0])
        .chain(std::iter::once(pkts.len() as u32 - key_pos.last().copied().unwrap_or(0)))
        .max()
        .unwrap_or(1);
    let frame_key: Vec<u32> = frames
        .iter()
        .enumerate()
        .map(|(f, &(_, pos))| {
            // Without timestamps a frame is known only by its place in the decoder's output, and
            // after a seek into an open GOP the decoder drops leading B-frames it cannot decode, so
            // the count would slip: such streams are always decoded from their first packet.
            if timeline == Timeline::DecodeOrder {
                return 0;
            }
            // The last keyframe at or before the frame's packet in decode order that is also
            // displayed no later than the frame: open-GOP leading pictures need the group before.
            let mut k = key_pos.partition_point(|&kp| kp <= pos).saturating_sub(1);
            while k > 0 && key_frame[k] as usize > f {
                k -= 1;
            }
            k as u32
        })
        .collect();
    let origin_pts = if declared_start != ffi::AV_NOPTS_VALUE { declared_start } else { frames[0].0 };
    Ok(FrameIndex {
        pts: frames.iter().map(|f| f.0).collect(),
        decode_pos: frames.iter().map(|f| f.1).collect(),
        packet_frame,
        key_pos,
        key_ts,
        key_byte_pos,
        key_frame,
        frame_key,
        origin_pts,
        time_base,
        packets: pkts.len(),
        max_key_interval,
        timeline,
        scan: IndexScan::Packets,
        by_output_order: timeline == Timeline::DecodeOrder,
    })
}

/// Sorts one keyframe group's frames by timestamp, equal timestamps in decode order.
fn sort_group(frames: &mut [(i64, u32)]) {
    frames.sort_unstable();
}

#[cfg(test)]
mod tests {
    use super::vp9_shows_a_frame;

    #[test]
    fn vp9_show_bits() {
        // profile 0: 10 0 0 | show_existing 0 | frame_type 0 | show_frame 1 | ...
        assert!(vp9_shows_a_frame(&[0b1000_0010, 0]));
        // hidden (show_frame 0)
        assert!(!vp9_shows_a_frame(&[0b1000_0000, 0]));
        // show_existing_frame
        assert!(vp9_shows_a_frame(&[0b1000_1000]));
        // superframe of a hidden frame (2 bytes) and a shown one (2 bytes), 1-byte sizes
        let marker = 0b1100_0001u8;
        let sf = [0b1000_0000, 0, 0b1000_0010, 0, marker, 2, 2, marker];
        assert!(vp9_shows_a_frame(&sf));
        let hidden_only = [0b1000_0000, 0, 0b1000_0000, 0, marker, 2, 2, marker];
        assert!(!vp9_shows_a_frame(&hidden_only));
    }
}
