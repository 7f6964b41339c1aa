//! The loss of a batch and its gradient, on one tape or on several in parallel.
//!
//! A [`Tape`] is single-threaded, so data parallelism gives each shard its own: the
//! batch of $n$ rows is cut into $K$ consecutive shards of $n_k$ rows
//! ([`Shard::split`]), each shard's loss $L_k$ is recorded and differentiated on a
//! tape created inside its own rayon task (the [`ParamStore`] is only read, and is
//! `Sync`), and the results are combined in shard order with weights $n_k/n$:
//!
//! $$ L = \sum_k \frac{n_k}{n} L_k, \qquad \nabla L = \sum_k \frac{n_k}{n} \nabla L_k. $$
//!
//! When the loss is a **mean over the rows of the batch** (the convention of this
//! crate), $L$ is exactly the full-batch loss and $\nabla L$ its gradient; only the
//! order of floating-point additions differs, so the two agree to about $10^{-15}$
//! relative (tests use $10^{-12}$). A loss that is not a per-row mean (a sum, or a
//! mean over masked entries whose count differs between shards) is weighted wrongly:
//! use one shard for it. With one shard the tape is the plain single-tape gradient,
//! bit for bit.

use crate::{BoxError, Error, Grads, Result, Shard};
use autodiff::{ParamStore, Tape, TapeSession, Tensor, Var};
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
    /// values are averaged with the same weights as the loss.
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
    F: for<'t, 's> Fn(&TapeSession<'t, 's>, &B, &mut StepCtx) -> Result<Var<'t>, BoxError> + Sync,
{
    f
}

/// The loss, gradient and recorded metrics of one batch.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The batch loss $L$.
    pub loss: f64,
    /// Its gradient with respect to every parameter the loss used.
    pub grads: Grads,
    /// The metrics recorded through [`StepCtx::record`], averaged over shards.
    pub records: Vec<(String, f64)>,
}

/// The loss of `batch` and its gradient, over `shards` shards in parallel (see the
/// module docs); `shards <= 1` evaluates the whole batch on one tape in this thread.
/// A non-finite loss is an [`Error::NonFinite`] naming the step and the shard.
pub fn evaluate<B, L>(
    store: &ParamStore,
    batch: &B,
    shards: usize,
    loss: &L,
    ctx: &StepCtx,
) -> Result<Evaluation>
where
    B: Shard + Sync,
    L: for<'t, 's> Fn(&TapeSession<'t, 's>, &B, &mut StepCtx) -> Result<Var<'t>, BoxError> + Sync,
{
    let n = batch.rows();
    if shards <= 1 {
        return evaluate_one(store, batch, loss, ctx.for_shard(0), 0).map(|(l, g, r)| Evaluation {
            loss: l,
            grads: g,
            records: r,
        });
    }
    let parts = batch.split(shards);
    let results: Vec<_> = parts
        .par_iter()
        .enumerate()
        .map(|(k, part)| evaluate_one(store, part, loss, ctx.for_shard(k), k))
        .collect::<Result<_>>()?;
    let mut total = Evaluation { loss: 0.0, grads: Grads::default(), records: Vec::new() };
    for (part, (l, g, records)) in parts.iter().zip(results) {
        let w = part.rows() as f64 / n as f64;
        total.loss += w * l;
        total.grads.add_scaled(&g, w)?;
        for (name, v) in records {
            match total.records.iter_mut().find(|(m, _)| *m == name) {
                Some((_, acc)) => *acc += w * v,
                None => total.records.push((name, w * v)),
            }
        }
    }
    Ok(total)
}

type ShardResult = (f64, Grads, Vec<(String, f64)>);

fn evaluate_one<B, L>(
    store: &ParamStore,
    batch: &B,
    loss: &L,
    mut ctx: StepCtx,
    k: usize,
) -> Result<ShardResult>
where
    L: for<'t, 's> Fn(&TapeSession<'t, 's>, &B, &mut StepCtx) -> Result<Var<'t>, BoxError>,
{
    let step = ctx.step;
    let tape = Tape::new();
    let s = tape.session(store);
    let l = loss(&s, batch, &mut ctx).map_err(|source| Error::Loss { step, source })?;
    let value = l.item().map_err(Error::autodiff(format!("step {step}: the loss")))?;
    if !value.is_finite() {
        return Err(Error::NonFinite { step, what: format!("loss = {value} (shard {k})") });
    }
    let grads = tape.backward(l).map_err(Error::autodiff(format!("step {step}: backward")))?;
    Ok((value, grads.into(), ctx.records))
}
