//! [`VideoReader`]: one open video, its metadata, its lazily built frame index, and a pool of
//! decoding sessions reused across calls (an agent asks for the overview, then for clips of
//! the same video: later calls pay neither the open nor the index again).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::budget::FrameBudget;
use crate::convert::Converter;
use crate::decode::{balance, plan_runs, Run, Session, SharedOut, SEEK_SLACK_PACKETS};
use crate::error::{Result, VideoError};
use crate::source::{read_metadata, Demuxer, FrameIndex, VideoMetadata};

/// Decoded frames: `count` RGB24 images of `height`×`width`, packed as [T, H, W, 3].
#[derive(Debug, Clone)]
pub struct Frames {
    /// `count * height * width * 3` bytes, allocated once at this size.
    pub data: Vec<u8>,
    pub count: usize,
    pub height: u32,
    pub width: u32,
    /// Presentation time in seconds (from the stream's start) of each frame returned.
    pub timestamps: Vec<f64>,
    /// Index of each frame returned, in presentation order of the whole video.
    pub indices: Vec<usize>,
    /// Frames per second of the sampled sequence as the model should be told it (for budget
    /// sampling qwen-vl-utils' `sample_fps`; otherwise the video's average rate).
    pub sample_fps: f64,
}

/// Options of a [`VideoReader`]. The two switches exist to measure each speed lever on its
/// own (benches/); both are exact, so there is no reason to turn them off otherwise.
#[derive(Clone, Debug)]
pub struct ReaderOptions {
    /// Decoding threads; 0 means one per available core. Capped at [`max_threads`]: more
    /// threads than cores never help, and each costs a decoder's pictures.
    pub threads: usize,
    /// Skip non-reference frames that are not targets while decoding forward to a target.
    pub skip_nonref: bool,
    /// Drain the decoder after a run's last target instead of feeding more packets.
    pub drain: bool,
    /// Build the index from an MP4/MOV sample table where possible instead of demuxing the
    /// whole file (the two give the same index; see [`FrameIndex`]).
    pub sample_table_index: bool,
}

impl Default for ReaderOptions {
    fn default() -> Self {
        ReaderOptions { threads: 0, skip_nonref: true, drain: true, sample_table_index: true }
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// The most threads a reader (or [`decode_many`]) uses: the machine's cores, but at least 16, so
/// that a given request plans the same decode runs (and so returns the same pixels) on any
/// machine up to 16 cores — a 2-core test machine runs what a 16-core server runs.
pub fn max_threads() -> usize {
    cores().max(16)
}

/// Threads for a request of `requested` (0 = one per core), capped at [`max_threads`].
pub(crate) fn available_threads(requested: usize) -> usize {
    if requested > 0 {
        requested.min(max_threads())
    } else {
        cores()
    }
}

/// Idle sessions a reader keeps between calls. Each holds a demuxer (an MP4's sample tables:
/// about 45 bytes per frame); a call spread over more threads opens the others again, which
/// costs a header parse per thread, in parallel.
const MAX_IDLE_SESSIONS: usize = 4;

pub struct VideoReader {
    path: PathBuf,
    meta: VideoMetadata,
    threads: usize,
    options: ReaderOptions,
    index: OnceLock<FrameIndex>,
    sessions: Mutex<Vec<Session>>,
    /// Bytes read from the file by every demuxer of this reader.
    bytes_read: Arc<AtomicU64>,
}

impl VideoReader {
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, ReaderOptions::default())
    }

