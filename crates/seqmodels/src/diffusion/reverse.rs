//! The learned reverse (generative) chain `p(z_{t-1} | z_t)` and ancestral sampling.

use super::Diffusion;
use super::net::{NoisePredictor, step_times};
use super::noising::normal;
use crate::{Error, Result};
use autodiff::{NoGrad, ParamStore, Session, Tensor};
use dists::DiagNormal;
use ndarray::Array2;
use rand::Rng;

/// The variance `sigma_t^2` of each reverse step, fixed rather than learned (Ho et
/// al. 2020, Sec. 3.2: both choices gave similar samples).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum ReverseVariance {
    /// `sigma_t^2 = beta_t`, optimal for data from `N(0, I)`.
    #[default]
    Beta,
    /// `sigma_t^2 = beta_tilde_t`, the forward posterior's variance, optimal for
    /// data at one point; `beta_tilde_1 = 0`, so the first step (the decoder
    /// `p(x | z_1)`) uses `beta_1` instead. For data with spread, the first steps'
    /// true reverse variance exceeds `beta_tilde_t` by a ratio near `1 + 1 / t`
    /// however many steps there are, so the bound keeps a gap as `T` grows (0.88
    /// nats for the Gaussian data of the tests, where `beta_t` leaves none).
    PosteriorBeta,
}

impl<P: NoisePredictor> Diffusion<P> {
    /// `p(z_{t-1} | z_t) = N(mu(z_t, t), sigma_t^2 I)` per row, for `t` in `1..=T`
    /// (at `t = 1`, the decoder `p(x | z_1)`), with the mean from the predicted noise
    /// (Ho et al. 2020, eq. 11):
    /// `mu = (z_t - beta_t / sqrt(1 - alpha_bar_t) eps(z_t, t)) / sqrt(1 - beta_t)`.
    pub fn p_step<S: Session>(&self, s: &S, z_t: &S::T, steps: &[usize]) -> Result<DiagNormal<S::T>> {
        let schedule = &self.schedule;
        let beta = |t: usize| schedule.betas()[t - 1];
        let abar = |t: usize| schedule.alpha_bar(t).expect("checked by column");
        let eps_scale = schedule.column(z_t, steps, 1, |t| beta(t) / (1.0 - abar(t)).sqrt())?;
        let shrink = schedule.column(z_t, steps, 1, |t| 1.0 / (1.0 - beta(t)).sqrt())?;
        let var = schedule.column(z_t, steps, 1, |t| match self.variance {
            ReverseVariance::PosteriorBeta if t > 1 => {
                schedule.posterior_variance(t).expect("checked by column")
            }
            _ => beta(t),
        })?;
        let eps = self.predictor.predict(s, z_t, &step_times(steps))?;
        let mean = z_t.sub(&eps.mul(&eps_scale)?)?.mul(&shrink)?;
        normal(mean, &var)
    }

    /// Ancestral sampling (Ho et al. 2020, Algorithm 2): `z_T ~ N(0, I)`, then
    /// `z_{t-1} ~ p(z_{t-1} | z_t)` down to `t = 2`, and the decoder's mean at the
    /// last step (no noise added, as in Algorithm 2). Returns `[z_T, .., z_1, x]`:
    /// `T + 1` arrays of `n x D`, the last the samples.
    pub fn sample_chain<R: Rng + ?Sized>(
        &self,
        store: &ParamStore,
        n: usize,
        rng: &mut R,
    ) -> Result<Vec<Array2<f64>>> {
        if n == 0 {
            return Err(Error::config("Diffusion::sample_chain", "needs at least one sample"));
        }
        let s = NoGrad::new(store);
        let like = Array2::zeros((0, 0));
        let mut chain = vec![DiagNormal::standard(&like, (n, self.dim)).sample(rng)?];
        for t in (1..=self.schedule.steps()).rev() {
            let p = self.p_step(&s, chain.last().expect("starts with z_T"), &vec![t; n])?;
            chain.push(if t > 1 { p.sample(rng)? } else { p.mean().clone() });
        }
        Ok(chain)
    }
}
