//! The loss of a batch and its gradient, on one tape or on several in parallel.
//!
//! A [`Tape`] is single-threaded, so data parallelism gives each shard its own: the
//! batch is cut into $K$ consecutive shards ([`Shard::split`]), each shard's loss is
//! recorded and differentiated on a tape created inside its own rayon task (the
//! [`ParamStore`] is only read, and is `Sync`), and the results are combined in shard
//! order.
//!
//! A loss function returns a [`Loss`]: the sum $S_k$ of its terms and the weight $W_k$
//! that normalises it (rows for a per-row mean, present steps for a per-step loss,
//! observed values for a masked mean). Each shard differentiates its sum, and the
//! normalisation happens once, after combining:
//!
//! $$ L = \frac{\sum_k S_k}{\sum_k W_k}, \qquad \nabla L = \frac{\sum_k \nabla S_k}{\sum_k W_k}. $$
//!
//! So any reduction of per-unit terms shards exactly: $L$ is the full-batch loss and
//! $\nabla L$ its gradient, up to the order of floating-point additions (about
//! $10^{-15}$ relative; tests require $10^{-12}$ for per-row, per-step and
//! per-observed-value losses on ragged sequences). Metrics recorded through
//! [`StepCtx::record`] are combined with the shards' weights $W_k / \sum_k W_k$.

use crate::{BoxError, Error, Result};
use autodiff::ParamGrads;
use autodiff::data::Shard;
use autodiff::{Loss, ParamStore, Tape, TapeSession, Tensor, Var};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// What the loss function sees besides the batch: counters, the KL weight, a random
/// generator, and a place to record extra metrics.
#[derive(Debug, Clone)]
pub struct StepCtx {
    /// Optimizer steps taken before this one.
    pub step: u64,
    /// Completed epochs.
    pub epoch: u64,
    /// The KL weight $\beta_t$ of the [`KlAnneal`](crate::KlAnneal) schedule (1 without one).
    pub kl_weight: f64,
    /// This shard's generator for noise (reparameterisation, dropout): seeded from the
    /// step's seed and the shard index (its ChaCha stream), so results are
    /// reproducible for a given number of shards.
    pub rng: ChaCha8Rng,
    records: Vec<(String, f64)>,
}

impl StepCtx {
    /// A context for step `step` of epoch `epoch` whose shard generators derive from `seed`.
    pub fn new(step: u64, epoch: u64, kl_weight: f64, seed: u64) -> Self {
        StepCtx { step, epoch, kl_weight, rng: ChaCha8Rng::seed_from_u64(seed), records: Vec::new() }
    }

    /// Records a named scalar (a loss term, an accuracy) for the metrics log; shards'
    /// values are averaged with the shards' loss weights (see the module docs).
    pub fn record(&mut self, name: impl Into<String>, value: f64) {
        self.records.push((name.into(), value));
    }

    fn for_shard(&self, k: usize) -> Self {
        let mut c = self.clone();
        c.rng.set_stream(k as u64);
        c
    }
}

/// Returns `f` unchanged, its signature pinned to the shape of a loss function.
///
/// A closure passed straight to [`Trainer::fit`](crate::Trainer::fit) or [`evaluate`]
/// gets that shape from their bounds. A closure stored in a variable first does not
/// (Rust does not infer that it works for every tape lifetime); wrap it in `loss_fn`:
/// `let loss = loss_fn::<RowBatch, _>(|s, batch, ctx| ...);`.
pub fn loss_fn<B, F>(f: F) -> F
where
    F: for<'t, 's> Fn(&TapeSession<'t, 's>, &B, &mut StepCtx) -> Result<Loss<Var<'t>>, BoxError> + Sync,
{
    f
}

/// The loss, gradient and recorded metrics of one batch.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The batch loss $L = S / W$.
    pub loss: f64,
    /// The total weight $W$ the loss was divided by.
    pub weight: f64,
    /// Its gradient with respect to every parameter the loss used.
    pub grads: ParamGrads,
    /// The metrics recorded through [`StepCtx::record`], averaged over shards.
    pub records: Vec<(String, f64)>,
}

/// The loss of `batch` and its gradient, over `shards` shards in parallel (see the
/// module docs); `shards <= 1` evaluates the whole batch on one tape in this thread.
/// A non-finite loss is an [`Error::NonFinite`] naming the step and the shard; a
/// total weight of 0 (nothing observed in any shard) is [`Error::NothingObserved`].
pub fn evaluate<B, L>(
    store: &ParamStore,
    batch: &B,
    shards: usize,
    loss: &L,
    ctx: &StepCtx,
) -> Result<Evaluation>
where
    B: Shard + Sync,
    L: for<'t, 's> Fn(&TapeSession<'t, 's>, &B, &mut StepCtx) -> Result<Loss<Var<'t>>, BoxError> + Sync,
{
    let parts = match shards <= 1 {
        true => None,
        false => Some(batch.split(shards)),
    };
    let results: Vec<ShardResult> = match &parts {
        None => vec![evaluate_one(store, batch, loss, ctx.for_shard(0), 0)?],
        Some(parts) => parts
            .par_iter()
            .enumerate()
            .map(|(k, part)| evaluate_one(store, part, loss, ctx.for_shard(k), k))
            .collect::<Result<_>>()?,
    };
    // Each shard's weight was checked finite and non-negative, so only 0 is left.
    let weight: f64 = results.iter().map(|r| r.weight).sum();
    if weight <= 0.0 {
        return Err(Error::NothingObserved { step: ctx.step });
    }
    let mut total = Evaluation { loss: 0.0, weight, grads: ParamGrads::default(), records: Vec::new() };
    for (k, r) in results.into_iter().enumerate() {
        total.loss += r.sum;
        // The first shard's gradients are taken as they are, the others added to them;
        // the division by the total weight is one in-place pass at the end.
        match k {
            0 => total.grads = r.grads,
            _ => total.grads.add_scaled(&r.grads, 1.0).map_err(Error::autodiff("evaluate"))?,
        }
        for (name, v) in r.records {
            let w = r.weight / weight;
            match total.records.iter_mut().find(|(m, _)| *m == name) {
                Some((_, acc)) => *acc += w * v,
                None => total.records.push((name, w * v)),
            }
        }
    }
    total.loss /= weight;
    total.grads.scale(1.0 / weight);
    Ok(total)
}

/// One shard's loss sum, weight, gradient of the sum, and recorded metrics.
struct ShardResult {
    sum: f64,
    weight: f64,
    grads: ParamGrads,
    records: Vec<(String, f64)>,
}

fn evaluate_one<B, L>(
    store: &ParamStore,
    batch: &B,
    loss: &L,
    mut ctx: StepCtx,
    k: usize,
) -> Result<ShardResult>
where
    L: for<'t, 's> Fn(&TapeSession<'t, 's>, &B, &mut StepCtx) -> Result<Loss<Var<'t>>, BoxError>,
{
    let step = ctx.step;
    let tape = Tape::new();
    let s = tape.session(store);
    let l = loss(&s, batch, &mut ctx).map_err(|source| Error::Loss { step, source })?;
    let sum = l.sum.item().map_err(Error::autodiff(format!("step {step}: the loss")))?;
    if !(sum.is_finite() && l.weight.is_finite() && l.weight >= 0.0) {
        return Err(Error::NonFinite {
            step,
            what: format!("loss sum {sum}, weight {} (shard {k})", l.weight),
        });
    }
    let grads = tape.backward(l.sum).map_err(Error::autodiff(format!("step {step}: backward")))?;
    Ok(ShardResult { sum, weight: l.weight, grads: grads.into_params(), records: ctx.records })
}
