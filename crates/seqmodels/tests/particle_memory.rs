//! Peak memory of importance sampling within a budget stays flat as the number of
//! particles grows, where one pass over every particle grows with it. The only test
//! of its binary: the counting allocator sees every thread of the process.

mod common;

use autodiff::ParamStore;
use autodiff::peak_memory::{Counting, peak_during};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use seqmodels::{ParticleBudget, SeqBatch, SequenceModel, Srnn, SrnnConfig};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Bytes allocated at the peak of `f`, above what was in use before it.
fn peak_of(f: impl FnOnce()) -> usize {
    peak_during(f).0
}

#[test]
fn peak_memory_is_flat_in_the_particles_within_a_budget() {
    let mut store = ParamStore::new();
    let config = SrnnConfig { hidden: 16, ..SrnnConfig::new(8, 16, 4, 16) };
    let model = Srnn::new(&mut store, "srnn", config, &mut ChaCha8Rng::seed_from_u64(0)).unwrap();
    let (xs, masks) = common::batch(&[60, 60, 60, 60], 8, true, 1);
    let batch = SeqBatch::new(xs, masks).unwrap();
    // Two particles of the batch per pass.
    let budget = ParticleBudget { row_steps: 2 * 4 * 60 };
    let within = |k: usize| {
        peak_of(|| {
            let rng = &mut ChaCha8Rng::seed_from_u64(2);
            model.log_likelihood_within(&store, &batch, k, budget, rng).unwrap();
        })
    };
    let whole = |k: usize| {
        peak_of(|| {
            let rng = &mut ChaCha8Rng::seed_from_u64(2);
            let all = ParticleBudget { row_steps: k * 4 * 60 };
            model.log_likelihood_within(&store, &batch, k, all, rng).unwrap();
        })
    };
    // A first pass allocates what stays for the process (kernel caches, pools).
    within(2);
    let (small, large) = (within(4), within(64));
    // Shown with --nocapture: the figures the assertions bound.
    eprintln!("within the budget: {small} bytes at the peak for 4 particles, {large} for 64");
    assert!(large < small * 3 / 2, "within the budget: {small} bytes for 4 particles, {large} for 64");
    let (small, large) = (whole(4), whole(64));
    eprintln!("in one pass: {small} bytes at the peak for 4 particles, {large} for 64");
    assert!(large > small * 8, "one pass: {small} bytes for 4 particles, {large} for 64");
}
