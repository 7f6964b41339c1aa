//! Reductions: summing to a shape, broadcasting from it, and the numerically stable
//! log-sum-exp.
//!
//! `sum_to` and `broadcast_to` are each other's gradient: summing over an axis
//! spreads the incoming gradient back along it, and stretching along an axis sums
//! the incoming gradient over it.

use super::{Grad, GradTensor, OneInput, SHAPES};
use crate::shape::check_stretch;
use crate::{Result, Shape};
use ndarray::{Array2, Axis};

/// Sums over every axis where the target shape has length 1 and the input does not.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SumTo(pub(crate) Shape);

impl OneInput for SumTo {
    fn value(&self, x: &Array2<f64>) -> Result<Array2<f64>> {
        let to = self.0;
        check_stretch("sum_to", to, x.dim())?;
        // On a view, `sum_axis` is ndarray's (which drops the axis), whatever traits are in scope.
        let rows = if to.0 == 1 && x.nrows() != 1 {
            x.view().sum_axis(Axis(0)).insert_axis(Axis(0))
        } else {
            x.clone()
        };
        Ok(if to.1 == 1 && x.ncols() != 1 {
            rows.view().sum_axis(Axis(1)).insert_axis(Axis(1))
        } else {
            rows
        })
    }
    /// Each input element added once into its sum: spread `g` back to the input's shape.
    fn grad<T: GradTensor>(&self, g: &T, x: &T, _: &T) -> Grad<T> {
        Grad::New(g.broadcast_to(x.shape()).expect(SHAPES))
    }
}

/// Repeats the input along every axis where it has length 1 and the target does not.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BroadcastTo(pub(crate) Shape);

impl OneInput for BroadcastTo {
    fn value(&self, x: &Array2<f64>) -> Result<Array2<f64>> {
        check_stretch("broadcast_to", x.dim(), self.0)?;
        Ok(crate::fast::kernels::copy(&x.broadcast(self.0).expect("checked by check_stretch")))
    }
    /// Each input element is copied into several places: sum `g` over them.
    fn grad<T: GradTensor>(&self, g: &T, x: &T, _: &T) -> Grad<T> {
        Grad::New(g.sum_to(x.shape()).expect(SHAPES))
    }
}

/// `ln sum_j e^{x_j}` along an axis, keeping that axis with length 1.
///
/// The maximum is subtracted first, so `[1000, 1000]` gives `1000 + ln 2`, not
/// infinity. A lane that is entirely `-inf` gives `-inf` (the log of an empty sum).
#[derive(Debug, Clone, Copy)]
pub(crate) struct LogSumExp(pub(crate) Axis);

impl OneInput for LogSumExp {
    fn value(&self, x: &Array2<f64>) -> Result<Array2<f64>> {
        let values = x.lanes(self.0).into_iter().map(|lane| {
            let m = lane.fold(f64::NEG_INFINITY, |m, &v| m.max(v));
            let shift = if m.is_finite() { m } else { 0.0 };
            shift + lane.fold(0.0, |s, &v| s + (v - shift).exp()).ln()
        });
        let shape = if self.0 == Axis(0) { (1, x.ncols()) } else { (x.nrows(), 1) };
        Ok(Array2::from_shape_vec(shape, values.collect()).expect("one value per lane"))
    }
    /// `dy/dx_j = e^{x_j} / sum_k e^{x_k} = e^{x_j - y}`: `g` times the softmax.
    fn grad<T: GradTensor>(&self, g: &T, x: &T, y: &T) -> Grad<T> {
        Grad::New(x.sub(y).expect(SHAPES).exp().times(g))
    }
}
