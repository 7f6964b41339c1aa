//! Truncated backpropagation through time: a pass continued from a carried state
//! equals one long pass, its gradients are exact, and chunks out of order are errors.

mod common;

use autodiff::data::{Dataset, Shard};
use autodiff::{GradCheck, NoGrad, ParamStore, gradcheck_params};
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use seqmodels::stream::{Streams, Tbptt};
use seqmodels::{
    CellKind, GruConvention, Inference, ObsKind, RnnConfig, RnnModel, SeqBatch, SequenceModel, Sequences,
    Srnn, SrnnConfig, Stateful, Vrnn, VrnnConfig,
};
use trainers::{Adam, Optim, Trainer};

const X: usize = 3;

/// Three binary streams of 7 steps.
fn streams() -> Vec<Array2<f64>> {
    let (xs, _) = common::batch(&[7, 7, 7], X, true, 21);
    (0..3).map(|b| Array2::from_shape_fn((7, X), |(t, j)| xs[t][(b, j)])).collect()
}

/// The batch of steps `from..to` of every stream.
fn steps(data: &[Array2<f64>], from: usize, to: usize) -> SeqBatch {
    let xs: Vec<Array2<f64>> =
        (from..to).map(|t| Array2::from_shape_fn((data.len(), X), |(b, j)| data[b][(t, j)])).collect();
    SeqBatch::fully_observed(xs).unwrap()
}

fn rnn(store: &mut ParamStore) -> RnnModel {
    let config = RnnConfig {
        x_dim: X,
        hidden: 4,
        cell: CellKind::Gru(GruConvention::PyTorch),
        obs: ObsKind::Bernoulli,
    };
    RnnModel::new(store, "rnn", config, &mut ChaCha8Rng::seed_from_u64(1)).unwrap()
}

fn vrnn(store: &mut ParamStore) -> Vrnn {
    Vrnn::new(store, "vrnn", VrnnConfig::new(X, 4, 2), &mut ChaCha8Rng::seed_from_u64(2)).unwrap()
}

fn srnn(store: &mut ParamStore, inference: Inference) -> Srnn {
    let config = SrnnConfig { inference, hidden: 4, ..SrnnConfig::new(X, 4, 2, 3) };
    Srnn::new(store, "srnn", config, &mut ChaCha8Rng::seed_from_u64(3)).unwrap()
}

/// Per-row reconstruction and KL totals of the 7 steps: in one pass, and as a
/// chunk of 4 then one of 3 continuing from its state, drawing the noise from one
/// generator in the same order.
fn one_pass_and_two_chunks<M: Stateful>(model: &M, store: &ParamStore) -> [(Array2<f64>, Array2<f64>); 2] {
    let data = streams();
    let s = NoGrad::new(store);
    let whole = model.elbo(&s, &steps(&data, 0, 7), &mut ChaCha8Rng::seed_from_u64(9)).unwrap();
    let rng = &mut ChaCha8Rng::seed_from_u64(9);
    let (first, state) = model.elbo_from(&s, &model.initial_state(3), &steps(&data, 0, 4), rng).unwrap();
    let (second, _) = model.elbo_from(&s, &state, &steps(&data, 4, 7), rng).unwrap();
    [(whole.recon, whole.kl), (first.recon + second.recon, first.kl + second.kl)]
}

/// Per-row reconstruction and KL totals of streams of 7, 4 and 2 steps: in one pass
/// over them as a padded batch, and in chunks of 3 with the states carried (the last
/// chunk holds the first stream only), drawing the noise from one generator in the
/// same order.
fn ragged_pass_and_chunks<M: Stateful>(model: &M, store: &ParamStore) -> [(Array2<f64>, Array2<f64>); 2] {
    let data: Vec<Array2<f64>> =
        streams().into_iter().zip([7, 4, 2]).map(|(x, n)| x.slice(ndarray::s![..n, ..]).to_owned()).collect();
    let s = NoGrad::new(store);
    let padded = Sequences::new(data.clone()).unwrap().batch(&[0, 1, 2]);
    let whole = model.elbo(&s, &padded, &mut ChaCha8Rng::seed_from_u64(9)).unwrap();
    let chunks = Streams::new(data, 3).unwrap();
    assert_eq!((chunks.len(), chunks.steps(), chunks.lengths()), (3, 7, vec![7, 4, 2]));
    let tbptt = Tbptt::new(model, &chunks);
    let rng = &mut ChaCha8Rng::seed_from_u64(9);
    let (mut recon, mut kl) = (Array2::zeros((3, 1)), Array2::zeros((3, 1)));
    for k in 0..chunks.len() {
        let bound = tbptt.elbo(&s, &chunks.batch(&[k]), rng).unwrap();
        (recon, kl) = (recon + bound.recon, kl + bound.kl);
    }
    [(whole.recon, whole.kl), (recon, kl)]
}

