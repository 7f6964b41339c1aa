//! Output layers that turn features into distributions: the Gaussian head of every
//! prior and posterior, and the observation head (Bernoulli, Gaussian or mixture).

use crate::{Error, Result};
use autodiff::{Linear, ParamStore, Session, Tensor};
use dists::{Bernoulli, DiagNormal, RowMixture};
use ndarray::{Array2, Axis};
use rand::Rng;

/// A diagonal Gaussian from features: `mean = h W_m + b_m` and
/// `std = softplus(h W_s + b_s) + min_std`, the parameterisation of the VRNN
/// reference code (a softplus standard deviation), floored so that `ln std` stays
/// finite. Returned as a [`DiagNormal`] with `log_var = 2 ln std`.
#[derive(Debug, Clone, PartialEq)]
pub struct GaussianHead {
    mean: Linear,
    std: Linear,
    min_std: f64,
}

impl GaussianHead {
    /// A head from `input` features to a `dim`-dimensional Gaussian, registered as
    /// `{name}.mean` and `{name}.std`.
    pub fn new(
        store: &mut ParamStore,
        name: &str,
        input: usize,
        dim: usize,
        min_std: f64,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        if min_std.is_nan() || min_std < 0.0 {
            return Err(Error::config("GaussianHead", format!("min_std must be >= 0, got {min_std}")));
        }
        let mean = Linear::new(store, &format!("{name}.mean"), input, dim, rng)?;
        let std = Linear::new(store, &format!("{name}.std"), input, dim, rng)?;
        Ok(GaussianHead { mean, std, min_std })
    }

    /// Output dimension.
    pub fn dim(&self) -> usize {
        self.mean.out_dim()
    }

    /// The mean and the log-variance, before building the distribution.
    pub fn params<S: Session>(&self, s: &S, h: &S::T) -> Result<(S::T, S::T)> {
        let mean = self.mean.forward(s, h)?;
        let std = self.std.forward(s, h)?.softplus().add_scalar(self.min_std);
        Ok((mean, std.log().scale(2.0)))
    }

    /// The distribution for features `h` (`B x input`).
    pub fn forward<S: Session>(&self, s: &S, h: &S::T) -> Result<DiagNormal<S::T>> {
        let (mean, log_var) = self.params(s, h)?;
        Ok(DiagNormal::from_mean_log_var(mean, log_var)?)
    }

    /// The distribution whose mean is `base + h W_m + b_m`: the residual ("Resq")
    /// posterior of Fraccaro et al. (2016, Sec. 3), which learns the correction of
    /// the prior mean rather than the mean itself.
    pub fn forward_residual<S: Session>(&self, s: &S, h: &S::T, base: &S::T) -> Result<DiagNormal<S::T>> {
        let (delta, log_var) = self.params(s, h)?;
        Ok(DiagNormal::from_mean_log_var(base.add(&delta)?, log_var)?)
    }
}

/// The family of the observation distribution `p(x_t | ...)`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum ObsKind {
    /// Independent Bernoulli entries (binary data: piano rolls, binarized digits).
    Bernoulli,
    /// Independent Gaussian entries with a learned standard deviation, floored at `min_std`.
    Gaussian {
        /// Floor of the standard deviation.
        min_std: f64,
    },
    /// A mixture of `components` diagonal Gaussians per row, with row-wise weights
    /// (the GMM output Chung et al. 2015 use for speech).
    Gmm {
        /// Number of components `K`.
        components: usize,
        /// Floor of the standard deviations.
        min_std: f64,
    },
}

/// The observation head: features to the parameters of an [`ObsKind`] over `dim`
/// entries.
#[derive(Debug, Clone, PartialEq)]
pub enum ObsHead {
    /// Logits of Bernoulli entries.
    Bernoulli(Linear),
    /// A Gaussian head.
    Gaussian(GaussianHead),
    /// Mixture logits (`K` columns) and a Gaussian head over `K * dim` columns
    /// (component `k` in columns `k dim .. (k + 1) dim`).
    Gmm {
        /// Mixture logits.
        logits: Linear,
        /// Component means and standard deviations.
        components: GaussianHead,
        /// Event dimension.
        dim: usize,
    },
}

