//! Data-parallel gradients equal the single-tape gradient.
//!
//! Tolerance: the shards' gradients are summed with weights `n_k / n` in shard order,
//! while the single tape sums the same terms in another order, so they differ by
//! floating-point rounding only: we require `|a - b| <= 1e-12 * max|a|` per parameter.

mod common;

use autodiff::ndarray::Array2;
use autodiff::{Activation, Mlp, ParamStore, Session, Tape, Tensor};
use common::randn;
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use trainers::{Dataset, Grads, RowBatch, Rows, SeqBatch, Sequences, StepCtx, evaluate, loss_fn};

fn assert_grads_close(a: &Grads, b: &Grads, store: &ParamStore) {
    for (id, ga) in a.iter() {
        let gb = b.get(id).expect("same parameters used");
        let scale = ga.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let err = (ga - gb).iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(err <= 1e-12 * scale, "{}: max error {err:e} vs scale {scale:e}", store.name(id));
    }
    assert_eq!(a.iter().count(), b.iter().count());
}

fn setup(n: usize, seed: u64) -> (Mlp, ParamStore, Rows) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut store = ParamStore::new();
    let net = Mlp::new(&mut store, "mlp", &[3, 8, 2], Activation::Tanh, &mut rng).unwrap();
    let x = randn(n, 3, &mut rng);
    let y = randn(n, 2, &mut rng);
    (net, store, Rows::new(vec![x, y]).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn sharded_gradient_equals_single_tape(n in 1usize..40, shards in 1usize..7, seed in any::<u64>()) {
        let (net, store, data) = setup(n, seed);
        let batch = data.batch(&(0..n).collect::<Vec<_>>());
        let loss = loss_fn::<RowBatch, _>(|s, b, ctx| {
            let err = net.forward(s, &s.constant(b.arrays[0].clone()))?.sub(&s.constant(b.arrays[1].clone()))?;
            let mse = err.square().mean();
            ctx.record("mse", mse.item()?);
            Ok(mse)
        });
        let ctx = StepCtx::new(0, 0, 1.0, 0);

        // The reference: one tape, by hand.
        let tape = Tape::new();
        let s = tape.session(&store);
        let l = net.forward(&s, &s.constant(batch.arrays[0].clone()))
            .unwrap().sub(&s.constant(batch.arrays[1].clone())).unwrap().square().mean();
        let reference: Grads = tape.backward(l).unwrap().into();
        let value = l.item().unwrap();

        let one = evaluate(&store, &batch, 1, &loss, &ctx).unwrap();
        // One shard is the single tape, bit for bit.
        prop_assert_eq!(&one.grads, &reference);
        prop_assert_eq!(one.loss, value);

        let many = evaluate(&store, &batch, shards, &loss, &ctx).unwrap();
        assert_grads_close(&many.grads, &reference, &store);
        prop_assert!((many.loss - value).abs() <= 1e-12 * value.abs());
        prop_assert_eq!(many.records.len(), 1);
        prop_assert!((many.records[0].1 - value).abs() <= 1e-12 * value.abs());
    }
}

/// Sequences of different lengths: shards are padded to their own longest sequence,
/// and a loss that is a per-sequence mean (masked sum over time, divided by the batch
/// size) still splits exactly.
#[test]
fn sharded_sequence_gradient_equals_single_tape() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let seqs: Vec<Array2<f64>> = (0..9).map(|i| randn(1 + (i * 5) % 7, 2, &mut rng)).collect();
    let data = Sequences::new(seqs).unwrap();
    let mut store = ParamStore::new();
    let w = store.add("w", randn(2, 2, &mut rng)).unwrap();
    let u = store.add("u", randn(2, 2, &mut rng) * 0.5).unwrap();
    // h_t = tanh(x_t W + h_{t-1} U); loss = (1/B) sum_t sum_b mask * |h_t - x_t|^2.
    let loss = loss_fn::<SeqBatch, _>(|s, b, _| {
        let rows = b.steps[0].nrows();
        let mut h = s.constant(Array2::zeros((rows, 2)));
        let mut total = s.constant(Array2::zeros((1, 1)));
        for (x, m) in b.steps.iter().zip(&b.masks) {
            let x = s.constant(x.clone());
            h = x.matmul(&s.param(w))?.add(&h.matmul(&s.param(u))?)?.tanh();
            total = total.add(&h.sub(&x)?.square().masked_sum(m)?)?;
        }
        Ok(total.scale(1.0 / rows as f64))
    });
    let batch = data.batch(&[4, 0, 8, 2, 6, 1, 3, 7, 5]);
    let ctx = StepCtx::new(0, 0, 1.0, 0);
    let one = evaluate(&store, &batch, 1, &loss, &ctx).unwrap();
    for shards in 2..=4 {
        let many = evaluate(&store, &batch, shards, &loss, &ctx).unwrap();
        assert_grads_close(&many.grads, &one.grads, &store);
        assert!((many.loss - one.loss).abs() <= 1e-12 * one.loss);
    }
}
