//! Time-major batches, step masks, and the per-sequence bound every model returns.
//!
//! A batch of `B` sequences padded to `T` steps is a slice of `T` matrices `xs[t]`
//! (`B x D`, row `b` = sequence `b` at step `t`), with masks `masks[t]` that are either
//! `B x 1` (step `t` of sequence `b` exists) or `B x D` (which entries are observed).
//! A step counts when any entry of its row is observed.

use crate::{Error, Result};
use autodiff::{Loss, Tensor};
use ndarray::{Array2, Axis};

/// The `B x 1` step masks of `B x 1` or `B x D` observation masks (1 where any entry
/// of the row is observed), after checking them against the inputs.
pub fn step_masks(xs: &[Array2<f64>], masks: &[Array2<f64>]) -> Result<Vec<Array2<f64>>> {
    check_batch("step_masks", xs, masks, None)?;
    Ok(masks.iter().map(row_mask).collect())
}

/// 1 where any entry of the row is non-zero.
pub(crate) fn row_mask(m: &Array2<f64>) -> Array2<f64> {
    if m.ncols() == 1 {
        return m.clone();
    }
    m.map_axis(Axis(1), |r| if r.iter().any(|&v| v != 0.0) { 1.0 } else { 0.0 }).insert_axis(Axis(1))
}

/// Checks a time-major batch: at least one step, every step `B x D` (with `D = dim`
/// when given), masks of the same count, `B x 1` or `B x D`, holding only 0 and 1.
pub(crate) fn check_batch(
    what: &'static str,
    xs: &[Array2<f64>],
    masks: &[Array2<f64>],
    dim: Option<usize>,
) -> Result<(usize, usize)> {
    let Some(first) = xs.first() else {
        return Err(Error::config(what, "the batch has no time steps"));
    };
    let (b, d) = first.dim();
    if let Some(want) = dim
        && d != want
    {
        return Err(Error::config(what, format!("the model expects {want} features per step, got {d}")));
    }
    if masks.len() != xs.len() {
        return Err(Error::config(what, format!("{} steps but {} masks", xs.len(), masks.len())));
    }
    for (t, (x, m)) in xs.iter().zip(masks).enumerate() {
        if x.dim() != (b, d) {
            return Err(Error::config(what, format!("step {t} is {:?}, step 0 is {:?}", x.dim(), (b, d))));
        }
        if m.nrows() != b || (m.ncols() != 1 && m.ncols() != d) {
            return Err(Error::config(
                what,
                format!("mask {t} is {:?}; expected {b} x 1 or {b} x {d}", m.dim()),
            ));
        }
        if let Some(v) = m.iter().find(|&&v| v != 0.0 && v != 1.0) {
            return Err(Error::config(what, format!("mask {t} holds {v}; masks are 0/1")));
        }
    }
    Ok((b, d))
}

/// Full `B x 1` masks for `steps` steps of `batch` sequences (every step present).
pub fn full_masks(batch: usize, steps: usize) -> Vec<Array2<f64>> {
    vec![Array2::ones((batch, 1)); steps]
}

/// Number of present steps of each sequence (the step masks summed over time).
pub fn lengths(step_masks: &[Array2<f64>]) -> Vec<usize> {
    let b = step_masks.first().map_or(0, Array2::nrows);
    (0..b).map(|i| step_masks.iter().filter(|m| m[(i, 0)] != 0.0).count()).collect()
}

/// A sequence model's bound on `ln p(x_{1:T})`, per sequence: the expected
/// reconstruction term and the KL term, each `B x 1` and summed over the present
/// steps. For a deterministic model the KL is zero and the reconstruction is the
/// exact log-likelihood.
#[derive(Debug, Clone)]
pub struct SeqElbo<T> {
    /// `sum_t E_q[ln p(x_t | ...)]` per sequence (`B x 1`).
    pub recon: T,
    /// `sum_t KL(q(z_t | ...) || p(z_t | ...))` per sequence (`B x 1`).
    pub kl: T,
    /// Number of present steps of each sequence.
    pub lengths: Vec<usize>,
}

impl<T: Tensor> SeqElbo<T> {
    /// The bound per sequence, `recon - kl` (`B x 1`).
    pub fn elbo(&self) -> Result<T> {
        Ok(self.recon.sub(&self.kl)?)
    }

    /// Total number of present steps in the batch.
    pub fn steps(&self) -> usize {
        self.lengths.iter().sum()
    }

