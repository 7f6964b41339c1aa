//! Glow's invertible linear layer on vectors (the "invertible 1x1 convolution" of
//! Kingma and Dhariwal 2018, Sec. 3.2, with its LU parameterisation).

use crate::flow::{Direction, Flow, broadcast_logdet, check_dim};
use crate::linalg::{gram_schmidt, lu, permutation_matrix};
use crate::{Error, Result};
use autodiff::{ParamId, ParamStore, Session, Tensor};
use dists::linalg::{Triangle, solve_right_triangular};
use ndarray::{Array2, Axis};
use odesolve::OdeSession;
use rand::Rng;
use rand_distr::StandardNormal;

/// `z = x W` with `W = P L (U + diag(sign e^{l}))`.
///
/// `P` is a fixed permutation, `L` unit lower-triangular (free strictly-lower
/// entries), `U` strictly upper-triangular (free), `sign` a fixed row of `+-1` and
/// `l` a free log-scale row. Then `det W = det P prod_i sign_i e^{l_i}`, so
/// `ln|det dz/dx| = sum_i l_i`: `O(d)` instead of `O(d^3)`, and `W` is invertible for
/// every value of the free parameters. Initialised, as in Glow, from the LU
/// factorisation of a random rotation.
///
/// Forward is one product; inverse is two triangular solves (`O(d^2)` per row,
/// [`solve_right_triangular`]) and a permutation, also one pass, so both directions
/// are cheap.
#[derive(Debug, Clone)]
pub struct InvertibleLinear {
    perm: Array2<f64>,
    perm_t: Array2<f64>,
    sign: Array2<f64>,
    strict_lower: Array2<f64>,
    strict_upper: Array2<f64>,
    lower: ParamId,
    upper: ParamId,
    log_scale: ParamId,
}

impl InvertibleLinear {
    /// A layer on `dim` columns, `W` a random rotation (Haar-distributed: the
    /// orthonormalised columns of a Gaussian matrix).
    pub fn new(store: &mut ParamStore, name: &str, dim: usize, rng: &mut impl Rng) -> Result<Self> {
        if dim == 0 {
            return Err(Error::Config {
                flow: "invertible linear",
                reason: "dimension must be at least 1".into(),
            });
        }
        let g = Array2::from_shape_simple_fn((dim, dim), || rng.sample::<f64, _>(StandardNormal));
        let w = gram_schmidt(&g)?;
        // P_lu w = L U, so w = P_lu^T L U: the permutation of W is P_lu^T.
        let f = lu(&w)?;
        let perm = permutation_matrix(&f.perm);
        let diag = f.upper.diag().to_owned();
        let strict_lower = Array2::from_shape_fn((dim, dim), |(i, j)| if i > j { 1.0 } else { 0.0 });
        let strict_upper = strict_lower.t().to_owned();
        let lower = store.add(format!("{name}.lower"), &f.lower * &strict_lower)?;
        let upper = store.add(format!("{name}.upper"), &f.upper * &strict_upper)?;
        let log_scale =
            store.add(format!("{name}.log_scale"), diag.mapv(|u| u.abs().ln()).insert_axis(Axis(0)))?;
        Ok(InvertibleLinear {
            perm_t: perm.t().to_owned(),
            perm,
            sign: diag.mapv(f64::signum).insert_axis(Axis(0)),
            strict_lower,
            strict_upper,
            lower,
            upper,
            log_scale,
        })
    }

    /// `(L, U + diag(sign e^l))` on the session.
    fn factors<S: Session>(&self, s: &S) -> Result<(S::T, S::T)> {
        let d = self.dim();
        let eye = Array2::<f64>::eye(d);
        let l = s.param(self.lower)?.mask(&self.strict_lower)?.add(&s.constant(eye.clone()))?;
        let diag = s.param(self.log_scale)?.exp().mul(&s.constant(&eye * &self.sign))?;
        let u = s.param(self.upper)?.mask(&self.strict_upper)?.add(&diag)?;
        Ok((l, u))
    }

    /// The current matrix `W` (plain values).
    pub fn weight(&self, store: &ParamStore) -> Result<Array2<f64>> {
        let (l, u) = self.factors(&autodiff::NoGrad::new(store))?;
        Ok(self.perm.dot(&l).dot(&u))
    }
}

impl Flow for InvertibleLinear {
    fn name(&self) -> &'static str {
        "invertible linear"
    }
    fn dim(&self) -> usize {
        self.sign.ncols()
    }
    fn forward<S: OdeSession>(&self, s: &S, x: &S::T) -> Result<(S::T, S::T)> {
        check_dim(self.name(), x, self.dim())?;
        let (l, u) = self.factors(s)?;
        let w = s.constant(self.perm.clone()).matmul(&l)?.matmul(&u)?;
        let ld = s.param(self.log_scale)?.sum_axis(Axis(1));
        Ok((x.matmul(&w)?, broadcast_logdet(&ld, x.shape().0)?))
    }
    fn inverse<S: OdeSession>(&self, s: &S, z: &S::T) -> Result<(S::T, S::T)> {
        check_dim(self.name(), z, self.dim())?;
        // A log-scale so negative that e^l underflows makes U singular to f64.
        let scales = s.param(self.log_scale)?.to_array();
        if let Some(pivot) = scales.iter().position(|l| l.exp() == 0.0) {
            return Err(Error::Singular { routine: "invertible linear", pivot });
        }
        let (l, u) = self.factors(s)?;
        // z = x P L U  =>  x = ((z U^{-1}) L^{-1}) P^T
        let a = solve_right_triangular(z, &u, Triangle::Upper)?;
        let b = solve_right_triangular(&a, &l, Triangle::Lower)?;
        let x = b.matmul(&s.constant(self.perm_t.clone()))?;
        let ld = s.param(self.log_scale)?.sum_axis(Axis(1)).neg();
        Ok((x, broadcast_logdet(&ld, z.shape().0)?))
    }
    fn cheap_direction(&self) -> Direction {
        Direction::Forward
    }
}
