use videotemp_video::{decode_many, ClipRequest, FrameBudget};
extern "C" { fn malloc_trim(pad: usize) -> i32; }
fn rss() -> f64 { unsafe { malloc_trim(0) }; let s = std::fs::read_to_string("/proc/self/status").unwrap(); s.lines().find(|l| l.starts_with("VmRSS:")).unwrap().split_whitespace().nth(1).unwrap().parse::<f64>().unwrap() / 1024.0 }
fn main() {
    let p = std::env::args().nth(1).unwrap();
    let threads: usize = std::env::args().nth(2).map(|s| s.parse().unwrap()).unwrap_or(2);
    let reqs: Vec<ClipRequest> = (0..3).map(|_| ClipRequest { path: p.clone().into(), range: Some((3.0, 3.5)), budget: FrameBudget { max_frames: 6, ..Default::default() } }).collect();
    for round in 0..200 {
        for r in decode_many(&reqs, threads) { r.unwrap(); }
        if round % 25 == 0 { println!("round {round}: {:.1} MiB", rss()); }
    }
}
