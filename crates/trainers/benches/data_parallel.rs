//! Data-parallel speed-up on 2 cores for the MLP of `../shared/bench/bench_mlp.py`
//! (2-64-64-2, tanh, loss = mean of squared outputs) at batch 4,096: the same
//! forward and backward work as one shard (one tape, this thread) and as two shards
//! (two tapes on a 2-thread rayon pool, gradients combined with weights 1/2).
//!
//! Run: `cargo bench -p latent-seq-trainers --bench data_parallel`. The speed-up is
//! the ratio of the two medians.

use autodiff::data::{Dataset, RowBatch, Rows};
use autodiff::ndarray::Array2;
use autodiff::{Activation, Loss, Mlp, ParamStore, Session, Tensor};
use criterion::{Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::hint::black_box;
use trainers::{StepCtx, evaluate, loss_fn};

fn data_parallel(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut store = ParamStore::new();
    let net = Mlp::new(&mut store, "mlp", &[2, 64, 64, 2], Activation::Tanh, &mut rng).expect("valid widths");
    let x = Array2::from_shape_simple_fn((4096, 2), || StandardNormal.sample(&mut rng));
    let data = Rows::new(vec![x]).expect("finite data");
    let batch = data.batch(&(0..4096).collect::<Vec<_>>());
    let loss = loss_fn::<RowBatch, _>(|s, b, _| {
        Ok(Loss::mean(&net.forward(s, &s.constant(b.arrays[0].clone()))?.square()))
    });
    let ctx = StepCtx::new(0, 0, 1.0, 0);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("a 2-thread pool");
    let mut group = c.benchmark_group("data_parallel/mlp_2-64-64-2_tanh_b4096_fwd_bwd");
    for shards in [1, 2] {
        group.bench_function(format!("{shards}_shards"), |b| {
            pool.install(|| {
                b.iter(|| black_box(evaluate(&store, &batch, shards, &loss, &ctx).expect("a loss")))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, data_parallel);
criterion_main!(benches);
