//! Coupling layers: NICE's additive coupling (Dinh et al. 2015) and RealNVP's affine
//! coupling (Dinh et al. 2017), with masks chosen per layer.

use crate::flow::{Direction, Flow, check_dim, zero_logdet};
use crate::{Error, Result};
use autodiff::{Activation, Mlp, ParamStore, Session, Tensor};
use ndarray::{Array2, Axis};
use odesolve::OdeSession;
use rand::Rng;

/// How the raw output `r` of a scale network becomes a bounded log-scale `s`.
///
/// Hard clamping has zero gradient outside its window and is known to blow up
/// training (pyro issue 2998); a sigmoid scale with a narrow range limits what the
/// flow can express (nflows issue 49). Both variants here are smooth and bounded on
/// the side that matters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ScaleBound {
    /// `s = c tanh(r / c)`: the identity near 0, `|s| < c` (the soft clamp of Glow's
    /// successors; with `c = 1` it is RealNVP's usual `tanh` output).
    Tanh {
        /// The bound `c > 0` on `|s|`.
        bound: f64,
    },
    /// `s = ln(softplus(r + ln(e - 1)) + min_scale)`: the scale `e^s` is positive,
    /// at least `min_scale`, and equal to `1 + min_scale` at `r = 0`.
    Softplus {
        /// The smallest scale, `> 0`.
        min_scale: f64,
    },
}

/// `ln(e - 1)`, the softplus preimage of 1.
const SOFTPLUS_ONE: f64 = 0.541_324_854_612_918_1;

impl ScaleBound {
    /// The log-scale from the raw network output.
    pub fn log_scale<T: Tensor>(&self, raw: &T) -> T {
        match *self {
            ScaleBound::Tanh { bound: 1.0 } => raw.tanh(),
            ScaleBound::Tanh { bound } => raw.scale(1.0 / bound).tanh().scale(bound),
            ScaleBound::Softplus { min_scale } => {
                raw.add_scalar(SOFTPLUS_ONE).softplus().add_scalar(min_scale).log()
            }
        }
    }

    fn check(&self, flow: &'static str) -> Result<()> {
        let ok = match *self {
            ScaleBound::Tanh { bound } => bound > 0.0 && bound.is_finite(),
            ScaleBound::Softplus { min_scale } => min_scale > 0.0 && min_scale.is_finite(),
        };
        if ok { Ok(()) } else { Err(Error::Config { flow, reason: format!("invalid scale bound {self:?}") }) }
    }
}

/// The mask `m_j = (j + parity) mod 2` over `dim` columns: consecutive layers with
/// parities 0, 1, 0, ... condition on alternate halves (RealNVP's checkerboard on a
/// vector). For `dim = 2`, parity 0 gives `[0, 1]`.
pub fn alternating_mask(dim: usize, parity: usize) -> Vec<bool> {
    (0..dim).map(|j| (j + parity) % 2 == 1).collect()
}

/// A coupling layer: the columns where the mask is 1 pass unchanged and condition
/// the transformation of the others.
///
/// With `m` the mask, `x_m = m x`, and networks `t` (shift) and `s` (log-scale,
/// bounded by a [`ScaleBound`]) applied to `x_m`:
///
/// * forward (data to base): `z = x_m + (1 - m)(x - t(x_m)) e^{-s(x_m)}`,
///   `ln|det| = -sum_j (1 - m_j) s_j(x_m)`;
/// * inverse (base to data): `x = z_m + (1 - m)(z e^{s(z_m)} + t(z_m))`, with
///   `z_m = x_m`.
///
/// The Jacobian is triangular (after ordering the passed columns first) with
/// diagonal `1` on passed columns and `e^{-s}` on the others, hence the
/// log-determinant. The additive (NICE) layer has no `s`: volume-preserving, log-det
/// 0. Both directions cost one evaluation of the networks.
#[derive(Debug, Clone)]
pub struct Coupling {
    mask: Array2<f64>,
    inv_mask: Array2<f64>,
    shift: Mlp,
    scale: Option<(Mlp, ScaleBound)>,
}

const NAME: &str = "coupling";

fn mask_rows(flow: &'static str, mask: &[bool]) -> Result<(Array2<f64>, Array2<f64>)> {
    if !mask.iter().any(|&b| b) || mask.iter().all(|&b| b) {
        return Err(Error::Config {
            flow,
            reason: format!("mask {mask:?} must pass some columns and transform others"),
        });
    }
    let m = Array2::from_shape_fn((1, mask.len()), |(_, j)| if mask[j] { 1.0 } else { 0.0 });
    let inv = m.mapv(|v| 1.0 - v);
    Ok((m, inv))
}

