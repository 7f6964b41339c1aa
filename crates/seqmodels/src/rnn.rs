//! The deterministic baseline: a recurrent network whose only randomness is in its
//! output distribution.
//!
//! # Equations
//!
//! With `h_0 = 0` and a cell `f` (tanh RNN or GRU),
//!
//! $$ p(x_{1:T}) = \prod_{t=1}^T p(x_t \mid h_{t-1}), \qquad h_t = f(x_t, h_{t-1}), $$
//!
//! where `p(x_t | h_{t-1})` is Bernoulli, Gaussian or a mixture whose parameters are
//! affine in `h_{t-1}` (the "RNN" rows of the tables of Chung et al. 2015 and
//! Fraccaro et al. 2016). The log-likelihood is exact: no latent variable, no bound.

use crate::batch::SeqBatch;
use crate::bound::{
    Elbo, LatentScan, LatentTerm, ParticleBudget, Pass, ScanResult, elbo_of, filter_state_of,
};
use crate::cells::{AnyCell, Cell, CellKind, step_present};
use crate::heads::{ObsHead, ObsKind};
use crate::stream::start_or_zeros;
use crate::{Result, SequenceModel};
use autodiff::{NoGrad, ParamStore, Session, Tensor};
use ndarray::Array2;
use rand::Rng;

/// Sizes and families of an [`RnnModel`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RnnConfig {
    /// Observation width `D`.
    pub x_dim: usize,
    /// State width `H`.
    pub hidden: usize,
    /// The recurrent cell.
    pub cell: CellKind,
    /// The output distribution.
    pub obs: ObsKind,
}

/// A recurrent network with an output distribution conditioned on the previous state.
#[derive(Debug, Clone, PartialEq)]
pub struct RnnModel {
    config: RnnConfig,
    cell: AnyCell,
    head: ObsHead,
}

impl RnnModel {
    /// Registers the parameters under `{name}.cell` and `{name}.out`.
    pub fn new(store: &mut ParamStore, name: &str, config: RnnConfig, rng: &mut impl Rng) -> Result<Self> {
        let cell =
            AnyCell::new(store, &format!("{name}.cell"), config.cell, config.x_dim, config.hidden, rng)?;
        // The head reads the whole state (mean and std for the mean-and-std GRU).
        let head =
            ObsHead::new(store, &format!("{name}.out"), config.obs, cell.hidden_dim(), config.x_dim, rng)?;
        Ok(RnnModel { config, cell, head })
    }

    /// The settings.
    pub fn config(&self) -> &RnnConfig {
        &self.config
    }

    /// Runs the network over a batch: the exact log-likelihood per sequence (in
    /// `recon`; `kl` is zero) and the final states (each sequence's state after its
    /// last present step).
    pub fn filter<S: Session>(&self, s: &S, batch: &SeqBatch) -> Result<(Elbo<S::T>, S::T)> {
        let pass = self.run(s, batch, None)?;
        let h = pass.carry.clone();
        Ok((pass.into_elbo(batch), h))
    }

    fn run<S: Session>(
        &self,
        s: &S,
        batch: &SeqBatch,
        start: Option<&Array2<f64>>,
    ) -> ScanResult<Self, S::T> {
        batch.expect_dim("RnnModel", self.config.x_dim)?;
        let b = batch.batch_size();
        let mut h = s.constant(start_or_zeros(start, (b, self.cell.hidden_dim()), "RnnModel")?);
        let mut recon = s.constant(Array2::zeros((b, 1)));
        for step in batch.iter() {
            let x = s.constant(step.x.clone());
            recon = recon.add(&self.head.forward(s, &h)?.log_prob_rows(&x, step.mask)?)?;
            h = step_present(s, &self.cell, &x, &h, step.present)?;
        }
        let latent = s.constant(Array2::zeros((b, 1)));
        Ok(Pass { recon, latent, carry: h })
    }
}

/// The pass of a model without latent variables: its latent term is zero, and
/// nothing is sampled.
impl LatentScan for RnnModel {
    type Carry<T> = T;

    fn scan<S: Session, R: Rng + ?Sized>(
        &self,
        s: &S,
        batch: &SeqBatch,
        start: Option<&Array2<f64>>,
        _term: LatentTerm,
        _rng: &mut R,
    ) -> ScanResult<Self, S::T> {
        self.run(s, batch, start)
    }

    fn detach<T: Tensor>(h: &T) -> Array2<f64> {
        h.to_array()
    }
}

impl SequenceModel for RnnModel {
    type State = Array2<f64>;

    fn x_dim(&self) -> usize {
        self.config.x_dim
    }

    fn elbo<S: Session, R: Rng + ?Sized>(&self, s: &S, batch: &SeqBatch, rng: &mut R) -> Result<Elbo<S::T>> {
        elbo_of(self, s, batch, rng)
    }

    /// The exact log-likelihood (no sampling: `particles` is ignored, and the budget
    /// only checked: the pass holds no particles).
    fn log_likelihood_within<R: Rng + ?Sized>(
        &self,
        store: &ParamStore,
        batch: &SeqBatch,
        _particles: usize,
        budget: ParticleBudget,
        _rng: &mut R,
    ) -> Result<Array2<f64>> {
        budget.validate()?;
        Ok(self.run(&NoGrad::new(store), batch, None)?.recon)
    }

    fn initial_state(&self, batch: usize) -> Self::State {
        Array2::zeros((batch, self.cell.hidden_dim()))
    }

    fn filter_state<R: Rng + ?Sized>(
        &self,
        store: &ParamStore,
        prefix: &SeqBatch,
        rng: &mut R,
    ) -> Result<Self::State> {
        filter_state_of(self, store, prefix, rng)
    }

    fn sample_from<R: Rng + ?Sized>(
        &self,
        store: &ParamStore,
        mut h: Self::State,
        steps: usize,
        rng: &mut R,
    ) -> Result<Vec<Array2<f64>>> {
        let s = NoGrad::new(store);
        let mut out = Vec::with_capacity(steps);
        for _ in 0..steps {
            let x = self.head.forward(&s, &h)?.sample(rng)?;
            h = self.cell.step(&s, &x, &h)?;
            out.push(x);
        }
        Ok(out)
    }
}