impl ObsHead {
    /// A head from `input` features to `dim` observed entries, registered under `name`.
    pub fn new(
        store: &mut ParamStore,
        name: &str,
        kind: ObsKind,
        input: usize,
        dim: usize,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        Ok(match kind {
            ObsKind::Bernoulli => {
                ObsHead::Bernoulli(Linear::new(store, &format!("{name}.logits"), input, dim, rng)?)
            }
            ObsKind::Gaussian { min_std } => {
                ObsHead::Gaussian(GaussianHead::new(store, name, input, dim, min_std, rng)?)
            }
            ObsKind::Gmm { components, min_std } => {
                if components == 0 {
                    return Err(Error::config("ObsHead", "a mixture needs at least one component"));
                }
                let logits = Linear::new(store, &format!("{name}.mix"), input, components, rng)?;
                let comp = GaussianHead::new(store, name, input, components * dim, min_std, rng)?;
                ObsHead::Gmm { logits, components: comp, dim }
            }
        })
    }

    /// The distribution of `x_t` given features `h` (`B x input`).
    pub fn forward<S: Session>(&self, s: &S, h: &S::T) -> Result<ObsDist<S::T>> {
        Ok(match self {
            ObsHead::Bernoulli(lin) => ObsDist::Bernoulli(Bernoulli::from_logits(lin.forward(s, h)?)?),
            ObsHead::Gaussian(g) => ObsDist::Gaussian(g.forward(s, h)?),
            ObsHead::Gmm { logits, components, dim } => {
                let (means, log_vars) = components.params(s, h)?;
                ObsDist::Gmm(RowMixture::new(logits.forward(s, h)?, means, log_vars, *dim)?)
            }
        })
    }
}

/// The distribution of one observation step, for a batch of rows.
#[derive(Debug, Clone)]
pub enum ObsDist<T> {
    /// Independent Bernoulli entries.
    Bernoulli(Bernoulli<T>),
    /// Independent Gaussian entries.
    Gaussian(DiagNormal<T>),
    /// A mixture of diagonal Gaussians with its own weights in every row.
    Gmm(RowMixture<T>),
}

impl<T: Tensor> ObsDist<T> {
    /// `ln p(x_b)` of each row (`B x 1`), counting only observed entries: `mask` is
    /// `B x 1` or `B x D` (0/1). A mixture does not factorise over entries, so it
    /// counts a row when the row's mask is on and needs whole rows observed.
    pub fn log_prob_rows(&self, x: &T, mask: &Array2<f64>) -> Result<T> {
        let lp = match self {
            ObsDist::Bernoulli(d) => d.log_prob(x)?,
            ObsDist::Gaussian(d) => d.log_prob(x)?,
            ObsDist::Gmm(d) => return Ok(d.log_prob_rows(x)?.mask(&crate::batch::any_observed(mask))?),
        };
        Ok(lp.mask(mask)?.sum_axis(Axis(1)))
    }

    /// A sample of every row, as a plain array.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Result<Array2<f64>> {
        Ok(match self {
            ObsDist::Bernoulli(d) => d.sample(rng).to_array(),
            ObsDist::Gaussian(d) => d.sample(rng)?.to_array(),
            ObsDist::Gmm(d) => d.sample(rng),
        })
    }

    /// The mean of every row (probabilities for Bernoulli entries), as a plain array.
    pub fn mean(&self) -> Result<Array2<f64>> {
        Ok(match self {
            ObsDist::Bernoulli(d) => d.probs().to_array(),
            ObsDist::Gaussian(d) => d.mean().to_array(),
            ObsDist::Gmm(d) => d.mean()?,
        })
    }
}

/// `sum_j ln N(x_j; means[j], diag std^2)` over the observed entries of `batch`, per
/// series and dimension (`B x D`; a model's per-series term is its row sum), for models
/// that decode a mean at every union time (`means[j]` at `batch.times()[j]`); `std` is
/// `1 x D` (fixed or learned). With `copies = K` the means are `K` stacked blocks of
/// the batch's rows (importance samples), and the result is `K B x D` in the same order.
pub(crate) fn observed_gaussian_log_likelihood<S: Session>(
    s: &S,
    means: &[S::T],
    batch: &crate::IrregularBatch,
    std: &S::T,
    copies: usize,
) -> Result<S::T> {
    let rows = batch.batch_size() * copies;
    let mut total = s.constant(Array2::zeros((rows, batch.dim())));
    for (mean, step) in means.iter().zip(batch.grid().iter()) {
        let p = DiagNormal::from_mean_std(mean.clone(), std.clone())?;
        let (x, mask) = match copies {
            1 => (step.x.clone(), step.mask.clone()),
            k => (crate::batch::repeat_rows(step.x, k), crate::batch::repeat_rows(step.mask, k)),
        };
        total = total.add(&p.log_prob_masked(&s.constant(x), &mask)?)?;
    }
    Ok(total)
}
