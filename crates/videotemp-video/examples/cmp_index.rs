use videotemp_video::{ReaderOptions, VideoReader};
fn main() {
    let p = std::env::args().nth(1).unwrap();
    let a = VideoReader::open_with(&p, ReaderOptions { sample_table_index: true, ..Default::default() }).unwrap();
    let b = VideoReader::open_with(&p, ReaderOptions { sample_table_index: false, ..Default::default() }).unwrap();
    let (a, b) = (a.index().unwrap().clone(), b.index().unwrap().clone());
    println!("fast keys {:?}\nfull keys {:?}", &a.key_pos[..a.key_pos.len().min(20)], &b.key_pos[..b.key_pos.len().min(20)]);
}
