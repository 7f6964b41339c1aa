//! Timings: Lorenz on [0, 100] (plain arrays) and torchdiffeq's ode_demo Neural ODE
//! iteration through `odeint_tape` with each gradient method (dopri5 backprop, backsolve
//! adjoint with and without seminorm, checkpointed; rk4 on the grid, checkpointed).
//! Compare in the same session with `../shared/bench/bench_scipy_lorenz.py` and
//! `bench_neural_ode.py float64`.

mod common;

use common::{Lorenz, NeuralOde, Variant};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use ndarray::array;
use odesolve::{Method, SolveOptions, odeint};
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

criterion_group!(benches, lorenz, neural_ode);
criterion_main!(benches);
