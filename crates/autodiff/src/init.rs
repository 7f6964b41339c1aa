//! Initialisers for weights and biases, driven by a caller-supplied (seeded) RNG.

use crate::{Error, Result};
use ndarray::Array2;
use rand::Rng;
use rand_distr::{Distribution, Normal, Uniform};

/// How to fill a new parameter.
///
/// `fan_in` and `fan_out` are the input and output widths of the layer that owns the
/// parameter (for a `Linear` weight of shape `in x out`, `fan_in = in`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// All zeros.
    Zeros,
    /// Every entry equal to the constant.
    Constant(f64),
    /// `N(0, std^2)` entries.
    Normal {
        /// Standard deviation.
        std: f64,
    },
    /// `U(lo, hi)` entries.
    Uniform {
        /// Lower bound.
        lo: f64,
        /// Upper bound.
        hi: f64,
    },
    /// Glorot and Bengio (2010): `U(-a, a)` with `a = sqrt(6 / (fan_in + fan_out))`.
    GlorotUniform,
    /// PyTorch's default for `nn.Linear` weights and biases:
    /// `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`.
    TorchDefault,
}

impl Init {
    /// Checks the parameters: a finite constant, a finite `std >= 0`, finite bounds with
    /// `lo <= hi`. The error is [`Error::Invalid`] naming the variant, field and value.
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| Err(Error::Invalid { op: "Init", reason });
        match *self {
            Init::Constant(c) if !c.is_finite() => bad(format!("Constant({c}) is not finite")),
            Init::Normal { std } if !(std.is_finite() && std >= 0.0) => {
                bad(format!("Normal.std must be finite and >= 0, got {std}"))
            }
            Init::Uniform { lo, hi } if !(lo.is_finite() && hi.is_finite() && lo <= hi) => {
                bad(format!("Uniform needs finite lo <= hi, got lo = {lo}, hi = {hi}"))
            }
            _ => Ok(()),
        }
    }

    /// A `shape` array drawn from this initialiser; fails as [`validate`](Init::validate).
    pub fn sample(
        &self,
        shape: (usize, usize),
        fan_in: usize,
        fan_out: usize,
        rng: &mut impl Rng,
    ) -> Result<Array2<f64>> {
        self.validate()?;
        let uniform = |a: f64, rng: &mut dyn rand::RngCore| {
            let u = Uniform::new_inclusive(-a, a).expect("a finite, non-negative bound");
            Array2::from_shape_simple_fn(shape, || u.sample(rng))
        };
        Ok(match *self {
            Init::Zeros => Array2::zeros(shape),
            Init::Constant(c) => Array2::from_elem(shape, c),
            Init::Normal { std } => {
                let n = Normal::new(0.0, std).expect("validated: a finite, non-negative standard deviation");
                Array2::from_shape_simple_fn(shape, || n.sample(rng))
            }
            Init::Uniform { lo, hi } => {
                let u = Uniform::new_inclusive(lo, hi).expect("validated: lo <= hi, both finite");
                Array2::from_shape_simple_fn(shape, || u.sample(rng))
            }
            Init::GlorotUniform => uniform((6.0 / (fan_in + fan_out).max(1) as f64).sqrt(), rng),
            Init::TorchDefault => uniform(1.0 / (fan_in.max(1) as f64).sqrt(), rng),
        })
    }
}
