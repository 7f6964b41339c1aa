//! Gaussian mixtures: densities on a grid, agreement of the tape and fast paths,
//! gradients, sampling, Monte-Carlo KL, and EM (monotone, recovers components).

mod common;

use autodiff::Tensor;
use autodiff::gradcheck::all_close;
use autodiff::testing::{matrix, seed};
use common::{grad_ok, grid_2d, rng, simpson};
use dists::{DiagNormal, EmConfig, EmInit, Error, GaussianMixture, Parallelism, RowMixture, monte_carlo_kl};
use ndarray::{Array2, Axis, array};
use proptest::prelude::*;
use rand::Rng;

fn three() -> GaussianMixture<Array2<f64>> {
    GaussianMixture::from_weights(
        &[0.5, 0.3, 0.2],
        array![[0.0, 0.0], [3.0, -1.0], [-2.0, 2.5]],
        &array![[1.0, 0.5], [0.3, 2.0], [0.8, 0.8]],
    )
    .unwrap()
}

/// `n` points from three well-separated blobs (means 10 apart), in a shuffled order.
fn blobs(n: usize, seed: u64) -> (Array2<f64>, GaussianMixture<Array2<f64>>) {
    let truth = GaussianMixture::from_weights(
        &[0.5, 0.3, 0.2],
        array![[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]],
        &array![[1.0, 0.5], [0.5, 2.0], [1.5, 1.0]],
    )
    .unwrap();
    (truth.sample(n, &mut rng(seed)), truth)
}

#[test]
fn density_integrates_to_one_in_1d_and_on_a_2d_grid() {
    let g1 =
        GaussianMixture::from_weights(&[0.2, 0.8], array![[-1.0], [2.0]], &array![[0.25], [1.5]]).unwrap();
    let f = |x: f64| g1.score_samples(array![[x]].view(), Parallelism::Serial).unwrap()[0].exp();
    assert!((simpson(f, -12.0, 14.0, 6000) - 1.0).abs() < 1e-10);
    let g = three();
    let (pts, area) = grid_2d(-10.0, 12.0, 600);
    let mass = g.score_samples(pts.view(), Parallelism::Rayon).unwrap().mapv(f64::exp).sum() * area;
    assert!((mass - 1.0).abs() < 1e-9, "mass {mass}");
}

#[test]
fn fast_kernel_matches_the_tape_formula_and_serial_equals_rayon() {
    let g = three();
    let x = g.sample(10_000, &mut rng(5));
    let serial = g.score_samples(x.view(), Parallelism::Serial).unwrap();
    let rayon = g.score_samples(x.view(), Parallelism::Rayon).unwrap();
    assert_eq!(serial, rayon, "chunks are combined in order, so bit-identical");
    let generic = g.log_prob(&x).unwrap();
    assert!(all_close(&serial.insert_axis(Axis(1)), &generic, 1e-12, 1e-12));
    let r = g.responsibilities(&x).unwrap();
    assert!(r.sum_axis(Axis(1)).iter().all(|s| (s - 1.0).abs() < 1e-12));
    // Points at a component's mean are claimed by it.
    let r = g.responsibilities(&array![[3.0, -1.0]]).unwrap();
    assert!(r[(0, 1)] > 0.99, "{r}");
}

#[test]
fn extreme_parameters_and_far_points_stay_finite() {
    let g = GaussianMixture::new(
        array![[800.0, -800.0]],
        array![[0.0, 0.0], [1e6, -1e6]],
        array![[-30.0, 30.0], [30.0, -30.0]],
    )
    .unwrap();
    let x = array![[1e6, 1e6], [0.0, 0.0], [1e6, -1e6]];
    let lp = g.score_samples(x.view(), Parallelism::Serial).unwrap();
    assert!(lp.iter().all(|v| v.is_finite()), "{lp}");
    let generic = g.log_prob(&x).unwrap();
    assert!(all_close(&lp.insert_axis(Axis(1)), &generic, 1e-12, 0.0));
}

#[test]
fn sampling_follows_the_weights_and_the_components() {
    let g = three();
    let x = g.sample(30_000, &mut rng(9));
    let hard: Vec<usize> = g
        .responsibilities(&x)
        .unwrap()
        .axis_iter(Axis(0))
        .map(|r| (0..3).max_by(|&a, &b| r[a].total_cmp(&r[b])).unwrap())
        .collect();
    // Mixture mean = sum_k w_k mu_k = (0.5, -0.3 + 0.5) = (0.5, 0.2); se ~ 2 / sqrt(3e4).
    let mean = x.view().mean_axis(Axis(0)).unwrap();
    assert!((mean[0] - 0.5).abs() < 0.05 && (mean[1] - 0.2).abs() < 0.05, "{mean}");
    let share = hard.iter().filter(|&&k| k == 0).count() as f64 / 30_000.0;
    assert!((share - 0.5).abs() < 0.05, "{share}");
}

