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

use crate::bound::Elbo;
use crate::cells::{AnyCell, Cell, CellKind, masked_update};
use crate::heads::{ObsHead, ObsKind};
use crate::seq::{check_batch, lengths, row_mask};
use crate::{Result, SequenceModel};
use autodiff::{NoGrad, ParamStore, Session, Tensor};
use ndarray::Array2;
use rand::Rng;

/// Sizes and families of an [`RnnModel`].
#[derive(Debug, Clone, Copy, PartialEq)]
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
        let head = ObsHead::new(store, &format!("{name}.out"), config.obs, config.hidden, config.x_dim, rng)?;
        Ok(RnnModel { config, cell, head })
    }

    /// The settings.
    pub fn config(&self) -> &RnnConfig {
        &self.config
    }

    /// Runs the network over a batch: the exact log-likelihood per sequence (in
    /// `recon`; `kl` is zero) and the final states (each sequence's state after its
    /// last present step).
    pub fn filter<S: Session>(
        &self,
        s: &S,
        xs: &[Array2<f64>],
        masks: &[Array2<f64>],
    ) -> Result<(Elbo<S::T>, S::T)> {
        let (b, _) = check_batch("RnnModel", xs, masks, Some(self.config.x_dim))?;
        let mut h = s.constant(Array2::zeros((b, self.config.hidden)));
        let mut recon = s.constant(Array2::zeros((b, 1)));
        let mut steps = Vec::with_capacity(xs.len());
        for (x, m) in xs.iter().zip(masks) {
            let step = row_mask(m);
            let x = s.constant(x.clone());
            recon = recon.add(&self.head.forward(s, &h)?.log_prob_rows(&x, m)?)?;
            h = masked_update(self.cell.step(s, &x, &h)?, &h, &step)?;
            steps.push(step);
        }
        let kl = s.constant(Array2::zeros((b, 1)));
        Ok((Elbo { recon, kl, lengths: lengths(&steps) }, h))
    }
}

impl SequenceModel for RnnModel {
    type State = Array2<f64>;

    fn x_dim(&self) -> usize {
        self.config.x_dim
    }

    fn elbo<S: Session, R: Rng + ?Sized>(
        &self,
        s: &S,
        xs: &[Array2<f64>],
        masks: &[Array2<f64>],
        _rng: &mut R,
    ) -> Result<Elbo<S::T>> {
        Ok(self.filter(s, xs, masks)?.0)
    }

    /// The exact log-likelihood (no sampling: `particles` is ignored).
    fn log_likelihood<R: Rng + ?Sized>(
        &self,
        store: &ParamStore,
        xs: &[Array2<f64>],
        masks: &[Array2<f64>],
        _particles: usize,
        _rng: &mut R,
    ) -> Result<Array2<f64>> {
        self.filter(&NoGrad::new(store), xs, masks)?.0.elbo()
    }

    fn initial_state(&self, batch: usize) -> Self::State {
        Array2::zeros((batch, self.config.hidden))
    }

    fn filter_state<R: Rng + ?Sized>(
        &self,
        store: &ParamStore,
        prefix: &[Array2<f64>],
        masks: &[Array2<f64>],
        _rng: &mut R,
    ) -> Result<Self::State> {
        Ok(self.filter(&NoGrad::new(store), prefix, masks)?.1)
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
