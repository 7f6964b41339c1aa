//! Peak heap memory against sequence length, for the recurrent models at the sizes of
//! example 05's standard protocol (88 notes, hidden 300, latent 100; the reference
//! SRNN with 500-unit layers), batch 16:
//!
//! * **train**: one training step by full backpropagation through time (the bound's
//!   forward pass on a tape, and its backward pass): grows linearly with length;
//! * **tbptt**: the same sequences as chunks of 50 steps, the state carried from chunk
//!   to chunk ([`Stateful::elbo_from`]), a forward and backward pass per chunk: flat;
//! * **eval**: the importance-sampled log-likelihood with 16 particles, within the
//!   default [`ParticleBudget`] (2^16 row-steps per pass) and in one pass.
//!
//! Prints a table and the bytes that one step of one sequence costs in training (the
//! least-squares slope over the lengths: what the crate's README quotes).
//!
//! Run: `cargo bench -p latent-seq-seqmodels --bench memory` (a few minutes).

use autodiff::peak_memory::{Counting, peak_during};
use autodiff::{ParamStore, Tape};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use seqmodels::{
    CellKind, GruConvention, ObsKind, ParticleBudget, RnnConfig, RnnModel, SeqBatch, SequenceModel, Srnn,
    SrnnConfig, Stateful, Vrnn, VrnnConfig,
};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Peak MiB of `f`, run on a thread of its own: a thread starts with an empty buffer
/// pool (`autodiff` keeps one per thread), so no measurement reuses the buffers of the
/// one before.
fn peak_mib(f: impl FnOnce() + Send) -> f64 {
    let bytes = std::thread::scope(|scope| scope.spawn(|| peak_during(f).0).join().expect("a measurement"));
    bytes as f64 / MIB
}

const NOTES: usize = 88;
const BATCH: usize = 16;
const LENGTHS: [usize; 4] = [50, 100, 200, 400];
const CHUNK: usize = 50;
const PARTICLES: usize = 16;
const MIB: f64 = (1 << 20) as f64;

/// `BATCH` random piano rolls of `steps` steps (about 4 notes on at a time).
fn rolls(steps: usize, rng: &mut ChaCha8Rng) -> SeqBatch {
    let xs = (0..steps)
        .map(|_| Array2::from_shape_simple_fn((BATCH, NOTES), || f64::from(rng.random_bool(0.05))))
        .collect();
    SeqBatch::fully_observed(xs).expect("a well-formed batch")
}

/// Steps `from..to` of `batch`.
fn chunk(batch: &SeqBatch, from: usize, to: usize) -> SeqBatch {
    SeqBatch::fully_observed(batch.steps()[from..to].to_vec()).expect("a well-formed chunk")
}

/// Peak MiB of one training step on `batch` by full backpropagation.
fn train<M: Stateful + Sync>(model: &M, store: &ParamStore, batch: &SeqBatch) -> f64 {
    peak_mib(|| {
        let tape = Tape::new();
        let bound =
            model.elbo(&tape.session(store), batch, &mut ChaCha8Rng::seed_from_u64(1)).expect("a bound");
        let loss = bound.loss_per_step(1.0).and_then(|l| Ok(l.normalised()?)).expect("a loss");
        tape.backward(loss).expect("gradients");
    })
}

/// Peak MiB of the same step as chunks of `CHUNK` steps with the state carried.
fn tbptt<M: Stateful + Sync>(model: &M, store: &ParamStore, batch: &SeqBatch) -> f64 {
    peak_mib(|| {
        let rng = &mut ChaCha8Rng::seed_from_u64(1);
        let mut state = model.initial_state(BATCH);
        for from in (0..batch.len()).step_by(CHUNK) {
            let tape = Tape::new();
            let part = chunk(batch, from, (from + CHUNK).min(batch.len()));
            let (bound, next) = model.elbo_from(&tape.session(store), &state, &part, rng).expect("a bound");
            let loss = bound.loss_per_step(1.0).and_then(|l| Ok(l.normalised()?)).expect("a loss");
            tape.backward(loss).expect("gradients");
            state = next;
        }
    })
}

/// Peak MiB of the importance-sampled log-likelihood within `budget`.
fn eval<M: SequenceModel + Sync>(
    model: &M,
    store: &ParamStore,
    batch: &SeqBatch,
    budget: ParticleBudget,
) -> f64 {
    peak_mib(|| {
        let rng = &mut ChaCha8Rng::seed_from_u64(2);
        model.log_likelihood_within(store, batch, PARTICLES, budget, rng).expect("a log-likelihood");
    })
}

/// One model's row per length, and its training bytes per sequence step.
fn measure<M: Stateful + Sync>(name: &str, model: &M, store: &ParamStore) {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut trained = Vec::new();
    for steps in LENGTHS {
        let batch = rolls(steps, &mut rng);
        let one_pass = ParticleBudget { row_steps: PARTICLES * BATCH * steps };
        let row = [
            train(model, store, &batch),
            tbptt(model, store, &batch),
            eval(model, store, &batch, ParticleBudget::default()),
            eval(model, store, &batch, one_pass),
        ];
        println!("{name:<12} {steps:>5} {:>10.1} {:>10.1} {:>12.1} {:>12.1}", row[0], row[1], row[2], row[3]);
        trained.push(row[0]);
    }
    // Least squares over the lengths: the growth per step of the whole batch.
    let n = LENGTHS.len() as f64;
    let mean_t = LENGTHS.iter().sum::<usize>() as f64 / n;
    let mean_m = trained.iter().sum::<f64>() / n;
    let cov: f64 = LENGTHS.iter().zip(&trained).map(|(&t, m)| (t as f64 - mean_t) * (m - mean_m)).sum();
    let var: f64 = LENGTHS.iter().map(|&t| (t as f64 - mean_t).powi(2)).sum();
    let per_step = cov / var * MIB / BATCH as f64;
    println!(
        "{name:<12} training: {:.1} KiB per sequence step (least squares over the lengths)",
        per_step / 1024.0
    );
}

fn main() {
    println!(
        "peak heap in MiB, batch {BATCH}, {NOTES} notes; tbptt in chunks of {CHUNK}; eval with {PARTICLES} particles"
    );
    println!(
        "{:<12} {:>5} {:>10} {:>10} {:>12} {:>12}",
        "model", "steps", "train", "tbptt", "eval budget", "eval 1 pass"
    );
    let rng = &mut ChaCha8Rng::seed_from_u64(0);
    let mut store = ParamStore::new();
    let gru = CellKind::Gru(GruConvention::PyTorch);
    let rnn_config = RnnConfig { x_dim: NOTES, hidden: 300, cell: gru, obs: ObsKind::Bernoulli };
    let rnn = RnnModel::new(&mut store, "rnn", rnn_config, rng).expect("a model");
    measure("rnn", &rnn, &store);
    let vrnn_config = VrnnConfig { gru_bias: true, ..VrnnConfig::new(NOTES, 300, 100) };
    let vrnn = Vrnn::new(&mut store, "vrnn", vrnn_config, rng).expect("a model");
    measure("vrnn", &vrnn, &store);
    let srnn = Srnn::new(&mut store, "srnn", SrnnConfig::new(NOTES, 300, 100, 300), rng).expect("a model");
    measure("srnn", &srnn, &store);
    let reference = SrnnConfig { hidden: 500, ..SrnnConfig::reference(NOTES, 300, 100, 300) };
    let srnn_ref = Srnn::new(&mut store, "srnn_ref", reference, rng).expect("a model");
    measure("srnn-ref", &srnn_ref, &store);
}
