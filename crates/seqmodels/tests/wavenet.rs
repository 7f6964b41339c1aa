//! WaveNet: the receptive field against the formula, strict causality, batches that
//! do not leak, an exact likelihood checked by hand, and naive against incremental
//! generation. (Its gradient check is with the other models' in `gradients.rs`.)

mod common;

use autodiff::{NoGrad, ParamStore};
use ndarray::{Array2, Axis, s};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use seqmodels::{Generation, SeqBatch, SequenceModel, WaveNet, WaveNetConfig, WaveNetOutput, WaveNetState};

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// A small network with biases moved off zero (so no unit is idle at the start).
fn net(output: WaveNetOutput, width: usize, dilations: Vec<usize>, seed: u64) -> (ParamStore, WaveNet) {
    let mut store = ParamStore::new();
    let mut r = rng(seed);
    let config =
        WaveNetConfig { filter_width: width, biases: true, ..WaveNetConfig::new(output, dilations, 4) };
    let model = WaveNet::new(&mut store, "wn", config, &mut r).unwrap();
    for id in store.ids().collect::<Vec<_>>() {
        if store.name(id).unwrap().ends_with("bias") {
            let shape = store.shape(id).unwrap();
            *store.get_mut(id).unwrap() =
                autodiff::Init::Uniform { lo: -0.5, hi: 0.5 }.sample(shape, 1, 1, &mut r).unwrap();
        }
    }
    (store, model)
}

/// Logits of every step for observations stacked time-major (`T B x D`).
fn logits(store: &ParamStore, model: &WaveNet, x: &Array2<f64>, batch: usize) -> Array2<f64> {
    model.logits(&NoGrad::new(store), &model.inputs(x, batch).unwrap(), batch).unwrap()
}

#[test]
fn the_receptive_field_formula() {
    // The reference's unit test: dilations 1..64 twice, width 2: (2 - 1) 2 (127) + 1 + 1.
    let reference =
        WaveNetConfig::new(WaveNetOutput::Categorical { levels: 256 }, WaveNetConfig::doubling(64, 2), 32);
    assert_eq!(reference.dilations, [1, 2, 4, 8, 16, 32, 64, 1, 2, 4, 8, 16, 32, 64]);
    assert_eq!(reference.receptive_field(), 256);
    // Width 3, dilations 1, 2: 2 (1 + 2) + 1 + 2.
    let (_, small) = net(WaveNetOutput::Bernoulli { dim: 2 }, 3, vec![1, 2], 0);
    assert_eq!(small.receptive_field(), 9);
    assert_eq!(WaveNetConfig::doubling(100, 1), [1, 2, 4, 8, 16, 32, 64]);
}

#[test]
fn strictly_causal_with_the_receptive_field_it_claims_and_no_leak_between_sequences() {
    // Perturbing sequence 0 at step t0 may change its outputs at t0 + 1 ..= t0 + R and
    // nowhere else: not at t0 (the Jacobian is strictly lower-triangular in time), not
    // beyond the receptive field, and not in sequence 1.
    for (width, dilations) in [(2, vec![1, 2, 4]), (3, vec![1, 3])] {
        let (store, model) = net(WaveNetOutput::Bernoulli { dim: 2 }, width, dilations, 1);
        let r = model.receptive_field();
        let (steps, batch, t0) = (r + 8, 2, 3);
        let x = Array2::from_shape_fn((steps * batch, 2), |(i, j)| ((i * 7 + j * 3) % 5 < 2) as u8 as f64);
        let base = logits(&store, &model, &x, batch);
        let mut bumped = x.clone();
        bumped[(t0 * batch, 0)] = 1.0 - bumped[(t0 * batch, 0)];
        let diff = logits(&store, &model, &bumped, batch) - &base;
        let changed = |t: usize, b: usize| diff.row(t * batch + b).iter().any(|&v| v != 0.0);
        for t in 0..steps {
            assert!(!changed(t, 1), "width {width}: sequence 1 changed at step {t}");
            let inside = t > t0 && t <= t0 + r;
            if !inside {
                assert!(!changed(t, 0), "width {width}: step {t} changed, R = {r}, t0 = {t0}");
            }
        }
        // The field is exactly R: the first and the last step it claims do change.
        assert!(changed(t0 + 1, 0) && changed(t0 + r, 0), "width {width}");
    }
}

#[test]
fn uniform_logits_give_minus_t_ln_levels() {
    // With the last layer zeroed the logits are 0, so every step has probability
    // 1 / levels: ln p(x_{1:T}) = -T ln 5 for each sequence's T present steps.
    let (mut store, model) = net(WaveNetOutput::Categorical { levels: 5 }, 2, vec![1, 2], 2);
    for id in store.ids().collect::<Vec<_>>() {
        if store.name(id).unwrap().starts_with("wn.head.2") {
            store.get_mut(id).unwrap().fill(0.0);
        }
    }
    let (xs, masks) = common::batch(&[4, 2, 3], 1, true, 7);
    let batch = SeqBatch::new(xs, masks).unwrap();
    let ll = model.log_likelihood(&store, &batch, 1, &mut rng(0)).unwrap();
    for (b, &len) in [4, 2, 3].iter().enumerate() {
        assert!((ll[(b, 0)] + len as f64 * 5f64.ln()).abs() < 1e-12, "{ll}");
    }
}

