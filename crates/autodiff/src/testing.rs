//! Bounded, finite proptest strategies shared by every crate's property tests
//! (enabled by the `testing` feature), and the matrix product into a given array
//! for the `matmul` bench.
//!
//! The default float strategies of proptest produce NaN, infinities and subnormals;
//! gradient checks need values in a range where the function is smooth and its
//! finite differences are meaningful, so every generator here takes explicit bounds.

use ndarray::{Array2, ArrayView2, ArrayViewMut2};
use proptest::prelude::*;

/// A `rows x cols` matrix with entries uniform in `lo..hi`.
pub fn matrix(rows: usize, cols: usize, lo: f64, hi: f64) -> impl Strategy<Value = Array2<f64>> {
    proptest::collection::vec(lo..hi, rows * cols)
        .prop_map(move |v| Array2::from_shape_vec((rows, cols), v).expect("rows * cols entries"))
}

/// A matrix of random shape (each axis in `1..=max_dim`) with entries in `lo..hi`.
pub fn any_matrix(max_dim: usize, lo: f64, hi: f64) -> impl Strategy<Value = Array2<f64>> {
    (1..=max_dim, 1..=max_dim).prop_flat_map(move |(r, c)| matrix(r, c, lo, hi))
}

/// Two matrices of one random shape.
pub fn matrix_pair(max_dim: usize, lo: f64, hi: f64) -> impl Strategy<Value = (Array2<f64>, Array2<f64>)> {
    (1..=max_dim, 1..=max_dim).prop_flat_map(move |(r, c)| (matrix(r, c, lo, hi), matrix(r, c, lo, hi)))
}

/// A seed for a `rand_chacha` generator (proptest's own RNG belongs to another rand
/// version; build your own seeded generator from this).
pub fn seed() -> impl Strategy<Value = u64> {
    any::<u64>()
}

/// Overwrites `c` with `a b` by the library's product (the `gemm` crate), on this
/// thread or split over rayon's threads, whatever the size: the `matmul` bench's
/// `gemm` candidates, without the library's allocation and size threshold.
///
/// # Panics
/// If the shapes disagree.
pub fn matmul_into(
    c: &mut ArrayViewMut2<'_, f64>,
    a: &ArrayView2<'_, f64>,
    b: &ArrayView2<'_, f64>,
    split: bool,
) {
    crate::fast::gemm::product_into(c, a, b, split)
}
