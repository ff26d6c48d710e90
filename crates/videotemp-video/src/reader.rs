//! [`VideoReader`]: one open video, its metadata, its lazily built frame index, and a pool of
//! decoding sessions reused across calls (an agent asks for the overview, then for clips of
//! the same video: later calls pay neither the open nor the index again).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use crate::budget::FrameBudget;
use crate::decode::{balance, plan_runs, Session, SharedOut};
use crate::error::{Result, VideoError};
use crate::source::{open_input, read_metadata, FrameIndex, VideoMetadata};

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

/// Options of a [`VideoReader`].
#[derive(Clone, Debug)]
pub struct ReaderOptions {
    /// Decoding threads; 0 means one per available core.
    pub threads: usize,
}

impl Default for ReaderOptions {
    fn default() -> Self {
        ReaderOptions { threads: 0 }
    }
}

pub(crate) fn available_threads(requested: usize) -> usize {
    if requested > 0 {
        requested
    } else {
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    }
}

pub struct VideoReader {
    path: PathBuf,
    meta: VideoMetadata,
    threads: usize,
    index: OnceLock<FrameIndex>,
    sessions: Mutex<Vec<Session>>,
}

impl VideoReader {
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, ReaderOptions::default())
    }

    pub fn open_with(path: impl AsRef<Path>, options: ReaderOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let (input, stream_index) = open_input(&path)?;
        let meta = read_metadata(&path, &input, stream_index)?;
        let threads = available_threads(options.threads);
        // Keep the opened demuxer: it becomes the first decoding session.
        let session = Session::from_input(&path, input, stream_index, 1)?;
        Ok(VideoReader { path, meta, threads, index: OnceLock::new(), sessions: Mutex::new(vec![session]) })
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

    /// The frame index, built on first use by demuxing the whole file once.
    pub fn index(&self) -> Result<&FrameIndex> {
        if let Some(ix) = self.index.get() {
            return Ok(ix);
        }
        let mut session = self.take_session(1)?;
        let built = FrameIndex::build(&self.path, session.input_mut(), self.meta.stream_index);
        self.put_session(session);
        let built = built?;
        Ok(self.index.get_or_init(|| built))
    }

    /// Exact number of frames (counts packets; nothing is decoded).
    pub fn num_frames(&self) -> Result<usize> {
        Ok(self.index()?.len())
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
        let plan = budget
            .plan(index.len(), fps, h, w, range)
            .map_err(|e| match (e, range) {
                (VideoError::InvalidArgument { reason, .. }, Some((s, e))) => {
                    VideoError::InvalidRange { path: self.path.clone(), start: s, end: e, reason }
                }
                (VideoError::InvalidArgument { field, reason }, None) => VideoError::InvalidArgument {
                    field,
                    reason: format!("{}: {reason}", self.path.display()),
                },
                (e, _) => e,
            })?;
        self.decode_indices(&plan.indices, Some((plan.height, plan.width)), plan.sample_fps)
    }

    fn check_range(&self, start: f64, end: f64, duration: f64) -> Result<()> {
        let bad = |reason: String| Err(VideoError::InvalidRange { path: self.path.clone(), start, end, reason });
        if !start.is_finite() || !end.is_finite() {
            return bad("start and end must be finite numbers of seconds".into());
        }
        if start >= end {
            return bad(if start == end { "the range is empty".into() } else { "the range is reversed (start after end)".into() });
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
        if let Some(i) = pool.iter().position(|s| s.threads == threads) {
            return Ok(pool.swap_remove(i));
        }
        drop(pool);
        Session::open(&self.path, threads)
    }

    fn put_session(&self, session: Session) {
        let mut pool = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < self.threads + 1 {
            pool.push(session);
        }
    }

    /// Decodes `indices` (any order, repeats allowed) into one buffer.
    fn decode_indices(&self, indices: &[usize], size: Option<(u32, u32)>, sample_fps: f64) -> Result<Frames> {
        let index = self.index()?;
        let n = index.len();
        if let Some(&bad) = indices.iter().find(|&&i| i >= n) {
            return Err(VideoError::InvalidArgument {
                field: "indices",
                reason: format!("{}: frame {bad} does not exist (the video has {n} frames)", self.path.display()),
            });
        }
        let (h, w) = size.unwrap_or_else(|| self.meta.display_size());
        if h == 0 || w == 0 {
            return Err(VideoError::argument("size", format!("output size {w}x{h} has a zero side")));
        }
        let frame_bytes = h as usize * w as usize * 3;
        let mut data = vec![0u8; indices.len() * frame_bytes];
        let timestamps: Vec<f64> = indices.iter().map(|&i| index.time_of(i)).collect();
        if indices.is_empty() {
            return Ok(Frames { data, count: 0, height: h, width: w, timestamps, indices: vec![], sample_fps });
        }
        // Each unique frame is decoded once into its first slot, then copied to repeats.
        let mut unique: Vec<usize> = indices.to_vec();
        unique.sort_unstable();
        unique.dedup();
        let mut first_slot = vec![usize::MAX; n.min(unique[unique.len() - 1] + 1)];
        for (slot, &i) in indices.iter().enumerate() {
            if first_slot[i] == usize::MAX {
                first_slot[i] = slot;
            }
        }
        let runs = plan_runs(index, &unique);
        let groups = balance(index, runs, self.threads);
        let decoder_threads = (self.threads / groups.len()).max(1);
        let out = SharedOut::new(&mut data);
        let rotation = self.meta.rotation;
        let work = |group: &Vec<crate::decode::Run>| -> Result<()> {
            let mut session = self.take_session(decoder_threads)?;
            let mut emit = |t: usize, frame: &ffmpeg_next::frame::Video, conv: &mut crate::convert::Converter| {
                // SAFETY: frame t belongs to exactly one run of one group, so its slot is
                // written by this thread alone.
                let dst = unsafe { out.slot(first_slot[t] * frame_bytes, frame_bytes) };
                conv.convert(frame, rotation, w, h, dst)
            };
            let mut result = Ok(());
            for run in group {
                result = session.decode_run(&self.path, index, run, &mut emit);
                if result.is_err() {
                    break;
                }
            }
            if result.is_ok() {
                self.put_session(session);
            }
            result
        };
        if groups.len() == 1 {
            catch(|| work(&groups[0]))?;
        } else {
            let results: Vec<Result<()>> = std::thread::scope(|scope| {
                let handles: Vec<_> = groups.iter().map(|g| scope.spawn(|| catch(|| work(g)))).collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| Err(VideoError::Internal("decoder thread panicked".into()))))
                    .collect()
            });
            results.into_iter().collect::<Result<Vec<()>>>()?;
        }
        for (slot, &i) in indices.iter().enumerate() {
            let src = first_slot[i];
            if src != slot {
                data.copy_within(src * frame_bytes..(src + 1) * frame_bytes, slot * frame_bytes);
            }
        }
        Ok(Frames { data, count: indices.len(), height: h, width: w, timestamps, indices: indices.to_vec(), sample_fps })
    }
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
                    VideoReader::open_with(&req.path, ReaderOptions { threads: 1 })?.sample(req.range, &req.budget)
                });
                *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
            });
        }
    });
    slots
        .into_iter()
        .map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner()).unwrap_or_else(|| Err(VideoError::Internal("request not processed".into()))))
        .collect()
}