fn assert_close(a: &Array2<f64>, b: &Array2<f64>, what: &str) {
    let gap = (a - b).iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    assert!(gap < 1e-12, "{what}: {a} against {b}");
}

/// Equal streams in two chunks against one long pass, and streams of different
/// lengths in chunks against one padded pass: the same totals per row.
#[test]
fn chunks_with_the_state_carried_equal_one_pass() {
    let mut store = ParamStore::new();
    let (plain, latent) = (rnn(&mut store), vrnn(&mut store));
    let filtering = srnn(&mut store, Inference::Filtering);
    for (name, pairs) in [
        ("rnn", [one_pass_and_two_chunks(&plain, &store), ragged_pass_and_chunks(&plain, &store)]),
        ("vrnn", [one_pass_and_two_chunks(&latent, &store), ragged_pass_and_chunks(&latent, &store)]),
        (
            "srnn, filtering",
            [one_pass_and_two_chunks(&filtering, &store), ragged_pass_and_chunks(&filtering, &store)],
        ),
    ] {
        for (streams, [(recon, kl), (recon2, kl2)]) in
            ["equal streams", "ragged streams"].into_iter().zip(pairs)
        {
            assert_close(&recon, &recon2, &format!("{name}, {streams}: reconstruction"));
            assert_close(&kl, &kl2, &format!("{name}, {streams}: KL"));
        }
    }
}

#[test]
fn a_smoothing_srnn_carries_its_deterministic_state_exactly() {
    let mut store = ParamStore::new();
    let model = srnn(&mut store, Inference::Smoothing);
    let data = streams();
    let s = NoGrad::new(&store);
    let rng = &mut ChaCha8Rng::seed_from_u64(9);
    let whole = model.filter_state(&store, &steps(&data, 0, 7), rng).unwrap();
    let (_, state) = model.elbo_from(&s, &model.initial_state(3), &steps(&data, 0, 4), rng).unwrap();
    let (_, end) = model.elbo_from(&s, &state, &steps(&data, 4, 7), rng).unwrap();
    assert_close(&whole.d, &end.d, "d");
    assert_close(&whole.u, &end.u, "u");
}

/// The gradient of a chunk's loss, from a carried (non-zero) state, against central
/// finite differences: the start state is a constant.
#[test]
fn gradients_of_a_continued_chunk_match_finite_differences() {
    fn check<M: Stateful>(model: &M, store: &ParamStore) {
        let data = streams();
        let rng = &mut ChaCha8Rng::seed_from_u64(5);
        let (_, start) =
            model.elbo_from(&NoGrad::new(store), &model.initial_state(3), &steps(&data, 0, 4), rng).unwrap();
        let chunk = steps(&data, 4, 7);
        let cfg = GradCheck { eps: 1e-5, rtol: 1e-5, atol: 1e-7, seed: 0 };
        let report = gradcheck_params(
            |s| {
                let rng = &mut ChaCha8Rng::seed_from_u64(11);
                let (elbo, _) = model.elbo_from(s, &start, &chunk, rng).map_err(common::as_autodiff)?;
                elbo.loss_per_step(0.7).map_err(common::as_autodiff)?.normalised()
            },
            store,
            &cfg,
        )
        .unwrap();
        assert_eq!(report.checked, store.num_scalars(), "{report:?}");
    }
    let mut store = ParamStore::new();
    check(&rnn(&mut store), &store);
    let mut store = ParamStore::new();
    check(&vrnn(&mut store), &store);
    for inference in [Inference::Smoothing, Inference::Filtering] {
        let mut store = ParamStore::new();
        check(&srnn(&mut store, inference), &store);
    }
}

/// Shards of a chunk continue their own rows: the same totals as whole chunks.
#[test]
fn sharded_chunks_continue_their_own_rows() {
    let mut store = ParamStore::new();
    let model = rnn(&mut store);
    let data = Streams::new(streams(), 3).unwrap();
    let (whole, sharded) = (Tbptt::new(&model, &data), Tbptt::new(&model, &data));
    let s = NoGrad::new(&store);
    let rng = &mut ChaCha8Rng::seed_from_u64(0);
    for k in 0..data.len() {
        let chunk = data.batch(&[k]);
        let total = whole.elbo(&s, &chunk, rng).unwrap().recon;
        let parts: Vec<f64> =
            chunk.split(2).iter().flat_map(|p| sharded.elbo(&s, p, rng).unwrap().recon.into_iter()).collect();
        assert_close(&total, &Array2::from_shape_vec((3, 1), parts).unwrap(), &format!("chunk {k}"));
    }
}

