//! Handing decoded frames to Python without a copy: the Rust `Vec<u8>` becomes the memory of
//! the numpy array (numpy keeps the Vec alive through the array's base object).

use numpy::ndarray::{Array1, Array4};
use numpy::{PyArray1, PyArray4, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use videotemp_video::Frames;

/// `{"frames": uint8[T,H,W,3], "timestamps": float64[T], "indices": int64[T], "sample_fps": float,
/// "buffer_address": int}`. `buffer_address` is where Rust allocated the pixels; tests compare it
/// with the array's data pointer to prove that no copy was made.
pub fn into_py(py: Python<'_>, f: Frames) -> PyResult<Bound<'_, PyDict>> {
    let address = f.data.as_ptr() as usize;
    let shape = (f.count, f.height as usize, f.width as usize, 3);
    let pixels = Array4::from_shape_vec(shape, f.data)
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(format!("frame buffer shape: {e}")))?;
    let frames = PyArray4::from_owned_array(py, pixels);
    debug_assert_eq!(frames.data() as usize, address);
    let d = PyDict::new(py);
    d.set_item("frames", frames)?;
    d.set_item("timestamps", PyArray1::from_owned_array(py, Array1::from_vec(f.timestamps)))?;
    let idx: Vec<i64> = f.indices.iter().map(|&i| i as i64).collect();
    d.set_item("indices", PyArray1::from_owned_array(py, Array1::from_vec(idx)))?;
    d.set_item("sample_fps", f.sample_fps)?;
    d.set_item("buffer_address", address)?;
    Ok(d)
}
