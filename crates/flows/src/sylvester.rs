//! Sylvester normalizing flows (van den Berg et al. 2018).

use crate::flow::{Direction, Flow, check_dim};
use crate::linalg::{gram_schmidt, permutation_matrix};
use crate::{Error, Result};
use autodiff::{Init, ParamId, ParamStore, Session, Tensor};
use ndarray::{Array2, Axis};
use odesolve::OdeSession;
use rand::Rng;

/// How a Sylvester flow gets the matrix `Q` with orthonormal columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SylvesterKind {
    /// O-SNF: `Q` (`d x m`, `m <= d`) from free parameters orthonormalised by
    /// Gram-Schmidt ([`gram_schmidt`], differentiable; the paper iterates Björck's
    /// procedure to the same end).
    Orthogonal {
        /// The number `m` of columns (the bottleneck).
        columns: usize,
    },
    /// H-SNF: `Q = H_1 ... H_k` (`d x d`), products of Householder reflections
    /// `H = I - 2 v v^T / |v|^2` of free vectors `v`.
    Householder {
        /// The number `k` of reflections.
        reflections: usize,
    },
    /// T-SNF: `Q` the identity, or the reversal permutation when `reverse` (the
    /// paper alternates the two between layers), so `A` and `B` are triangular.
    Triangular {
        /// Use the reversal permutation instead of the identity.
        reverse: bool,
    },
}

#[derive(Debug, Clone)]
enum QSource {
    Orthogonal(ParamId),
    Householder(ParamId),
    Fixed(Array2<f64>),
}

/// `x = z + Q R tanh(R~ Q^T z + b)` (van den Berg et al. 2018, eq. 13 with
/// `A = Q R`, `B = R~ Q^T`), defined in the generative direction only.
///
/// **No closed-form inverse**: [`forward`](Flow::forward) returns
/// [`Error::NoClosedForm`]; use [`inverse`](Flow::inverse) (sampling, variational
/// posteriors, reverse KL).
///
/// **Log-determinant** (Sylvester's determinant identity, Theorem 1 and eq. 15):
/// `det(I_d + A diag(h') B) = det(I_m + diag(h') B A)` and `B A = R~ R` is upper
/// triangular, so `ln|det| = sum_k ln|1 + h'(pre_k) r~_kk r_kk|`.
///
/// **Invertibility** (Sec. 3): sufficient is `r~_kk r_kk > -1 / sup|h'| = -1` for
/// `tanh`; the diagonals are `r_kk = tanh(free)`, `r~_kk = tanh(free)`, so
/// `|r~_kk r_kk| < 1` for every parameter value, and each factor
/// `1 + h' r~_kk r_kk` lies in `(0, 2)`. The strictly upper parts of `R`, `R~` are free.
#[derive(Debug, Clone)]
pub struct Sylvester {
    q: QSource,
    r: ParamId,
    r_tilde: ParamId,
    r_diag: ParamId,
    r_tilde_diag: ParamId,
    b: ParamId,
    strict_upper: Array2<f64>,
    dim: usize,
    columns: usize,
}

