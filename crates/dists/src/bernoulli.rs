//! The Bernoulli distribution on `{0, 1}` (and its cross-entropy extension to
//! fractional targets in `[0, 1]`), parameterised by logits.

use crate::traits::{LogProb, Sample};
use crate::{Result, validate};
use autodiff::{Shape, Tensor};
use ndarray::{Array1, Array2, Axis};
use rand::Rng;

const DIST: &str = "Bernoulli";

/// The smallest probability [`Bernoulli::from_probs`] keeps: the smallest positive
/// `f64` (about `4.9e-324`). Only an exact 0 is moved up to it, so every `p` in
/// `(0, 1)` keeps its exact log-probabilities (`ln 1e-300 = -690.78`, where PyTorch's
/// clamp to the machine epsilon gives `-36.04`) and `p = 0` scores `ln PROB_MIN =
/// -744.44`, finite, for `x = 1`.
pub const PROB_MIN: f64 = 5e-324;

/// The largest probability [`Bernoulli::from_probs`] keeps: the largest `f64` below 1,
/// `1 - 2^-53`. Only an exact 1 is moved down to it (`1 - p` is computed exactly for
/// every `p >= 1/2`, so probabilities near 1 keep exact log-probabilities too), and
/// `p = 1` scores `ln 2^-53 = -36.74`, finite, for `x = 0`.
pub const PROB_MAX: f64 = 1.0 - f64::EPSILON / 2.0;

/// Independent Bernoulli entries with success probability `sigmoid(logits)`.
///
/// # Formula
///
/// For a target `x` in `[0, 1]` (fractional targets give the binary cross-entropy),
///
/// $$ \ln p(x) = x \ln \sigma(\ell) + (1-x) \ln \sigma(-\ell) = x\ell - \operatorname{softplus}(\ell), $$
///
/// using `ln sigma(l) = l - softplus(l)` and `ln sigma(-l) = -softplus(l)`. The right
/// side is finite for every finite logit (`softplus` never overflows), so logits of
/// `+-800` give exact answers where `ln(sigmoid(800))` would not.
#[derive(Debug, Clone)]
pub struct Bernoulli<T> {
    logits: T,
}

impl<T: Tensor> Bernoulli<T> {
    /// From logits (finite).
    pub fn from_logits(logits: T) -> Result<Self> {
        validate::finite(DIST, "logits", &logits.to_array())?;
        Ok(Bernoulli { logits })
    }

    /// From probabilities in `[0, 1]`, converted to logits `ln p - ln(1 - p)`; exact 0
    /// and 1 are first moved to [`PROB_MIN`] and [`PROB_MAX`], the nearest
    /// representable probabilities inside `(0, 1)`, so their logits are finite.
    /// Differentiable in `probs` on `(0, 1)`.
    pub fn from_probs(probs: T) -> Result<Self> {
        validate::in_range(DIST, "probs", "[0, 1]", (0.0, 1.0), &probs.to_array())?;
        let p = probs.clamp(PROB_MIN, PROB_MAX).expect("PROB_MIN < PROB_MAX");
        let logits = p.log().sub(&p.neg().add_scalar(1.0).log())?;
        Ok(Bernoulli { logits })
    }

    /// The logits.
    pub fn logits(&self) -> &T {
        &self.logits
    }
    /// The success probabilities `sigmoid(logits)`.
    pub fn probs(&self) -> T {
        self.logits.sigmoid()
    }
    /// The shape of one sample.
    pub fn shape(&self) -> Shape {
        self.logits.shape()
    }

    /// Element-wise log-likelihood of targets `x` in `[0, 1]` (the negative binary
    /// cross-entropy with logits), evaluated as
    /// `-(x softplus(-l) + (1 - x) softplus(l))`: equal to `x l - softplus(l)`, but a
    /// sum of two non-negative terms, so a near-certain match (`l = 50`, `x = 1`)
    /// keeps its tiny value `-e^{-50}` instead of cancelling to 0.
    pub fn log_prob(&self, x: &T) -> Result<T> {
        validate::broadcast(DIST, "x", self.shape(), x.shape())?;
        validate::in_range(DIST, "x", "[0, 1]", (0.0, 1.0), &x.to_array())?;
        let l = &self.logits;
        let hit = x.mul(&l.neg().softplus())?;
        let miss = x.neg().add_scalar(1.0).mul(&l.softplus())?;
        Ok(hit.add(&miss)?.neg())
    }

    /// Total log-likelihood, as `1 x 1`.
    pub fn log_prob_sum(&self, x: &T) -> Result<T> {
        Ok(self.log_prob(x)?.sum())
    }

    /// Element-wise log-likelihood where `mask` is 1, and 0 where it is 0.
    /// Unobserved entries of `x` may hold any placeholder, NaN included: they are
    /// selected away before any arithmetic.
    pub fn log_prob_masked(&self, x: &T, mask: &Array2<f64>) -> Result<T> {
        crate::masked::observed_log_prob(DIST, self.shape(), x, mask, |x| self.log_prob(x))
    }

    /// Element-wise entropy `sigmoid(l) softplus(-l) + sigmoid(-l) softplus(l)`
    /// (which is `-p ln p - (1-p) ln(1-p)` written without logs of probabilities).
    pub fn entropy(&self) -> Result<T> {
        let l = &self.logits;
        Ok(l.sigmoid().mul(&l.neg().softplus())?.add(&l.neg().sigmoid().mul(&l.softplus())?)?)
    }

    /// Closed-form `KL(self || q)`, element-wise:
    /// `sigmoid(a) (softplus(-b) - softplus(-a)) + sigmoid(-a) (softplus(b) - softplus(a))`
    /// for logits `a` of `self` and `b` of `q`.
    pub fn kl_divergence(&self, q: &Bernoulli<T>) -> Result<T> {
        validate::broadcast(DIST, "q", self.shape(), q.shape())?;
        let (a, b) = (&self.logits, &q.logits);
        let on = b.neg().softplus().sub(&a.neg().softplus())?;
        let off = b.softplus().sub(&a.softplus())?;
        Ok(a.sigmoid().mul(&on)?.add(&a.neg().sigmoid().mul(&off)?)?)
    }

    /// A 0/1 sample of the parameters' shape (not differentiable).
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> T {
        let p = self.probs().to_array();
        self.logits.constant(p.mapv(|p| if rng.random::<f64>() < p { 1.0 } else { 0.0 }))
    }

    /// A copy of the parameters as plain arrays (detached from any tape).
    pub fn values(&self) -> Bernoulli<Array2<f64>> {
        Bernoulli { logits: self.logits.to_array() }
    }
}

impl LogProb for Bernoulli<Array2<f64>> {
    fn log_prob_rows(&self, x: &Array2<f64>) -> Result<Array1<f64>> {
        Ok(self.log_prob(x)?.sum_axis(Axis(1)).column(0).to_owned())
    }
}

impl Sample for Bernoulli<Array2<f64>> {
    /// `n` draws as rows; the logits must have one row.
    fn sample_n<R: Rng + ?Sized>(&self, n: usize, rng: &mut R) -> Result<Array2<f64>> {
        if self.shape().0 != 1 {
            return Err(crate::Error::Shape {
                dist: DIST,
                what: "logits",
                got: self.shape(),
                expected: "one row to draw rows of samples".into(),
            });
        }
        let p = self.probs();
        Ok(Array2::from_shape_fn(
            (n, p.ncols()),
            |(_, j)| if rng.random::<f64>() < p[(0, j)] { 1.0 } else { 0.0 },
        ))
    }
}
