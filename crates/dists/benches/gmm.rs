//! Gaussian mixture on 1,000,000 2-D points with 10 components: the log-likelihood
//! of every point (`score_samples`) and one EM iteration, serial vs rayon.
//!
//! Set `DISTS_BENCH_DUMP=/some/dir` to also write the data and the model as raw
//! little-endian f64 files (`x.f64` n x 2, `weights.f64`, `means.f64`,
//! `vars.f64`) and this crate's log-densities (`scores.f64`), so a reference implementation can be timed on the same input.

use criterion::{Criterion, criterion_group, criterion_main};
use dists::{GaussianMixture, Parallelism};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;
use std::time::Duration;

const N: usize = 1_000_000;
const K: usize = 10;

/// A 10-component model with means on a circle, and a million points from it.
fn setup() -> (GaussianMixture<Array2<f64>>, Array2<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let means = Array2::from_shape_fn((K, 2), |(k, j)| {
        let a = k as f64 * std::f64::consts::TAU / K as f64;
        5.0 * if j == 0 { a.cos() } else { a.sin() }
    });
    let vars = Array2::from_shape_fn((K, 2), |_| rng.random_range(0.2..1.5));
    let weights: Vec<f64> = (0..K).map(|_| rng.random_range(0.5..1.5)).collect();
    let model = GaussianMixture::from_weights(&weights, means, &vars).expect("valid model");
    let x = model.sample(N, &mut rng);
    (model, x)
}

fn dump(model: &GaussianMixture<Array2<f64>>, x: &Array2<f64>, dir: &str) {
    let write = |name: &str, a: &Array2<f64>| {
        let bytes: Vec<u8> = a.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(format!("{dir}/{name}"), bytes).expect("writable dump directory");
    };
    write("x.f64", x);
    write("weights.f64", &model.weights());
    write("means.f64", model.means());
    write("vars.f64", &model.log_vars().mapv(f64::exp));
    let scores = model.score_samples(x.view(), Parallelism::Rayon).expect("shapes match");
    write("scores.f64", &scores.insert_axis(ndarray::Axis(1)));
}

fn bench(c: &mut Criterion) {
    let (model, x) = setup();
    if let Ok(dir) = std::env::var("DISTS_BENCH_DUMP") {
        dump(&model, &x, &dir);
    }
    let modes = [("serial", Parallelism::Serial), ("rayon", Parallelism::Rayon)];
    let mut g = c.benchmark_group("gmm_1e6x2_k10");
    for (name, par) in modes {
        g.bench_function(format!("score_samples/{name}"), |b| {
            b.iter(|| black_box(model.score_samples(x.view(), par).expect("shapes match")))
        });
    }
    for (name, par) in modes {
        g.bench_function(format!("em_step/{name}"), |b| {
            b.iter(|| black_box(model.em_step(x.view(), 1e-6, par).expect("valid data")))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