#[test]
fn a_padded_batch_scores_each_sequence_as_if_alone() {
    // Lengths 5, 2, 4 with garbage in the padding: each sequence's log-likelihood and
    // step terms equal those of the sequence run by itself.
    let (store, model) = net(WaveNetOutput::Bernoulli { dim: 3 }, 2, vec![1, 2, 4], 4);
    let lengths = [5, 2, 4];
    let (xs, masks) = common::batch(&lengths, 3, true, 3);
    let garbage = common::with_garbage_padding(&xs, &masks, true);
    let batch = SeqBatch::new(garbage.clone(), masks.clone()).unwrap();
    let ll = model.log_likelihood(&store, &batch, 1, &mut rng(0)).unwrap();
    let steps = model.step_log_probs(&NoGrad::new(&store), &batch).unwrap();
    assert!((steps.sum() - ll.sum()).abs() < 1e-12);
    for (b, &len) in lengths.iter().enumerate() {
        let alone: Vec<Array2<f64>> =
            xs[..len].iter().map(|x| x.slice(s![b..b + 1, ..]).to_owned()).collect();
        let one = SeqBatch::fully_observed(alone).unwrap();
        let ll_one = model.log_likelihood(&store, &one, 1, &mut rng(0)).unwrap();
        assert!(
            (ll[(b, 0)] - ll_one[(0, 0)]).abs() < 1e-12,
            "sequence {b}: {} vs {}",
            ll[(b, 0)],
            ll_one[(0, 0)]
        );
    }
    // Padded steps contribute exactly 0.
    for (t, m) in batch.step_masks().iter().enumerate() {
        for b in 0..3 {
            if m[(b, 0)] == 0.0 {
                assert_eq!(steps[(t * 3 + b, 0)], 0.0);
            }
        }
    }
}

#[test]
fn incremental_generation_equals_naive_generation() {
    // Past the receptive field (so the naive window slides), from an empty history
    // and from a prefix, for classes and binary entries, widths 2 and 3.
    let cases = [
        (WaveNetOutput::Categorical { levels: 6 }, 2, vec![1, 2, 4, 1, 2]),
        (WaveNetOutput::Categorical { levels: 4 }, 3, vec![1, 3]),
        (WaveNetOutput::Bernoulli { dim: 3 }, 2, vec![1, 2, 4]),
    ];
    for (output, width, dilations) in cases {
        let (store, model) = net(output, width, dilations, 5);
        let steps = model.receptive_field() + 10;
        let (xs, _) = common::batch(&[3, 3], output.x_dim(), true, 8);
        for history in [Vec::new(), xs] {
            let state = WaveNetState { batch: 2, history };
            let naive = model.generate_with(&store, &state, steps, Generation::Naive, &mut rng(42)).unwrap();
            let fast =
                model.generate_with(&store, &state, steps, Generation::Incremental, &mut rng(42)).unwrap();
            assert_eq!(naive, fast, "{output:?}");
            // The samples are not all alike (the comparison has something to compare).
            let all =
                ndarray::concatenate(Axis(0), &fast.iter().map(|x| x.view()).collect::<Vec<_>>()).unwrap();
            assert!(all.iter().any(|&v| v != all[(0, 0)]), "{output:?}");
        }
    }
}

#[test]
fn generation_continues_a_prefix_and_checks_its_input() {
    let (store, model) = net(WaveNetOutput::Categorical { levels: 4 }, 2, vec![1, 2], 6);
    let (xs, masks) = common::batch(&[3, 3], 1, true, 1);
    let prefix = SeqBatch::new(xs.clone(), masks).unwrap();
    let out = model.forecast(&store, &prefix, 7, &mut rng(1)).unwrap();
    assert_eq!(out.len(), 7);
    assert!(
        out.iter()
            .all(|x| x.dim() == (2, 1) && x.iter().all(|&v| (0.0..4.0).contains(&v) && v.fract() == 0.0))
    );
    // Prefixes of different lengths, classes out of range and bad settings are errors.
    let (ys, ragged) = common::batch(&[3, 1], 1, true, 1);
    let err = model.filter_state(&store, &SeqBatch::new(ys, ragged).unwrap(), &mut rng(0)).unwrap_err();
    assert!(err.to_string().contains("one length"), "{err}");
    let bad = SeqBatch::fully_observed(vec![Array2::from_elem((1, 1), 4.0)]).unwrap();
    assert!(model.log_likelihood(&store, &bad, 1, &mut rng(0)).is_err());
    let mut config = model.config().clone();
    config.dilations = vec![1, 0];
    assert!(
        WaveNet::new(&mut ParamStore::new(), "x", config, &mut rng(0))
            .unwrap_err()
            .to_string()
            .contains("dilation 1 is 0")
    );
}
