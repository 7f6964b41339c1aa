//! Small dense linear algebra: the LU log-determinant used to check every flow's
//! log-determinant against a finite-difference Jacobian, permutation matrices, and
//! triangular solves written with tape operations (the inverse of the LU-parameterised
//! linear flow).
//!
//! `dists::linalg` has a Cholesky factorisation (symmetric positive-definite
//! matrices only); Jacobians of flows are neither symmetric nor definite, hence the LU
//! with partial pivoting here.

use crate::{Error, Result};
use autodiff::Tensor;
use ndarray::Array2;

/// An LU factorisation with partial pivoting, `P a = L U` (Golub and Van Loan 2013,
/// Algorithm 3.4.1).
#[derive(Debug, Clone, PartialEq)]
pub struct Lu {
    /// Row `i` of `P a` is row `perm[i]` of `a`.
    pub perm: Vec<usize>,
    /// Unit lower-triangular factor.
    pub lower: Array2<f64>,
    /// Upper-triangular factor.
    pub upper: Array2<f64>,
    /// `(-1)^swaps`, the determinant of `P`.
    pub perm_sign: f64,
}

/// The LU factorisation of a square matrix; fails with [`Error::Singular`] when a
/// column has no non-zero (finite) pivot.
pub fn lu(a: &Array2<f64>) -> Result<Lu> {
    let (n, m) = a.dim();
    if n != m {
        return Err(Error::Config { flow: "lu", reason: format!("matrix is {n} x {m}, not square") });
    }
    let mut w = a.clone();
    let mut perm: Vec<usize> = (0..n).collect();
    let mut perm_sign = 1.0;
    for k in 0..n {
        let p = (k..n)
            .max_by(|&i, &j| w[(i, k)].abs().total_cmp(&w[(j, k)].abs()))
            .expect("k < n, so the range is not empty");
        let pivot = w[(p, k)];
        if pivot == 0.0 || !pivot.is_finite() {
            return Err(Error::Singular { routine: "lu", pivot: k });
        }
        if p != k {
            for j in 0..n {
                w.swap((p, j), (k, j));
            }
            perm.swap(p, k);
            perm_sign = -perm_sign;
        }
        for i in k + 1..n {
            let f = w[(i, k)] / pivot;
            w[(i, k)] = f;
            for j in k + 1..n {
                w[(i, j)] -= f * w[(k, j)];
            }
        }
    }
    let lower = Array2::from_shape_fn((n, n), |(i, j)| match i.cmp(&j) {
        std::cmp::Ordering::Greater => w[(i, j)],
        std::cmp::Ordering::Equal => 1.0,
        std::cmp::Ordering::Less => 0.0,
    });
    let upper = Array2::from_shape_fn((n, n), |(i, j)| if i <= j { w[(i, j)] } else { 0.0 });
    Ok(Lu { perm, lower, upper, perm_sign })
}

/// `(ln|det a|, sign of det a)` from the LU factorisation:
/// `det a = (-1)^swaps prod_i u_ii`.
pub fn log_abs_det(a: &Array2<f64>) -> Result<(f64, f64)> {
    let f = lu(a).map_err(|e| match e {
        Error::Singular { pivot, .. } => Error::Singular { routine: "log_abs_det", pivot },
        other => other,
    })?;
    let diag = f.upper.diag();
    let log_abs = diag.iter().map(|u| u.abs().ln()).sum();
    let sign = diag.iter().fold(f.perm_sign, |s, u| s * u.signum());
    Ok((log_abs, sign))
}

