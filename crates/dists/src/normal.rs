//! The diagonal (independent-entries) normal distribution, parameterised by mean and
//! log-variance.

use crate::traits::{LogProb, Sample};
use crate::{Result, validate};
use autodiff::{Shape, Tensor};
use ndarray::{Array1, Array2, Axis};
use rand::Rng;
use rand_distr::StandardNormal;

/// `ln(2 pi)`.
pub(crate) const LN_2PI: f64 = 1.837_877_066_409_345_5;

const DIST: &str = "DiagNormal";

/// Independent normal entries: entry `(i, j)` is `N(mean_ij, exp(log_var_ij))`.
///
/// `mean` and `log_var` broadcast against each other (a `1 x d` prior against a
/// `batch x d` posterior, say); rows are the batch. All methods are generic over the
/// value type, so on [`autodiff::Var`] every result is differentiable in both
/// parameters, and on plain arrays nothing is recorded.
///
/// # Formula
///
/// $$ \ln \mathcal N(x; \mu, e^{v}) = -\tfrac12 \left( \ln 2\pi + v + (x-\mu)^2 e^{-v} \right). $$
///
/// Working with the log-variance `v` keeps every formula free of divisions by a
/// variance that might underflow: `v = -30` (variance `1e-13`) and `v = 30` both
/// give finite log-densities, entropies and KL terms.
#[derive(Debug, Clone)]
pub struct DiagNormal<T> {
    mean: T,
    log_var: T,
}

impl<T: Tensor> DiagNormal<T> {
    /// From mean and **log-variance** `v = ln sigma^2` (shapes must broadcast, values
    /// must be finite): the form models produce. The name says which parameter it
    /// takes because `torch.distributions.Normal(loc, scale)` takes a standard
    /// deviation: for that, use [`DiagNormal::from_mean_std`].
    pub fn from_mean_log_var(mean: T, log_var: T) -> Result<Self> {
        validate::broadcast(DIST, "log_var", mean.shape(), log_var.shape())?;
        validate::finite(DIST, "mean", &mean.to_array())?;
        validate::finite(DIST, "log_var", &log_var.to_array())?;
        Ok(DiagNormal { mean, log_var })
    }

    /// From mean and standard deviation (`std > 0`); stores `log_var = 2 ln std`.
    pub fn from_mean_std(mean: T, std: T) -> Result<Self> {
        validate::positive(DIST, "std", &std.to_array())?;
        Self::from_mean_log_var(mean, std.log().scale(2.0))
    }

    /// The standard normal of the given shape (zero mean, unit variance).
    pub fn standard(like: &T, shape: Shape) -> Self {
        DiagNormal { mean: like.constant(Array2::zeros(shape)), log_var: like.constant(Array2::zeros(shape)) }
    }

    /// The mean.
    pub fn mean(&self) -> &T {
        &self.mean
    }
    /// The log-variance.
    pub fn log_var(&self) -> &T {
        &self.log_var
    }
    /// The variance `exp(log_var)`.
    pub fn variance(&self) -> T {
        self.log_var.exp()
    }
    /// The standard deviation `exp(log_var / 2)`.
    pub fn std(&self) -> T {
        self.log_var.scale(0.5).exp()
    }
    /// The shape the parameters broadcast to (the shape of one sample).
    pub fn shape(&self) -> Shape {
        validate::broadcast(DIST, "log_var", self.mean.shape(), self.log_var.shape())
            .expect("checked by the constructor")
    }

    /// Element-wise log-density of `x` (which broadcasts with the parameters); a NaN
    /// or infinity in data `x` is [`Error::NonFinite`](crate::Error::NonFinite) naming
    /// `x` (an `x` computed on a tape is left to the training loop's NaN guard).
    pub fn log_prob(&self, x: &T) -> Result<T> {
        validate::broadcast(DIST, "x", self.shape(), x.shape())?;
        validate::finite_data(DIST, "x", x)?;
        let maha = scaled_square(&x.sub(&self.mean)?, &self.log_var)?;
        Ok(maha.add(&self.log_var)?.add_scalar(LN_2PI).scale(-0.5))
    }

    /// Total log-density of `x`, as `1 x 1`.
    pub fn log_prob_sum(&self, x: &T) -> Result<T> {
        Ok(self.log_prob(x)?.sum())
    }

    /// Log-density of each row of `x` (the entries of a row summed), as `rows x 1`.
    pub fn log_prob_rows(&self, x: &T) -> Result<T> {
        Ok(self.log_prob(x)?.sum_axis(Axis(1)))
    }

    /// Element-wise log-density where `mask` is 1, and 0 where it is 0.
    ///
    /// For irregularly observed series (Latent ODE, GRU-ODE-Bayes): unobserved
    /// entries of `x` may hold any placeholder, NaN included; they are selected away
    /// before any arithmetic, so they contribute neither to the value nor to the
    /// gradient.
    pub fn log_prob_masked(&self, x: &T, mask: &Array2<f64>) -> Result<T> {
        crate::masked::observed_log_prob(DIST, self.shape(), x, mask, |x| self.log_prob(x))
    }