#[test]
fn constructors_and_fit_reject_bad_input() {
    let e = GaussianMixture::new(Array2::zeros((1, 0)), Array2::zeros((0, 2)), Array2::zeros((0, 2)));
    assert!(matches!(e, Err(Error::Empty { .. })));
    let e = GaussianMixture::new(Array2::zeros((1, 2)), Array2::zeros((3, 2)), Array2::zeros((3, 2)));
    assert!(matches!(e, Err(Error::Shape { what: "means", .. })));
    let e = GaussianMixture::new(Array2::zeros((1, 2)), Array2::zeros((2, 2)), Array2::zeros((2, 1)));
    assert!(matches!(e, Err(Error::Shape { what: "log_vars", .. })));
    let e = GaussianMixture::from_weights(&[1.0, 0.0], Array2::zeros((2, 1)), &Array2::ones((2, 1)));
    assert!(matches!(e, Err(Error::NonPositive { param: "weights", .. })));
    let g = three();
    assert!(matches!(
        g.score_samples(Array2::zeros((4, 3)).view(), Parallelism::Serial),
        Err(Error::Shape { .. })
    ));
    let x = Array2::zeros((2, 2));
    assert!(matches!(GaussianMixture::fit(x.view(), &EmConfig::new(3)), Err(Error::Config { .. })));
    assert!(matches!(GaussianMixture::fit(x.view(), &EmConfig::new(0)), Err(Error::Empty { .. })));
    let mut cfg = EmConfig::new(1);
    cfg.var_floor = 0.0;
    assert!(matches!(GaussianMixture::fit(x.view(), &cfg), Err(Error::Config { .. })));
}

#[test]
fn gradients_in_every_parameter_pass_gradcheck() {
    let logits = array![[0.3, -0.5, 1.0]];
    let means = array![[0.0, 0.5], [1.0, -1.0], [-0.5, 0.8]];
    let log_vars = array![[0.1, -0.3], [0.4, 0.0], [-0.6, 0.2]];
    let x = array![[0.2, 0.1], [1.1, -0.7], [-1.0, 1.5], [0.0, 0.0]];
    let inputs = [logits, means, log_vars, x];
    grad_ok(|v| GaussianMixture::new(v[0], v[1], v[2])?.log_prob(&v[3]), &inputs);
    grad_ok(|v| GaussianMixture::new(v[0], v[1], v[2])?.responsibilities(&v[3]), &inputs);
}

#[test]
fn em_recovers_well_separated_components() {
    let (x, truth) = blobs(6000, 1);
    for init in [EmInit::KMeansPlusPlus, EmInit::Random] {
        let mut cfg = EmConfig::new(3);
        cfg.init = init;
        cfg.seed = 4;
        let fit = GaussianMixture::fit(x.view(), &cfg).unwrap();
        assert!(fit.converged, "{init:?}: {:?}", fit.log_likelihood);
        // Match fitted components to true ones by nearest mean.
        let w = fit.model.weights();
        for k in 0..3 {
            let tm = truth.means().row(k);
            let j = (0..3)
                .min_by(|&a, &b| {
                    let d = |c: usize| (&fit.model.means().row(c) - &tm).mapv(|v| v * v).sum();
                    d(a).total_cmp(&d(b))
                })
                .unwrap();
            let got_mean = fit.model.means().row(j).to_owned();
            let got_var = fit.model.log_vars().row(j).mapv(f64::exp);
            let want_var = truth.log_vars().row(k).mapv(f64::exp);
            // Sampling error with ~1000+ points per blob: means within 0.1, variances 10 %, weights 0.03.
            assert!((&got_mean - &tm).iter().all(|d| d.abs() < 0.1), "{init:?} {got_mean} vs {tm}");
            assert!((&got_var / &want_var).iter().all(|r| (r - 1.0).abs() < 0.1), "{init:?} {got_var}");
            assert!((w[(0, j)] - truth.weights()[(0, k)]).abs() < 0.03);
        }
        // The fitted model beats the generating one on its own data only by sampling noise.
        let ll_truth = truth.score(x.view(), Parallelism::Serial).unwrap();
        let last = *fit.log_likelihood.last().unwrap();
        assert!(last >= ll_truth - 1e-9 && last - ll_truth < 0.01, "{last} vs {ll_truth}");
    }
}

