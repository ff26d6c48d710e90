//! Opening an MP4/MOV costs its headers, not its samples: the frame index comes from the sample
//! table the demuxer reads at open (bytes counted by the reader's own I/O), and it is the same
//! index a full demux of every packet gives.

mod common;

use std::path::{Path, PathBuf};

use common::ffmpeg;
use videotemp_video::{FrameIndex, IndexScan, ReaderOptions, VideoReader};

const H264: &[&str] = &[
    "-c:v", "libx264", "-preset", "veryfast", "-bf", "3", "-g", "60", "-keyint_min", "60", "-sc_threshold", "0",
    "-pix_fmt", "yuv420p",
];

fn index_with(path: &Path, sample_table: bool) -> (VideoReader, usize) {
    let r =
        VideoReader::open_with(path, ReaderOptions { sample_table_index: sample_table, ..Default::default() }).unwrap();
    let n = r.num_frames().unwrap();
    (r, n)
}

fn same_index(a: &FrameIndex, b: &FrameIndex, what: &str) {
    assert_eq!(a.pts, b.pts, "{what}: pts");
    assert_eq!(a.decode_pos, b.decode_pos, "{what}: decode_pos");
    assert_eq!(a.packet_frame, b.packet_frame, "{what}: packet_frame");
    assert_eq!(a.key_pos, b.key_pos, "{what}: key_pos");
    assert_eq!(a.key_ts, b.key_ts, "{what}: key_ts");
    assert_eq!(a.key_byte_pos, b.key_byte_pos, "{what}: key_byte_pos");
    assert_eq!(a.frame_key, b.frame_key, "{what}: frame_key");
    assert_eq!(a.origin_pts, b.origin_pts, "{what}: origin_pts");
    assert_eq!(a.timeline, b.timeline, "{what}: timeline");
    assert_eq!(a.packets, b.packets, "{what}: packets");
}

#[test]
fn mp4_index_reads_the_headers_not_the_samples() {
    let dir = tempfile::tempdir().unwrap();
    let src = "testsrc2=size=640x480:rate=30:duration=10";
    let mut cases: Vec<(PathBuf, usize)> = vec![
        // B-frames: FFmpeg writes an edit list shifting the start by the reorder delay.
        (ffmpeg(dir.path(), "bframes.mp4", &[&["-f", "lavfi", "-i", src], H264].concat()), 300),
        // Index at the front, as web video is.
        (
            ffmpeg(
                dir.path(),
                "faststart.mp4",
                &[&["-f", "lavfi", "-i", src], H264, &["-movflags", "+faststart"]].concat(),
            ),
            300,
        ),
        // Interleaved with an audio track.
        (
            ffmpeg(
                dir.path(),
                "with_audio.mov",
                &[
                    &["-f", "lavfi", "-i", src, "-f", "lavfi", "-i", "sine=frequency=440:duration=20"],
                    H264,
                    &["-c:a", "aac"],
                ]
                .concat(),
            ),
            300,
        ),
        // A stream that starts at 1.5 s (an edit list with an empty edit).
        (
            ffmpeg(
                dir.path(),
                "offset.mp4",
                &[&["-f", "lavfi", "-i", src], H264, &["-output_ts_offset", "1.5"]].concat(),
            ),
            300,
        ),
        (
            ffmpeg(
                dir.path(),
                "hevc.mp4",
                &[
                    "-f",
                    "lavfi",
                    "-i",
                    src,
                    "-c:v",
                    "libx265",
                    "-preset",
                    "ultrafast",
                    "-x265-params",
                    "log-level=none:bframes=3:keyint=60",
                ],
            ),
            300,
        ),
        (ffmpeg(dir.path(), "mpeg4.mp4", &["-f", "lavfi", "-i", src, "-c:v", "mpeg4", "-bf", "2", "-q:v", "4"]), 300),
    ];
    // Variable frame rate: timestamps from a lookup, passed through.
    cases.push((
        ffmpeg(
            dir.path(),
            "vfr.mp4",
            &[
                &[
                    "-f",
                    "lavfi",
                    "-i",
                    src,
                    "-vf",
                    "setpts='N/30/TB+if(gt(N,100),0.5/TB,0)+if(gt(N,200),0.25/TB,0)'",
                    "-fps_mode",
                    "passthrough",
                ],
                H264,
            ]
            .concat(),
        ),
        300,
    ));
    for (path, frames) in &cases {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let size = std::fs::metadata(path).unwrap().len();
        let (fast, n) = index_with(path, true);
        assert_eq!(n, *frames, "{name}");
        assert_eq!(fast.index().unwrap().scan, IndexScan::SampleTable, "{name}: the sample table path applies");
        // The headers and the packets the stream probe decodes: a small part of the file.
        assert!(fast.bytes_read() * 4 < size, "{name}: open + index read {} of {size} bytes", fast.bytes_read());
        let (full, m) = index_with(path, false);
        assert_eq!(full.index().unwrap().scan, IndexScan::Packets);
        assert!(
            full.bytes_read() >= size * 9 / 10,
            "{name}: the full demux reads the file ({} of {size})",
            full.bytes_read()
        );
        assert_eq!(m, n, "{name}");
        same_index(fast.index().unwrap(), full.index().unwrap(), &name);
        // The same index decodes the same frames (exactness itself: tests/exact.rs, tests/test_video*.py).
        let picks: Vec<usize> = vec![0, 1, 59, 60, 61, 150, 239, n - 1];
        let a = fast.frames_at_indices(&picks, Some((60, 80))).unwrap();
        let b = full.frames_at_indices(&picks, Some((60, 80))).unwrap();
        assert!(a.data == b.data, "{name}: frames differ");
    }
}

#[test]
fn matroska_and_vp9_in_mp4_use_the_full_demux() {
    let dir = tempfile::tempdir().unwrap();
    let src = "testsrc2=size=160x120:rate=30:duration=2";
    let mkv = ffmpeg(dir.path(), "a.mkv", &[&["-f", "lavfi", "-i", src], H264].concat());
    let vp9 = ffmpeg(
        dir.path(),
        "vp9.mp4",
        &["-f", "lavfi", "-i", src, "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"],
    );
    for path in [mkv, vp9] {
        let (r, n) = index_with(&path, true);
        assert_eq!(n, 60);
        assert_eq!(r.index().unwrap().scan, IndexScan::Packets, "{}", path.display());
    }
}
