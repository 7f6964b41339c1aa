//! One training step of `../shared/bench/bench_gru_ode_bayes.py`, for the ratio
//! against PyTorch float64 in the same session: the authors' double-OU data (500
//! series from `seqmodels::toy::double_ou`, seed 432; the script draws its own with
//! numpy, the same laws, so the observation counts differ slightly), the whole batch,
//! hidden 50, p_hidden 25, prep_hidden 25, the covariate map 1-1-50 on a zero
//! covariate, Euler with steps of 0.05 between observation times, the pre-jump NLL
//! plus 1e-4 times the post-jump KL, Adam (lr 1e-3, weight decay 5e-4). A step starts
//! from the initial weights and optimiser state each time, as the script restores
//! them. Backprop through the Euler steps is what the script does; the checkpointed
//! method (this crate's default, which recomputes each step in the backward pass) is
//! timed beside it. The script computes the observation model after every Euler step and the
//! loss terms on the observed rows; here the observation model runs only where the
//! loss needs it, on the observed rows.
//!
//! Run: `cargo bench -p latent-seq-seqmodels --bench gru_ode_bayes`; PyTorch:
//! `python ../shared/bench/bench_gru_ode_bayes.py float64`.

mod common;

use autodiff::{ParamStore, Tape};
use criterion::{Criterion, criterion_group, criterion_main};
use odesolve::Gradient;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use seqmodels::toy::{DoubleOuConfig, double_ou};
use seqmodels::{GruOdeBayes, GruOdeBayesConfig, IrregularBatch};
use trainers::{Adam, Optim, Optimizer};

/// One step from `store` and `adam` as given: forward, backward, Adam; the loss.
fn step(model: &GruOdeBayes, batch: &IrregularBatch, store: &mut ParamStore, adam: &mut Optim<Adam>) -> f64 {
    let tape = Tape::new();
    let s = tape.session(store);
    let (loss, _) = model.loss(&s, batch, None).expect("a valid batch");
    let total = loss.sum; // the script backpropagates the sum, not the mean
    let grads = total.backward().expect("a tracked loss");
    let value = total.value()[[0, 0]];
    adam.step(store, &grads.into_params()).expect("finite gradients");
    value
}

fn gru_ode_bayes(c: &mut Criterion) {
    let config = DoubleOuConfig { series: 500, ..DoubleOuConfig::default() };
    let data = double_ou(&config, &mut ChaCha8Rng::seed_from_u64(432)).expect("valid settings");
    let series = data.to_irregular().expect("valid series");
    let batch = IrregularBatch::new(series.series().to_vec()).expect("valid series");
    let mut group = c.benchmark_group("gru_ode_bayes_double_ou_b500_step");
    group.sample_size(10);
    for (name, gradient) in [("backprop", Gradient::Backprop), ("checkpointed", Gradient::default())] {
        let mut store = ParamStore::new();
        let config = GruOdeBayesConfig { gradient, ..GruOdeBayesConfig::new(2) };
        let model =
            GruOdeBayes::new(&mut store, "gob", config, &mut ChaCha8Rng::seed_from_u64(0)).expect("sizes");
        let adam =
            Optim::new(Adam { lr: 1e-3, weight_decay: 5e-4, ..Adam::default() }).expect("valid settings");
        let loss = step(&model, &batch, &mut store.clone(), &mut adam.clone());
        eprintln!(
            "gru-ode-bayes {name}: {} series, {} observed values at {} times, loss {loss:.2}",
            batch.batch_size(),
            batch.observed_values(),
            batch.times().len()
        );
        common::from_initial_state(&mut group, name, &store, &adam, |st, opt| step(&model, &batch, st, opt));
    }
    group.finish();
}

criterion_group!(benches, gru_ode_bayes);
criterion_main!(benches);