    /// The negated bound with KL weight `beta` (1 for the true bound; smaller while
    /// annealing), summed over the batch: `-(sum recon - beta sum kl)` (`1 x 1`).
    fn negated_sum(&self, beta: f64) -> Result<T> {
        Ok(self.recon.sum().sub(&self.kl.sum().scale(beta))?.neg())
    }

    /// The training loss per time step, `-(sum recon - beta sum kl) / sum_b T_b`: the
    /// sum with the number of present steps as its weight, so data-parallel shards of
    /// ragged sequences combine exactly (see [`Loss`]).
    pub fn loss_per_step(&self, beta: f64) -> Result<Loss<T>> {
        Ok(Loss::new(self.negated_sum(beta)?, self.steps() as f64)?)
    }

    /// The training loss per sequence, `-mean_b(recon_b - beta kl_b)`: the sum with
    /// the number of sequences as its weight.
    pub fn loss_per_sequence(&self, beta: f64) -> Result<Loss<T>> {
        Ok(Loss::new(self.negated_sum(beta)?, self.lengths.len() as f64)?)
    }

    /// The bound in nats per time step over the batch (`sum elbo / sum T_b`).
    pub fn nats_per_step(&self) -> Result<f64> {
        Ok(self.elbo()?.sum().item()? / self.steps().max(1) as f64)
    }
}

/// `ln (1/K) sum_k exp(lw_k)` for each row of `K` stacked blocks of `B` rows (`lw` is
/// `KB x 1`, row `k B + b` the `k`-th weight of sequence `b`): the importance-sampled
/// estimate of `ln p(x)` from `K` log-weights (Burda et al. 2016, Eq. 8).
pub fn log_mean_exp_blocks<T: Tensor>(lw: &T, k: usize) -> Result<T> {
    let rows = lw.shape().0;
    if k == 0 || !rows.is_multiple_of(k) {
        return Err(Error::config("log_mean_exp_blocks", format!("{rows} rows are not {k} blocks")));
    }
    let b = rows / k;
    let cols = (0..k)
        .map(|j| lw.gather_rows(&(j * b..(j + 1) * b).collect::<Vec<_>>()))
        .collect::<autodiff::Result<Vec<_>>>()?;
    let stacked = T::concat_cols(&cols.iter().collect::<Vec<_>>())?;
    Ok(stacked.logsumexp(Axis(1)).add_scalar(-(k as f64).ln()))
}

/// Time-major steps (or masks) of a batch: `T` matrices of `B` rows.
pub type Steps = Vec<Array2<f64>>;

/// What a model's pass over a batch accumulates: per-sequence totals (`B x 1`) of
/// the reconstruction term and of the latent term (a KL, or the log-ratio
/// `ln q(z) - ln p(z)` at the sampled path), the state after each sequence's last
/// present step, and the step masks.
#[derive(Debug, Clone)]
pub(crate) struct Pass<T, C> {
    pub recon: T,
    pub latent: T,
    pub carry: C,
    pub steps: Steps,
}

impl<T: Tensor, C> Pass<T, C> {
    /// The bound, when `latent` holds the KL terms.
    pub fn into_elbo(self) -> SeqElbo<T> {
        SeqElbo { recon: self.recon, kl: self.latent, lengths: lengths(&self.steps) }
    }

    /// `K` importance weights per sequence combined, when `latent` holds log-ratios.
    pub fn log_mean_weight(&self, particles: usize) -> Result<T> {
        log_mean_exp_blocks(&self.recon.sub(&self.latent)?, particles)
    }
}

/// Every step and mask repeated `k` times as row blocks (for `k` particles).
pub(crate) fn repeat_batch(xs: &[Array2<f64>], masks: &[Array2<f64>], k: usize) -> Result<(Steps, Steps)> {
    if k == 0 {
        return Err(Error::config("log_likelihood", "needs at least one particle"));
    }
    Ok((xs.iter().map(|x| repeat_rows(x, k)).collect(), masks.iter().map(|m| repeat_rows(m, k)).collect()))
}

/// The rows of `a` repeated `k` times as blocks (row `j B + b` is row `b`).
pub fn repeat_rows(a: &Array2<f64>, k: usize) -> Array2<f64> {
    let views: Vec<_> = (0..k).map(|_| a.view()).collect();
    ndarray::concatenate(Axis(0), &views).expect("copies of one array share their width")
}