/// An SRNN's three-part state through `Tbptt`, chunks cut into two shards: each
/// piece continues its own rows of `d`, `z` and `u`, as a hand-kept state does.
#[test]
fn an_srnn_state_is_carried_row_by_row_through_shards() {
    use seqmodels::stream::RowState;
    let mut store = ParamStore::new();
    let model = srnn(&mut store, Inference::Smoothing);
    let data = Streams::new(streams(), 3).unwrap();
    let tbptt = Tbptt::new(&model, &data);
    let s = NoGrad::new(&store);
    let (rng, by_hand_rng) = (&mut ChaCha8Rng::seed_from_u64(4), &mut ChaCha8Rng::seed_from_u64(4));
    let mut state = model.initial_state(3);
    for k in 0..data.len() {
        for piece in data.batch(&[k]).split(2) {
            let elbo = tbptt.elbo(&s, &piece, rng).unwrap();
            let rows = piece.batch.indices().to_vec();
            let (expected, end) =
                model.elbo_from(&s, &state.select_rows(&rows), &piece.batch, by_hand_rng).unwrap();
            state.assign_rows(&rows, &end);
            assert_close(&elbo.recon, &expected.recon, &format!("chunk {k}, rows {rows:?}"));
            assert_close(&elbo.kl, &expected.kl, &format!("chunk {k}, rows {rows:?}"));
        }
    }
}

#[test]
fn chunks_out_of_order_are_errors_naming_the_chunk() {
    let mut store = ParamStore::new();
    let model = rnn(&mut store);
    let data = Streams::new(streams(), 3).unwrap();
    let tbptt = Tbptt::new(&model, &data);
    let s = NoGrad::new(&store);
    let rng = &mut ChaCha8Rng::seed_from_u64(0);
    let err = tbptt.elbo(&s, &data.batch(&[1]), rng).unwrap_err().to_string();
    assert!(err.contains("chunk 1 of stream 0 follows no chunk, not chunk 0"), "{err}");
    tbptt.elbo(&s, &data.batch(&[0]), rng).unwrap();
    let err = tbptt.elbo(&s, &data.batch(&[2]), rng).unwrap_err().to_string();
    assert!(err.contains("chunk 2 of stream 0 follows chunk 0, not chunk 1"), "{err}");
    // A new epoch starts again from chunk 0 and zeros.
    for k in [1, 2, 0, 1] {
        tbptt.elbo(&s, &data.batch(&[k]), rng).unwrap();
    }
}

#[test]
fn streams_refuse_what_they_cannot_cut() {
    let ok = || streams();
    let cases: [(Vec<Array2<f64>>, usize, &str); 6] = [
        (vec![], 3, "no streams"),
        (ok(), 0, "chunks of 0 steps"),
        (vec![Array2::zeros((0, X))], 3, "stream 0 has no steps"),
        (vec![Array2::zeros((7, X)), Array2::zeros((6, X + 1))], 3, "stream 1 has 4 features, stream 0 3"),
        (vec![Array2::zeros((7, X)), Array2::zeros((0, X))], 3, "stream 1 has no steps"),
        (vec![Array2::zeros((7, X)), Array2::from_elem((7, X), f64::NAN)], 3, "stream 1 holds NaN at step 0"),
    ];
    for (data, chunk, expected) in cases {
        let err = Streams::new(data, chunk).unwrap_err().to_string();
        assert!(err.contains(expected), "{err} (expected {expected})");
    }
    let data = Streams::new(ok(), 3).unwrap();
    assert_eq!((data.len(), data.streams(), data.steps()), (3, 3, 7));
    assert_eq!(data.batch(&[2]).batch.len(), 1);
}

/// The trainer in its truncated-BPTT setting (one chunk per step, in order, two
/// shards) trains every chunk of every epoch; shuffled chunks are refused.
#[test]
fn the_trainer_runs_chunks_in_order_and_refuses_shuffled_ones() {
    let mut store = ParamStore::new();
    let model = vrnn(&mut store);
    let data = Streams::new(streams(), 3).unwrap();
    let fit = |shuffle: bool| {
        let tbptt = Tbptt::new(&model, &data);
        let mut trainer = Trainer::new(store.clone(), Optim::new(Adam::default()).unwrap(), 0)
            .epochs(4)
            .batch_size(1)
            .shards(2);
        trainer = trainer.shuffle(shuffle);
        trainer.fit(&data, |s, chunk, ctx| Ok(tbptt.elbo(s, chunk, &mut ctx.rng)?.loss_per_step(1.0)?))
    };
    let summary = fit(false).unwrap();
    assert_eq!((summary.epochs, summary.steps), (4, 12));
    // The trainer's default batch of 32 would be 32 chunks at once: refused.
    let err = Trainer::new(store.clone(), Optim::new(Adam::default()).unwrap(), 0)
        .fit(&data, |s, chunk, ctx| {
            Ok(Tbptt::new(&model, &data).elbo(s, chunk, &mut ctx.rng)?.loss_per_step(1.0)?)
        })
        .unwrap_err()
        .to_string();
    assert!(err.contains("32 examples per batch, but this data set makes batches of at most 1"), "{err}");
    // Some epoch of four shuffles three chunks out of order.
    let err = fit(true).unwrap_err().to_string();
    assert!(err.contains("train on the chunks in order"), "{err}");
}
