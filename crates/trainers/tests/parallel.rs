//! Data-parallel gradients equal the single-tape gradient, for any reduction.
//!
//! Tolerance: each shard differentiates its loss sum, the sums are added in shard
//! order and divided by the total weight once, while the single tape sums the same
//! terms in another order, so they differ by floating-point rounding only: we require
//! `|a - b| <= 1e-12 * max|a|` per parameter.

mod common;

use autodiff::ParamGrads;
use autodiff::data::{Dataset, RowBatch, Rows};
use autodiff::ndarray::Array2;
use autodiff::{Activation, Loss, Mlp, ParamStore, Session, Tape, Tensor};
use common::randn;
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use seqmodels::{SeqBatch, Sequences};
use trainers::{Adam, BoxError, Optim, StepCtx, Trainer, evaluate, loss_fn};

fn assert_grads_close(a: &ParamGrads, b: &ParamGrads, store: &ParamStore) {
    for (id, ga) in a.iter() {
        let gb = b.get(id).expect("same parameters used");
        let scale = ga.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let err = (ga - gb).iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(err <= 1e-12 * scale, "{}: max error {err:e} vs scale {scale:e}", store.name(id).unwrap());
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
            let mse = Loss::mean(&err.square());
            ctx.record("mse", mse.value()?);
            Ok(mse)
        });
        let ctx = StepCtx::new(0, 0, 1.0, 0);

        // The reference: one tape, by hand: the gradient of the sum, divided by the count.
        let tape = Tape::new();
        let s = tape.session(&store);
        let err = net.forward(&s, &s.constant(batch.arrays[0].clone()))
            .unwrap().sub(&s.constant(batch.arrays[1].clone())).unwrap();
        let l = Loss::mean(&err.square());
        let mut reference = ParamGrads::default();
        reference.add_scaled(&tape.backward(l.sum).unwrap().into_params(), 1.0 / l.weight).unwrap();
        let value = l.value().unwrap();

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

/// The three reductions a sequence model trains with, on one recurrence
/// `h_t = tanh(x_t W + h_{t-1} U)` with per-entry terms `e = |h_t - x_t|^2`:
/// a mean over sequences, over present steps, and over observed values.
#[derive(Debug, Clone, Copy)]
enum Reduction {
    Sequences,
    Steps,
    ObservedValues,
}

fn recurrence_loss<'t>(
    s: &autodiff::TapeSession<'t, '_>,
    b: &SeqBatch,
    (w, u): (autodiff::ParamId, autodiff::ParamId),
    reduction: Reduction,
) -> Result<Loss<autodiff::Var<'t>>, BoxError> {
    let rows = b.steps()[0].nrows();
    let mut h = s.constant(Array2::zeros((rows, 2)));
    let mut total = s.constant(Array2::zeros((1, 1)));
    let (mut steps, mut observed) = (0.0, 0.0);
    for (x, m) in b.steps().iter().zip(b.masks()) {
        let x = s.constant(x.clone());
        h = x.matmul(&s.param(w)?)?.add(&h.matmul(&s.param(u)?)?)?.tanh();
        total = total.add(&h.sub(&x)?.square().masked_sum(m)?)?;
        observed += m.iter().sum::<f64>();
        steps += m.rows().into_iter().filter(|r| r.iter().any(|&v| v != 0.0)).count() as f64;
    }
    let weight = match reduction {
        Reduction::Sequences => rows as f64,
        Reduction::Steps => steps,
        Reduction::ObservedValues => observed,
    };
    Ok(Loss::new(total, weight)?)
}

/// Ragged sequences with per-dimension masks (some entries unobserved): shards are
/// padded to their own longest sequence and hold different numbers of sequences,
/// steps and observed values, and every reduction still splits exactly.
#[test]
fn sharded_sequence_gradient_equals_single_tape_for_every_reduction() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let seqs: Vec<Array2<f64>> = (0..9).map(|i| randn(1 + (i * 5) % 7, 2, &mut rng)).collect();
    // Every third entry unobserved, so observed counts differ from steps x dims.
    let masks: Vec<Array2<f64>> = seqs
        .iter()
        .enumerate()
        .map(|(i, x)| Array2::from_shape_fn(x.dim(), |(t, d)| if (i + t + d) % 3 == 0 { 0.0 } else { 1.0 }))
        .collect();
    let data = Sequences::with_masks(seqs, masks).unwrap();
    let mut store = ParamStore::new();
    let w = store.add("w", randn(2, 2, &mut rng)).unwrap();
    let u = store.add("u", randn(2, 2, &mut rng) * 0.5).unwrap();
    let batch = data.batch(&[4, 0, 8, 2, 6, 1, 3, 7, 5]);
    let ctx = StepCtx::new(0, 0, 1.0, 0);
    for reduction in [Reduction::Sequences, Reduction::Steps, Reduction::ObservedValues] {
        let loss = loss_fn::<SeqBatch, _>(|s, b, _| recurrence_loss(s, b, (w, u), reduction));
        let one = evaluate(&store, &batch, 1, &loss, &ctx).unwrap();
        for shards in 2..=5 {
            let many = evaluate(&store, &batch, shards, &loss, &ctx).unwrap();
            assert_grads_close(&many.grads, &one.grads, &store);
            assert!((many.loss - one.loss).abs() <= 1e-12 * one.loss, "{reduction:?}, {shards} shards");
            assert_eq!(many.weight, one.weight, "{reduction:?}: weights add up");
        }
    }
}

