//! Categorical: closed forms, exact answers at extreme logits, sampling frequencies,
//! gradients; mu-law companding and quantisation.

mod common;

use autodiff::Tensor;
use common::{grad_ok, rng};
use dists::{Categorical, Error, MuLaw, Sample, kl_divergence, monte_carlo_kl, one_hot};
use ndarray::{Array2, array};
use rand::Rng;

/// Logits of `p = (0.2, 0.3, 0.5)` and `q = (0.6, 0.1, 0.3)`, shifted by constants
/// (a softmax ignores them), as rows of a batch of two.
fn two_rows() -> (Array2<f64>, [f64; 3], [f64; 3]) {
    let (p, q): ([f64; 3], [f64; 3]) = ([0.2, 0.3, 0.5], [0.6, 0.1, 0.3]);
    let logits =
        Array2::from_shape_fn((2, 3), |(r, k)| if r == 0 { p[k].ln() + 7.0 } else { q[k].ln() - 3.0 });
    (logits, p, q)
}

#[test]
fn log_prob_entropy_and_kl_match_the_closed_forms() {
    let (logits, p, q) = two_rows();
    let d = Categorical::from_logits(logits.clone()).unwrap();
    let lp = d.log_prob(&[2, 1]).unwrap();
    assert!((lp[(0, 0)] - 0.5f64.ln()).abs() < 1e-15 && (lp[(1, 0)] - 0.1f64.ln()).abs() < 1e-15, "{lp}");
    let probs = d.probs();
    assert!(probs.rows().into_iter().all(|r| (r.sum() - 1.0).abs() < 1e-15));
    let h = |p: &[f64; 3]| -p.iter().map(|v| v * v.ln()).sum::<f64>();
    let ent = d.entropy().unwrap();
    assert!((ent[(0, 0)] - h(&p)).abs() < 1e-15 && (ent[(1, 0)] - h(&q)).abs() < 1e-15, "{ent}");
    // KL(p || q) of the first row against the second, and a 1 x K q broadcast over rows.
    let kl_pq: f64 = p.iter().zip(&q).map(|(a, b)| a * (a / b).ln()).sum();
    let dp = Categorical::from_logits(logits.slice(ndarray::s![0..1, ..]).to_owned()).unwrap();
    let dq = Categorical::from_logits(logits.slice(ndarray::s![1..2, ..]).to_owned()).unwrap();
    assert!((kl_divergence(&dp, &dq).unwrap()[(0, 0)] - kl_pq).abs() < 1e-15);
    let against_q = d.kl_divergence(&dq).unwrap();
    assert!((against_q[(0, 0)] - kl_pq).abs() < 1e-15 && against_q[(1, 0)].abs() < 1e-15, "{against_q}");
}

#[test]
fn extreme_logits_give_exact_finite_answers() {
    let d = Categorical::from_logits(array![[1e4, -1e4, 0.0]]).unwrap();
    // lse = 1e4 + ln(1 + e^-2e4 + e^-1e4) = 1e4 exactly in f64, so ln p = l - 1e4.
    let lp = d.log_probs();
    assert_eq!(lp, array![[0.0, -2e4, -1e4]]);
    assert_eq!(d.log_prob(&[1]).unwrap()[(0, 0)], -2e4);
    // All the mass on class 0: zero entropy (0 ln 0 terms enter as 0 * -2e4 = 0).
    assert_eq!(d.entropy().unwrap()[(0, 0)], 0.0);
    // KL(p || q) with q's mass on class 1: ln p_0 - ln q_0 = 0 - (-2e4).
    let q = Categorical::from_logits(array![[-1e4, 1e4, 0.0]]).unwrap();
    assert_eq!(d.kl_divergence(&q).unwrap()[(0, 0)], 2e4);
    // d ln p(1) / d logits = onehot(1) - softmax = (-1, 1, 0), exactly.
    let tape = autodiff::Tape::new();
    let l = tape.leaf(array![[1e4, -1e4, 0.0]]);
    let g = Categorical::from_logits(l).unwrap().log_prob(&[1]).unwrap().sum().backward().unwrap();
    assert_eq!(g.wrt(&l).unwrap().unwrap(), &array![[-1.0, 1.0, 0.0]]);
    // A class of probability e^-1e4 = 0 is never drawn.
    let draws = d.sample_n(1000, &mut rng(1)).unwrap();
    assert!(draws.iter().all(|&k| k == 0.0));
}

#[test]
fn samples_have_the_right_frequencies_and_use_one_draw_per_row() {
    let (logits, p, _) = two_rows();
    let d = Categorical::from_logits(logits.slice(ndarray::s![0..1, ..]).to_owned()).unwrap();
    let n = 20_000;
    let x = d.sample_n(n, &mut rng(5)).unwrap();
    for (k, pk) in p.iter().enumerate() {
        let freq = x.iter().filter(|&&v| v == k as f64).count() as f64 / n as f64;
        // Standard error sqrt(p (1 - p) / n) <= 0.0036.
        assert!((freq - pk).abs() < 4.0 * 0.0036, "class {k}: {freq} vs {pk}");
    }
    // `sample` draws exactly one uniform per row, in row order: the generator is then
    // where B draws of its own would leave it.
    let batch = Categorical::from_logits(logits).unwrap();
    let (mut a, mut b) = (rng(9), rng(9));
    let first = batch.sample(&mut a);
    let u: Vec<f64> = (0..2).map(|_| b.random()).collect();
    assert_eq!(a.random::<f64>(), b.random::<f64>());
    // u below p_0 = 0.2 picks class 0, above 0.5 (= p_0 + p_1) class 2.
    let expect = |u: f64, p: &[f64]| {
        if u < p[0] {
            0
        } else if u < p[0] + p[1] {
            1
        } else {
            2
        }
    };
    assert_eq!(first[0], expect(u[0], &p));
}

