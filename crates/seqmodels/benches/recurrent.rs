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
//! Run: `cargo bench -p latent-seq-seqmodels --bench recurrent`.

use autodiff::{NoGrad, ParamStore, Session, Tape, Tensor};
use criterion::{Criterion, criterion_group, criterion_main};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use seqmodels::cells::run_cell;
use seqmodels::seq::full_masks;
use seqmodels::{GruCell, GruConvention, SequenceModel, Vrnn, VrnnConfig};
use std::hint::black_box;
use trainers::{Adam, Optim, Optimizer, clip_grad_norm};

fn vrnn(c: &mut Criterion) {
    let (b, t, x, h, z) = (128, 28, 28, 100, 16);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut store = ParamStore::new();
    let model = Vrnn::new(&mut store, "vrnn", VrnnConfig::new(x, h, z), &mut rng).expect("valid sizes");
    let xs: Vec<Array2<f64>> =
        (0..t).map(|_| Array2::from_shape_simple_fn((b, x), || rng.random())).collect();
    let masks = full_masks(b, t);
    let mut adam = Optim::new(Adam { lr: 1e-3, ..Adam::default() }).expect("valid settings");
    c.bench_function("vrnn/train_step_b128_t28_x28_h100_z16", |bench| {
        bench.iter(|| {
            let tape = Tape::new();
            let bound = model.elbo(&tape.session(&store), &xs, &masks, &mut rng).expect("a bound");
            // Summed over the batch, as the reference (the per-step loss times the step count).
            let loss = bound.elbo().expect("shapes agree").sum().neg();
            let mut grads = tape.backward(loss).expect("a scalar loss").into();
            clip_grad_norm(&mut grads, 10.0).expect("a positive bound");
            adam.step(&mut store, &grads).expect("matching shapes");
            black_box(&store);
        })
    });
}

fn gru(c: &mut Criterion) {
    let (t, b, i, h) = (100, 64, 88, 128);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut store = ParamStore::new();
    let cell =
        GruCell::new(&mut store, "gru", i, h, GruConvention::PyTorch, true, &mut rng).expect("valid sizes");
    let xs: Vec<Array2<f64>> =
        (0..t).map(|_| Array2::from_shape_simple_fn((b, i), || rng.sample(StandardNormal))).collect();
    let masks = full_masks(b, t);
    let mut group = c.benchmark_group("gru_t100_b64_i88_h128");
    group.bench_function("fwd_bwd", |bench| {
        bench.iter(|| {
            let tape = Tape::new();
            let s = tape.session(&store);
            let inputs: Vec<_> = xs.iter().map(|x| s.constant(x.clone())).collect();
            let hs = run_cell(&s, &cell, &inputs, &masks, s.constant(Array2::zeros((b, h))), false)
                .expect("a run");
            let total = hs.iter().map(Tensor::sum).reduce(|a, v| a.add(&v).expect("1x1")).expect("100 steps");
            black_box(tape.backward(total).expect("a scalar loss"));
        })
    });
    group.bench_function("fwd_no_grad", |bench| {
        bench.iter(|| {
            let s = NoGrad::new(&store);
            black_box(run_cell(&s, &cell, &xs, &masks, Array2::zeros((b, h)), false).expect("a run"));
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
