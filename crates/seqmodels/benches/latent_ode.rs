//! One training iteration of `../shared/bench/bench_latent_ode.py` (torchdiffeq's
//! `examples/latent_ode.py`), for the ratio against PyTorch float64 in the same
//! session: 1000 spirals of 100 points on the same 100 time stamps (torchdiffeq's
//! generator, noise 0.3), full batch; the tanh RNN recognition network of 25 units
//! read backwards (here over `[x, mask, time gap]`, 5 inputs where the reference has
//! 2: the model's irregular-series input, all masks 1 and gaps equal), latent 4,
//! field 4-20-20-4 ELU, decoder 4-20-2 ReLU, observation noise 0.3, Dopri5 at rtol
//! 1e-7, atol 1e-9; loss = the mean over spirals of the negative ELBO; Adam (lr 0.01).
//! An iteration starts from the initial weights and optimiser state each time, as the
//! reference restores them. Backprop through the solver is what torchdiffeq's
//! `odeint` does; the checkpointed method (this crate's default) is timed beside it,
//! and backprop with torchdiffeq's step-size control and first step (an integral
//! controller where this crate's default is Hairer's PI controller, and
//! `InitialStep::Torchdiffeq`: on the same field and start torchdiffeq takes 38
//! evaluations, this crate 62 with PI control and 44 without, with either first step).
//!
//! Run: `cargo bench -p latent-seq-seqmodels --bench latent_ode`; PyTorch:
//! `python ../shared/bench/bench_latent_ode.py float64`.

mod common;

use autodiff::{ParamStore, Tape};
use criterion::{Criterion, criterion_group, criterion_main};
use odesolve::{Gradient, InitialStep, PiController, SolveOptions};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use seqmodels::toy::{SpiralConfig, spirals};
use seqmodels::{CellKind, Encoder, IrregularBatch, LatentOde, LatentOdeConfig, Series};
use trainers::{Adam, Optim, Optimizer};

/// One step from `store` and `adam` as given: forward, backward, Adam. Returns the
/// loss and the forward and backward work.
fn step(
    model: &LatentOde,
    batch: &IrregularBatch,
    store: &mut ParamStore,
    adam: &mut Optim<Adam>,
) -> (f64, odesolve::Stats) {
    let tape = Tape::new();
    let s = tape.session(store);
    let (bound, stats) = model.elbo(&s, batch, &mut ChaCha8Rng::seed_from_u64(1)).expect("a valid batch");
    let loss = bound.loss_per_sequence(1.0).expect("rows to average over").normalised().expect("weight > 0");
    let grads = loss.backward().expect("a tracked loss");
    let value = loss.value()[[0, 0]];
    adam.step(store, &grads.into_params()).expect("finite gradients");
    (value, stats)
}

fn latent_ode(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let all = spirals(&SpiralConfig::default(), &mut rng);
    let series: Vec<Series> =
        all.iter().map(|s| Series::observed(s.times.clone(), s.noisy.clone())).collect();
    let batch = IrregularBatch::new(series).expect("valid spirals");
    let mut group = c.benchmark_group("latent_ode_spirals_b1000_t100_step");
    group.sample_size(10);
    // Hairer's PI step control (this crate's default), and torchdiffeq's integral one.
    let hairer = SolveOptions::default().tol(1e-7, 1e-9);
    let torchdiffeq = SolveOptions {
        controller: PiController::integral(),
        initial_step: InitialStep::Torchdiffeq,
        ..hairer.clone()
    };
    for (name, gradient, solver) in [
        ("backprop", Gradient::Backprop, &hairer),
        ("checkpointed", Gradient::default(), &hairer),
        ("backprop, torchdiffeq's step control", Gradient::Backprop, &torchdiffeq),
    ] {
        let mut store = ParamStore::new();
        let config = LatentOdeConfig {
            solver: solver.clone(),
            gradient,
            encoder: Encoder::Cell(CellKind::Rnn),
            ..LatentOdeConfig::new(2)
        };
        let model =
            LatentOde::new(&mut store, "lode", config, &mut ChaCha8Rng::seed_from_u64(0)).expect("sizes");
        let adam = Optim::new(Adam { lr: 0.01, ..Adam::default() }).expect("valid settings");
        let (loss, stats) = step(&model, &batch, &mut store.clone(), &mut adam.clone());
        eprintln!("latent ode {name}: loss {loss:.2}, forward NFE {}, steps {}", stats.nfev, stats.naccept);
        common::from_initial_state(&mut group, name, &store, &adam, |st, opt| step(&model, &batch, st, opt));
    }
    group.finish();
}

criterion_group!(benches, latent_ode);
criterion_main!(benches);
