//! The recurrent workloads of `../shared/bench/`, for ratios against PyTorch float64
//! measured in the same session:
//!
//! * `vrnn/train_step`: `bench_vrnn.py`, the VRNN of the reference code (x 28, h 100,
//!   z 16, bias-free PyTorch-convention GRU), batch 128, 28 steps of uniform `[0, 1)`
//!   "pixels" (seed 0), loss = summed KL + Bernoulli NLL; one step = forward,
//!   backward, gradient clipping to norm 10, Adam (lr 1e-3). PyTorch's reference
//!   also computes an unused decoder standard-deviation head, which this model does
//!   not have (one `100 x 28` layer of about 60).
//! * `gru/fwd_bwd` and `gru/fwd`: `bench_gru.py`, a GRU with biases (PyTorch's
//!   convention), input 88, hidden 128, batch 64, 100 steps of standard normal
//!   inputs, loss = sum of all outputs; forward and backward, and forward only
//!   (plain arrays, no tape).
//!
//! Both are also run data-parallel over the machine's two cores (`*_2_shards`):
//! `trainers::evaluate` cuts the batch into two halves whose tapes run on rayon, as
//! `Trainer::shards(2)` does (the loss is scaled so that the combined loss and
//! gradient equal the full batch's). PyTorch's reference uses two threads inside
//! each matrix product instead.
//!
//! Run: `cargo bench -p latent-seq-seqmodels --bench recurrent`; PyTorch:
//! `python ../shared/bench/bench_vrnn.py float64` and `bench_gru.py float64`.

use autodiff::{Loss, NoGrad, ParamStore, Session, Tensor};
use criterion::{Criterion, criterion_group, criterion_main};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use seqmodels::cells::run_cell;
use seqmodels::{GruCell, GruConvention, SeqBatch, SequenceModel, Vrnn, VrnnConfig};
use std::hint::black_box;
use trainers::{Adam, Optim, Optimizer, StepCtx, clip_grad_norm, evaluate, loss_fn};

fn vrnn(c: &mut Criterion) {
    let (b, t, x, h, z) = (128, 28, 28, 100, 16);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut store = ParamStore::new();
    let model = Vrnn::new(&mut store, "vrnn", VrnnConfig::new(x, h, z), &mut rng).expect("valid sizes");
    let xs: Vec<Array2<f64>> =
        (0..t).map(|_| Array2::from_shape_simple_fn((b, x), || rng.random())).collect();
    let batch = SeqBatch::fully_observed(xs).expect("equal steps");
    // The reference sums over the sequences; this is the mean, which is the same
    // work (and Adam's steps do not depend on the loss's scale).
    let loss = loss_fn::<SeqBatch, _>(|s, batch, ctx| {
        let bound = model.elbo(s, batch, &mut ctx.rng)?;
        Ok(bound.loss_per_sequence(1.0)?)
    });
    let mut adam = Optim::new(Adam { lr: 1e-3, ..Adam::default() }).expect("valid settings");
    let mut group = c.benchmark_group("vrnn_train_step_b128_t28_x28_h100_z16");
    for shards in [1, 2] {
        group.bench_function(format!("{shards}_shards"), |bench| {
            let mut step = 0;
            bench.iter(|| {
                let ctx = StepCtx::new(step, 0, 1.0, step);
                step += 1;
                let mut grads = evaluate(&store, &batch, shards, &loss, &ctx).expect("a loss").grads;
                clip_grad_norm(&mut grads, 10.0).expect("a positive bound");
                adam.step(&mut store, &grads).expect("matching shapes");
                black_box(&store);
            })
        });
    }
    group.finish();
}

fn gru(c: &mut Criterion) {
    let (t, b, i, h) = (100, 64, 88, 128);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut store = ParamStore::new();
    let cell =
        GruCell::new(&mut store, "gru", i, h, GruConvention::PyTorch, true, &mut rng).expect("valid sizes");
    let xs: Vec<Array2<f64>> =
        (0..t).map(|_| Array2::from_shape_simple_fn((b, i), || rng.sample(StandardNormal))).collect();
    let batch = SeqBatch::fully_observed(xs).expect("equal steps");
    // The sum of all outputs, as bench_gru.py: each shard's weight is its share
    // n_k / B of the batch, so the weights add up to 1 and shards combine to the sum.
    let loss = loss_fn::<SeqBatch, _>(|s, batch, _| {
        let rows = batch.batch_size();
        let inputs: Vec<_> = batch.steps().iter().map(|x| s.constant(x.clone())).collect();
        let h0 = s.constant(Array2::zeros((rows, h)));
        let hs = run_cell(s, &cell, &inputs, batch.step_masks(), h0, false)?;
        let total = hs.iter().map(Tensor::sum).reduce(|a, v| a.add(&v).expect("1x1")).expect("100 steps");
        Ok(Loss::new(total, rows as f64 / b as f64)?)
    });
    let ctx = StepCtx::new(0, 0, 1.0, 0);
    let mut group = c.benchmark_group("gru_t100_b64_i88_h128");
    for shards in [1, 2] {
        group.bench_function(format!("fwd_bwd_{shards}_shards"), |bench| {
            bench.iter(|| black_box(evaluate(&store, &batch, shards, &loss, &ctx).expect("a loss")))
        });
    }
    group.bench_function("fwd_no_grad", |bench| {
        bench.iter(|| {
            let s = NoGrad::new(&store);
            black_box(
                run_cell(&s, &cell, batch.steps(), batch.step_masks(), Array2::zeros((b, h)), false)
                    .expect("a run"),
            );
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = vrnn, gru
}
criterion_main!(benches);
