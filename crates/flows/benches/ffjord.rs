//! One training iteration of `../shared/bench/bench_ffjord.py` (FFJORD's
//! `train_toy.py` defaults), for a same-session ratio against PyTorch float64: a
//! continuous flow whose field is 2-64-64-64-2 ConcatSquash layers with tanh, one
//! block, the end time learned as `s^2` from `s = sqrt(0.5)`, Dopri5 at
//! rtol = atol = 1e-5, a batch of 100 points of 8 Gaussians, the mean negative
//! log-likelihood, Adam (lr 1e-3, weight decay 1e-5). Each iteration starts from the
//! initial weights and optimiser state, as the script restores them.
//!
//! Variants: the exact trace (two vector-Jacobian products) and Hutchinson's with
//! one Gaussian probe per row; gradients by the backsolve adjoint (what the script's
//! `odeint_adjoint` does) and by this crate's default, checkpointed backpropagation
//! (exact); and the adjoint with torchdiffeq's step-size control and first step
//! (`InitialStep::Torchdiffeq`; this crate's defaults, Hairer's PI control and
//! `HINIT`, take 20 forward evaluations here where torchdiffeq takes 14). The
//! evaluations of each variant's forward and backward solves are printed before it
//! is timed: the ratio is meaningful at equal work.
//!
//! Run: `cargo bench -p latent-seq-flows --bench ffjord`; PyTorch:
//! `python ../shared/bench/run_all.py bench_ffjord.py`.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use autodiff::{ParamStore, Session, Tape, Tensor};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use flows::cnf::{CnfConfig, ContinuousFlow, Probe, TraceEstimator};
use flows::{FlowDistribution, Toy};
use odesolve::{AdjointOptions, Gradient, InitialStep, PiController, SolveOptions};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;
use trainers::{Adam, Optim, Optimizer};

/// One step from `store` and `adam` as given; the loss and the field evaluations of
/// the forward and backward solves.
fn step(
    dist: &FlowDistribution<ContinuousFlow>,
    x: &ndarray::Array2<f64>,
    store: &mut ParamStore,
    adam: &mut Optim<Adam>,
) -> (f64, usize, usize) {
    let tape = Tape::new();
    let s = tape.session(store);
    let loss = dist.log_prob(&s, &s.constant(x.clone())).expect("a solve").mean().unwrap().neg();
    let grads = loss.backward().expect("a tracked loss");
    adam.step(store, &grads.into_params()).expect("finite gradients");
    let work = dist.flow().take_work();
    let (fwd, bwd) = work.iter().fold((0, 0), |(f, b), w| (f + w.forward.nfev, b + w.backward.nfev));
    (loss.item().expect("a scalar"), fwd, bwd)
}

fn ffjord(c: &mut Criterion) {
    let x = Toy::EightGaussians.sample(100, &mut ChaCha8Rng::seed_from_u64(0));
    let solver = SolveOptions::default().tol(1e-5, 1e-5);
    let adjoint = Gradient::Backsolve(AdjointOptions::new(solver.clone()));
    // torchdiffeq's step-size control (no previous-error weight) and first step, for
    // equal work.
    let torchdiffeq = SolveOptions {
        controller: PiController::integral(),
        initial_step: InitialStep::Torchdiffeq,
        ..solver.clone()
    };
    let adjoint_torchdiffeq = Gradient::Backsolve(AdjointOptions::new(torchdiffeq.clone()));
    let hutchinson = TraceEstimator::Hutchinson { probe: Probe::Gaussian, samples: 1 };
    let mut group = c.benchmark_group("ffjord_8gaussians_b100_step");
    group.sample_size(10);
    for (name, trace, gradient, solver) in [
        ("exact trace, adjoint", TraceEstimator::Exact, adjoint.clone(), &solver),
        ("hutchinson, adjoint", hutchinson, adjoint, &solver),
        ("exact trace, checkpointed", TraceEstimator::Exact, Gradient::default(), &solver),
        ("hutchinson, checkpointed", hutchinson, Gradient::default(), &solver),
        (
            "exact trace, adjoint, torchdiffeq's control",
            TraceEstimator::Exact,
            adjoint_torchdiffeq.clone(),
            &torchdiffeq,
        ),
        ("hutchinson, adjoint, torchdiffeq's control", hutchinson, adjoint_torchdiffeq, &torchdiffeq),
    ] {
        let mut store = ParamStore::new();
        let config = CnfConfig { trace, gradient, solver: solver.clone(), ..CnfConfig::default() };
        let flow = ContinuousFlow::new(&mut store, "cnf", 2, config, &mut ChaCha8Rng::seed_from_u64(0))
            .expect("valid settings");
        let dist = FlowDistribution::standard(flow);
        let adam =
            Optim::new(Adam { lr: 1e-3, weight_decay: 1e-5, ..Adam::default() }).expect("valid settings");
        let (loss, fwd, bwd) = step(&dist, &x, &mut store.clone(), &mut adam.clone());
        eprintln!("ffjord {name}: loss {loss:.3}, NFE forward {fwd}, total {}", fwd + bwd);
        group.bench_function(name, |b| {
            b.iter_batched(
                || (store.clone(), adam.clone()),
                |(mut st, mut opt)| black_box(step(&dist, &x, &mut st, &mut opt)),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, ffjord);
criterion_main!(benches);
