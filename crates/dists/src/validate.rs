//! Parameter checks shared by the constructors. Tape values are checked on their
//! current values: a constructor is called once per forward pass, so this is where
//! a diverging model is caught before it produces NaN losses.

use crate::{Error, Result};
use autodiff::Shape;
use ndarray::{Array2, ArrayView2};

/// Every entry finite.
pub(crate) fn finite<'a>(
    dist: &'static str,
    param: &'static str,
    a: impl Into<ArrayView2<'a, f64>>,
) -> Result<()> {
    match autodiff::finite::first_non_finite(a) {
        Some(((row, col), value)) => Err(Error::NonFinite { dist, param, row, col, value }),
        None => Ok(()),
    }
}

/// Every entry finite and strictly positive.
pub(crate) fn positive(dist: &'static str, param: &'static str, a: &Array2<f64>) -> Result<()> {
    finite(dist, param, a)?;
    match a.indexed_iter().find(|(_, v)| **v <= 0.0) {
        Some(((row, col), &value)) => Err(Error::NonPositive { dist, param, row, col, value }),
        None => Ok(()),
    }
}

/// Every entry in `[lo, hi]` (NaN fails).
pub(crate) fn in_range(
    dist: &'static str,
    param: &'static str,
    range: &'static str,
    (lo, hi): (f64, f64),
    a: &Array2<f64>,
) -> Result<()> {
    match a.indexed_iter().find(|(_, v)| !(lo..=hi).contains(*v)) {
        Some(((row, col), &value)) => Err(Error::OutOfRange { dist, param, range, row, col, value }),
        None => Ok(()),
    }
}

/// Every entry of the data `x` given to a density finite. A value computed on a tape
/// (tracked) is not checked, nor copied to be: a NaN there comes from the model, and
/// reaches the training loop's NaN guard through the loss (which can roll back).
pub(crate) fn finite_data<T: autodiff::Tensor>(dist: &'static str, param: &'static str, x: &T) -> Result<()> {
    if x.is_tracked() { Ok(()) } else { finite(dist, param, &x.to_array()) }
}

/// A 0/1 mask.
pub(crate) fn mask(dist: &'static str, m: &Array2<f64>) -> Result<()> {
    match m.indexed_iter().find(|(_, v)| **v != 0.0 && **v != 1.0) {
        Some(((row, col), &value)) => {
            Err(Error::OutOfRange { dist, param: "mask", range: "{0, 1}", row, col, value })
        }
        None => Ok(()),
    }
}

/// The broadcast of two shapes (the tape's rule, `autodiff::shape::broadcast_shape`),
/// or a shape error naming the distribution and `what`.
pub(crate) fn broadcast(dist: &'static str, what: &'static str, a: Shape, b: Shape) -> Result<Shape> {
    autodiff::shape::broadcast_shape(what, a, b).map_err(|_| Error::Shape {
        dist,
        what,
        got: b,
        expected: format!("broadcastable with {a:?}"),
    })
}
