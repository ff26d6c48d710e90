//! `cargo bench`: decoding throughput (frames/s) of the video layer on the workloads of the
//! design notes, on a generated 1280x720 30 fps H.264 video with B-frames and a long GOP.
//!
//! - W1 overview: 256 frames by linspace over the whole video at the 200704-pixel budget.
//! - W2 clip: [S, S + 30 s] at 2 fps (60 frames), same budget, S varying.
//! - W3 agent session: W1 then two W2 clips on the same open reader.
//!
//! The video (2 minutes by default; VIDEOTEMP_BENCH_SECONDS overrides) is generated once with the
//! FFmpeg CLI under target/bench-videos. The side-by-side comparison with other decoders lives in
//! benches/compare (Python, one process per library).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use videotemp_video::{FrameBudget, ReaderOptions, VideoReader};

fn bench_video() -> PathBuf {
    let secs: u32 = std::env::var("VIDEOTEMP_BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(120);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-videos");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("h264_720p30_gop250_{secs}s.mp4"));
    if !path.exists() {
        eprintln!("generating {} ({} s of 720p H.264)...", path.display(), secs);
        let tmp = path.with_extension("tmp.mp4");
        let ok = Command::new("ffmpeg")
            .args([
                "-v",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                &format!("testsrc2=size=1280x720:rate=30:duration={secs}"),
            ])
            .args([
                "-c:v", "libx264", "-preset", "veryfast", "-bf", "3", "-g", "250", "-keyint_min", "250",
                "-sc_threshold", "0",
            ])
            .args(["-pix_fmt", "yuv420p"])
            .arg(&tmp)
            .status()
            .expect("the FFmpeg CLI is needed to generate the benchmark video");
        assert!(ok.success(), "ffmpeg failed to generate the benchmark video");
        std::fs::rename(&tmp, &path).unwrap();
    }
    path
}

fn overview_budget() -> FrameBudget {
    // The release's inference setting, 256 frames at 200704 pixels per frame, with the count
    // fixed so that W1 is 256 frames whatever the video's length.
    FrameBudget { min_pixels: 200_704, max_pixels: 200_704, nframes: Some(256), ..FrameBudget::default() }
}

fn clip_budget() -> FrameBudget {
    FrameBudget {
        fps: 2.0,
        min_frames: 4,
        max_frames: 64,
        min_pixels: 200_704,
        max_pixels: 200_704,
        ..FrameBudget::default()
    }
}

fn workloads(c: &mut Criterion) {
    let path = bench_video();
    let probe = VideoReader::open(&path).unwrap();
    let duration = probe.num_frames().unwrap() as f64 / probe.metadata().avg_fps;
    let threads_list: Vec<usize> = {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        if cores > 1 {
            vec![1, cores]
        } else {
            vec![1]
        }
    };
    let clip_starts: Vec<f64> = (0..7).map(|i| (duration - 31.0).max(0.0) * (i as f64 * 0.37 % 1.0)).collect();

    let mut g = c.benchmark_group("decode");
    g.sample_size(10).measurement_time(Duration::from_secs(20)).warm_up_time(Duration::from_secs(1));
    for &threads in &threads_list {
        let opts = ReaderOptions { threads, ..ReaderOptions::default() };
        g.throughput(Throughput::Elements(256));
        g.bench_function(format!("W1_overview_256f/threads={threads}"), |b| {
            b.iter(|| {
                let r = VideoReader::open_with(&path, opts.clone()).unwrap();
                let f = r.sample(None, &overview_budget()).unwrap();
                assert_eq!(f.count, 256);
            })
        });
        g.throughput(Throughput::Elements(60));
        let mut k = 0;
        g.bench_function(format!("W2_clip_30s_2fps/threads={threads}"), |b| {
            b.iter(|| {
                let s = clip_starts[k % clip_starts.len()];
                k += 1;
                let r = VideoReader::open_with(&path, opts.clone()).unwrap();
                let f = r.sample(Some((s, s + 30.0)), &clip_budget()).unwrap();
                assert_eq!(f.count, 60);
            })
        });
        g.throughput(Throughput::Elements(256 + 120));
        g.bench_function(format!("W3_session_overview_plus_2_clips/threads={threads}"), |b| {
            b.iter(|| {
                let r = VideoReader::open_with(&path, opts.clone()).unwrap();
                r.sample(None, &overview_budget()).unwrap();
                for s in [clip_starts[1], clip_starts[4]] {
                    r.sample(Some((s, s + 30.0)), &clip_budget()).unwrap();
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, workloads);
criterion_main!(benches);
