//! The forward (noising) chain `q`, fixed by the schedule: one step
//! `q(z_t | z_{t-1})`, the marginal `q(z_t | x)` and the posterior
//! `q(z_{t-1} | z_t, x)`, each a [`DiagNormal`] with one step per row of a batch.

use super::Schedule;
use crate::{Error, Result};
use autodiff::Tensor;
use dists::DiagNormal;
use ndarray::Array2;

impl Schedule {
    /// One noising step (Ho et al. 2020, eq. 2),
    /// `q(z_t | z_{t-1}) = N(sqrt(1 - beta_t) z_{t-1}, beta_t I)`, row `b` of `z_prev`
    /// taking the step `steps[b]` (in `1..=T`).
    pub fn q_step<T: Tensor>(&self, z_prev: &T, steps: &[usize]) -> Result<DiagNormal<T>> {
        let scale = self.column(z_prev, steps, 1, |t| (1.0 - self.betas()[t - 1]).sqrt())?;
        let var = self.column(z_prev, steps, 1, |t| self.betas()[t - 1])?;
        normal(z_prev.mul(&scale)?, &var)
    }

    /// The marginal of the chain after `t` steps from the data (eq. 4),
    /// `q(z_t | x) = N(sqrt(alpha_bar_t) x, (1 - alpha_bar_t) I)`, for `t` in `1..=T`
    /// per row.
    pub fn q_marginal<T: Tensor>(&self, x: &T, steps: &[usize]) -> Result<DiagNormal<T>> {
        let abar = |t: usize| self.alpha_bar(t).expect("checked by column");
        let scale = self.column(x, steps, 1, |t| abar(t).sqrt())?;
        let var = self.column(x, steps, 1, |t| 1.0 - abar(t))?;
        normal(x.mul(&scale)?, &var)
    }

    /// The posterior of the previous state given the current one and the data
    /// (eqs. 6, 7), for `t` in `2..=T` per row:
    /// `q(z_{t-1} | z_t, x) = N(c_x x + c_z z_t, beta_tilde_t I)` with
    /// `c_x = sqrt(alpha_bar_{t-1}) beta_t / (1 - alpha_bar_t)`,
    /// `c_z = sqrt(1 - beta_t) (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t)` and
    /// `beta_tilde_t` of [`posterior_variance`](Self::posterior_variance). At `t = 1`
    /// it is the point mass at `x`, which no density describes.
    pub fn q_posterior<T: Tensor>(&self, x: &T, z_t: &T, steps: &[usize]) -> Result<DiagNormal<T>> {
        if x.shape() != z_t.shape() {
            return Err(Error::config(
                "Schedule::q_posterior",
                format!("x is {:?} but z_t is {:?}", x.shape(), z_t.shape()),
            ));
        }
        let abar = |t: usize| self.alpha_bar(t).expect("checked by column");
        let beta = |t: usize| self.betas()[t - 1];
        let c_x = self.column(x, steps, 2, |t| abar(t - 1).sqrt() * beta(t) / (1.0 - abar(t)))?;
        let c_z =
            self.column(x, steps, 2, |t| (1.0 - beta(t)).sqrt() * (1.0 - abar(t - 1)) / (1.0 - abar(t)))?;
        let var = self.column(x, steps, 2, |t| self.posterior_variance(t).expect("checked by column"))?;
        normal(x.mul(&c_x)?.add(&z_t.mul(&c_z)?)?, &var)
    }

    /// A `B x 1` constant column `f(steps[b])` beside `like` (`B x D`), after checking
    /// that there is one step per row, each in `first..=T`.
    pub(super) fn column<T: Tensor>(
        &self,
        like: &T,
        steps: &[usize],
        first: usize,
        f: impl Fn(usize) -> f64,
    ) -> Result<T> {
        let rows = like.shape().0;
        if steps.len() != rows {
            return Err(Error::config("diffusion", format!("{} steps for {rows} rows", steps.len())));
        }
        if let Some(t) = steps.iter().find(|&&t| t < first || t > self.steps()) {
            return Err(Error::config(
                "diffusion",
                format!("step {t} is not in {first}..={} for this distribution", self.steps()),
            ));
        }
        Ok(like.constant(Array2::from_shape_fn((rows, 1), |(b, _)| f(steps[b]))))
    }
}

/// `N(mean, var)` with the per-row variance column spread over every column of the
/// mean (so entropies and log-densities count every dimension).
pub(super) fn normal<T: Tensor>(mean: T, var: &T) -> Result<DiagNormal<T>> {
    let log_var = var.log().broadcast_to(mean.shape())?;
    Ok(DiagNormal::from_mean_log_var(mean, log_var)?)
}
