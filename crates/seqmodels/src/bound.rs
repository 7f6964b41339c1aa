//! The bound every latent-variable model returns, its training losses, and the
//! importance-sampled estimate of `ln p(x)` built from `K` particles.

use crate::batch::SeqBatch;
use crate::{Error, Result};
use autodiff::data::Shard;
use autodiff::{Loss, NoGrad, ParamStore, Session, Tensor};
use dists::DiagNormal;
use ndarray::{Array2, Axis};
use rand::Rng;

/// A model's bound on `ln p(x)`, per sequence: the expected reconstruction term and
/// the KL term, each `B x 1` and summed over the present steps. For a deterministic
/// model the KL is zero and the reconstruction is the exact log-likelihood; for the
/// [`Vae`](crate::Vae) every example is a sequence of one step, so both losses are the
/// per-example mean.
#[derive(Debug, Clone)]
pub struct Elbo<T> {
    /// `sum_t E_q[ln p(x_t | ...)]` per sequence (`B x 1`).
    pub recon: T,
    /// `sum_t KL(q(z_t | ...) || p(z_t | ...))` per sequence (`B x 1`).
    pub kl: T,
    /// Number of present steps of each sequence.
    pub lengths: Vec<usize>,
}

impl<T: Tensor> Elbo<T> {
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

/// What a model's pass over a batch accumulates: per-sequence totals (`B x 1`) of
/// the reconstruction term and of the latent term (a KL, or the log-ratio
/// `ln q(z) - ln p(z)` at the sampled path), and the state after each sequence's
/// last present step.
#[derive(Debug, Clone)]
pub(crate) struct Pass<T, C> {
    pub recon: T,
    pub latent: T,
    pub carry: C,
}

impl<T: Tensor, C> Pass<T, C> {
    /// The bound, when `latent` holds the KL terms of `batch`.
    pub fn into_elbo(self, batch: &SeqBatch) -> Elbo<T> {
        Elbo { recon: self.recon, kl: self.latent, lengths: batch.lengths().to_vec() }
    }

    /// `K` importance weights per sequence combined, when `latent` holds log-ratios.
    pub fn log_mean_weight(&self, particles: usize) -> Result<T> {
        log_mean_exp_blocks(&self.recon.sub(&self.latent)?, particles)
    }
}

/// How the latent terms of a step enter the running totals of a latent-variable
/// sequence model's pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LatentTerm {
    /// The closed-form `KL(q(z_t | ..) || p(z_t | ..))` (the ELBO, for training).
    Kl,
    /// `ln q(z_t) - ln p(z_t)` at the sampled `z_t` (for importance weights).
    LogRatio,
}

impl LatentTerm {
    /// This step's term per row (`B x 1`), for posterior `q`, prior `p` and the
    /// sample `z` drawn from `q`.
    pub(crate) fn of<T: Tensor>(self, q: &DiagNormal<T>, p: &DiagNormal<T>, z: &T) -> Result<T> {
        Ok(match self {
            LatentTerm::Kl => q.kl_divergence(p)?.sum_axis(Axis(1)),
            LatentTerm::LogRatio => q.log_prob_rows(z)?.sub(&p.log_prob_rows(z)?)?,
        })
    }
}

/// What [`LatentScan::scan`] returns: the pass's totals and carry.
pub(crate) type ScanResult<M, T> = Result<Pass<T, <M as LatentScan>::Carry<T>>>;

/// A latent-variable sequence model's pass over a batch: the one method such a model
/// writes, from which [`elbo_of`], [`log_likelihood_of`] and [`filter_state_of`]
/// give its [`SequenceModel`](crate::SequenceModel) methods.
pub(crate) trait LatentScan {
    /// The state a pass carries past each sequence's last present step.
    type Carry<T>;

    /// Runs the model over `batch`, sampling `z_t` from the inference network with
    /// `rng` and accumulating the latent terms as `term` says. The pass starts from
    /// `start` (each row's state after an earlier chunk of its stream), or from zeros.
    fn scan<S: Session, R: Rng + ?Sized>(
        &self,
        s: &S,
        batch: &SeqBatch,
        start: Option<&Self::Carry<Array2<f64>>>,
        term: LatentTerm,
        rng: &mut R,
    ) -> ScanResult<Self, S::T>;

    /// The values of a pass's carry, cut from the tape: where the next chunk of a
    /// truncated backpropagation starts.
    fn detach<T: Tensor>(carry: &Self::Carry<T>) -> Self::Carry<Array2<f64>>;
}

