//! Memory per opened video must not grow across a long run: opening, indexing and closing the
//! same video 50 times, saving clips, sampling many videos, and readers dropped with a decoder
//! positioned mid-stream, each leave the process's resident memory where it was.
//!
//! One test function in its own test binary (its own process): tests running in parallel
//! threads would move the resident size under it. Resident size is VmRSS from
//! /proc/self/status after glibc's `malloc_trim(0)`, which returns freed heap pages to the
//! system so that what is measured is memory still held, not allocator caching. glibc is also
//! limited to two arenas: otherwise every short-lived decoding thread may park freed memory in
//! an arena of its own, which moves the resident size by several MiB either way from round to
//! round without anything being held.

mod common;

use std::path::Path;

use common::ffmpeg;
use videotemp_video::{decode_many, ClipRequest, FrameBudget, ReaderOptions, VideoReader};

extern "C" {
    fn malloc_trim(pad: usize) -> i32;
    fn mallopt(param: i32, value: i32) -> i32;
}

const M_ARENA_MAX: i32 = -8;

fn resident_mib() -> f64 {
    unsafe { malloc_trim(0) };
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc/self/status");
    kb / 1024.0
}

const ROUNDS: usize = 50;
const LIMIT_MIB: f64 = 16.0;

/// Runs `work` a few times to warm up (codec tables, thread pools), then `ROUNDS` times, and
/// checks resident memory grew by less than `LIMIT_MIB`.
fn stays_flat(what: &str, file_mib: f64, mut work: impl FnMut()) {
    for _ in 0..3 {
        work();
    }
    let before = resident_mib();
    for _ in 0..ROUNDS {
        work();
    }
    let after = resident_mib();
    eprintln!("{what}: resident {before:.1} -> {after:.1} MiB after {ROUNDS} rounds (file {file_mib:.1} MiB)");
    assert!(
        after - before < LIMIT_MIB,
        "{what}: resident memory grew by {:.1} MiB over {ROUNDS} rounds (a leak of about {:.2} MiB per round; the file is {file_mib:.1} MiB)",
        after - before,
        (after - before) / ROUNDS as f64
    );
}

#[test]
fn repeated_work_does_not_grow_resident_memory() {
    unsafe { mallopt(M_ARENA_MAX, 2) };
    let dir = tempfile::tempdir().unwrap();
    // Moving content at a few Mbit/s: the file (several MiB) dwarfs the noise, so a leak of
    // a file's worth per open is far above the limit.
    let src = ["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30:duration=20"];
    let h264 = ["-c:v", "libx264", "-preset", "veryfast", "-bf", "3", "-g", "90", "-b:v", "3M", "-pix_fmt", "yuv420p"];
    let mp4 = ffmpeg(dir.path(), "a.mp4", &[&src[..], &h264[..]].concat());
    let mkv = ffmpeg(dir.path(), "a.mkv", &[&src[..], &h264[..]].concat());
    let mib = |p: &Path| std::fs::metadata(p).unwrap().len() as f64 / (1 << 20) as f64;
    assert!(mib(&mp4) > 4.0, "the test file must be several MiB ({:.1})", mib(&mp4));

    for (path, sample_table) in [(&mp4, true), (&mp4, false), (&mkv, true)] {
        let what = format!(
            "open + index + close {} ({})",
            path.display(),
            if sample_table { "default" } else { "full demux" }
        );
        stays_flat(&what, mib(path), || {
            let r =
                VideoReader::open_with(path, ReaderOptions { sample_table_index: sample_table, ..Default::default() })
                    .unwrap();
            assert_eq!(r.num_frames().unwrap(), 600);
        });
    }

    // A reader dropped while its decoder sits mid-GOP holding pictures, at 1 and 2 threads.
    for threads in [1, 2] {
        stays_flat(&format!("decode mid-stream then drop ({threads} threads)"), mib(&mp4), || {
            let r = VideoReader::open_with(&mp4, ReaderOptions { threads, ..Default::default() }).unwrap();
            // Just after keyframes (GOP 90): little to decode, the decoder left mid-GOP.
            let f = r.frames_at_indices(&[91, 95, 272], Some((90, 160))).unwrap();
            assert_eq!(f.count, 3);
        });
    }

    // A decode that fails half way (the file cut in the middle of its packets).
    let cut = dir.path().join("cut.mkv");
    let bytes = std::fs::read(&mkv).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    stays_flat("decode of a truncated file", mib(&cut), || {
        let r = VideoReader::open(&cut).unwrap();
        let n = r.num_frames().unwrap();
        let _ = r.frames_at_indices(&[n - 3, n - 1], Some((90, 160)));
    });

    let out = dir.path().join("clip.mp4");
    stays_flat("save_clip", mib(&mp4), || {
        let r = VideoReader::open(&mp4).unwrap();
        r.save_clip(5.0, 9.0, &out).unwrap();
    });

    let requests: Vec<ClipRequest> = [&mp4, &mkv, &mp4]
        .iter()
        .map(|p| ClipRequest {
            path: p.to_path_buf(),
            range: Some((3.0, 3.5)),
            budget: FrameBudget { max_frames: 4, ..Default::default() },
        })
        .collect();
    stays_flat("decode_many", mib(&mp4), || {
        for r in decode_many(&requests, 2) {
            assert_eq!(r.unwrap().count, 4);
        }
    });
}
