//! Reductions and their adjoints: summing to a shape, broadcasting from it, and the
//! numerically stable log-sum-exp.
//!
//! `sum_to` and `broadcast_to` are each other's gradient: summing over an axis
//! spreads the incoming gradient back along it, and stretching along an axis sums
//! the incoming gradient over it.

use crate::shape::check_stretch;
use crate::{Result, Shape, Tensor};
use ndarray::{Array2, Axis};

/// Sums `x` over every axis where `to` has length 1 and `x` does not.
pub fn sum_to(x: &Array2<f64>, to: Shape) -> Result<Array2<f64>> {
    check_stretch("sum_to", to, x.dim())?;
    // `view()` reaches ndarray's own `sum_axis` (this module has `Tensor` in scope).
    let rows =
        if to.0 == 1 && x.nrows() != 1 { x.view().sum_axis(Axis(0)).insert_axis(Axis(0)) } else { x.clone() };
    Ok(if to.1 == 1 && x.ncols() != 1 { rows.view().sum_axis(Axis(1)).insert_axis(Axis(1)) } else { rows })
}

/// Repeats `x` along every axis where it has length 1 and `to` does not.
pub fn broadcast_to(x: &Array2<f64>, to: Shape) -> Result<Array2<f64>> {
    check_stretch("broadcast_to", x.dim(), to)?;
    Ok(crate::fast::kernels::copy(&x.broadcast(to).expect("checked by check_stretch")))
}

/// Gradient of `y = sum_to(x)`: spread `g` back to the shape of `x`.
pub fn sum_to_vjp<T: Tensor>(g: &T, x: &T) -> T {
    g.broadcast_to(x.shape()).expect("sum_to vjp: shapes agree by construction")
}

/// Gradient of `y = broadcast_to(x)`: sum `g` back to the shape of `x`.
pub fn broadcast_to_vjp<T: Tensor>(g: &T, x: &T) -> T {
    g.sum_to(x.shape()).expect("broadcast_to vjp: shapes agree by construction")
}

/// `ln sum_j e^{x_j}` along `axis`, keeping that axis with length 1.
///
/// The maximum is subtracted first, so `[1000, 1000]` gives `1000 + ln 2`, not
/// infinity. A lane that is entirely `-inf` gives `-inf` (the log of an empty sum).
pub fn logsumexp(x: &Array2<f64>, axis: Axis) -> Array2<f64> {
    let lanes = x.lanes(axis);
    let values = lanes.into_iter().map(|lane| {
        let m = lane.fold(f64::NEG_INFINITY, |m, &v| m.max(v));
        let shift = if m.is_finite() { m } else { 0.0 };
        shift + lane.fold(0.0, |s, &v| s + (v - shift).exp()).ln()
    });
    let shape = if axis == Axis(0) { (1, x.ncols()) } else { (x.nrows(), 1) };
    Array2::from_shape_vec(shape, values.collect()).expect("one value per lane")
}

/// Gradient of `y = logsumexp(x)`: `g * softmax(x) = g * e^{x - y}`.
pub fn logsumexp_vjp<T: Tensor>(g: &T, x: &T, y: &T) -> T {
    const SHAPES: &str = "logsumexp vjp: y and g broadcast against x";
    x.sub(y).expect(SHAPES).exp().mul(g).expect(SHAPES)
}
