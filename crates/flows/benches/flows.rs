//! The two training steps of `shared/bench/bench_flows.py`, for a same-session
//! ratio against PyTorch float64:
//!
//! * RealNVP, 8 affine couplings with alternating masks, separate s- and t-nets
//!   2-64-64-2 (ReLU; tanh on the log-scale), maximum likelihood on a fixed batch
//!   of 512 two-moons points (noise 0.05), Adam lr 1e-3: one step = forward, backward,
//!   update. Measured on one tape, and data-parallel over 2 shards (PyTorch runs on
//!   2 threads).
//! * Planar K = 32 in 2-D, reverse KL to U1, a fresh batch of 256 base samples per
//!   step, Adam lr 1e-3.
//!
//! Run: `cargo bench -p latent-seq-flows --bench flows`.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use autodiff::data::Rows;
use autodiff::{Loss, ParamStore, Tape, TapeSession, Tensor, Var};
use criterion::{Criterion, criterion_group, criterion_main};
use flows::{Chain, Energy, FlowDistribution, models};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use std::f64::consts::PI;
use std::hint::black_box;
use trainers::{Adam, Optim, Optimizer, StepCtx, evaluate};

/// The bench script's two moons: half circles, Gaussian noise 0.05.
fn two_moons(n: usize, rng: &mut ChaCha8Rng) -> Array2<f64> {
    let mut x = Array2::zeros((n, 2));
    for i in 0..n {
        let a = rng.random_range(0.0..PI);
        let (u, v) = if i < n / 2 { (a.cos(), a.sin()) } else { (1.0 - a.cos(), 0.5 - a.sin()) };
        x[(i, 0)] = u + 0.05 * rng.sample::<f64, _>(StandardNormal);
        x[(i, 1)] = v + 0.05 * rng.sample::<f64, _>(StandardNormal);
    }
    x
}

/// `-ln p(x)` per row.
fn nll_terms<'t>(
    dist: &FlowDistribution<Chain>,
    s: &TapeSession<'t, '_>,
    x: &Array2<f64>,
) -> flows::Result<Var<'t>> {
    Ok(dist.log_prob(s, &s.tape().constant(x.clone()))?.neg())
}

fn realnvp(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut store = ParamStore::new();
    let dist =
        FlowDistribution::standard(models::real_nvp(&mut store, "nvp", 2, 8, &[64, 64], &mut rng).unwrap());
    let data = two_moons(512, &mut rng);
    let mut adam = Optim::new(Adam { lr: 1e-3, ..Adam::default() }).unwrap();
    c.bench_function("realnvp_8x64_b512_mle_step", |b| {
        b.iter(|| {
            let tape = Tape::new();
            let s = tape.session(&store);
            let loss = nll_terms(&dist, &s, &data).unwrap().mean().unwrap();
            let grads = loss.backward().unwrap();
            adam.step(&mut store, &grads.into_params()).unwrap();
            black_box(loss.item().unwrap())
        })
    });
    let rows = Rows::new(vec![data.clone()]).unwrap();
    let batch = autodiff::data::Dataset::batch(&rows, &(0..512).collect::<Vec<_>>());
    c.bench_function("realnvp_8x64_b512_mle_step_2_shards", |b| {
        b.iter(|| {
            let ctx = StepCtx::new(0, 0, 1.0, 0);
            let eval = evaluate(
                &store,
                &batch,
                2,
                &|s: &TapeSession<'_, '_>, b: &autodiff::data::RowBatch, _: &mut StepCtx| {
                    Ok(Loss::mean(&nll_terms(&dist, s, &b.arrays[0])?))
                },
                &ctx,
            )
            .unwrap();
            adam.step(&mut store, &eval.grads).unwrap();
            black_box(eval.loss)
        })
    });
}

fn planar(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut store = ParamStore::new();
    let dist = FlowDistribution::standard(models::planar(&mut store, "planar", 2, 32, &mut rng).unwrap());
    let mut adam = Optim::new(Adam { lr: 1e-3, ..Adam::default() }).unwrap();
    c.bench_function("planar_k32_b256_reverse_kl_step", |b| {
        b.iter(|| {
            let tape = Tape::new();
            let s = tape.session(&store);
            let (x, lq) = dist.rsample_and_log_prob(&s, 256, &mut rng).unwrap();
            let loss = lq.add(&Energy::U1.eval(&x).unwrap()).unwrap().mean().unwrap();
            let grads = loss.backward().unwrap();
            adam.step(&mut store, &grads.into_params()).unwrap();
            black_box(loss.item().unwrap())
        })
    });
}

criterion_group!(benches, realnvp, planar);
criterion_main!(benches);
