//! Importance sampling within a memory budget: particles in groups and sequences in
//! pieces give the estimate their passes define, combined exactly.

mod common;

use autodiff::ParamStore;
use autodiff::data::Shard;
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use seqmodels::{ParticleBudget, SeqBatch, SequenceModel, Srnn, SrnnConfig, Vrnn, VrnnConfig};

/// Three binary sequences of lengths 3, 1 and 2.
fn batch() -> SeqBatch {
    let (xs, masks) = common::batch(&[3, 1, 2], 3, true, 5);
    SeqBatch::new(xs, masks).unwrap()
}

fn models() -> (ParamStore, Vrnn, Srnn) {
    let mut store = ParamStore::new();
    let rng = &mut ChaCha8Rng::seed_from_u64(2);
    let vrnn = Vrnn::new(&mut store, "vrnn", VrnnConfig::new(3, 4, 2), rng).unwrap();
    let srnn =
        Srnn::new(&mut store, "srnn", SrnnConfig { hidden: 4, ..SrnnConfig::new(3, 4, 2, 3) }, rng).unwrap();
    (store, vrnn, srnn)
}

/// `ln sum_c (k_c / K) e^{l_c}` of group estimates `l_c` (each `B x 1`) of `k_c` particles.
fn combine(groups: &[(usize, Array2<f64>)]) -> Array2<f64> {
    let total: usize = groups.iter().map(|g| g.0).sum();
    let rows = groups[0].1.nrows();
    Array2::from_shape_fn((rows, 1), |(r, _)| {
        let terms: Vec<f64> =
            groups.iter().map(|(k, l)| l[(r, 0)] + (*k as f64 / total as f64).ln()).collect();
        let m = terms.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        m + terms.iter().map(|t| (t - m).exp()).sum::<f64>().ln()
    })
}

fn assert_close(a: &Array2<f64>, b: &Array2<f64>, what: &str) {
    let gap = (a - b).iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    assert!(gap < 1e-12, "{what}: {a} against {b}");
}

/// Five particles in groups of 2, 2 and 1 (a budget of two particles of the batch)
/// equal the three group passes run one after another from the same generator and
/// combined by hand; a budget of all five is one pass.
fn check_groups<M: SequenceModel>(model: &M, store: &ParamStore, name: &str) {
    let b = batch();
    let two = ParticleBudget { row_steps: 2 * b.batch_size() * b.len() };
    let grouped = model.log_likelihood_within(store, &b, 5, two, &mut ChaCha8Rng::seed_from_u64(7)).unwrap();
    let rng = &mut ChaCha8Rng::seed_from_u64(7);
    let groups: Vec<(usize, Array2<f64>)> =
        [2, 2, 1].into_iter().map(|k| (k, model.log_likelihood(store, &b, k, rng).unwrap())).collect();
    assert_close(&grouped, &combine(&groups), &format!("{name}, groups"));
    let whole = ParticleBudget { row_steps: 5 * b.batch_size() * b.len() };
    let one = model.log_likelihood_within(store, &b, 5, whole, &mut ChaCha8Rng::seed_from_u64(7)).unwrap();
    let single = model.log_likelihood(store, &b, 5, &mut ChaCha8Rng::seed_from_u64(7)).unwrap();
    assert_eq!(one, single, "{name}: one group is one pass");
}

#[test]
fn particle_groups_combine_exactly() {
    let (store, vrnn, srnn) = models();
    check_groups(&vrnn, &store, "vrnn");
    check_groups(&srnn, &store, "srnn");
}

/// A budget below one particle of the batch runs the sequences in pieces (here one
/// each), in order; each piece's estimate is its own sequence's.
#[test]
fn sequences_run_in_pieces_when_one_particle_is_over_budget() {
    let (store, vrnn, _) = models();
    let b = batch();
    let tight = ParticleBudget { row_steps: b.len() };
    let pieces = vrnn.log_likelihood_within(&store, &b, 1, tight, &mut ChaCha8Rng::seed_from_u64(3)).unwrap();
    let rng = &mut ChaCha8Rng::seed_from_u64(3);
    let rows: Vec<f64> =
        b.split(3).iter().map(|piece| vrnn.log_likelihood(&store, piece, 1, rng).unwrap()[(0, 0)]).collect();
    assert_close(&pieces, &Array2::from_shape_vec((3, 1), rows).unwrap(), "pieces");
    // The budget's unit is the row-step, so more particles only mean more groups.
    let many = vrnn.log_likelihood_within(&store, &b, 7, tight, &mut ChaCha8Rng::seed_from_u64(3)).unwrap();
    assert!(many.iter().all(|v| v.is_finite()), "{many}");
}

#[test]
fn a_zero_budget_is_an_error() {
    let (store, vrnn, _) = models();
    let err = vrnn
        .log_likelihood_within(
            &store,
            &batch(),
            4,
            ParticleBudget { row_steps: 0 },
            &mut ChaCha8Rng::seed_from_u64(0),
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("row_steps must be at least 1"), "{err}");
}
