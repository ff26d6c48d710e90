//! Replays every input kept from fuzzing — the seed corpus (fuzz/seeds/) and each finding that
//! was fixed (fuzz/regressions/) — through every fuzz target's operations, in process: a
//! regression panics, aborts or reports an internal error here. `scripts/fuzz_video.sh` runs the
//! fuzzer itself.

use std::path::PathBuf;

#[path = "../../../fuzz/src/harness.rs"]
#[allow(dead_code)]
mod harness;

fn kept_inputs() -> Vec<PathBuf> {
    let fuzz = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut files = Vec::new();
    for dir in ["seeds", "regressions"] {
        for entry in std::fs::read_dir(fuzz.join(dir)).expect("fuzz input folder").flatten() {
            let p = entry.path();
            if p.is_file()
                && p.file_name().is_some_and(|n| !n.to_string_lossy().starts_with('.'))
                && p.extension().map_or(true, |e| e != "md")
            {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_kept_fuzz_input_runs_clean() {
    let inputs = kept_inputs();
    assert!(inputs.len() >= 9, "fuzz/seeds/ lost its seed corpus: {} inputs", inputs.len());
    let scratch = tempfile::tempdir().unwrap();
    for path in &inputs {
        let data = std::fs::read(path).unwrap();
        for target in [harness::Target::OpenIndex, harness::Target::OpenDecode, harness::Target::Remux] {
            let run = std::panic::catch_unwind(|| harness::exercise(&data, target, scratch.path()));
            assert!(run.is_ok(), "{} ({target:?}) panicked", path.display());
        }
    }
}

#[test]
fn seeds_decode_to_their_own_frames() {
    // The seeds are the fuzzer's starting points: each must open and index (were one to stop
    // opening, the fuzzer would start from nothing).
    let scratch = tempfile::tempdir().unwrap();
    for path in kept_inputs().iter().filter(|p| p.to_string_lossy().contains("/seeds/")) {
        let data = std::fs::read(path).unwrap();
        let ext = harness::EXTENSIONS[(data[0] & 7) as usize];
        let file = scratch.path().join(format!("seed.{ext}"));
        std::fs::write(&file, &data[2..]).unwrap();
        let reader = videotemp_video::VideoReader::open(&file).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let n = reader.num_frames().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(n >= 3, "{}: {n} frames", path.display());
    }
}
