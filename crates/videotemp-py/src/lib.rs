//! `videotemp_o3._core`: thin PyO3 bindings over the `videotemp-video` crate. One file per
//! exposed type; errors become exceptions in `errors.rs` alone. The public, documented Python
//! API is `videotemp_o3.video`, which wraps this private module; `_core.pyi` (next to the
//! extension) is generated from this module by `scripts/gen_stubs.py`.

use pyo3::prelude::*;

mod budget;
mod errors;
mod frames;
mod metadata;
mod reader;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<reader::PyVideoReader>()?;
    m.add_class::<budget::PyFrameBudget>()?;
    m.add_class::<metadata::PyVideoMetadata>()?;
    m.add_function(wrap_pyfunction!(budget::smart_resize, m)?)?;
    m.add_function(wrap_pyfunction!(reader::sample_many, m)?)?;
    m.add_function(wrap_pyfunction!(reader::max_threads, m)?)?;
    Ok(())
}
