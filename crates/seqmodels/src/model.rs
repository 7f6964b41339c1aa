//! The interface shared by the sequence models: a bound to train on, a likelihood
//! estimate to evaluate with, and sampling.

use crate::Result;
use crate::seq::SeqElbo;
use autodiff::{ParamStore, Session};
use ndarray::Array2;
use rand::Rng;

/// A generative model of sequences `x_{1:T}` with `D`-dimensional steps.
///
/// Batches are time-major (see [`crate::seq`]): `xs[t]` is `B x D`, `masks[t]` is
/// `B x 1` or `B x D`. Generated sequences come back in the same layout.
pub trait SequenceModel {
    /// Observation width `D`.
    fn x_dim(&self) -> usize;

    /// The evidence lower bound per sequence on the session's tape (one reparameterised
    /// sample of the latent path, drawn from `rng`): train on
    /// [`SeqElbo::loss_per_step`] or [`SeqElbo::loss_per_sequence`].
    fn elbo<S: Session, R: Rng + ?Sized>(
        &self,
        s: &S,
        xs: &[Array2<f64>],
        masks: &[Array2<f64>],
        rng: &mut R,
    ) -> Result<SeqElbo<S::T>>;

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

    /// `batch` sequences of `steps` steps sampled from the generative model.
    fn generate<R: Rng + ?Sized>(
        &self,
        store: &ParamStore,
        batch: usize,
        steps: usize,
        rng: &mut R,
    ) -> Result<Vec<Array2<f64>>>;

    /// `steps` further steps of each prefix sequence, sampled given the prefix (its
    /// state after each sequence's last present step; prefixes may differ in length).
    fn forecast<R: Rng + ?Sized>(
        &self,
        store: &ParamStore,
        prefix: &[Array2<f64>],
        masks: &[Array2<f64>],
        steps: usize,
        rng: &mut R,
    ) -> Result<Vec<Array2<f64>>>;
}
