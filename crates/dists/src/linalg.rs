//! Small dense linear algebra in pure Rust: Cholesky factorisation, triangular
//! solves and log-determinants, on plain arrays and (for the solve) on the tape.
//!
//! Sizes here are the event dimensions of a multivariate normal (a few to a few
//! dozen), where the textbook `O(d^3)` loops are fine and a LAPACK dependency is
//! not worth its build cost; the `lapack` feature cross-checks these routines
//! against `ndarray-linalg` in the tests.

use crate::{Error, Result};
use autodiff::Tensor;
use ndarray::{Array2, Axis};

/// Relative tolerance of the symmetry check in [`cholesky`].
const SYMMETRY_RTOL: f64 = 1e-10;

/// The lower-triangular `L` with positive diagonal and `L L^T = a`
/// (Cholesky-Banachiewicz, row by row).
///
/// Fails with [`Error::NotSymmetric`] when `a` is not symmetric to a relative
/// `1e-10`, and with [`Error::NotPositiveDefinite`] naming the first pivot that is
/// not positive (or not finite). Only the lower triangle of `a` is read after the
/// symmetry check.
pub fn cholesky(a: &Array2<f64>) -> Result<Array2<f64>> {
    let (n, m) = a.dim();
    if n != m {
        return Err(Error::Shape {
            dist: "cholesky",
            what: "matrix",
            got: (n, m),
            expected: "square".into(),
        });
    }
    crate::validate::finite("cholesky", "matrix", a)?;
    for i in 0..n {
        for j in 0..i {
            let (x, y) = (a[(i, j)], a[(j, i)]);
            if (x - y).abs() > SYMMETRY_RTOL * x.abs().max(y.abs()) {
                return Err(Error::NotSymmetric { row: i, col: j, a: x, b: y });
            }
        }
    }
    let mut l = Array2::<f64>::zeros((n, n));
    for i in 0..n {
        for j in 0..=i {
            let dot: f64 = (0..j).map(|k| l[(i, k)] * l[(j, k)]).sum();
            let v = a[(i, j)] - dot;
            if i == j {
                if !(v > 0.0 && v.is_finite()) {
                    return Err(Error::NotPositiveDefinite { pivot: i, value: v });
                }
                l[(i, i)] = v.sqrt();
            } else {
                l[(i, j)] = v / l[(j, j)];
            }
        }
    }
    Ok(l)
}

/// `ln det(L L^T) = 2 sum_i ln L_ii` for a Cholesky factor `L`.
pub fn log_det_from_cholesky(l: &Array2<f64>) -> f64 {
    2.0 * l.diag().iter().map(|d| d.ln()).sum::<f64>()
}

/// Solves `L z_r = b_r` for every row `b_r` of `b` (`n x d`) by forward
/// substitution, returning the rows `z_r` (`n x d`). `L` is `d x d`
/// lower-triangular with non-zero diagonal; entries above the diagonal are ignored.
pub fn solve_lower_rows(l: &Array2<f64>, b: &Array2<f64>) -> Result<Array2<f64>> {
    check_solve_shapes("solve_lower_rows", l.dim(), b.dim())?;
    let mut z = b.clone();
    for mut row in z.axis_iter_mut(Axis(0)) {
        for i in 0..l.nrows() {
            let dot: f64 = (0..i).map(|k| l[(i, k)] * row[k]).sum();
            row[i] = (row[i] - dot) / l[(i, i)];
        }
    }
    Ok(z)
}

/// Which triangle of a square matrix holds its entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Triangle {
    /// Entries on and below the diagonal.
    Lower,
    /// Entries on and above the diagonal.
    Upper,
}

/// Solves `X M = Y` for `X` (`n x d`), with `M` (`d x d`) triangular and its
/// diagonal non-zero; entries outside the triangle are ignored.
///
/// Written with tape operations, so on [`autodiff::Var`] the solution is
/// differentiable in `M` and `Y`. For upper `M`, column `j` of `Y` is
/// `sum_{i <= j} X_i M_ij`, so `X_j = (Y_j - X_{<j} M_{<j, j}) / M_jj` in ascending
/// `j`; for lower `M` the same in descending `j`: `O(d)` nodes of `O(n d)` work.
///
/// Solving `L z_r = b_r` for every row of `B` (a Gaussian's whitening) is
/// `Z L^T = B`: `solve_right_triangular(B, L^T, Upper)`.
pub fn solve_right_triangular<T: Tensor>(y: &T, m: &T, triangle: Triangle) -> Result<T> {
    let d = check_solve_shapes("solve_right_triangular", m.shape(), y.shape())?;
    let order: Vec<usize> = match triangle {
        Triangle::Upper => (0..d).collect(),
        Triangle::Lower => (0..d).rev().collect(),
    };
    let mut cols: Vec<Option<T>> = vec![None; d];
    for (step, &j) in order.iter().enumerate() {
        let m_col = m.slice_cols(j..j + 1)?;
        let mut rhs = y.slice_cols(j..j + 1)?;
        let done = &order[..step];
        if !done.is_empty() {
            let xs: Vec<&T> = done.iter().map(|&i| cols[i].as_ref().expect("solved earlier")).collect();
            let x_done = T::concat_cols(&xs)?;
            rhs = rhs.sub(&x_done.matmul(&m_col.gather_rows(done)?)?)?;
        }
        cols[j] = Some(rhs.div(&m_col.gather_rows(&[j])?)?);
    }
    let parts: Vec<&T> = cols.iter().map(|c| c.as_ref().expect("every column solved")).collect();
    Ok(T::concat_cols(&parts)?)
}

/// The diagonal of a square value as a `1 x d` row (differentiable).
pub fn diag_row<T: Tensor>(l: &T) -> Result<T> {
    let d = l.shape().0;
    let eye = l.constant(Array2::eye(d));
    Ok(l.mul(&eye)?.sum_axis(Axis(0)))
}

/// The order `d` of the square triangular matrix, whose right-hand side (one system
/// per row) must have `d` columns; a shape error naming `routine` otherwise.
fn check_solve_shapes(routine: &'static str, matrix: (usize, usize), rhs: (usize, usize)) -> Result<usize> {
    if matrix.0 != matrix.1 {
        return Err(Error::Shape {
            dist: routine,
            what: "triangular matrix",
            got: matrix,
            expected: "square".into(),
        });
    }
    if rhs.1 != matrix.0 {
        return Err(Error::Shape {
            dist: routine,
            what: "right-hand side",
            got: rhs,
            expected: format!("{} columns (the order of the matrix)", matrix.0),
        });
    }
    Ok(matrix.0)
}
