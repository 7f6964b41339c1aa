//! Peak memory of importance sampling within a budget stays flat as the number of
//! particles grows, where one pass over every particle grows with it. The only test
//! of its binary: the counting allocator sees every thread of the process.
#![allow(unsafe_code)] // a counting global allocator: the one way to read peak memory in a test

mod common;

use autodiff::ParamStore;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use seqmodels::{ParticleBudget, SeqBatch, SequenceModel, Srnn, SrnnConfig};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, counting the bytes in use and their peak.
struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed on to the system allocator unchanged; the counters
// only observe the sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is the system allocator's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = IN_USE.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            PEAK.fetch_max(now, Ordering::SeqCst);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) };
        IN_USE.fetch_sub(layout.size(), Ordering::SeqCst);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Bytes allocated at the peak of `f`, above what was in use before it.
fn peak_of(f: impl FnOnce()) -> usize {
    let before = IN_USE.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    f();
    PEAK.load(Ordering::SeqCst) - before
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