/// The bound per sequence, with the closed-form KL terms.
pub(crate) fn elbo_of<M: LatentScan, S: Session, R: Rng + ?Sized>(
    model: &M,
    s: &S,
    batch: &SeqBatch,
    rng: &mut R,
) -> Result<Elbo<S::T>> {
    Ok(model.scan(s, batch, None, LatentTerm::Kl, rng)?.into_elbo(batch))
}

/// How much of an importance-sampled evaluation runs at once: at most `row_steps`
/// particle rows times steps per pass. Evaluating `K` particles of `B` sequences of
/// `T` steps in one pass holds `K B T` row-steps of intermediate values (the
/// SRNN's backward pass needs every step of every particle); within a budget the
/// particles run in groups and, when one particle of every row is already too much,
/// the rows in pieces, combined exactly by log-sum-exp. Memory is then bounded by
/// the budget times a model's cost per row-step, whatever `K`, `B` and `T`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParticleBudget {
    /// Particle rows times steps per pass (at least one row of one sequence is always
    /// run whole).
    pub row_steps: usize,
}

impl ParticleBudget {
    /// Fails for a budget of 0 row-steps, which could run nothing.
    pub fn validate(&self) -> Result<()> {
        match self.row_steps {
            0 => Err(Error::config("ParticleBudget", "row_steps must be at least 1")),
            _ => Ok(()),
        }
    }
}

impl Default for ParticleBudget {
    /// 2^16 row-steps. The reference-size SRNN (88 inputs, a 500-unit embedding,
    /// d = a = 300) keeps about 2,500 values per row-step for its backward pass (the
    /// inputs, their features twice, `d_t`, `[d_t, features]`, `a_t`), 20 KB, so this
    /// is about 1.3 GB at most.
    fn default() -> Self {
        ParticleBudget { row_steps: 1 << 16 }
    }
}

/// The importance-sampled `ln p(x)` per sequence, with the inference network as
/// proposal: `K = particles` latent paths per sequence, run as batches of `k B` rows
/// (`k` particles of every sequence) within `budget`, in order, from `rng`. With one
/// group (the budget holds all `K B` rows) it is one pass over `K B` rows; with
/// several, the groups' estimates $\hat\ell_c$ (each the log-mean of its `k_c`
/// weights) combine exactly as $\ln \sum_c (k_c / K) e^{\hat\ell_c}$.
pub(crate) fn log_likelihood_of<M: LatentScan, R: Rng + ?Sized>(
    model: &M,
    store: &ParamStore,
    batch: &SeqBatch,
    particles: usize,
    budget: ParticleBudget,
    rng: &mut R,
) -> Result<Array2<f64>> {
    if particles == 0 {
        return Err(Error::config("log_likelihood", "needs at least one particle"));
    }
    budget.validate()?;
    let (rows, steps) = (batch.batch_size(), batch.len());
    if rows > 1 && rows * steps > budget.row_steps {
        // One particle of every row is over budget: the rows in pieces, in order.
        let pieces = batch.split((rows * steps).div_ceil(budget.row_steps));
        let parts = pieces
            .iter()
            .map(|piece| log_likelihood_of(model, store, piece, particles, budget, rng))
            .collect::<Result<Vec<_>>>()?;
        let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
        return Ok(ndarray::concatenate(Axis(0), &views).expect("pieces are B x 1"));
    }
    let group = (budget.row_steps / (rows * steps)).clamp(1, particles);
    let s = NoGrad::new(store);
    let mut pass = |k: usize| -> Result<Array2<f64>> {
        model.scan(&s, &batch.repeat(k)?, None, LatentTerm::LogRatio, rng)?.log_mean_weight(k)
    };
    if group == particles {
        return pass(particles);
    }
    // One column ln(k_c) + l_c per group, then ln sum_c over the columns, minus ln K.
    let terms = (0..particles)
        .step_by(group)
        .map(|done| {
            let k = group.min(particles - done);
            Ok(pass(k)? + (k as f64).ln())
        })
        .collect::<Result<Vec<_>>>()?;
    let columns = Array2::concat_cols(&terms.iter().collect::<Vec<_>>())?;
    Ok(columns.logsumexp(Axis(1)) - (particles as f64).ln())
}

/// The state after filtering `prefix` (for generation and forecasting).
pub(crate) fn filter_state_of<M: LatentScan, R: Rng + ?Sized>(
    model: &M,
    store: &ParamStore,
    prefix: &SeqBatch,
    rng: &mut R,
) -> Result<M::Carry<Array2<f64>>> {
    Ok(model.scan(&NoGrad::new(store), prefix, None, LatentTerm::Kl, rng)?.carry)
}
