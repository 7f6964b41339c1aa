//! Shapes, masks and generation lengths on variable-length batches.

mod common;

use autodiff::{NoGrad, ParamStore};
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use seqmodels::{
    CellKind, GruConvention, Inference, ObsKind, RnnConfig, RnnModel, SeqBatch, SequenceModel, Srnn,
    SrnnConfig, Vrnn, VrnnConfig,
};

const LENGTHS: [usize; 4] = [5, 2, 4, 1];

/// Everything a sequence model must do with a variable-length batch.
fn behaves<M: SequenceModel>(model: &M, store: &ParamStore, binary: bool) {
    let d = model.x_dim();
    let (xs, masks) = common::batch(&LENGTHS, d, binary, 1);
    let garbage = common::with_garbage_padding(&xs, &masks, binary);
    let s = NoGrad::new(store);
    let batch =
        |xs: &[Array2<f64>], masks: &[Array2<f64>]| SeqBatch::new(xs.to_vec(), masks.to_vec()).unwrap();
    let bound = |b: &SeqBatch| model.elbo(&s, b, &mut ChaCha8Rng::seed_from_u64(3)).unwrap();
    let clean = bound(&batch(&xs, &masks));
    assert_eq!(clean.lengths, LENGTHS);
    assert_eq!(clean.recon.dim(), (4, 1));
    assert_eq!(clean.kl.dim(), (4, 1));
    assert!(clean.kl.iter().all(|&k| k >= 0.0), "{}", clean.kl);
    // Whatever the padding holds, NaN and infinities included, the batch stores 0
    // there, so the model never reads it and the bound is the same to the bit. (The
    // cells need that: a NaN input row would reach the weights' gradient through the
    // product x^T g even where g is 0.)
    let garbage = batch(&garbage, &masks);
    assert_eq!(garbage, batch(&xs, &masks));
    let dirty = bound(&garbage);
    assert_eq!(clean.elbo().unwrap(), dirty.elbo().unwrap());
    // B x D masks (as drawn from `Sequences`) mean the same as B x 1 masks here.
    let wide: Vec<Array2<f64>> =
        masks.iter().map(|m| Array2::from_shape_fn((4, d), |(r, _)| m[(r, 0)])).collect();
    let wide = batch(&xs, &wide);
    assert_eq!(wide.step_masks(), masks);
    let again = bound(&wide);
    assert_eq!(again.elbo().unwrap(), clean.elbo().unwrap());
    // The per-step loss is the total bound over the 12 present steps.
    let per_step = clean.loss_per_step(1.0).unwrap().value().unwrap();
    assert!((per_step + clean.elbo().unwrap().view().sum() / 12.0).abs() < 1e-12);

    let ll = model.log_likelihood(store, &garbage, 3, &mut ChaCha8Rng::seed_from_u64(4)).unwrap();
    assert_eq!(ll.dim(), (4, 1));
    assert!(ll.iter().all(|v| v.is_finite()));

    let generated = model.generate(store, 3, 7, &mut ChaCha8Rng::seed_from_u64(5)).unwrap();
    assert_eq!(generated.len(), 7);
    assert!(generated.iter().all(|x| x.dim() == (3, d)));
    let forecast = model.forecast(store, &garbage, 6, &mut ChaCha8Rng::seed_from_u64(6)).unwrap();
    assert_eq!(forecast.len(), 6);
    assert!(forecast.iter().all(|x| x.dim() == (4, d)));
    if binary {
        assert!(generated.iter().chain(&forecast).flatten().all(|&v| v == 0.0 || v == 1.0));
    }
    // Bad inputs are named errors, not panics.
    let wrong = SeqBatch::fully_observed(vec![Array2::zeros((4, d + 1)); 5]).unwrap();
    let err = model.elbo(&s, &wrong, &mut ChaCha8Rng::seed_from_u64(0)).unwrap_err();
    assert!(err.to_string().contains(&format!("expects {d} features")), "{err}");
}