#[test]
fn variance_floor_holds_a_collapsing_component_and_fits_are_reproducible() {
    // 60 copies of one point plus a spread-out cloud: one component sits on the
    // copies, whose variance is 0, and is held at the floor.
    let mut r = rng(8);
    let x = Array2::from_shape_fn((260, 2), |(i, _)| if i < 60 { 1.5 } else { r.random_range(-20.0..20.0) });
    let mut cfg = EmConfig::new(2);
    cfg.var_floor = 1e-4;
    let start = GaussianMixture::from_weights(
        &[0.5, 0.5],
        array![[1.4, 1.6], [0.0, 0.0]],
        &array![[1.0, 1.0], [100.0, 100.0]],
    )
    .unwrap();
    let fit = start.fit_from(x.view(), &cfg).unwrap();
    let min_var = fit.model.log_vars().iter().map(|v| v.exp()).fold(f64::INFINITY, f64::min);
    assert!((min_var - 1e-4).abs() < 1e-12, "{min_var}");
    assert!(fit.log_likelihood.iter().all(|l| l.is_finite()));
    assert!(fit.log_likelihood.windows(2).all(|w| w[1] >= w[0]));
    cfg.seed = 3;
    let (a, b) =
        (GaussianMixture::fit(x.view(), &cfg).unwrap(), GaussianMixture::fit(x.view(), &cfg).unwrap());
    assert_eq!(a.log_likelihood, b.log_likelihood, "same seed, same fit");
}

#[test]
fn serial_and_rayon_em_give_identical_traces_and_em_step_matches_fit() {
    let (x, _) = blobs(9000, 2);
    let mut cfg = EmConfig::new(4);
    cfg.max_iter = 5;
    cfg.parallelism = Parallelism::Serial;
    let a = GaussianMixture::fit(x.view(), &cfg).unwrap();
    cfg.parallelism = Parallelism::Rayon;
    let b = GaussianMixture::fit(x.view(), &cfg).unwrap();
    assert_eq!(a.log_likelihood, b.log_likelihood);
    assert_eq!(a.log_likelihood.len(), 6, "the initial model and 5 M-steps");
    // One more step from the fitted model reports that model's log-likelihood.
    let (_, ll) = a.model.em_step(x.view(), cfg.var_floor, Parallelism::Serial).unwrap();
    assert_eq!(ll, *a.log_likelihood.last().unwrap());
}

#[test]
fn monte_carlo_kl_between_mixtures() {
    let p = three();
    let q = GaussianMixture::from_weights(
        &[0.4, 0.6],
        array![[0.5, 0.0], [2.0, 1.0]],
        &array![[2.0, 1.0], [1.0, 3.0]],
    )
    .unwrap();
    let a = monte_carlo_kl(&p, &q, 20_000, &mut rng(1)).unwrap();
    let b = monte_carlo_kl(&p, &q, 20_000, &mut rng(2)).unwrap();
    assert!(a.value > 0.0 && a.std_err > 0.0 && a.std_err < 0.05 * a.value, "{a:?}");
    // Two independent estimates agree within 4 combined standard errors.
    assert!((a.value - b.value).abs() < 4.0 * (a.std_err.powi(2) + b.std_err.powi(2)).sqrt());
    let same = monte_carlo_kl(&p, &p, 100, &mut rng(1)).unwrap();
    assert_eq!((same.value, same.std_err), (0.0, 0.0));
    assert!(matches!(monte_carlo_kl(&p, &q, 1, &mut rng(1)), Err(Error::Config { .. })));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn one_component_mixture_is_the_normal(
        logit in -5.0..5.0f64, m in matrix(1, 3, -3.0, 3.0), lv in matrix(1, 3, -3.0, 3.0),
        x in matrix(5, 3, -6.0, 6.0), s in seed(),
    ) {
        let g = GaussianMixture::new(array![[logit]], m.clone(), lv.clone()).unwrap();
        let n = DiagNormal::from_mean_log_var(m, lv).unwrap();
        let want = n.log_prob_rows(&x).unwrap();
        prop_assert!(all_close(&g.log_prob(&x).unwrap(), &want, 1e-13, 1e-13));
        let fast = g.score_samples(x.view(), Parallelism::Serial).unwrap().insert_axis(Axis(1));
        prop_assert!(all_close(&fast, &want, 1e-13, 1e-13));
        // Monte-Carlo KL of a one-component mixture against a normal-shaped mixture
        // matches the closed form within 4 standard errors. (Only for p no wider than
        // about q: ln p - ln q grows quadratically, so a much wider p makes the
        // summands so skewed that 4000 draws do not reach the normal limit.)
        let n = DiagNormal::from_mean_log_var(n.mean().clone(), n.log_var().mapv(|v| v / 6.0)).unwrap();
        let g = GaussianMixture::new(array![[logit]], n.mean().clone(), n.log_var().clone()).unwrap();
        let q = GaussianMixture::new(array![[0.0]], array![[0.5, -0.5, 0.0]], array![[0.3, -0.2, 0.1]]).unwrap();
        let qn = DiagNormal::from_mean_log_var(array![[0.5, -0.5, 0.0]], array![[0.3, -0.2, 0.1]]).unwrap();
        let exact = n.kl_divergence(&qn).unwrap().view().sum();
        let mc = monte_carlo_kl(&g, &q, 4000, &mut rng(s)).unwrap();
        prop_assert!((mc.value - exact).abs() <= 4.0 * mc.std_err, "{mc:?} vs {exact}");
    }

    #[test]
    fn em_log_likelihood_never_decreases(
        data_seed in seed(), fit_seed in seed(), k in 1usize..5, spread in 0.5..6.0f64,
        random_init in any::<bool>(),
    ) {
        // Random data: 300 points around 3 random centres with random scales.
        let mut r = rng(data_seed);
        let centres: Vec<[f64; 2]> = (0..3).map(|_| [r.random_range(-1.0..1.0) * spread * 3.0, r.random_range(-1.0..1.0) * spread * 3.0]).collect();
        let x = Array2::from_shape_fn((300, 2), |(i, j)| {
            centres[i % 3][j] + spread * (r.random::<f64>() - 0.5) * (1.0 + (i % 7) as f64)
        });
        let mut cfg = EmConfig::new(k);
        cfg.seed = fit_seed;
        cfg.max_iter = 40;
        cfg.tol = 0.0;
        cfg.init = if random_init { EmInit::Random } else { EmInit::KMeansPlusPlus };
        let fit = GaussianMixture::fit(x.view(), &cfg).unwrap();
        for w in fit.log_likelihood.windows(2) {
            // Monotone up to the rounding of a sum over 300 points.
            prop_assert!(w[1] >= w[0] - 1e-12 * (1.0 + w[0].abs()), "{:?}", fit.log_likelihood);
        }
        prop_assert!(fit.log_likelihood.iter().all(|l| l.is_finite()));
    }
}