#[test]
fn monte_carlo_kl_agrees_with_the_closed_form() {
    let (logits, _, _) = two_rows();
    let p = Categorical::from_logits(logits.slice(ndarray::s![0..1, ..]).to_owned()).unwrap();
    let q = Categorical::from_logits(logits.slice(ndarray::s![1..2, ..]).to_owned()).unwrap();
    let exact = p.kl_divergence(&q).unwrap()[(0, 0)];
    let mc = monte_carlo_kl(&p, &q, 4000, &mut rng(2)).unwrap();
    assert!((mc.value - exact).abs() <= 4.0 * mc.std_err, "{mc:?} vs {exact}");
}

#[test]
fn gradients_pass_gradcheck() {
    let l = array![[0.3, -1.2, 4.0, 0.0], [2.0, 0.5, -0.7, 1.1]];
    let l2 = array![[-0.3, 0.2, 1.0, 0.4], [0.0, -2.5, 0.7, -1.0]];
    grad_ok(|v| Categorical::from_logits(v[0])?.log_prob(&[2, 0]), std::slice::from_ref(&l));
    grad_ok(|v| Categorical::from_logits(v[0])?.entropy(), std::slice::from_ref(&l));
    grad_ok(|v| Categorical::from_logits(v[0])?.kl_divergence(&Categorical::from_logits(v[1])?), &[l, l2]);
}

#[test]
fn bad_input_gives_typed_errors() {
    let d = Categorical::from_logits(array![[0.0, 1.0], [2.0, 3.0]]).unwrap();
    assert!(matches!(d.log_prob(&[0, 2]), Err(Error::OutOfRange { param: "index", row: 1, .. })));
    assert!(matches!(d.log_prob(&[0]), Err(Error::Shape { what: "index", got: (1, 1), .. })));
    assert!(matches!(
        Categorical::from_logits(array![[0.0, f64::NAN]]),
        Err(Error::NonFinite { col: 1, .. })
    ));
    assert!(matches!(Categorical::from_logits(Array2::<f64>::zeros((2, 0))), Err(Error::Empty { .. })));
    assert!(matches!(d.sample_n(3, &mut rng(0)), Err(Error::Shape { what: "logits", .. })));
    assert_eq!(one_hot(&[1, 0], 3).unwrap(), array![[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]);
    assert!(matches!(one_hot(&[3], 3), Err(Error::OutOfRange { .. })));
}

#[test]
fn mu_law_round_trips_and_its_endpoints() {
    let m = MuLaw::new(256).unwrap();
    // f(1/2) = ln(1 + 255/2) / ln 256.
    assert!((m.compress(0.5) - 128.5f64.ln() / 256f64.ln()).abs() < 1e-15);
    for i in 0..=2000 {
        let x = -1.0 + i as f64 / 1000.0;
        assert!((m.expand(m.compress(x)) - x).abs() < 1e-13, "x = {x}");
    }
    assert_eq!(
        (m.quantise(-1.0).unwrap(), m.quantise(0.0).unwrap(), m.quantise(1.0).unwrap()),
        (0, 128, 255)
    );
    // Beyond full scale the amplitude is clipped.
    assert_eq!((m.quantise(-7.0).unwrap(), m.quantise(7.0).unwrap()), (0, 255));
    // (1 + mu)^1 - 1 is computed as expm1(ln 256), which rounds to 255 within an ulp or two.
    let (lo, hi) = (m.dequantise(0).unwrap(), m.dequantise(255).unwrap());
    assert!((lo + 1.0).abs() <= 4.0 * f64::EPSILON && (hi - 1.0).abs() <= 4.0 * f64::EPSILON, "{lo} {hi}");
    // Every level is a fixed point of quantise after dequantise.
    for k in 0..256 {
        assert_eq!(m.quantise(m.dequantise(k).unwrap()).unwrap(), k);
    }
    // Error of a quantised amplitude: at most half a level (1/mu) in the compressed domain.
    for i in 0..=2000 {
        let x = -1.0 + i as f64 / 1000.0;
        let back = m.dequantise(m.quantise(x).unwrap()).unwrap();
        assert!((m.compress(back) - m.compress(x)).abs() <= 1.0 / 255.0 + 1e-12, "x = {x}");
    }
}

#[test]
fn mu_law_is_monotone_and_rejects_bad_input() {
    let m = MuLaw::new(256).unwrap();
    let grid: Vec<f64> = (0..=24_000).map(|i| -1.2 + i as f64 * 1e-4).collect();
    let levels: Vec<usize> = grid.iter().map(|&x| m.quantise(x).unwrap()).collect();
    assert!(levels.windows(2).all(|w| w[0] <= w[1]));
    // No level is skipped: the narrowest, at 0, spans 2/mu / f'(0) = 2 ln 256 / 255^2 ~ 1.7e-4
    // of amplitude, more than the grid's step.
    assert!(levels.windows(2).all(|w| w[1] - w[0] <= 1));
    assert_eq!((levels[0], levels[levels.len() - 1]), (0, 255));
    let inside: Vec<f64> = grid.iter().copied().filter(|x| x.abs() <= 1.0).collect();
    assert!(inside.windows(2).all(|w| m.compress(w[0]) < m.compress(w[1])));
    assert!(matches!(MuLaw::new(1), Err(Error::Config { .. })));
    assert!(matches!(m.quantise(f64::NAN), Err(Error::NonFinite { .. })));
    assert!(matches!(m.dequantise(256), Err(Error::OutOfRange { param: "level", .. })));
}
