//! What the step benchmarks share.

use autodiff::ParamStore;
use criterion::measurement::WallTime;
use criterion::{BatchSize, BenchmarkGroup};
use std::hint::black_box;
use trainers::{Adam, Optim};

/// Times `step` on fresh copies of `store` and `adam` every time, as the PyTorch
/// scripts restore their initial weights and optimiser state before each repetition.
pub fn from_initial_state<R>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    store: &ParamStore,
    adam: &Optim<Adam>,
    step: impl Fn(&mut ParamStore, &mut Optim<Adam>) -> R,
) {
    group.bench_function(name, |b| {
        b.iter_batched(
            || (store.clone(), adam.clone()),
            |(mut st, mut opt)| black_box(step(&mut st, &mut opt)),
            BatchSize::LargeInput,
        )
    });
}