impl Sylvester {
    /// A Sylvester layer on `dim` columns, free parameters from `N(0, 0.1^2)` (the
    /// orthogonal and Householder ones from `N(0, 1)`), registered under `{name}.*`.
    pub fn new(
        store: &mut ParamStore,
        name: &str,
        dim: usize,
        kind: SylvesterKind,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        let bad = |reason: String| Err(Error::Config { flow: "sylvester", reason });
        let columns = match kind {
            SylvesterKind::Orthogonal { columns } if columns == 0 || columns > dim => {
                return bad(format!("need 1 <= columns <= dim = {dim}, got {columns}"));
            }
            SylvesterKind::Householder { reflections: 0 } => {
                return bad("need at least one reflection".into());
            }
            SylvesterKind::Orthogonal { columns } => columns,
            _ => dim,
        };
        if dim == 0 {
            return bad("dimension must be at least 1".into());
        }
        let unit = Init::Normal { std: 1.0 };
        let small = Init::Normal { std: 0.1 };
        let q = match kind {
            SylvesterKind::Orthogonal { columns } => QSource::Orthogonal(
                store.add(format!("{name}.q"), unit.sample((dim, columns), dim, columns, rng)?)?,
            ),
            SylvesterKind::Householder { reflections } => QSource::Householder(
                store.add(format!("{name}.v"), unit.sample((reflections, dim), dim, dim, rng)?)?,
            ),
            SylvesterKind::Triangular { reverse: false } => QSource::Fixed(Array2::eye(dim)),
            SylvesterKind::Triangular { reverse: true } => {
                QSource::Fixed(permutation_matrix(&(0..dim).rev().collect::<Vec<_>>()))
            }
        };
        let m = columns;
        let mut add = |part: &str, shape| {
            small.sample(shape, m, m, rng).and_then(|v| store.add(format!("{name}.{part}"), v))
        };
        let r = add("r", (m, m))?;
        let r_tilde = add("r_tilde", (m, m))?;
        let r_diag = add("r_diag", (1, m))?;
        let r_tilde_diag = add("r_tilde_diag", (1, m))?;
        let b = add("b", (1, m))?;
        let strict_upper = Array2::from_shape_fn((m, m), |(i, j)| if j > i { 1.0 } else { 0.0 });
        Ok(Sylvester { q, r, r_tilde, r_diag, r_tilde_diag, b, strict_upper, dim, columns })
    }

    /// The matrix `Q` (`d x m`) on the session.
    pub fn q<S: Session>(&self, s: &S) -> Result<S::T> {
        match &self.q {
            QSource::Fixed(q) => Ok(s.constant(q.clone())),
            QSource::Orthogonal(id) => gram_schmidt(&s.param(*id)?),
            QSource::Householder(id) => {
                let vs = s.param(*id)?;
                let mut q = s.constant(Array2::eye(self.dim));
                for k in 0..vs.shape().0 {
                    // Q H = Q - 2 (Q v) v^T / |v|^2, with v as a row.
                    let v = vs.gather_rows(&[k])?;
                    let qv = q.matmul_t(&v, false, true)?;
                    let outer = qv.matmul(&v)?.div(&v.square().sum())?.scale(2.0);
                    q = q.sub(&outer)?;
                }
                Ok(q)
            }
        }
    }

    /// `(R, R~)` with their constrained diagonals.
    fn triangles<S: Session>(&self, s: &S) -> Result<(S::T, S::T, S::T)> {
        let eye = s.constant(Array2::eye(self.columns));
        let d = s.param(self.r_diag)?.tanh();
        let dt = s.param(self.r_tilde_diag)?.tanh();
        let r = s.param(self.r)?.mask(&self.strict_upper)?.add(&eye.mul(&d)?)?;
        let rt = s.param(self.r_tilde)?.mask(&self.strict_upper)?.add(&eye.mul(&dt)?)?;
        Ok((r, rt, d.mul(&dt)?))
    }
}

impl Flow for Sylvester {
    fn name(&self) -> &'static str {
        "sylvester"
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn forward<S: OdeSession>(&self, _s: &S, _x: &S::T) -> Result<(S::T, S::T)> {
        Err(Error::NoClosedForm { flow: "sylvester", direction: Direction::Forward })
    }
    fn inverse<S: OdeSession>(&self, s: &S, z: &S::T) -> Result<(S::T, S::T)> {
        check_dim("sylvester", z, self.dim)?;
        let q = self.q(s)?;
        let (r, rt, diag) = self.triangles(s)?;
        // Rows: B z -> z Q R~^T, A h -> h R^T Q^T.
        let pre = z.matmul(&q)?.matmul_t(&rt, false, true)?.add(&s.param(self.b)?)?;
        let h = pre.tanh();
        let x = z.add(&h.matmul_t(&r, false, true)?.matmul_t(&q, false, true)?)?;
        let ld = h.square().neg().add_scalar(1.0).mul(&diag)?.add_scalar(1.0).log().sum_axis(Axis(1));
        Ok((x, ld))
    }
    fn cheap_direction(&self) -> Direction {
        Direction::Inverse
    }
}