    /// Total log-density of the observed entries (`mask == 1`), as `1 x 1`.
    pub fn log_prob_masked_sum(&self, x: &T, mask: &Array2<f64>) -> Result<T> {
        Ok(self.log_prob_masked(x, mask)?.sum())
    }

    /// Element-wise entropy `(1 + ln 2 pi + log_var) / 2`.
    pub fn entropy(&self) -> T {
        self.log_var.add_scalar(1.0 + LN_2PI).scale(0.5)
    }

    /// Reparameterised sample `mean + exp(log_var / 2) * eps` for given noise `eps`
    /// (differentiable in both parameters; `eps` enters as a constant).
    pub fn rsample_with(&self, eps: &Array2<f64>) -> Result<T> {
        validate::broadcast(DIST, "eps", self.shape(), eps.dim())?;
        let noise = self.mean.constant(eps.clone());
        Ok(self.mean.add(&self.std().mul(&noise)?)?)
    }

    /// Reparameterised sample with standard normal noise of the parameters' shape
    /// drawn from `rng`.
    pub fn rsample<R: Rng + ?Sized>(&self, rng: &mut R) -> Result<T> {
        self.rsample_with(&standard_normal(self.shape(), rng))
    }

    /// A sample with the gradient stopped (what `torch.distributions` calls `sample`).
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Result<T> {
        Ok(self.rsample(rng)?.detach())
    }

    /// Closed-form `KL(self || q)`, element-wise:
    /// `((v_q - v_p) + e^{v_p - v_q} + (mu_p - mu_q)^2 e^{-v_q} - 1) / 2`.
    ///
    /// Written with `e^{v_p - v_q}` rather than a ratio of variances, so
    /// `KL(p || p)` is exactly 0 and extreme log-variances stay finite.
    pub fn kl_divergence(&self, q: &DiagNormal<T>) -> Result<T> {
        validate::broadcast(DIST, "q", self.shape(), q.shape())?;
        let dv = q.log_var.sub(&self.log_var)?;
        let ratio = dv.neg().exp();
        let maha = scaled_square(&self.mean.sub(&q.mean)?, &q.log_var)?;
        Ok(dv.add(&ratio)?.add(&maha)?.add_scalar(-1.0).scale(0.5))
    }

    /// Closed-form `KL(self || N(0, I))`, element-wise:
    /// `(e^{v} + mu^2 - 1 - v) / 2` (Kingma & Welling 2014, Appendix B).
    pub fn kl_to_standard_normal(&self) -> Result<T> {
        let var = self.log_var.exp();
        Ok(var.add(&self.mean.square())?.sub(&self.log_var)?.add_scalar(-1.0).scale(0.5))
    }

    /// A copy of the parameters as plain arrays (detached from any tape).
    pub fn values(&self) -> DiagNormal<Array2<f64>> {
        DiagNormal { mean: self.mean.to_array(), log_var: self.log_var.to_array() }
    }
}

/// `d^2 / sigma^2` for differences `d` and log-variances `v`, as `(d e^{-v/2})^2`:
/// scaling before squaring keeps `d = 0` at 0 where `e^{-v}` overflows (`v = -800`,
/// whose `0 * e^{800}` would be `0 * inf = NaN`), and `e^{-v/2}` itself overflows
/// only below `v = -1419`, a standard deviation under the smallest normal `f64`.
fn scaled_square<T: Tensor>(d: &T, log_var: &T) -> Result<T> {
    Ok(d.mul(&log_var.scale(-0.5).exp())?.square())
}

/// Standard normal noise of the given shape.
pub(crate) fn standard_normal<R: Rng + ?Sized>(shape: Shape, rng: &mut R) -> Array2<f64> {
    Array2::from_shape_simple_fn(shape, || rng.sample::<f64, _>(StandardNormal))
}

impl LogProb for DiagNormal<Array2<f64>> {
    fn log_prob_rows(&self, x: &Array2<f64>) -> Result<Array1<f64>> {
        Ok(DiagNormal::log_prob_rows(self, x)?.column(0).to_owned())
    }
}

impl Sample for DiagNormal<Array2<f64>> {
    /// `n` draws as rows; the parameters must have one row (or `n` rows).
    fn sample_n<R: Rng + ?Sized>(&self, n: usize, rng: &mut R) -> Result<Array2<f64>> {
        let shape = validate::broadcast(DIST, "sample rows", self.shape(), (n, self.shape().1))?;
        if shape.0 != n {
            return Err(crate::Error::Shape {
                dist: DIST,
                what: "parameters",
                got: self.shape(),
                expected: format!("1 or {n} rows to draw {n} samples"),
            });
        }
        self.rsample_with(&standard_normal(shape, rng))
    }
}