/// Orthonormalises the columns of `a` (`d x k`, `k <= d`) by classical Gram-Schmidt
/// applied twice ("twice is enough", Giraud et al. 2005), written with tape
/// operations so the result is differentiable in `a`. The columns must be linearly
/// independent (true almost surely for free real parameters): a column whose part
/// orthogonal to the previous ones is at rounding level is [`Error::Singular`]
/// naming it, where normalising that rounding noise would give a `Q` that is not
/// orthonormal.
pub fn gram_schmidt<T: Tensor>(a: &T) -> Result<T> {
    let (d, k) = a.shape();
    if k == 0 || k > d {
        return Err(Error::Config {
            flow: "gram_schmidt",
            reason: format!("need 1 <= columns <= rows, got {d} x {k}"),
        });
    }
    let norm = |v: &T| -> Result<f64> { Ok(v.square().sum().item()?.sqrt()) };
    let mut q: Option<T> = None;
    for j in 0..k {
        let mut v = a.slice_cols(j..j + 1)?;
        let column_norm = norm(&v)?;
        if let Some(q) = &q {
            for _ in 0..2 {
                v = v.sub(&q.matmul(&q.matmul_t(&v, true, false)?)?)?;
            }
        }
        if norm(&v)? <= DEPENDENT_RTOL * column_norm {
            return Err(Error::Singular { routine: "gram_schmidt", pivot: j });
        }
        let unit = v.div(&v.square().sum().sqrt())?;
        q = Some(match q {
            Some(q) => T::concat_cols(&[&q, &unit])?,
            None => unit,
        });
    }
    Ok(q.expect("k >= 1 columns"))
}

/// A column whose orthogonal part is below this fraction of its norm is taken as
/// dependent: a few units of rounding, which is all that is left of a column in the
/// span of the others after two passes.
const DEPENDENT_RTOL: f64 = 64.0 * f64::EPSILON;

/// The `d x d` matrix `P` with `(x P)[:, j] = x[:, perm[j]]`: right-multiplying a
/// batch by it reorders the columns.
pub fn permutation_matrix(perm: &[usize]) -> Array2<f64> {
    let d = perm.len();
    let mut p = Array2::zeros((d, d));
    for (j, &i) in perm.iter().enumerate() {
        p[(i, j)] = 1.0;
    }
    p
}

/// Checks that `perm` is a permutation of `0..perm.len()`.
pub(crate) fn check_permutation(flow: &'static str, perm: &[usize]) -> Result<()> {
    let mut seen = vec![false; perm.len()];
    for &i in perm {
        if i >= perm.len() || std::mem::replace(&mut seen[i], true) {
            return Err(Error::Config {
                flow,
                reason: format!("{perm:?} is not a permutation of 0..{}", perm.len()),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn lu_determinant_of_a_pivoting_matrix() {
        // det [[0, 2, 1], [1, 1, 0], [3, 0, 1]] = 0(1) - 2(1 - 0) + 1(0 - 3) = -5: the
        // zero in the corner forces a row swap.
        let a = array![[0.0, 2.0, 1.0], [1.0, 1.0, 0.0], [3.0, 0.0, 1.0]];
        let (l, s) = log_abs_det(&a).unwrap();
        assert!((l - 5f64.ln()).abs() < 1e-14 && s == -1.0);
        assert!(matches!(log_abs_det(&array![[1.0, 2.0], [2.0, 4.0]]), Err(Error::Singular { .. })));
    }

    #[test]
    fn lu_reassembles_and_gram_schmidt_is_orthonormal() {
        let a = array![[0.0, 2.0, 1.0], [1.0, 1.0, 0.0], [3.0, 0.0, 1.0]];
        let f = lu(&a).unwrap();
        let pa = a.select(ndarray::Axis(0), &f.perm);
        assert!(autodiff::gradcheck::all_close(&pa, &f.lower.dot(&f.upper), 1e-14, 1e-14));
        let q = gram_schmidt(&a).unwrap();
        assert!(autodiff::gradcheck::all_close(&q.t().dot(&q), &Array2::eye(3), 1e-14, 1e-14));
    }

    #[test]
    fn permutation_matrix_reorders_columns() {
        let x = array![[10.0, 20.0, 30.0]];
        assert_eq!(x.dot(&permutation_matrix(&[2, 0, 1])), array![[30.0, 10.0, 20.0]]);
        assert!(check_permutation("t", &[0, 0, 1]).is_err());
    }
}
