//! The work of `../shared/bench/bench_mlp.py`, for a same-session comparison with
//! PyTorch:
//!
//! * `tape_overhead/chain_3000_ops`: `y = x` (1x1 tracked), 1,000 times
//!   `y = tanh(y) * 0.9 + 0.1`, then backward: 3,000 ops forward and backward.
//!   Divide the time by 3,000 for the cost per op.
//! * `mlp/2-64-64-2_tanh_b512_fwd_bwd`: MLP 2-64-64-2 with tanh, batch 512,
//!   loss = mean of squared outputs, forward and backward.
//!
//! Run: `cargo bench -p latent-seq-autodiff --bench tape`.

use autodiff::{Activation, Mlp, NoGrad, ParamStore, Session, Tape, Tensor};
use criterion::{Criterion, criterion_group, criterion_main};
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::hint::black_box;

fn chain(c: &mut Criterion) {
    c.bench_function("tape_overhead/chain_3000_ops", |b| {
        b.iter(|| {
            let tape = Tape::with_capacity(3001);
            let x = tape.leaf(Array2::from_elem((1, 1), 0.3));
            let mut y = x;
            for _ in 0..1000 {
                y = y.tanh().scale(0.9).add_scalar(0.1);
            }
            black_box(tape.backward(y.sum()).expect("a tracked scalar"))
        })
    });
}

fn mlp(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut store = ParamStore::new();
    let net = Mlp::new(&mut store, "mlp", &[2, 64, 64, 2], Activation::Tanh, &mut rng).expect("valid widths");
    let data = Array2::from_shape_simple_fn((512, 2), || StandardNormal.sample(&mut rng));
    c.bench_function("mlp/2-64-64-2_tanh_b512_fwd_bwd", |b| {
        b.iter(|| {
            let tape = Tape::new();
            let s = tape.session(&store);
            let loss =
                net.forward(&s, &s.constant(data.clone())).expect("shapes").square().mean().expect("entries");
            black_box(tape.backward(loss).expect("a tracked scalar"))
        })
    });
    c.bench_function("mlp/2-64-64-2_tanh_b512_forward_no_grad", |b| {
        b.iter(|| black_box(net.forward(&NoGrad::new(&store), &data).expect("shapes")))
    });
}

criterion_group!(benches, chain, mlp);
criterion_main!(benches);
