//! Finding NaN and infinities: the one scan that every crate's input checks use, so
//! that each error can name the row, the column and the value it found.

use ndarray::{Array2, ArrayView2};

/// Position `(row, col)` and value of the first NaN or infinity of `a`, in row-major
/// order, or `None` if every entry is finite.
pub fn first_non_finite<'a>(a: impl Into<ArrayView2<'a, f64>>) -> Option<((usize, usize), f64)> {
    a.into().indexed_iter().find(|(_, v)| !v.is_finite()).map(|(ix, &v)| (ix, v))
}

/// [`first_non_finite`] among the entries where `mask` is non-zero: unobserved
/// entries may hold anything. `mask` has `a`'s shape or broadcasts to it (one column
/// for whole rows, say).
///
/// # Panics
/// If `mask` does not broadcast to `a`'s shape (callers check the shapes first).
pub fn first_non_finite_observed(a: &Array2<f64>, mask: &Array2<f64>) -> Option<((usize, usize), f64)> {
    let mask = mask.broadcast(a.dim()).expect("first_non_finite_observed: the mask broadcasts to the values");
    a.indexed_iter().find(|(ix, v)| !v.is_finite() && mask[*ix] != 0.0).map(|(ix, &v)| (ix, v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn finds_the_first_in_row_major_order_and_skips_unobserved() {
        let a = array![[1.0, 2.0], [f64::INFINITY, f64::NAN]];
        assert_eq!(first_non_finite(&a), Some(((1, 0), f64::INFINITY)));
        assert_eq!(first_non_finite(&array![[0.0, -1e308]]), None);
        let mask = array![[1.0, 1.0], [0.0, 1.0]];
        let (ix, v) = first_non_finite_observed(&a, &mask).unwrap();
        assert!(ix == (1, 1) && v.is_nan());
        assert_eq!(first_non_finite_observed(&a, &array![[1.0, 1.0], [0.0, 0.0]]), None);
    }
}
