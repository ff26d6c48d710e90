//! Prints how a video's frame index was built and what it cost:
//! `cargo run --release --example probe_index -- VIDEO [--demux-all]` (`--demux-all`: build it by
//! demuxing every packet, the fallback path, to compare).
use std::time::Instant;
use videotemp_video::{ReaderOptions, VideoReader};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: probe_index VIDEO [--demux-all]")?;
    let demux_all = std::env::args().any(|a| a == "--demux-all");
    let t = Instant::now();
    let r = VideoReader::open_with(&path, ReaderOptions { sample_table_index: !demux_all, ..Default::default() })?;
    let opened = t.elapsed();
    let ix = r.index()?;
    let total = t.elapsed();
    let size = std::fs::metadata(&path)?.len();
    println!(
        "{path}: {} frames, {} packets, {:?} / {:?}; open {:.1} ms, open+index {:.1} ms; read {} of {} bytes ({:.2}%)",
        ix.len(),
        ix.packets,
        ix.scan,
        ix.timeline,
        opened.as_secs_f64() * 1e3,
        total.as_secs_f64() * 1e3,
        r.bytes_read(),
        size,
        100.0 * r.bytes_read() as f64 / size as f64
    );
    Ok(())
}
