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
        let prior_kl = self.prior_kl(&xt)?;
        let step_kls = (2..=self.schedule.steps())
            .map(|t| self.step_kl(s, &xt, &vec![t; rows], rng))
            .collect::<Result<_>>()?;
        let decoder = self.decoder_term(s, &xt, rng)?;
        Ok(ChainBound { prior_kl, step_kls, decoder })
    }

    /// An unbiased one-sample estimate of the bound per row (`B x 1`), as Ho et al.
    /// train on eq. 5: `-L_T - T L_{t-1}` with `t` uniform on `1..=T` per row
    /// (`-L_0 = ln p(x | z_1)` for `t = 1`). One network evaluation per row instead of
    /// [`chain_bound`](Self::chain_bound)'s `T`, at the price of variance.
    pub fn sampled_bound<S: Session, R: Rng + ?Sized>(
        &self,
        s: &S,
        x: &Array2<f64>,
        rng: &mut R,
    ) -> Result<S::T> {
        self.check(x)?;
        let rows = x.nrows();
        let xt = s.constant(x.clone());
        let steps = self.uniform_steps(rows, rng);
        // Rows at t = 1 take the decoder term, the others a KL term: each group is
        // gathered, scored and scattered back to its rows.
        let (first, later): (Vec<usize>, Vec<usize>) = (0..rows).partition(|&b| steps[b] == 1);
        let mut sampled = xt.constant(Array2::zeros((rows, 1)));
        if !first.is_empty() {
            let decoder = self.decoder_term(s, &xt.gather_rows(&first)?, rng)?;
            sampled = sampled.add(&decoder.scatter_add_rows(&first, rows)?)?;
        }
        if !later.is_empty() {
            let later_steps: Vec<usize> = later.iter().map(|&b| steps[b]).collect();
            let kl = self.step_kl(s, &xt.gather_rows(&later)?, &later_steps, rng)?;
            sampled = sampled.sub(&kl.scatter_add_rows(&later, rows)?)?;
        }
        Ok(sampled.scale(self.schedule.steps() as f64).sub(&self.prior_kl(&xt)?)?)
    }

    /// `L_T = KL(q(z_T | x) || N(0, I))` per row.
    fn prior_kl<T: Tensor>(&self, x: &T) -> Result<T> {
        let last = vec![self.schedule.steps(); x.shape().0];
        Ok(self.schedule.q_marginal(x, &last)?.kl_to_standard_normal()?.sum_axis(Axis(1)))
    }

    /// `L_{t-1}` per row at its step (`t >= 2`), at one reparameterised
    /// `z_t ~ q(z_t | x)`.
    fn step_kl<S: Session, R: Rng + ?Sized>(
        &self,
        s: &S,
        x: &S::T,
        steps: &[usize],
        rng: &mut R,
    ) -> Result<S::T> {
        let z_t = self.schedule.q_marginal(x, steps)?.rsample(rng)?;
        let q = self.schedule.q_posterior(x, &z_t, steps)?;
        Ok(q.kl_divergence(&self.p_step(s, &z_t, steps)?)?.sum_axis(Axis(1)))
    }

    /// `-L_0 = ln p(x | z_1)` per row, at one reparameterised `z_1 ~ q(z_1 | x)`.
    fn decoder_term<S: Session, R: Rng + ?Sized>(&self, s: &S, x: &S::T, rng: &mut R) -> Result<S::T> {
        let ones = vec![1; x.shape().0];
        let z_1 = self.schedule.q_marginal(x, &ones)?.rsample(rng)?;
        Ok(self.p_step(s, &z_1, &ones)?.log_prob_rows(x)?)
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
        let steps = self.uniform_steps(x.nrows(), rng);
        let eps = Array2::from_shape_simple_fn(x.dim(), || rng.sample(StandardNormal));
        let z_t = self.schedule.q_marginal(&s.constant(x.clone()), &steps)?.rsample_with(&eps)?;
        let predicted = self.predictor.predict(s, &z_t, &step_times(&steps))?;
        Ok(predicted.sub(&s.constant(eps))?.square().sum_axis(Axis(1)))
    }

    /// A step uniform on `1..=T` for each of `rows` rows (Algorithm 1's `t`).
    fn uniform_steps<R: Rng + ?Sized>(&self, rows: usize, rng: &mut R) -> Vec<usize> {
        (0..rows).map(|_| rng.random_range(1..=self.schedule.steps())).collect()
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
