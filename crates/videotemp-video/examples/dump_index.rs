//! Prints the frame index around a frame: `cargo run --release --example dump_index -- VIDEO FROM TO`.
use videotemp_video::VideoReader;
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let r = VideoReader::open(&a[1]).unwrap();
    let ix = r.index().unwrap();
    let (from, to): (usize, usize) = (a[2].parse().unwrap(), a[3].parse().unwrap());
    println!("{:?} {:?}, keys at packets {:?}", ix.scan, ix.timeline, &ix.key_pos[..ix.key_pos.len().min(12)]);
    for f in from..to.min(ix.len()) {
        println!("frame {f}: pts {} packet {} key#{} (packet {}, frame {})", ix.pts[f], ix.decode_pos[f], ix.frame_key[f], ix.key_pos[ix.frame_key[f] as usize], ix.key_frame[ix.frame_key[f] as usize]);
    }
}
