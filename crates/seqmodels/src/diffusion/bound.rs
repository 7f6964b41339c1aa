//! The evidence lower bound of the chain, term by term (Ho et al. 2020, eq. 5), the
//! same bound as one log-ratio along a sampled path, and the simplified loss
//! (eq. 14).

use super::Diffusion;
use super::net::{NoisePredictor, step_times};
use crate::bound::Elbo;
use crate::{Error, Result};
use autodiff::{Session, Tensor};
use dists::DiagNormal;
use ndarray::{Array2, Axis};
use rand::Rng;
use rand_distr::StandardNormal;

/// The terms of the bound for a batch, each `B x 1` in nats (Ho et al. 2020,
/// eq. 5, with the sign of a bound rather than of a loss):
///
/// `ln p(x) >= decoder - prior_kl - sum_t step_kls[t]`.
#[derive(Debug, Clone)]
pub struct ChainBound<T> {
    /// `L_T = KL(q(z_T | x) || N(0, I))`, fixed by the schedule.
    pub prior_kl: T,
    /// `L_{t-1} = KL(q(z_{t-1} | z_t, x) || p(z_{t-1} | z_t))` for `t = 2..=T` (entry
    /// `t - 2`), each at one sample `z_t ~ q(z_t | x)`.
    pub step_kls: Vec<T>,
    /// `-L_0 = ln p(x | z_1)` at one sample `z_1 ~ q(z_1 | x)`.
    pub decoder: T,
}

impl<T: Tensor> ChainBound<T> {
    /// The bound as this crate's [`Elbo`]: the decoder term as the reconstruction,
    /// `L_T + sum L_{t-1}` as the KL, every example a sequence of one step.
    pub fn into_elbo(self) -> Result<Elbo<T>> {
        let kl = self.step_kls.iter().try_fold(self.prior_kl, |acc, k| acc.add(k))?;
        Ok(Elbo { lengths: vec![1; kl.shape().0], recon: self.decoder, kl })
    }
}

impl<P: NoisePredictor> Diffusion<P> {
    /// The bound's terms for a batch `x` (`B x D`): every step's KL in closed form,
    /// each at its own reparameterised `z_t ~ q(z_t | x)` (Ho et al. 2020, eq. 5; on
    /// a tape its gradient trains the model by the bound). Costs `T` evaluations of
    /// the network.
    pub fn chain_bound<S: Session, R: Rng + ?Sized>(
        &self,
        s: &S,
        x: &Array2<f64>,
        rng: &mut R,
    ) -> Result<ChainBound<S::T>> {
        self.check(x)?;
        let rows = x.nrows();
        let xt = s.constant(x.clone());
        let last = self.schedule.steps();
        let prior_kl =
            self.schedule.q_marginal(&xt, &vec![last; rows])?.kl_to_standard_normal()?.sum_axis(Axis(1));
        let step_kls = (2..=last)
            .map(|t| {
                let steps = vec![t; rows];
                let z_t = self.schedule.q_marginal(&xt, &steps)?.rsample(rng)?;
                let q = self.schedule.q_posterior(&xt, &z_t, &steps)?;
                Ok(q.kl_divergence(&self.p_step(s, &z_t, &steps)?)?.sum_axis(Axis(1)))
            })
            .collect::<Result<_>>()?;
        let ones = vec![1; rows];
        let z_1 = self.schedule.q_marginal(&xt, &ones)?.rsample(rng)?;
        let decoder = self.p_step(s, &z_1, &ones)?.log_prob_rows(&xt)?;
        Ok(ChainBound { prior_kl, step_kls, decoder })
    }

    /// The bound written directly, `ln p(x, z_{1:T}) - ln q(z_{1:T} | x)`, at one path
    /// `z_1, .., z_T` drawn step by step from the noising chain (`B x 1`). Its mean
    /// is the same bound as [`chain_bound`](Self::chain_bound)'s (eq. 5 regroups this
    /// log-ratio into KL terms); it is also the log of an importance weight of
    /// `p(x)`.
    pub fn path_log_ratio<S: Session, R: Rng + ?Sized>(
        &self,
        s: &S,
        x: &Array2<f64>,
        rng: &mut R,
    ) -> Result<S::T> {
        self.check(x)?;
        let rows = x.nrows();
        let xt = s.constant(x.clone());
        let mut previous = xt.clone();
        let mut log_q = xt.constant(Array2::zeros((rows, 1)));
        let mut log_p = log_q.clone();
        for t in 1..=self.schedule.steps() {
            let steps = vec![t; rows];
            let q = self.schedule.q_step(&previous, &steps)?;
            let z_t = q.rsample(rng)?;
            log_q = log_q.add(&q.log_prob_rows(&z_t)?)?;
            log_p = log_p.add(&self.p_step(s, &z_t, &steps)?.log_prob_rows(&previous)?)?;
            previous = z_t;
        }
        let prior = DiagNormal::standard(&previous, previous.shape());
        Ok(log_p.add(&prior.log_prob_rows(&previous)?)?.sub(&log_q)?)
    }

    /// Ho et al.'s simplified loss (2020, eq. 14) per row (`B x 1`):
    /// `|eps - eps(sqrt(alpha_bar_t) x + sqrt(1 - alpha_bar_t) eps, t)|^2` with `t`
    /// uniform on `1..=T` and `eps ~ N(0, I)`, drawn per row (Algorithm 1).
    pub fn simple_loss<S: Session, R: Rng + ?Sized>(
        &self,
        s: &S,
        x: &Array2<f64>,
        rng: &mut R,
    ) -> Result<S::T> {
        self.check(x)?;
        let steps: Vec<usize> = (0..x.nrows()).map(|_| rng.random_range(1..=self.schedule.steps())).collect();
        let eps = Array2::from_shape_simple_fn(x.dim(), || rng.sample(StandardNormal));
        let z_t = self.schedule.q_marginal(&s.constant(x.clone()), &steps)?.rsample_with(&eps)?;
        let predicted = self.predictor.predict(s, &z_t, &step_times(&steps))?;
        Ok(predicted.sub(&s.constant(eps))?.square().sum_axis(Axis(1)))
    }

    pub(super) fn check(&self, x: &Array2<f64>) -> Result<()> {
        if x.nrows() == 0 || x.ncols() != self.dim {
            return Err(Error::config(
                "Diffusion",
                format!("expected a B x {} batch, got {:?}", self.dim, x.dim()),
            ));
        }
        Ok(())
    }
}
