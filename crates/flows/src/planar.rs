//! Planar flows (Rezende and Mohamed 2015, Sec. 4.1 and Appendix A.1).

use crate::flow::{Direction, Flow, check_dim};
use crate::{Error, Result};
use autodiff::{Init, ParamId, ParamStore, Session, Tensor};
use ndarray::Axis;
use odesolve::OdeSession;
use rand::Rng;

/// `x = z + u_hat tanh(w . z + b)`, a one-hidden-unit residual map, defined in the
/// generative direction (base to data) only.
///
/// **No closed-form inverse**: the data-to-base direction needs the root of a scalar
/// equation per point, so [`forward`](Flow::forward) returns
/// [`Error::NoClosedForm`]; use planar flows for sampling, variational posteriors
/// and reverse-KL fitting, where only [`inverse`](Flow::inverse) is needed.
///
/// **Invertibility** (Appendix A.1): the map is invertible iff `w . u_hat >= -1`.
/// The free vector `u` is replaced by
/// `u_hat = u + (m(w . u) - w . u) w / |w|^2` with `m(a) = -1 + softplus(a)`, so that
/// `w . u_hat = m(w . u) > -1` for every `u`, `w` (dividing by `|w|`, not `|w|^2`, is
/// a known bug in some implementations).
///
/// **Log-determinant** (eq. 12, matrix determinant lemma): with
/// `psi = tanh'(w . z + b) w`, `ln|det| = ln|1 + u_hat . psi|`, and since
/// `u_hat . psi = (1 - tanh^2)(w . u_hat) = (1 - tanh^2) m(w . u)`, this is
/// `ln(tanh^2 + (1 - tanh^2) softplus(w . u))`: a sum of non-negative terms (no
/// cancellation when `m` is near -1), a few operations per row.
///
/// ```
/// use autodiff::{NoGrad, ParamStore};
/// use flows::{Direction, Error, Flow, Planar};
/// use ndarray::array;
/// use rand::SeedableRng;
///
/// let mut store = ParamStore::new();
/// let planar = Planar::new(&mut store, "p", 2, &mut rand_chacha::ChaCha8Rng::seed_from_u64(0))?;
/// let s = NoGrad::new(&store);
/// let (x, log_det) = planar.inverse(&s, &array![[0.5, -1.0], [2.0, 0.0]])?;
/// assert_eq!((x.dim(), log_det.dim()), ((2, 2), (2, 1)));
/// let err = planar.forward(&s, &x).unwrap_err();
/// assert!(matches!(err, Error::NoClosedForm { flow: "planar", direction: Direction::Forward }));
/// # Ok::<(), flows::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Planar {
    u: ParamId,
    w: ParamId,
    b: ParamId,
    dim: usize,
}

impl Planar {
    /// A planar layer on `dim` columns with `u`, `w` drawn from `N(0, 0.1^2)` and
    /// `b = 0`, registered as `{name}.u`, `{name}.w`, `{name}.b`.
    pub fn new(store: &mut ParamStore, name: &str, dim: usize, rng: &mut impl Rng) -> Result<Self> {
        if dim == 0 {
            return Err(Error::Config { flow: "planar", reason: "dimension must be at least 1".into() });
        }
        let init = Init::Normal { std: 0.1 };
        let u = store.add(format!("{name}.u"), init.sample((1, dim), dim, 1, rng)?)?;
        let w = store.add(format!("{name}.w"), init.sample((1, dim), dim, 1, rng)?)?;
        let b = store.add(format!("{name}.b"), Init::Zeros.sample((1, 1), dim, 1, rng)?)?;
        Ok(Planar { u, w, b, dim })
    }

    /// `(u_hat, m(w . u))`, the constrained vector and `w . u_hat`. With `w = 0` the
    /// constraint (which divides by `|w|^2`) is undefined: [`Error::Config`].
    pub fn constrained<S: Session>(&self, s: &S) -> Result<(S::T, S::T)> {
        let (u_hat, sp) = self.constrained_sp(s)?;
        Ok((u_hat, sp.add_scalar(-1.0)))
    }

    /// `(u_hat, softplus(w . u))`, the latter being `1 + w . u_hat`, kept apart so
    /// the log-determinant never forms `1 + (-1)`.
    fn constrained_sp<S: Session>(&self, s: &S) -> Result<(S::T, S::T)> {
        let (u, w) = (s.param(self.u)?, s.param(self.w)?);
        let w_norm2 = w.square().sum_axis(Axis(1));
        if w_norm2.to_array().iter().any(|&n| n == 0.0) {
            return Err(Error::Config {
                flow: "planar",
                reason: "w = 0: the invertibility constraint u + (m(w.u) - w.u) w / |w|^2 is undefined"
                    .into(),
            });
        }
        let wu = w.mul(&u)?.sum_axis(Axis(1));
        let sp = wu.softplus();
        let coef = sp.add_scalar(-1.0).sub(&wu)?.div(&w_norm2)?;
        Ok((u.add(&w.mul(&coef)?)?, sp))
    }
}

impl Flow for Planar {
    fn name(&self) -> &'static str {
        "planar"
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn forward<S: OdeSession>(&self, _s: &S, _x: &S::T) -> Result<(S::T, S::T)> {
        Err(Error::NoClosedForm { flow: "planar", direction: Direction::Forward })
    }
    fn inverse<S: OdeSession>(&self, s: &S, z: &S::T) -> Result<(S::T, S::T)> {
        check_dim("planar", z, self.dim)?;
        let (u_hat, sp) = self.constrained_sp(s)?;
        let h = z.matmul_t(&s.param(self.w)?, false, true)?.add(&s.param(self.b)?)?.tanh();
        let x = z.add(&h.mul(&u_hat)?)?;
        // 1 + (1 - h^2) m = h^2 + (1 - h^2) softplus(w . u): a sum of non-negative
        // terms, free of the cancellation in 1 + m when w . u is very negative.
        let h2 = h.square();
        let ld = h2.add(&h2.neg().add_scalar(1.0).mul(&sp)?)?.log();
        Ok((x, ld))
    }
    fn cheap_direction(&self) -> Direction {
        Direction::Inverse
    }
}