/// 20,000 copies of a one-row array.
fn tile(row: Array2<f64>) -> Array2<f64> {
    row.broadcast((20_000, row.ncols())).expect("a row broadcasts").to_owned()
}

#[test]
fn row_mixture_matches_its_formula() {
    // Two components in one row, d = 1: weights softmax([0, ln 3]) = [1/4, 3/4],
    // N(x; 0, 1) and N(x; 2, e^{ln 4} = 4); at x = 1:
    // p = 1/4 * e^{-1/2}/sqrt(2 pi) + 3/4 * e^{-1/8}/sqrt(8 pi).
    let mix =
        RowMixture::new(array![[0.0, 3f64.ln()]], array![[0.0, 2.0]], array![[0.0, 4f64.ln()]], 1).unwrap();
    let got = mix.log_prob_rows(&array![[1.0]]).unwrap()[(0, 0)];
    let pi = std::f64::consts::PI;
    let want =
        (0.25 * (-0.5f64).exp() / (2.0 * pi).sqrt() + 0.75 * (-0.125f64).exp() / (8.0 * pi).sqrt()).ln();
    assert!((got - want).abs() < 1e-14, "{got} vs {want}");
    assert!((mix.mean().unwrap()[(0, 0)] - 1.5).abs() < 1e-15);
    // One component is the diagonal normal itself.
    let one = RowMixture::new(
        array![[0.3], [0.0]],
        array![[0.5, -1.0], [0.0, 0.0]],
        array![[0.1, -0.2], [0.0, 0.0]],
        2,
    )
    .unwrap();
    let x = array![[0.2, 0.7], [1.0, -1.0]];
    let normal =
        DiagNormal::from_mean_log_var(array![[0.5, -1.0], [0.0, 0.0]], array![[0.1, -0.2], [0.0, 0.0]])
            .unwrap();
    assert!(all_close(&one.log_prob_rows(&x).unwrap(), &normal.log_prob_rows(&x).unwrap(), 1e-14, 1e-14));
    // Samples have the mixture's mean.
    let many = RowMixture::new(
        tile(array![[0.0, 3f64.ln()]]),
        tile(array![[0.0, 2.0]]),
        tile(array![[0.0, 4f64.ln()]]),
        1,
    )
    .unwrap();
    let draws = many.sample(&mut <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0));
    // Variance of the mixture: 1/4 (1 + 0) + 3/4 (4 + 4) - 1.5^2 = 4.0; standard error 2/sqrt(20000) ~ 0.014.
    assert!((draws.view().mean().unwrap() - 1.5).abs() < 0.06);
}
