//! The loops behind the element-wise ops and matrix products, writing into buffers
//! recycled by [`crate::pool`].
//!
//! They run on one core. Splitting these kernels with rayon was measured on the MLP
//! benchmark (`benches/tape.rs`, 2-64-64-2, batch 512, two cores): the forward pass
//! got faster (0.59 -> 0.41 ms) but the full step slower (0.84 -> 1.06 ms with split
//! products, 1.59 ms with split element-wise maps), because the fork-join and the
//! wake-ups of idle workers cost more than the work at these sizes. Parallelism pays
//! at a coarser grain (data-parallel shards, per-sample solves, mixture E-steps),
//! which the crates above use.

use crate::pool;
use ndarray::{Array2, ArrayView2, Zip};

/// `f` applied to every element.
pub(crate) fn map(x: &Array2<f64>, f: impl Fn(f64) -> f64) -> Array2<f64> {
    if x.len() < pool::MIN_LEN {
        return x.mapv(f);
    }
    let mut out = pool::uninit(x.dim());
    Zip::from(&mut out).and(x).for_each(|o, &v| *o = f(v));
    out
}

/// `f` applied to pairs of elements of two views of the same shape.
pub(crate) fn map2(
    a: &ArrayView2<'_, f64>,
    b: &ArrayView2<'_, f64>,
    f: impl Fn(f64, f64) -> f64,
) -> Array2<f64> {
    let mut out = pool::uninit(a.dim());
    Zip::from(&mut out).and(a).and(b).for_each(|o, &x, &y| *o = f(x, y));
    out
}

/// An owned copy of a view (a column block, a transpose, a broadcast), in
/// standard layout.
pub(crate) fn copy(x: &ArrayView2<'_, f64>) -> Array2<f64> {
    let mut out = pool::uninit(x.dim());
    out.assign(x);
    out
}

/// A matrix of zeros.
pub(crate) fn zeros(shape: (usize, usize)) -> Array2<f64> {
    let mut out = pool::uninit(shape);
    out.fill(0.0);
    out
}

/// `a b` for views whose inner dimensions agree (see [`crate::gemm`]).
pub(crate) fn matmul(a: &ArrayView2<'_, f64>, b: &ArrayView2<'_, f64>) -> Array2<f64> {
    crate::gemm::matmul(a, b)
}