/// Weighting shard means by rows (the old contract) would be wrong for a per-step
/// loss on ragged sequences: this checks that the shards really differ in their
/// steps per sequence, so the test above is not passing by coincidence.
#[test]
fn shards_of_the_ragged_batch_differ_in_steps_per_sequence() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let seqs: Vec<Array2<f64>> = (0..9).map(|i| randn(1 + (i * 5) % 7, 2, &mut rng)).collect();
    let data = Sequences::new(seqs).unwrap();
    let batch = data.batch(&[4, 0, 8, 2, 6, 1, 3, 7, 5]);
    let ratio = |b: &SeqBatch| {
        let steps: f64 = b.masks().iter().map(|m| m.column(0).sum()).sum();
        steps / b.steps()[0].nrows() as f64
    };
    let parts = autodiff::data::Shard::split(&batch, 2);
    assert!((ratio(&parts[0]) - ratio(&parts[1])).abs() > 0.5);
}

/// A loss whose shards all have weight 0 is an error, not a NaN.
#[test]
fn zero_total_weight_is_an_error() {
    let (net, store, data) = setup(4, 0);
    let batch = data.batch(&[0, 1, 2, 3]);
    // Every entry masked out: the sum is 0 and so is the weight.
    let loss = loss_fn::<RowBatch, _>(|s, b, _| {
        let out = net.forward(s, &s.constant(b.arrays[0].clone()))?;
        Ok(Loss::masked_mean(&out, &Array2::zeros((1, 1)))?)
    });
    let err = evaluate(&store, &batch, 2, &loss, &StepCtx::new(7, 0, 1.0, 0)).unwrap_err();
    assert!(matches!(err, trainers::Error::NothingObserved { step: 7 }), "{err}");
    assert!(err.to_string().contains("weight 0"), "{err}");
}

/// `bucket_by_length`: the trainer's batches hold sequences of similar lengths (each
/// batch's steps, padded, are within a few of its real steps), every sequence is
/// visited once per epoch, and a data set without lengths is refused by name.
#[test]
fn bucketing_batches_sequences_of_similar_lengths() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let seqs: Vec<Array2<f64>> = (0..40).map(|i| randn(1 + (i * 7) % 20, 2, &mut rng)).collect();
    let data = Sequences::new(seqs).unwrap();
    let mut store = ParamStore::new();
    let w = store.add("w", randn(2, 2, &mut rng)).unwrap();
    let u = store.add("u", randn(2, 2, &mut rng) * 0.5).unwrap();
    let seen = std::sync::Mutex::new(Vec::new());
    let adam = Optim::new(Adam::default()).unwrap();
    let mut t =
        Trainer::new(store, adam, 3).epochs(2).batch_size(8).bucket_by_length(true).progress_bar(false);
    t.fit(&data, |s, b: &SeqBatch, _| {
        seen.lock().unwrap().push(b.lengths().to_vec());
        recurrence_loss(s, b, (w, u), Reduction::Steps)
    })
    .unwrap();
    let seen = seen.into_inner().unwrap();
    assert_eq!(seen.len(), 10, "5 batches of 8 per epoch");
    assert_eq!(seen.iter().map(Vec::len).sum::<usize>(), 80);
    for lengths in &seen {
        let (lo, hi) = (lengths.iter().min().unwrap(), lengths.iter().max().unwrap());
        assert!(hi - lo <= 4, "a batch of lengths {lo}..{hi}");
    }
    let (_, store, rows) = setup(8, 0);
    let adam = Optim::new(Adam::default()).unwrap();
    let mut t = Trainer::new(store, adam, 3).bucket_by_length(true).progress_bar(false);
    let net = setup(8, 0).0;
    let err = t.fit(&rows, |s, b, _| {
        let out = net.forward(s, &s.constant(b.arrays[0].clone()))?;
        Ok(Loss::mean(&out.square()))
    });
    assert!(err.unwrap_err().to_string().contains("reports no lengths"));
}
