//! The interface shared by the sequence models: a bound to train on, a likelihood
//! estimate to evaluate with, and sampling.

use crate::Result;
use crate::bound::Elbo;
use autodiff::{ParamStore, Session};
use ndarray::Array2;
use rand::Rng;

/// A generative model of sequences `x_{1:T}` with `D`-dimensional steps.
///
/// Batches are time-major (see [`crate::seq`]): `xs[t]` is `B x D`, `masks[t]` is
/// `B x 1` or `B x D`. Generated sequences come back in the same layout.
pub trait SequenceModel {
    /// What sampling carries from one step to the next (the recurrent states).
    type State;

    /// Observation width `D`.
    fn x_dim(&self) -> usize;

    /// The evidence lower bound per sequence on the session's tape (one reparameterised
    /// sample of the latent path, drawn from `rng`): train on
    /// [`Elbo::loss_per_step`] or [`Elbo::loss_per_sequence`].
    fn elbo<S: Session, R: Rng + ?Sized>(
        &self,
        s: &S,
        xs: &[Array2<f64>],
        masks: &[Array2<f64>],
        rng: &mut R,
    ) -> Result<Elbo<S::T>>;

    /// An estimate of `ln p(x_{1:T})` per sequence (`B x 1`): importance sampling
    /// with `particles` samples of the latent path from the inference network,
    /// `ln (1/K) sum_k p(x, z^k) / q(z^k | x)`. Its expectation is a lower bound
    /// that rises with `K` towards `ln p(x)` and is never below the ELBO (Burda et
    /// al. 2016, Theorem 1). Exact for models without latent variables.
    fn log_likelihood<R: Rng + ?Sized>(
        &self,
        store: &ParamStore,
        xs: &[Array2<f64>],
        masks: &[Array2<f64>],
        particles: usize,
        rng: &mut R,
    ) -> Result<Array2<f64>>;

    /// The state before the first step of `batch` sequences (zeros).
    fn initial_state(&self, batch: usize) -> Self::State;

    /// The state after each prefix sequence's last present step (prefixes may
    /// differ in length), with the latent path drawn from the inference network.
    fn filter_state<R: Rng + ?Sized>(
        &self,
        store: &ParamStore,
        prefix: &[Array2<f64>],
        masks: &[Array2<f64>],
        rng: &mut R,
    ) -> Result<Self::State>;

    /// `steps` steps of every row sampled from the generative model, starting from `state`.
    fn sample_from<R: Rng + ?Sized>(
        &self,
        store: &ParamStore,
        state: Self::State,
        steps: usize,
        rng: &mut R,
    ) -> Result<Vec<Array2<f64>>>;

    /// `batch` sequences of `steps` steps sampled from the generative model.
    fn generate<R: Rng + ?Sized>(
        &self,
        store: &ParamStore,
        batch: usize,
        steps: usize,
        rng: &mut R,
    ) -> Result<Vec<Array2<f64>>> {
        self.sample_from(store, self.initial_state(batch), steps, rng)
    }

    /// `steps` further steps of each prefix sequence, sampled given the prefix.
    fn forecast<R: Rng + ?Sized>(
        &self,
        store: &ParamStore,
        prefix: &[Array2<f64>],
        masks: &[Array2<f64>],
        steps: usize,
        rng: &mut R,
    ) -> Result<Vec<Array2<f64>>> {
        let state = self.filter_state(store, prefix, masks, rng)?;
        self.sample_from(store, state, steps, rng)
    }
}
