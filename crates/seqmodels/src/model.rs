//! The interface shared by the sequence models: a bound to train on, a likelihood
//! estimate to evaluate with, and sampling.

use crate::Result;
use crate::batch::SeqBatch;
use crate::bound::{Elbo, LatentScan, LatentTerm, ParticleBudget};
use crate::stream::RowState;
use autodiff::{ParamStore, Session};
use ndarray::Array2;
use rand::Rng;

/// A generative model of sequences `x_{1:T}` with `D`-dimensional steps.
///
/// Every method reads a [`SeqBatch`] (time-major, see [`crate::batch`]); generated
/// sequences come back time-major too, `T` matrices of `B x D`.
pub trait SequenceModel {
    /// What sampling carries from one step to the next (the recurrent states).
    type State;

    /// Observation width `D`.
    fn x_dim(&self) -> usize;

    /// The evidence lower bound per sequence on the session's tape (one reparameterised
    /// sample of the latent path, drawn from `rng`): train on
    /// [`Elbo::loss_per_step`] or [`Elbo::loss_per_sequence`].
    fn elbo<S: Session, R: Rng + ?Sized>(&self, s: &S, batch: &SeqBatch, rng: &mut R) -> Result<Elbo<S::T>>;

    /// An estimate of `ln p(x_{1:T})` per sequence (`B x 1`): importance sampling
    /// with `particles` samples of the latent path from the inference network,
    /// `ln (1/K) sum_k p(x, z^k) / q(z^k | x)`. Its expectation is a lower bound
    /// that rises with `K` towards `ln p(x)` and is never below the ELBO (Burda et
    /// al. 2016, Theorem 1). Exact for models without latent variables. Runs within
    /// the default [`ParticleBudget`].
    fn log_likelihood<R: Rng + ?Sized>(
        &self,
        store: &ParamStore,
        batch: &SeqBatch,
        particles: usize,
        rng: &mut R,
    ) -> Result<Array2<f64>> {
        self.log_likelihood_within(store, batch, particles, ParticleBudget::default(), rng)
    }

    /// [`log_likelihood`](SequenceModel::log_likelihood) with the particles (and, if
    /// need be, the sequences) evaluated in groups of at most `budget` row-steps,
    /// which bounds its memory whatever `particles`: the same estimator, its noise
    /// drawn group by group.
    fn log_likelihood_within<R: Rng + ?Sized>(
        &self,
        store: &ParamStore,
        batch: &SeqBatch,
        particles: usize,
        budget: ParticleBudget,
        rng: &mut R,
    ) -> Result<Array2<f64>>;

    /// The state before the first step of `batch` sequences (zeros).
    fn initial_state(&self, batch: usize) -> Self::State;

    /// The state after each prefix sequence's last present step (prefixes may
    /// differ in length), with the latent path drawn from the inference network.
    fn filter_state<R: Rng + ?Sized>(
        &self,
        store: &ParamStore,
        prefix: &SeqBatch,
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
        prefix: &SeqBatch,
        steps: usize,
        rng: &mut R,
    ) -> Result<Vec<Array2<f64>>> {
        let state = self.filter_state(store, prefix, rng)?;
        self.sample_from(store, state, steps, rng)
    }
}

/// A sequence model whose pass can continue from the state an earlier pass ended in:
/// long streams trained in chunks, each chunk starting where the previous one ended,
/// with gradients stopping at the chunk's start (truncated backpropagation through
/// time; see [`crate::stream`]). The RNN, VRNN and SRNN are.
pub trait Stateful: SequenceModel<State: RowState> {
    /// The bound of `batch` with each row starting from its row of `start` (not from
    /// zeros), and the state after each row's last present step, as values off the
    /// tape. With [`SequenceModel::initial_state`] as `start` it is
    /// [`SequenceModel::elbo`]. A pass over a chunk continued from the state of the
    /// chunk before equals one pass over both, with two exceptions: the SRNN's
    /// smoothing posterior, whose backward summary `a_t` sees only the chunk's future;
    /// and the SRNN when a row's last step before the boundary is absent (its next
    /// input is then the last present one, where one pass would feed the absent
    /// step's zeros).
    fn elbo_from<S: Session, R: Rng + ?Sized>(
        &self,
        s: &S,
        start: &Self::State,
        batch: &SeqBatch,
        rng: &mut R,
    ) -> Result<(Elbo<S::T>, Self::State)>;
}

impl<M> Stateful for M
where
    M: LatentScan + SequenceModel<State = <M as LatentScan>::Carry<Array2<f64>>>,
    M::State: RowState,
{
    fn elbo_from<S: Session, R: Rng + ?Sized>(
        &self,
        s: &S,
        start: &Self::State,
        batch: &SeqBatch,
        rng: &mut R,
    ) -> Result<(Elbo<S::T>, Self::State)> {
        let pass = self.scan(s, batch, Some(start), LatentTerm::Kl, rng)?;
        let end = M::detach(&pass.carry);
        Ok((pass.into_elbo(batch), end))
    }
}
