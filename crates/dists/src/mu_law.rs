//! Mu-law companding and quantisation: how WaveNet turns an amplitude in `[-1, 1]`
//! into one of `levels` classes for a [`Categorical`](crate::Categorical) output, and
//! back (van den Oord et al. 2016, Sec. 2.2, Eq. 2).

use crate::{Error, Result};

const ROUTINE: &str = "MuLaw";

/// Mu-law companding with `mu = levels - 1`, and the quantiser built on it.
///
/// # Formula
///
/// $$ f(x) = \operatorname{sign}(x) \frac{\ln(1 + \mu |x|)}{\ln(1 + \mu)}, \qquad
///    f^{-1}(y) = \operatorname{sign}(y) \frac{(1 + \mu)^{|y|} - 1}{\mu}, $$
///
/// both maps of `[-1, 1]` onto itself, odd and increasing. The compander spends its
/// levels where speech and music spend their time, near zero: with `mu = 255` the
/// step between the two levels nearest 0 is about `1e-4`, the step at full scale
/// about `0.03`. Quantisation rounds `f(x)` on the uniform grid of `levels` points
/// over `[-1, 1]`, as the reference implementation (ibab/tensorflow-wavenet) does:
///
/// $$ q(x) = \Big\lfloor \tfrac{f(x) + 1}{2}\,\mu + \tfrac12 \Big\rfloor, \qquad
///    \hat x(k) = f^{-1}\!\big(2k/\mu - 1\big), $$
///
/// so level 0 is `-1`, level `mu` is `1`, and (for an even number of levels) `0`
/// maps to level `levels / 2`. Amplitudes outside `[-1, 1]` are clipped to it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MuLaw {
    mu: f64,
    levels: usize,
}

impl MuLaw {
    /// The compander for `levels >= 2` quantisation levels (`mu = levels - 1`;
    /// WaveNet uses 256).
    pub fn new(levels: usize) -> Result<Self> {
        if levels < 2 {
            return Err(Error::Config {
                routine: ROUTINE,
                reason: format!("needs at least 2 levels, got {levels}"),
            });
        }
        Ok(MuLaw { mu: (levels - 1) as f64, levels })
    }

    /// The number of levels.
    pub fn levels(&self) -> usize {
        self.levels
    }

    /// `f(x)` for `x` clipped to `[-1, 1]`.
    pub fn compress(&self, x: f64) -> f64 {
        let a = x.abs().min(1.0);
        x.signum() * (self.mu * a).ln_1p() / self.mu.ln_1p()
    }

    /// `f^{-1}(y)` for `y` clipped to `[-1, 1]`.
    pub fn expand(&self, y: f64) -> f64 {
        let a = y.abs().min(1.0);
        y.signum() * ((a * self.mu.ln_1p()).exp_m1() / self.mu)
    }

    /// The level `q(x)` in `0..levels` of an amplitude (clipped to `[-1, 1]`); fails
    /// on NaN.
    pub fn quantise(&self, x: f64) -> Result<usize> {
        if x.is_nan() {
            return Err(Error::NonFinite { dist: ROUTINE, param: "amplitude", row: 0, col: 0, value: x });
        }
        let level = ((self.compress(x) + 1.0) / 2.0 * self.mu + 0.5).floor();
        // f(x) is in [-1, 1], so the level is in [0, mu]; the min guards the rounding.
        Ok((level as usize).min(self.levels - 1))
    }

    /// The amplitude `x_hat(k)` of a level; fails unless `level < levels`.
    pub fn dequantise(&self, level: usize) -> Result<f64> {
        if level >= self.levels {
            return Err(Error::OutOfRange {
                dist: ROUTINE,
                param: "level",
                range: "0..levels",
                row: 0,
                col: 0,
                value: level as f64,
            });
        }
        Ok(self.expand(2.0 * level as f64 / self.mu - 1.0))
    }
}