impl Coupling {
    /// NICE's additive coupling `z = x_m + (1 - m)(x - t(x_m))` (Dinh et al. 2015,
    /// eq. 5 with the roles of the directions as in this crate). `hidden` are the
    /// widths of the shift network's hidden layers.
    pub fn additive(
        store: &mut ParamStore,
        name: &str,
        mask: &[bool],
        hidden: &[usize],
        activation: Activation,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        let (mask, inv_mask) = mask_rows("additive coupling", mask)?;
        let shift = net(store, &format!("{name}.t"), mask.ncols(), hidden, activation, rng)?;
        Ok(Coupling { mask, inv_mask, shift, scale: None })
    }

    /// RealNVP's affine coupling (Dinh et al. 2017, eqs. 6-9) with separate shift and
    /// scale networks of the given hidden widths.
    pub fn affine(
        store: &mut ParamStore,
        name: &str,
        mask: &[bool],
        hidden: &[usize],
        activation: Activation,
        bound: ScaleBound,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        bound.check("affine coupling")?;
        let (mask, inv_mask) = mask_rows("affine coupling", mask)?;
        let d = mask.ncols();
        let scale = net(store, &format!("{name}.s"), d, hidden, activation, rng)?;
        let shift = net(store, &format!("{name}.t"), d, hidden, activation, rng)?;
        Ok(Coupling { mask, inv_mask, shift, scale: Some((scale, bound)) })
    }

    /// The mask (1 on the columns that pass unchanged).
    pub fn mask(&self) -> Vec<bool> {
        self.mask.iter().map(|&v| v == 1.0).collect()
    }

    /// `(x_m, (1 - m) t(x_m), (1 - m) s(x_m))`; `s` is `None` for the additive layer.
    fn conditioner<S: Session>(&self, s: &S, x: &S::T) -> Result<Conditioned<S::T>> {
        check_dim(NAME, x, self.dim())?;
        let xm = x.mask(&self.mask)?;
        let t = self.shift.forward(s, &xm)?.mask(&self.inv_mask)?;
        let log_s = match &self.scale {
            Some((net, bound)) => Some(bound.log_scale(&net.forward(s, &xm)?).mask(&self.inv_mask)?),
            None => None,
        };
        Ok((xm, t, log_s))
    }
}

/// `(x_m, masked shift, masked log-scale if affine)`.
type Conditioned<T> = (T, T, Option<T>);

fn net(
    store: &mut ParamStore,
    name: &str,
    d: usize,
    hidden: &[usize],
    activation: Activation,
    rng: &mut impl Rng,
) -> Result<Mlp> {
    let widths: Vec<usize> = std::iter::once(d).chain(hidden.iter().copied()).chain([d]).collect();
    Ok(Mlp::new(store, name, &widths, activation, rng)?)
}

impl Flow for Coupling {
    fn name(&self) -> &'static str {
        NAME
    }
    fn dim(&self) -> usize {
        self.mask.ncols()
    }
    fn forward<S: OdeSession>(&self, s: &S, x: &S::T) -> Result<(S::T, S::T)> {
        let (xm, t, log_s) = self.conditioner(s, x)?;
        let moved = x.sub(&t)?.mask(&self.inv_mask)?;
        Ok(match log_s {
            Some(ls) => {
                let z = xm.add(&moved.mul(&ls.neg().exp())?)?;
                (z, ls.sum_axis(Axis(1)).neg())
            }
            None => (xm.add(&moved)?, zero_logdet(x)),
        })
    }
    fn inverse<S: OdeSession>(&self, s: &S, z: &S::T) -> Result<(S::T, S::T)> {
        let (zm, t, log_s) = self.conditioner(s, z)?;
        let zo = z.mask(&self.inv_mask)?;
        Ok(match log_s {
            Some(ls) => {
                let x = zm.add(&zo.mul(&ls.exp())?)?.add(&t)?;
                (x, ls.sum_axis(Axis(1)))
            }
            None => (zm.add(&zo)?.add(&t)?, zero_logdet(z)),
        })
    }
    fn cheap_direction(&self) -> Direction {
        Direction::Forward
    }
}
