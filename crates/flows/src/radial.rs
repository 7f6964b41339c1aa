//! Radial flows (Rezende and Mohamed 2015, Sec. 4.1 and Appendix A.2).

use crate::flow::{Direction, Flow, check_dim};
use crate::{Error, Result};
use autodiff::{Init, ParamId, ParamStore, Session, Tensor};
use ndarray::Axis;
use odesolve::OdeSession;
use rand::Rng;

/// `x = z + beta h(alpha, r) (z - z_0)` with `r = |z - z_0|`, `h = 1 / (alpha + r)`:
/// a contraction or expansion around the centre `z_0`, defined in the generative
/// direction (base to data) only.
///
/// **No closed-form inverse**: [`forward`](Flow::forward) (data to base) returns
/// [`Error::NoClosedForm`]; use radial flows through [`inverse`](Flow::inverse).
///
/// **Invertibility** (Appendix A.2): invertible iff `beta >= -alpha`. Free `a`, `c`
/// give `alpha = softplus(a) > 0` and `beta = -alpha + softplus(c) > -alpha`.
///
/// **Log-determinant** (eq. 14): `(d - 1) ln(1 + beta h) + ln(1 + beta h + beta h' r)`
/// with `h' = -h^2`; the last factor equals `1 + beta alpha h^2`. Both are positive
/// under the constraint.
#[derive(Debug, Clone)]
pub struct Radial {
    centre: ParamId,
    alpha: ParamId,
    beta: ParamId,
    dim: usize,
}

impl Radial {
    /// A radial layer on `dim` columns: centre from `N(0, 1)`, raw `alpha`, `beta`
    /// from `N(0, 0.1^2)`; registered as `{name}.centre`, `{name}.alpha`, `{name}.beta`.
    pub fn new(store: &mut ParamStore, name: &str, dim: usize, rng: &mut impl Rng) -> Result<Self> {
        if dim == 0 {
            return Err(Error::Config { flow: "radial", reason: "dimension must be at least 1".into() });
        }
        let small = Init::Normal { std: 0.1 };
        let centre =
            store.add(format!("{name}.centre"), Init::Normal { std: 1.0 }.sample((1, dim), dim, 1, rng)?)?;
        let alpha = store.add(format!("{name}.alpha"), small.sample((1, 1), dim, 1, rng)?)?;
        let beta = store.add(format!("{name}.beta"), small.sample((1, 1), dim, 1, rng)?)?;
        Ok(Radial { centre, alpha, beta, dim })
    }

    /// `(alpha, beta)` after the constraint, as `1 x 1` values.
    pub fn constrained<S: Session>(&self, s: &S) -> Result<(S::T, S::T)> {
        let alpha = s.param(self.alpha)?.softplus();
        let beta = s.param(self.beta)?.softplus().sub(&alpha)?;
        Ok((alpha, beta))
    }
}

impl Flow for Radial {
    fn name(&self) -> &'static str {
        "radial"
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn forward<S: OdeSession>(&self, _s: &S, _x: &S::T) -> Result<(S::T, S::T)> {
        Err(Error::NoClosedForm { flow: "radial", direction: Direction::Forward })
    }
    fn inverse<S: OdeSession>(&self, s: &S, z: &S::T) -> Result<(S::T, S::T)> {
        check_dim("radial", z, self.dim)?;
        let (alpha, beta) = self.constrained(s)?;
        let diff = z.sub(&s.param(self.centre)?)?;
        // r = sqrt(|z - z0|^2 + r_min^2): at the centre, sqrt's derivative would be
        // infinite and the gradient 0 * inf = NaN; r_min (1.5e-154) is below rounding
        // against alpha > 0 wherever it changes r.
        let r = diff.square().sum_axis(Axis(1)).add_scalar(f64::MIN_POSITIVE).sqrt();
        let h = r.add(&alpha)?.powf(-1.0);
        let bh = h.mul(&beta)?;
        let x = z.add(&diff.mul(&bh)?)?;
        let first = bh.add_scalar(1.0).log().scale((self.dim - 1) as f64);
        let second = bh.sub(&bh.mul(&h)?.mul(&r)?)?.add_scalar(1.0).log();
        Ok((x, first.add(&second)?))
    }
    fn cheap_direction(&self) -> Direction {
        Direction::Inverse
    }
}
