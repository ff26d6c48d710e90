use videotemp_video::{ReaderOptions, VideoReader};
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let r = VideoReader::open_with(&a[1], ReaderOptions { threads: 1, ..Default::default() }).unwrap();
    let picks: Vec<usize> = a[2].split(',').map(|s| s.parse().unwrap()).collect();
    let f = r.frames_at_indices(&picks, Some((16, 16))).unwrap();
    println!("{:?}", f.indices);
}
