//! The four unnormalised 2-D target densities `p(z) ∝ exp(-U(z))` of Rezende and
//! Mohamed (2015, Table 1), generic over [`Tensor`] so reverse-KL fitting can
//! differentiate them.

use autodiff::{Result, Tensor};
use ndarray::Axis;
use std::f64::consts::PI;

/// One of the energies `U1`-`U4`.
///
/// With `w1 = sin(2 pi z1 / 4)`, `w2 = 3 exp(-((z1 - 1) / 0.6)^2 / 2)`,
/// `w3 = 3 sigmoid((z1 - 1) / 0.3)`:
///
/// * `U1 = ((|z| - 2) / 0.4)^2 / 2 - ln(e^{-((z1 - 2)/0.6)^2/2} + e^{-((z1 + 2)/0.6)^2/2})`
/// * `U2 = ((z2 - w1) / 0.4)^2 / 2`
/// * `U3 = -ln(e^{-((z2 - w1)/0.35)^2/2} + e^{-((z2 - w1 + w2)/0.35)^2/2})`
/// * `U4 = -ln(e^{-((z2 - w1)/0.4)^2/2} + e^{-((z2 - w1 + w3)/0.35)^2/2})`
///
/// **A wall for U2-U4.** These three do not decay along `z1` (they are periodic or
/// constant in it far from the origin), so `exp(-U)` has infinite mass on the plane
/// and `KL(q || p)` would be undefined. [`Energy::eval`] adds
/// `((|z1| - 4)_+ / 0.2)^2 / 2` to them: zero on the paper's window `|z1| <= 4`
/// (the figures are unchanged there), a steep but smooth wall outside. `U1` decays
/// in every direction and is used as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Energy {
    /// A ring split into two arcs.
    U1,
    /// A sine wave.
    U2,
    /// A sine wave splitting into two branches.
    U3,
    /// A sine wave with a sigmoid step.
    U4,
}

/// Half-width of the window outside which the wall acts (U2-U4).
pub const WALL_AT: f64 = 4.0;
/// Length scale of the wall.
const WALL_WIDTH: f64 = 0.2;

impl Energy {
    /// All four, in order.
    pub const ALL: [Energy; 4] = [Energy::U1, Energy::U2, Energy::U3, Energy::U4];

    /// `"U1"`, ...
    pub fn name(&self) -> &'static str {
        match self {
            Energy::U1 => "U1",
            Energy::U2 => "U2",
            Energy::U3 => "U3",
            Energy::U4 => "U4",
        }
    }

    /// `U(z)` for each row of `z` (`batch x 2`, another width is a shape error), as
    /// `batch x 1`.
    pub fn eval<T: Tensor>(&self, z: &T) -> Result<T> {
        let (rows, cols) = z.shape();
        if cols != 2 {
            return Err(autodiff::Error::Shape { op: "Energy::eval", lhs: (rows, cols), rhs: (rows, 2) });
        }
        let z1 = z.slice_cols(0..1)?;
        let z2 = z.slice_cols(1..2)?;
        // -(a / s)^2 / 2 for a Gaussian bump
        let bump = |a: &T, s: f64| a.scale(1.0 / s).square().scale(-0.5);
        let neg_lse = |a: T, b: T| -> Result<T> { Ok(T::concat_cols(&[&a, &b])?.logsumexp(Axis(1)).neg()) };
        let w1 = z1.scale(2.0 * PI / 4.0).sin();
        let u = match self {
            Energy::U1 => {
                let r = z.square().sum_axis(Axis(1)).sqrt();
                let ring = r.add_scalar(-2.0).scale(1.0 / 0.4).square().scale(0.5);
                return ring.add(&neg_lse(bump(&z1.add_scalar(-2.0), 0.6), bump(&z1.add_scalar(2.0), 0.6))?);
            }
            Energy::U2 => z2.sub(&w1)?.scale(1.0 / 0.4).square().scale(0.5),
            Energy::U3 => {
                let w2 = bump(&z1.add_scalar(-1.0), 0.6).exp().scale(3.0);
                let a = z2.sub(&w1)?;
                neg_lse(bump(&a, 0.35), bump(&a.add(&w2)?, 0.35))?
            }
            Energy::U4 => {
                let w3 = z1.add_scalar(-1.0).scale(1.0 / 0.3).sigmoid().scale(3.0);
                let a = z2.sub(&w1)?;
                neg_lse(bump(&a, 0.4), bump(&a.add(&w3)?, 0.35))?
            }
        };
        let wall = z1.abs().add_scalar(-WALL_AT).relu().scale(1.0 / WALL_WIDTH).square().scale(0.5);
        u.add(&wall)
    }
}
