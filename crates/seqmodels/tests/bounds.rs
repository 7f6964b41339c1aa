//! The ELBO is a lower bound: importance-sampled estimates of ln p(x) with many
//! samples are above it on average (Burda et al. 2016, Theorem 1), and closed forms.

mod common;

use autodiff::{Activation, NoGrad, ParamStore, Tensor};
use dists::DiagNormal;
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use seqmodels::batch::repeat_rows;
use seqmodels::{ObsKind, SeqBatch, SequenceModel, Srnn, SrnnConfig, Vae, VaeConfig, Vrnn, VrnnConfig};

/// Mean and standard error of the ELBO over `reps` independent draws per sequence
/// (the batch repeated `reps` times), and the mean importance-sampled estimate with
/// `k` particles.
fn bound_and_estimate<M: SequenceModel>(model: &M, store: &ParamStore, k: usize) -> (f64, f64, f64) {
    let (xs, masks) = common::batch(&[6, 4, 5, 6, 3, 6], model.x_dim(), true, 21);
    let batch = SeqBatch::new(xs, masks).unwrap();
    let reps = 200;
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let elbo =
        model.elbo(&NoGrad::new(store), &batch.repeat(reps).unwrap(), &mut rng).unwrap().elbo().unwrap();
    let n = elbo.len() as f64;
    let mean = elbo.view().sum() / n;
    let se = (elbo.mapv(|v| (v - mean).powi(2)).view().sum() / (n - 1.0) / n).sqrt();
    let is = model.log_likelihood(store, &batch, k, &mut rng).unwrap();
    (mean, se, is.view().mean().unwrap())
}

fn assert_bound<M: SequenceModel>(model: &M, store: &ParamStore) {
    let (elbo, se, is1) = bound_and_estimate(model, store, 1);
    let (_, _, is_many) = bound_and_estimate(model, store, 2_000);
    // K = 1 is an unbiased estimate of the ELBO (sampled instead of closed-form KL)...
    assert!((is1 - elbo).abs() < 4.0 * se + 0.5, "K=1 estimate {is1} vs ELBO {elbo} +- {se}");
    // ...and many particles lift it well above: the bound's gap is a KL, positive for an untrained q.
    assert!(is_many > elbo + 4.0 * se, "IS {is_many} vs ELBO {elbo} +- {se}");
}

#[test]
fn vrnn_elbo_is_below_the_importance_sampled_likelihood() {
    let mut store = ParamStore::new();
    let model =
        Vrnn::new(&mut store, "vrnn", VrnnConfig::new(4, 8, 3), &mut ChaCha8Rng::seed_from_u64(0)).unwrap();
    assert_bound(&model, &store);
}

#[test]
fn srnn_elbo_is_below_the_importance_sampled_likelihood() {
    let mut store = ParamStore::new();
    let model = Srnn::new(&mut store, "srnn", SrnnConfig::new(4, 8, 3, 6), &mut ChaCha8Rng::seed_from_u64(0))
        .unwrap();
    assert_bound(&model, &store);
}

#[test]
fn vae_elbo_is_below_the_importance_weighted_bound() {
    let mut store = ParamStore::new();
    let config = VaeConfig {
        x_dim: 6,
        z_dim: 2,
        hidden: vec![8],
        obs: ObsKind::Bernoulli,
        activation: Activation::Tanh,
        min_std: 1e-3,
    };
    let vae = Vae::new(&mut store, "vae", config, &mut ChaCha8Rng::seed_from_u64(0)).unwrap();
    let (xs, _) = common::batch(&[1; 5], 6, true, 3);
    let x = &xs[0];
    let reps = 400;
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let elbo = vae.elbo(&NoGrad::new(&store), &repeat_rows(x, reps), &mut rng).unwrap().elbo().unwrap();
    let n = elbo.len() as f64;
    let mean = elbo.view().sum() / n;
    let se = (elbo.mapv(|v| (v - mean).powi(2)).view().sum() / (n - 1.0) / n).sqrt();
    let iw = vae.log_likelihood(&store, x, 5_000, &mut rng).unwrap().view().mean().unwrap();
    assert!(iw > mean + 4.0 * se, "IWAE {iw} vs ELBO {mean} +- {se}");
    // With z of dimension 2, ln p(x) is also a quadrature over a grid: the
    // importance-weighted estimate with many samples converges to it.
    let s = NoGrad::new(&store);
    let (h, lim) = (0.05, 6.0);
    let grid: Vec<f64> = (0..=((2.0 * lim / h) as usize)).map(|i| -lim + i as f64 * h).collect();
    let z = Array2::from_shape_fn((grid.len() * grid.len(), 2), |(i, j)| {
        if j == 0 { grid[i / grid.len()] } else { grid[i % grid.len()] }
    });
    let prior = DiagNormal::standard(&z, z.dim()).log_prob_rows(&z).unwrap();
    let p = vae.decode(&s, &z).unwrap();
    let row = x.row(0).to_owned().insert_axis(ndarray::Axis(0));
    let lik = p.log_prob_rows(&repeat_rows(&row, z.nrows()), &Array2::ones((z.nrows(), 1))).unwrap();
    let log_p = (lik + prior).logsumexp(ndarray::Axis(0))[(0, 0)] + 2.0 * h.ln();
    let iw0 = vae.log_likelihood(&store, &row, 20_000, &mut rng).unwrap()[(0, 0)];
    assert!((iw0 - log_p).abs() < 0.02, "IWAE {iw0} vs quadrature {log_p}");
}
