//! Time-major batches and step masks: the layout every sequence model reads.
//!
//! A batch of `B` sequences padded to `T` steps is a slice of `T` matrices `xs[t]`
//! (`B x D`, row `b` = sequence `b` at step `t`), with masks `masks[t]` that are either
//! `B x 1` (step `t` of sequence `b` exists) or `B x D` (which entries are observed).
//! A step counts when any entry of its row is observed.

use crate::{Error, Result};
use ndarray::{Array2, Axis};

/// The `B x 1` step masks of `B x 1` or `B x D` observation masks (1 where any entry
/// of the row is observed), after checking them against the inputs.
pub fn step_masks(xs: &[Array2<f64>], masks: &[Array2<f64>]) -> Result<Vec<Array2<f64>>> {
    check_batch("step_masks", xs, masks, None)?;
    Ok(masks.iter().map(row_mask).collect())
}

/// 1 where any entry of the row is non-zero.
pub(crate) fn row_mask(m: &Array2<f64>) -> Array2<f64> {
    if m.ncols() == 1 {
        return m.clone();
    }
    m.map_axis(Axis(1), |r| if r.iter().any(|&v| v != 0.0) { 1.0 } else { 0.0 }).insert_axis(Axis(1))
}

/// Checks a time-major batch: at least one step, every step `B x D` (with `D = dim`
/// when given), masks of the same count, `B x 1` or `B x D`, holding only 0 and 1.
pub(crate) fn check_batch(
    what: &'static str,
    xs: &[Array2<f64>],
    masks: &[Array2<f64>],
    dim: Option<usize>,
) -> Result<(usize, usize)> {
    let Some(first) = xs.first() else {
        return Err(Error::config(what, "the batch has no time steps"));
    };
    let (b, d) = first.dim();
    if let Some(want) = dim
        && d != want
    {
        return Err(Error::config(what, format!("the model expects {want} features per step, got {d}")));
    }
    if masks.len() != xs.len() {
        return Err(Error::config(what, format!("{} steps but {} masks", xs.len(), masks.len())));
    }
    for (t, (x, m)) in xs.iter().zip(masks).enumerate() {
        if x.dim() != (b, d) {
            return Err(Error::config(what, format!("step {t} is {:?}, step 0 is {:?}", x.dim(), (b, d))));
        }
        if m.nrows() != b || (m.ncols() != 1 && m.ncols() != d) {
            return Err(Error::config(
                what,
                format!("mask {t} is {:?}; expected {b} x 1 or {b} x {d}", m.dim()),
            ));
        }
        if let Some(v) = m.iter().find(|&&v| v != 0.0 && v != 1.0) {
            return Err(Error::config(what, format!("mask {t} holds {v}; masks are 0/1")));
        }
    }
    Ok((b, d))
}

/// Full `B x 1` masks for `steps` steps of `batch` sequences (every step present).
pub fn full_masks(batch: usize, steps: usize) -> Vec<Array2<f64>> {
    vec![Array2::ones((batch, 1)); steps]
}

/// Number of present steps of each sequence (the step masks summed over time).
pub fn lengths(step_masks: &[Array2<f64>]) -> Vec<usize> {
    let b = step_masks.first().map_or(0, Array2::nrows);
    (0..b).map(|i| step_masks.iter().filter(|m| m[(i, 0)] != 0.0).count()).collect()
}