    pub fn open_with(path: impl AsRef<Path>, options: ReaderOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let bytes_read = Arc::new(AtomicU64::new(0));
        let demuxer = Demuxer::open(&path, &bytes_read).map_err(|e| crate::limits::explain_open_failure(&path, e))?;
        let meta = read_metadata(&path, &demuxer)?;
        crate::limits::check_stream_picture(&path, meta.width, meta.height)?;
        let threads = available_threads(options.threads);
        // Keep the opened demuxer: it builds the index and becomes the first decoding session.
        let session = Session::from_demuxer(demuxer, 1, &bytes_read)?;
        Ok(VideoReader {
            path,
            meta,
            threads,
            options,
            index: OnceLock::new(),
            sessions: Mutex::new(vec![session]),
            bytes_read,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn metadata(&self) -> &VideoMetadata {
        &self.meta
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Bytes this reader has read from its file so far (every demuxer it opened).
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.load(Ordering::Relaxed)
    }

    pub(crate) fn bytes_read_counter(&self) -> Arc<AtomicU64> {
        self.bytes_read.clone()
    }

    /// The frame index, built on first use: from the sample table of an MP4/MOV (reading its
    /// headers only), otherwise by demuxing the whole file once (see [`FrameIndex`]).
    pub fn index(&self) -> Result<&FrameIndex> {
        if let Some(ix) = self.index.get() {
            return Ok(ix);
        }
        // The index needs a demuxer that has not read any packet yet: the one opened with the
        // reader if it is still untouched, else a new one.
        let fresh = {
            let mut pool = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
            pool.iter().position(|s| s.is_fresh()).map(|i| pool.swap_remove(i))
        };
        let mut session = match fresh {
            Some(s) => s,
            None => Session::open(&self.path, 1, &self.bytes_read)?,
        };
        let built = FrameIndex::build(&self.path, session.demuxer_mut(), self.options.sample_table_index);
        self.put_session(session, true);
        let built = built?;
        Ok(self.index.get_or_init(|| built))
    }

    /// The number of frames a sequential decode displays (from the index; nothing is decoded).
    pub fn num_frames(&self) -> Result<usize> {
        Ok(self.index()?.len())
    }

    /// Seconds from the stream's start to the end of the last frame, from the frame index
    /// ([`FrameIndex::duration_seconds_from_content`]); the container's own claim is
    /// [`VideoMetadata::duration_seconds_from_header`].
    pub fn duration_seconds_from_content(&self) -> Result<f64> {
        Ok(self.index()?.duration_seconds_from_content(self.meta.avg_fps))
    }

    /// The frames displayed at `times` (seconds from the stream's start; any order, repeats
    /// allowed) at `size` = (height, width) of the displayed picture, or the native displayed
    /// size when `None`.
    pub fn frames_at(&self, times: &[f64], size: Option<(u32, u32)>) -> Result<Frames> {
        let index = self.index()?;
        let mut indices = Vec::with_capacity(times.len());
        for (i, &t) in times.iter().enumerate() {
            if !t.is_finite() {
                return Err(VideoError::InvalidArgument {
                    field: "timestamps",
                    reason: format!("{}: timestamps[{i}] is {t}, not a finite number of seconds", self.path.display()),
                });
            }
            indices.push(index.frame_at(t));
        }
        let fps = self.meta.avg_fps;
        self.decode_indices(&indices, size, fps)
    }

    /// Frames by index (presentation order), at `size` or native size.
    pub fn frames_at_indices(&self, indices: &[usize], size: Option<(u32, u32)>) -> Result<Frames> {
        self.decode_indices(indices, size, self.meta.avg_fps)
    }

    /// The frames `budget` picks from `[start, end]` seconds (the whole video for `None`), at
    /// the size the budget gives, with qwen-vl-utils' rules (see [`FrameBudget`]).
    pub fn sample(&self, range: Option<(f64, f64)>, budget: &FrameBudget) -> Result<Frames> {
        let index = self.index()?;
        let fps = self.meta.avg_fps;
        if let Some((s, e)) = range {
            self.check_range(s, e, index.len() as f64 / fps)?;
        }
        let (h, w) = self.meta.display_size();
        let plan = budget.plan(index.len(), fps, h, w, range).map_err(|e| match (e, range) {
            (VideoError::InvalidArgument { reason, .. }, Some((s, e))) => {
                VideoError::InvalidRange { path: self.path.clone(), start: s, end: e, reason }
            }
            (VideoError::InvalidArgument { field, reason }, None) => {
                VideoError::InvalidArgument { field, reason: format!("{}: {reason}", self.path.display()) }
            }
            (e, _) => e,
        })?;
        self.decode_indices(&plan.indices, Some((plan.height, plan.width)), plan.sample_fps)
    }

    /// Like [`VideoReader::sample`], but each sample may move by up to `tolerance` seconds to a
    /// frame that is cheap to decode: the nearest keyframe displayed within `tolerance` of it
    /// (a keyframe decodes from its own packet alone), or, where no keyframe is that close (or
    /// another sample took it), the frame within `tolerance` that needs the fewest packets
    /// decoded from its keyframe (nearest to the sample among equals). No two samples take the
    /// same frame. A sparse overview then costs a fraction of an exact one. The timestamps
    /// returned are those of the frames actually returned, so the model's time positions stay
    /// right; `sample_fps` stays the planned rate.
    pub fn sample_snapped(&self, range: Option<(f64, f64)>, budget: &FrameBudget, tolerance: f64) -> Result<Frames> {
        if !(tolerance.is_finite() && tolerance >= 0.0) {
            return Err(VideoError::argument(
                "snap_to_keyframes",
                format!("tolerance must be ≥ 0 seconds, got {tolerance}"),
            ));
        }
        let index = self.index()?;
        let fps = self.meta.avg_fps;
        if let Some((s, e)) = range {
            self.check_range(s, e, index.len() as f64 / fps)?;
        }
        let (h, w) = self.meta.display_size();
        let plan = budget.plan(index.len(), fps, h, w, range)?;
        let snapped = snap(index, &plan.indices, tolerance);
        self.decode_indices(&snapped, Some((plan.height, plan.width)), plan.sample_fps)
    }

    pub(crate) fn check_range(&self, start: f64, end: f64, duration: f64) -> Result<()> {
        let bad = |reason: String| Err(VideoError::InvalidRange { path: self.path.clone(), start, end, reason });
        if !start.is_finite() || !end.is_finite() {
            return bad("start and end must be finite numbers of seconds".into());
        }
        if start >= end {
            return bad(if start == end {
                "the range is empty".into()
            } else {
                "the range is reversed (start after end)".into()
            });
        }
        if start >= duration {
            return bad(format!("starts at or after the end of the video ({duration:.3} s)"));
        }
        if end <= 0.0 {
            return bad("ends before the start of the video".into());
        }
        Ok(())
    }

    fn take_session(&self, threads: usize) -> Result<Session> {
        let mut pool = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        // Prefer a session already set up for this many decoder threads (its decoder may be
        // positioned where the next request continues); any idle demuxer does otherwise.
        let pick = pool
            .iter()
            .position(|s| s.threads == threads && s.has_decoder())
            .or_else(|| (!pool.is_empty()).then_some(0));
        let mut session = match pick {
            Some(i) => pool.swap_remove(i),
            None => {
                drop(pool);
                Session::open(&self.path, threads, &self.bytes_read)?
            }
        };
        session.set_threads(threads);
        session.skip_nonref = self.options.skip_nonref;
        Ok(session)
    }

    /// Returns a session to the pool. With `keep_decoder` false its decoder and pictures are
    /// freed (it keeps the demuxer): a request spread over many sessions leaves no decoded
    /// pictures behind.
    fn put_session(&self, mut session: Session, keep_decoder: bool) {
        if !keep_decoder {
            session.release_decoder();
        }
        let mut pool = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < MAX_IDLE_SESSIONS.min(self.threads + 1) {
            pool.push(session);
        }
    }

    /// Decodes `indices` (any order, repeats allowed) into one buffer.
    fn decode_indices(&self, indices: &[usize], size: Option<(u32, u32)>, sample_fps: f64) -> Result<Frames> {
        let index = self.index()?;
        self.check_indices(indices)?;
        let (h, w) = size.unwrap_or_else(|| self.meta.display_size());
        // Sizes are checked and the buffer allocated fallibly: a bad size is an error, not an abort.
        crate::limits::check_output_picture("size", h, w)?;
        let mut data = crate::limits::frame_buffer(&self.path, "the frames asked for", indices.len(), h, w)?;
        let frame_bytes = h as usize * w as usize * 3;
        let timestamps: Vec<f64> = indices.iter().map(|&i| index.time_of(i)).collect();
        if indices.is_empty() {
            return Ok(Frames { data, count: 0, height: h, width: w, timestamps, indices: vec![], sample_fps });
        }
        // Each unique frame is decoded once into its first slot, then copied to repeats.
        let mut first_slot = vec![usize::MAX; indices.iter().max().map_or(0, |&m| m + 1)];
        for (slot, &i) in indices.iter().enumerate() {
            if first_slot[i] == usize::MAX {
                first_slot[i] = slot;
            }
        }
        let out = SharedOut::new(&mut data);
        let rotation = self.meta.rotation;
        self.run_plan(indices, &|t, frame, conv| {
            // SAFETY: frame t belongs to exactly one run of one group, so its slot is written
            // by one thread alone.
            let dst = unsafe { out.slot(first_slot[t] * frame_bytes, frame_bytes) };
            conv.convert(frame, rotation, w, h, dst)
        })?;
        for (slot, &i) in indices.iter().enumerate() {
            let src = first_slot[i];
            if src != slot {
                data.copy_within(src * frame_bytes..(src + 1) * frame_bytes, slot * frame_bytes);
            }
        }
        Ok(Frames {
            data,
            count: indices.len(),
            height: h,
            width: w,
            timestamps,
            indices: indices.to_vec(),
            sample_fps,
        })
    }

    /// The lower bound of decoding `indices`: the same seek plan and packets as a real decode,
    /// without colour conversion, resizing or copying. Returns the packets decoded.
    pub fn decode_only(&self, indices: &[usize]) -> Result<u64> {
        self.check_indices(indices)?;
        self.run_plan(indices, &|_, _, _| Ok(()))
    }

    fn check_indices(&self, indices: &[usize]) -> Result<()> {
        let n = self.index()?.len();
        match indices.iter().find(|&&i| i >= n) {
            Some(&bad) => Err(VideoError::InvalidArgument {
                field: "indices",
                reason: format!("{}: frame {bad} does not exist (the video has {n} frames)", self.path.display()),
            }),
            None => Ok(()),
        }
    }

    /// Plans runs for the unique frames of `indices`, spreads them over worker threads with a
    /// session each, and hands every decoded target to `emit`. Returns the packets decoded.
    fn run_plan(
        &self,
        indices: &[usize],
        emit: &(dyn Fn(usize, &ffmpeg_next::frame::Video, &mut Converter) -> Result<()> + Sync),
    ) -> Result<u64> {
        let index = self.index()?;
        let mut unique: Vec<usize> = indices.to_vec();
        unique.sort_unstable();
        unique.dedup();
        if unique.is_empty() {
            return Ok(0);
        }
        let groups = balance(index, plan_runs(index, &unique), self.threads);
        let decoder_threads = (self.threads / groups.len()).max(1);
        // One group: its decoder stays positioned for a request that continues where this one
        // ends (sequential reading); several: free their pictures when done.
        let keep_decoder = groups.len() == 1;
        let work = |group: &Vec<Run>| -> Result<u64> {
            let mut session = self.take_session(decoder_threads)?;
            let before = session.packets_sent;
            let mut sink = |t: usize, f: &ffmpeg_next::frame::Video, c: &mut Converter| emit(t, f, c);
            let mut result = Ok(());
            for (k, run) in group.iter().enumerate() {
                // Drain when the next run of this worker will seek anyway (or there is none).
                let drain = self.options.drain
                    && group
                        .get(k + 1)
                        .map_or(true, |next| index.key_pos[next.key as usize] > run.reach + SEEK_SLACK_PACKETS);
                result = session.decode_run(&self.path, index, run, drain, &mut sink);
                if result.is_err() {
                    break;
                }
            }
            let sent = session.packets_sent - before;
            result?;
            self.put_session(session, keep_decoder);
            Ok(sent)
        };
        if groups.len() == 1 {
            return catch(|| work(&groups[0]));
        }
        let results: Vec<Result<u64>> = std::thread::scope(|scope| {
            let handles: Vec<_> = groups.iter().map(|g| scope.spawn(|| catch(|| work(g)))).collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err(VideoError::Internal("decoder thread panicked".into()))))
                .collect()
        });
        results.into_iter().sum()
    }
}

/// The frames [`VideoReader::sample_snapped`] decodes for the planned `indices` (see there).
pub(crate) fn snap(index: &FrameIndex, indices: &[usize], tolerance: f64) -> Vec<usize> {
    let keys = index.keyframe_indices();
    let mut used = std::collections::HashSet::new();
    // Keyframes first, so that a cheap non-key frame never takes what a keyframe snap needs.
    let mut out: Vec<Option<usize>> = indices
        .iter()
        .map(|&i| {
            let t = index.time_of(i);
            let k = keys.partition_point(|&k| index.time_of(k) < t);
            let nearest = [k.checked_sub(1), Some(k)]
                .into_iter()
                .flatten()
                .filter_map(|j| keys.get(j).copied())
                .filter(|&kf| (index.time_of(kf) - t).abs() <= tolerance && !used.contains(&kf))
                .min_by(|&a, &b| (index.time_of(a) - t).abs().total_cmp(&(index.time_of(b) - t).abs()));
            nearest.inspect(|&kf| {
                used.insert(kf);
            })
        })
        .collect();
    for (slot, &i) in out.iter_mut().zip(indices) {
        if slot.is_some() {
            continue;
        }
        let t = index.time_of(i);
        let lo = index.frame_at(t - tolerance);
        let lo = if index.time_of(lo) < t - tolerance { lo + 1 } else { lo };
        let hi = index.frame_at(t + tolerance);
        let best = (lo..=hi.max(lo).min(index.len() - 1))
            .filter(|f| !used.contains(f))
            .min_by(|&a, &b| {
                index
                    .decode_cost(a)
                    .cmp(&index.decode_cost(b))
                    .then((index.time_of(a) - t).abs().total_cmp(&(index.time_of(b) - t).abs()))
            })
            .filter(|&f| index.decode_cost(f) < index.decode_cost(i) || f == i);
        // Nothing cheaper left: the planned frame itself.
        let chosen = best.unwrap_or(i);
        used.insert(chosen);
        *slot = Some(chosen);
    }
    out.into_iter().map(|f| f.expect("every sample is placed")).collect()
}

/// Runs `f`, turning a panic into an error so that none crosses an API boundary.
pub(crate) fn catch<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(VideoError::Internal(msg))
        }
    }
}

/// One segment to sample in [`decode_many`].
#[derive(Clone, Debug)]
pub struct ClipRequest {
    pub path: PathBuf,
    /// Seconds; `None` for the whole video.
    pub range: Option<(f64, f64)>,
    pub budget: FrameBudget,
}

/// Samples several segments (of one or several videos) in parallel on `threads` threads
/// (0 = one per core). Each request gets its own result, so one bad video fails only itself.
pub fn decode_many(requests: &[ClipRequest], threads: usize) -> Vec<Result<Frames>> {
    let threads = available_threads(threads).min(requests.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<Result<Frames>>>> = requests.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(req) = requests.get(i) else { break };
                let r = catch(|| {
                    VideoReader::open_with(&req.path, ReaderOptions { threads: 1, ..ReaderOptions::default() })?
                        .sample(req.range, &req.budget)
                });
                *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
            });
        }
    });
    slots
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or_else(|| Err(VideoError::Internal("request not processed".into())))
        })
        .collect()
}
