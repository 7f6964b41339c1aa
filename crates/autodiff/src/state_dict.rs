//! PyTorch state dicts: a layer's parameters under the names and in the layouts
//! `torch.nn` gives them, so weights move between this library and PyTorch (through
//! a safetensors file, `trainers::safetensors`) without renaming or transposing by
//! hand.
//!
//! The layouts differ in one way that matters: this library computes `x W` with `W`
//! stored `in x out`, PyTorch computes `x W^T` with `W` stored `out x in`. Exports
//! transpose; imports check every shape and name the key that does not fit.

use crate::{Error, Result};
use ndarray::{Array2, ArrayD, Ix1, Ix2};
use std::collections::BTreeMap;

/// Tensors by PyTorch name (`"0.weight"`, `"gru.weight_ih_l0"`), N-dimensional as
/// `torch.Tensor`s are.
pub type StateDict = BTreeMap<String, ArrayD<f64>>;

fn missing(key: &str, reason: String) -> Error {
    Error::Data { what: format!("state dict entry `{key}`"), reason }
}

/// The matrix under `key`, which must be `rows x cols`.
pub fn matrix(state: &StateDict, key: &str, rows: usize, cols: usize) -> Result<Array2<f64>> {
    let t = state.get(key).ok_or_else(|| missing(key, "not present".into()))?;
    let m = t
        .clone()
        .into_dimensionality::<Ix2>()
        .map_err(|_| missing(key, format!("has shape {:?}, expected a matrix", t.shape())))?;
    if m.dim() != (rows, cols) {
        return Err(missing(key, format!("has shape {:?}, expected [{rows}, {cols}]", t.shape())));
    }
    Ok(m)
}

/// The vector under `key`, which must have `len` entries, as a `1 x len` row (the
/// shape of a bias here).
pub fn row(state: &StateDict, key: &str, len: usize) -> Result<Array2<f64>> {
    let t = state.get(key).ok_or_else(|| missing(key, "not present".into()))?;
    let v = t
        .clone()
        .into_dimensionality::<Ix1>()
        .ok()
        .filter(|v| v.len() == len)
        .ok_or_else(|| missing(key, format!("has shape {:?}, expected [{len}]", t.shape())))?;
    Ok(v.insert_axis(ndarray::Axis(0)))
}

/// The shape of the matrix under `key` (to size a layer from the weights it loads).
pub fn matrix_dim(state: &StateDict, key: &str) -> Result<(usize, usize)> {
    match state.get(key).map(|t| t.shape()) {
        Some(&[rows, cols]) => Ok((rows, cols)),
        Some(shape) => Err(missing(key, format!("has shape {shape:?}, expected a matrix"))),
        None => Err(missing(key, "not present".into())),
    }
}

/// A `1 x n` row as the length-`n` vector PyTorch stores a bias as.
pub fn vector(row: &Array2<f64>) -> ArrayD<f64> {
    row.iter().copied().collect::<ndarray::Array1<f64>>().into_dyn()
}
