//! Timings: Lorenz on [0, 100] (plain arrays) and torchdiffeq's ode_demo Neural ODE
//! iteration through `odeint_tape` with each gradient method (dopri5 backprop, backsolve
//! adjoint with and without seminorm, checkpointed; rk4 on the grid, checkpointed).
//! Compare in the same session with `../shared/bench/bench_scipy_lorenz.py` and
//! `bench_neural_ode.py float64`. The per-sample benchmark (64 rows, each on its own
//! grid, solved independently) measures the parallel rows: run it with
//! `RAYON_NUM_THREADS=1` and without to see what the threads give.

mod common;

use autodiff::{Tape, Tensor};
use common::{Lorenz, NeuralOde, Variant};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use ndarray::{Array2, array};
use odesolve::{Gradient, GridStrategy, Method, SolveOptions, Starts, odeint, odeint_tape_per_sample};
use rand::{Rng, SeedableRng};
use std::hint::black_box;

fn lorenz(c: &mut Criterion) {
    let opts = SolveOptions::new(Method::Dopri5).tol(1e-6, 1e-9);
    let y0 = array![[1.0, 1.0, 1.0]];
    let sol = odeint(&Lorenz, &y0, &[0.0, 100.0], &opts).unwrap();
    eprintln!("lorenz [0,100]: {:?}, y_end {}", sol.stats, sol.ys[1]);
    c.bench_function("lorenz_0_100_dopri5_rtol1e-6_atol1e-9", |b| {
        b.iter(|| odeint(&Lorenz, black_box(&y0), &[0.0, 100.0], &opts).unwrap())
    });
}

fn neural_ode(c: &mut Criterion) {
    let base = NeuralOde::new(10, 20);
    let variants = [
        ("neural_ode dopri5 backprop", Variant::Dopri5Backprop),
        ("neural_ode dopri5 backsolve", Variant::Dopri5Backsolve { seminorm: false }),
        ("neural_ode dopri5 backsolve seminorm", Variant::Dopri5Backsolve { seminorm: true }),
        ("neural_ode dopri5 checkpointed c=8", Variant::Dopri5Checkpointed(8)),
        ("neural_ode rk4 grid checkpointed", Variant::Rk4Grid),
    ];
    for (name, v) in variants {
        let (_, st) = base.gradients(v);
        eprintln!(
            "{name}: forward nfev {}, backward nfev {}, checkpoints {}, recomputed steps {}",
            st.forward.nfev, st.backward.nfev, st.checkpoints, st.recomputed_steps
        );
        c.bench_function(name, |b| {
            b.iter_batched(
                || (base.clone(), base.rms_state()),
                |(mut m, mut sq)| m.step(v, &mut sq),
                BatchSize::SmallInput,
            )
        });
    }
}

/// Forward and backward of 64 rows of ode_demo's field, each row with 10 observation
/// times of its own in (0, 5), solved independently with the checkpointed gradient.
fn per_sample_rows(c: &mut Criterion) {
    let base = NeuralOde::new(10, 20);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let y0 = Array2::from_shape_simple_fn((64, 2), || rng.random_range(-2.0..2.0));
    let times: Vec<Vec<f64>> = (0..64)
        .map(|_| {
            let mut ts: Vec<f64> = (0..10).map(|_| rng.random_range(0.0..5.0)).collect();
            ts.sort_by(f64::total_cmp);
            ts
        })
        .collect();
    let opts = SolveOptions::new(Method::Dopri5).tol(1e-7, 1e-9);
    let threads = rayon::current_num_threads();
    c.bench_function(&format!("per_sample 64 rows independent checkpointed, {threads} threads"), |b| {
        b.iter(|| {
            let tape = Tape::new();
            let s = tape.session(&base.store);
            let y = tape.leaf(y0.clone());
            let sol = odeint_tape_per_sample(
                &base.func,
                &s,
                &y,
                Starts::Shared(0.0),
                &times,
                &opts,
                &Gradient::default(),
                GridStrategy::Independent,
            )
            .unwrap();
            let loss = sol
                .ys
                .iter()
                .fold(tape.constant(Array2::zeros((1, 1))), |acc, yi| acc.add(&yi.square().sum()).unwrap());
            tape.backward(loss).unwrap()
        })
    });
}

criterion_group!(benches, lorenz, neural_ode, per_sample_rows);
criterion_main!(benches);