#[test]
fn every_model_handles_variable_lengths() {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    for (obs, binary) in [(ObsKind::Bernoulli, true), (ObsKind::Gmm { components: 3, min_std: 0.1 }, false)] {
        let mut store = ParamStore::new();
        let rnn = RnnModel::new(
            &mut store,
            "rnn",
            RnnConfig { x_dim: 3, hidden: 5, cell: CellKind::Gru(GruConvention::PyTorch), obs },
            &mut rng,
        )
        .unwrap();
        behaves(&rnn, &store, binary);
        let mut store = ParamStore::new();
        let vrnn =
            Vrnn::new(&mut store, "vrnn", VrnnConfig { obs, ..VrnnConfig::new(3, 6, 2) }, &mut rng).unwrap();
        behaves(&vrnn, &store, binary);
        for inference in [Inference::Smoothing, Inference::Filtering] {
            let mut store = ParamStore::new();
            let config = SrnnConfig { obs, inference, ..SrnnConfig::new(3, 6, 2, 5) };
            let srnn = Srnn::new(&mut store, "srnn", config, &mut rng).unwrap();
            behaves(&srnn, &store, binary);
        }
    }
}

#[test]
fn the_rnn_state_after_padding_is_the_state_at_the_sequence_end() {
    let mut store = ParamStore::new();
    let config = RnnConfig { x_dim: 2, hidden: 4, cell: CellKind::Rnn, obs: ObsKind::Bernoulli };
    let model = RnnModel::new(&mut store, "rnn", config, &mut ChaCha8Rng::seed_from_u64(8)).unwrap();
    let (xs, masks) = common::batch(&LENGTHS, 2, true, 2);
    let s = NoGrad::new(&store);
    let (bound, h) = model.filter(&s, &SeqBatch::new(xs.clone(), masks).unwrap()).unwrap();
    for (row, &len) in LENGTHS.iter().enumerate() {
        // The same sequence alone, unpadded: same log-likelihood and final state.
        let alone: Vec<Array2<f64>> =
            xs[..len].iter().map(|x| x.row(row).to_owned().insert_axis(ndarray::Axis(0))).collect();
        let (b1, h1) = model.filter(&s, &SeqBatch::fully_observed(alone).unwrap()).unwrap();
        assert!((b1.recon[(0, 0)] - bound.recon[(row, 0)]).abs() < 1e-12);
        assert!(autodiff::gradcheck::all_close(
            &h1.row(0).to_owned().insert_axis(ndarray::Axis(0)),
            &h.row(row).to_owned().insert_axis(ndarray::Axis(0)),
            1e-12,
            1e-14
        ));
    }
}

#[test]
fn the_rnn_likelihood_of_a_first_step_is_the_output_bias() {
    // h_0 = 0, so p(x_1) is Bernoulli with logits equal to the output layer's bias b:
    // ln p(x_1) = sum_j x_j b_j - softplus(b_j).
    let mut store = ParamStore::new();
    let config = RnnConfig { x_dim: 3, hidden: 4, cell: CellKind::Rnn, obs: ObsKind::Bernoulli };
    let model = RnnModel::new(&mut store, "rnn", config, &mut ChaCha8Rng::seed_from_u64(8)).unwrap();
    let bias = store.get(store.id("rnn.out.logits.bias").unwrap()).unwrap().clone();
    let x = ndarray::array![[1.0, 0.0, 1.0]];
    let (bound, _) =
        model.filter(&NoGrad::new(&store), &SeqBatch::fully_observed(vec![x.clone()]).unwrap()).unwrap();
    let want: f64 = (0..3).map(|j| x[(0, j)] * bias[(0, j)] - (1.0 + bias[(0, j)].exp()).ln()).sum();
    assert!((bound.recon[(0, 0)] - want).abs() < 1e-14, "{} vs {want}", bound.recon[(0, 0)]);
    assert_eq!(bound.kl[(0, 0)], 0.0);
}

#[test]
fn losses_weight_the_kl_term() {
    // Two sequences of 3 and 1 steps, recon [-4, -2], kl [1, 0.5]:
    // per step (beta = 0.5): -((-6) - 0.5 * 1.5) / 4 = 1.6875;
    // per sequence: -mean([-4 - 0.5, -2 - 0.25]) = 3.375.
    let bound = seqmodels::Elbo {
        recon: ndarray::array![[-4.0], [-2.0]],
        kl: ndarray::array![[1.0], [0.5]],
        lengths: vec![3, 1],
    };
    assert_eq!(bound.loss_per_step(0.5).unwrap().value().unwrap(), 1.6875);
    assert_eq!(bound.loss_per_sequence(0.5).unwrap().value().unwrap(), 3.375);
    assert_eq!(bound.nats_per_step().unwrap(), -7.5 / 4.0);
}
