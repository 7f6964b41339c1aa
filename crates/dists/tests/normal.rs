//! Diagonal normal: densities against quadrature and closed forms, KL properties,
//! masks, sampling, extreme inputs and gradients.

mod common;

use autodiff::Tensor;
use autodiff::gradcheck::all_close;
use autodiff::testing::{matrix, seed};
use common::{grad_ok, rng, simpson};
use dists::{DiagNormal, Error, LogProb, kl_divergence, monte_carlo_kl};
use ndarray::{Array2, array};
use proptest::prelude::*;

fn normal(m: f64, lv: f64) -> DiagNormal<Array2<f64>> {
    DiagNormal::from_mean_log_var(array![[m]], array![[lv]]).unwrap()
}

fn density_1d(p: &DiagNormal<Array2<f64>>) -> impl Fn(f64) -> f64 + '_ {
    move |x| p.log_prob(&array![[x]]).unwrap()[(0, 0)].exp()
}

#[test]
fn density_integrates_to_one_and_has_the_right_moments() {
    for &(m, lv) in &[(0.0, 0.0), (3.0, -4.0), (-2.0, 2.5)] {
        let p = normal(m, lv);
        let s = (0.5f64 * lv).exp();
        let (a, b) = (m - 12.0 * s, m + 12.0 * s);
        let f = density_1d(&p);
        let mass = simpson(&f, a, b, 4000);
        let mean = simpson(|x| x * f(x), a, b, 4000);
        let var = simpson(|x| (x - m).powi(2) * f(x), a, b, 4000);
        assert!((mass - 1.0).abs() < 1e-10, "mass {mass}");
        assert!((mean - m).abs() < 1e-9 * (1.0 + m.abs()), "mean {mean}");
        assert!((var - s * s).abs() < 1e-9 * s * s, "var {var}");
        // Entropy by quadrature: -int p ln p.
        let h = simpson(|x| -f(x) * p.log_prob(&array![[x]]).unwrap()[(0, 0)], a, b, 4000);
        assert!((h - p.entropy()[(0, 0)]).abs() < 1e-9, "entropy {h}");
    }
}

#[test]
fn log_prob_matches_the_textbook_value() {
    // N(1; 0, 4): -0.5 ln(2 pi 4) - 1/8.
    let p = DiagNormal::from_mean_std(array![[0.0]], array![[2.0]]).unwrap();
    let want = -0.5 * (2.0 * std::f64::consts::PI * 4.0).ln() - 0.125;
    assert!((p.log_prob(&array![[1.0]]).unwrap()[(0, 0)] - want).abs() < 1e-14);
    assert!((p.variance()[(0, 0)] - 4.0).abs() < 1e-14);
}

#[test]
fn kl_matches_quadrature() {
    let (p, q) = (normal(0.3, -0.7), normal(-1.1, 0.9));
    let (fp, fq) = (density_1d(&p), density_1d(&q));
    let kl = simpson(|x| fp(x) * (fp(x).ln() - fq(x).ln()), -8.0, 8.0, 8000);
    assert!((kl - p.kl_divergence(&q).unwrap()[(0, 0)]).abs() < 1e-9, "{kl}");
    // Against the standard normal, both routes agree.
    let std = DiagNormal::standard(&array![[0.0]], (1, 1));
    let a = p.kl_to_standard_normal().unwrap()[(0, 0)];
    assert!((a - p.kl_divergence(&std).unwrap()[(0, 0)]).abs() < 1e-14);
}

#[test]
fn extreme_inputs_stay_finite_and_exact() {
    // log-variance -30: variance 9.4e-14; x one million away from the mean.
    let p = normal(0.0, -30.0);
    let lp = p.log_prob(&array![[1e6]]).unwrap()[(0, 0)];
    let want = -0.5 * (dists_ln_2pi() - 30.0 + 1e12 * 30f64.exp());
    assert!(lp.is_finite() && ((lp - want) / want).abs() < 1e-14, "{lp} vs {want}");
    let p = normal(5.0, 30.0);
    let lp = p.log_prob(&array![[5.0 + 1e6]]).unwrap()[(0, 0)];
    let want = -0.5 * (dists_ln_2pi() + 30.0 + 1e12 * (-30f64).exp());
    assert!((lp - want).abs() < 1e-12);
    // KL between the two extremes and to the standard normal.
    let (a, b) = (normal(0.0, -30.0), normal(1e6, 30.0));
    for kl in [
        a.kl_divergence(&b).unwrap()[(0, 0)],
        b.kl_divergence(&a).unwrap()[(0, 0)],
        a.kl_to_standard_normal().unwrap()[(0, 0)],
        b.kl_to_standard_normal().unwrap()[(0, 0)],
    ] {
        assert!(kl.is_finite() && kl > 0.0, "{kl}");
    }
    // KL(a || std) = (e^-30 + 0 - 1 + 30) / 2.
    assert!((a.kl_to_standard_normal().unwrap()[(0, 0)] - 0.5 * ((-30f64).exp() + 29.0)).abs() < 1e-14);
}

fn dists_ln_2pi() -> f64 {
    (2.0 * std::f64::consts::PI).ln()
}

#[test]
fn masked_log_prob_ignores_unobserved_entries() {
    let p = DiagNormal::from_mean_log_var(array![[0.0, 1.0, 2.0]], array![[0.0, -1.0, 1.0]]).unwrap();
    let x = array![[0.5, 123.0, 2.5], [1.0, 1.5, -7.0]];
    let mask = array![[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]];
    let full = p.log_prob(&x).unwrap();
    let want: f64 = full.iter().zip(&mask).map(|(l, m)| l * m).sum();
    assert!((p.log_prob_masked_sum(&x, &mask).unwrap()[(0, 0)] - want).abs() < 1e-12);
    assert!(matches!(p.log_prob_masked(&x, &array![[0.5, 1.0, 1.0]]), Err(Error::OutOfRange { .. })));
    // The unobserved entry gets no gradient.
    let tape = autodiff::Tape::new();
    let mean = tape.leaf(array![[0.0, 1.0, 2.0]]);
    let q = DiagNormal::from_mean_log_var(mean, tape.constant(array![[0.0, -1.0, 1.0]])).unwrap();
    let g = q.log_prob_masked_sum(&tape.constant(x), &mask).unwrap().backward().unwrap();
    let gm = g.wrt(&mean).unwrap().unwrap();
    assert!(gm[(0, 0)] != 0.0 && gm[(0, 1)] != 0.0 && gm[(0, 2)] != 0.0);
    let only_first_row = array![[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]];
    let g = q.log_prob_masked_sum(&tape.constant(array![[0.5, 9.0, 2.5], [1.0, 1.0, -7.0]]), &only_first_row);
    assert_eq!(g.unwrap().backward().unwrap().wrt(&mean).unwrap().unwrap()[(0, 1)], 0.0);
}

#[test]
fn rsample_has_the_right_moments_and_is_reproducible() {
    let p = DiagNormal::from_mean_log_var(array![[1.0, -2.0]], array![[0.0, 2.0]]).unwrap();
    let big = DiagNormal::from_mean_log_var(
        p.mean().broadcast_to((20000, 2)).unwrap(),
        p.log_var().broadcast_to((20000, 2)).unwrap(),
    )
    .unwrap();
    let x = big.rsample(&mut rng(1)).unwrap();
    assert_eq!(x, big.rsample(&mut rng(1)).unwrap());
    let mean = x.view().mean_axis(ndarray::Axis(0)).unwrap();
    let var = x.view().var_axis(ndarray::Axis(0), 1.0);
    // Standard errors: sd / sqrt(n) = 1/141 and e/141; variance se ~ var sqrt(2/n).
    assert!((mean[0] - 1.0).abs() < 4.0 / 141.0 && (mean[1] + 2.0).abs() < 4.0 * 2.72 / 141.0);
    assert!((var[0] - 1.0).abs() < 4.0 * 0.01 && (var[1] - 2f64.exp()).abs() < 4.0 * 0.01 * 2f64.exp());
    // rsample_with is mean + std * eps exactly.
    let eps = array![[0.5, -1.0]];
    let s = p.rsample_with(&eps).unwrap();
    assert!(all_close(&s, &array![[1.5, -2.0 - 1f64.exp()]], 1e-15, 0.0));
}

#[test]
fn constructors_reject_bad_parameters() {
    assert!(matches!(
        DiagNormal::from_mean_log_var(array![[0.0, f64::NAN]], array![[0.0, 0.0]]),
        Err(Error::NonFinite { param: "mean", row: 0, col: 1, .. })
    ));
    assert!(matches!(
        DiagNormal::from_mean_log_var(array![[0.0]], array![[f64::INFINITY]]),
        Err(Error::NonFinite { param: "log_var", .. })
    ));
    assert!(matches!(
        DiagNormal::from_mean_std(array![[0.0, 1.0]], array![[1.0, 0.0]]),
        Err(Error::NonPositive { param: "std", col: 1, .. })
    ));
    assert!(matches!(
        DiagNormal::from_mean_log_var(array![[0.0, 1.0]], array![[0.0, 0.0, 0.0]]),
        Err(Error::Shape { what: "log_var", .. })
    ));
    let p = normal(0.0, 0.0);
    let q = DiagNormal::from_mean_log_var(array![[0.0, 1.0]], array![[0.0, 0.0]]).unwrap();
    let x = array![[1.0, 2.0, 3.0]];
    assert!(matches!(q.log_prob(&x), Err(Error::Shape { what: "x", .. })));
    assert!(p.kl_divergence(&q).is_ok(), "1x1 broadcasts against 1x2");
    let msg = DiagNormal::from_mean_log_var(array![[0.0]], array![[f64::NAN]]).unwrap_err().to_string();
    assert!(msg.contains("DiagNormal") && msg.contains("log_var"), "{msg}");
}

#[test]
fn gradients_of_every_method_pass_grad_ok() {
    let m = array![[0.3, -1.2, 0.0], [2.0, 0.5, -0.7]];
    let lv = array![[-0.4, 0.8], [0.1, -1.5]];
    let lv = ndarray::concatenate![ndarray::Axis(1), lv, array![[0.2], [0.3]]];
    let x = array![[0.1, 0.2, -0.3], [1.5, -0.5, 0.0]];
    let (m2, lv2) = (m.mapv(|v| 0.5 - v), lv.mapv(|v| 0.3 * v + 0.1));
    let eps = array![[0.7, -0.2, 1.1], [-1.3, 0.4, 0.05]];
    let mask = array![[1.0, 0.0, 1.0], [1.0, 1.0, 0.0]];
    let inputs = [m.clone(), lv.clone(), x.clone()];
    grad_ok(|v| DiagNormal::from_mean_log_var(v[0], v[1])?.log_prob(&v[2]), &inputs);
    grad_ok(|v| DiagNormal::from_mean_log_var(v[0], v[1])?.log_prob_rows(&v[2]), &inputs);
    grad_ok(|v| DiagNormal::from_mean_log_var(v[0], v[1])?.log_prob_masked_sum(&v[2], &mask), &inputs);
    grad_ok(|v| Ok(DiagNormal::from_mean_log_var(v[0], v[1])?.entropy()), &inputs[..2]);
    grad_ok(|v| DiagNormal::from_mean_log_var(v[0], v[1])?.rsample_with(&eps), &inputs[..2]);
    grad_ok(|v| DiagNormal::from_mean_log_var(v[0], v[1])?.kl_to_standard_normal(), &inputs[..2]);
    grad_ok(
        |v| {
            DiagNormal::from_mean_log_var(v[0], v[1])?
                .kl_divergence(&DiagNormal::from_mean_log_var(v[2], v[3])?)
        },
        &[m.clone(), lv.clone(), m2, lv2],
    );
    let std = m.mapv(|v| 0.5 + v.abs());
    grad_ok(|v| DiagNormal::from_mean_std(v[0], v[1])?.log_prob(&v[2]), &[m, std, x]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn kl_is_nonnegative_and_zero_on_the_diagonal(
        m1 in matrix(2, 3, -5.0, 5.0), lv1 in matrix(2, 3, -6.0, 6.0),
        m2 in matrix(2, 3, -5.0, 5.0), lv2 in matrix(2, 3, -6.0, 6.0),
    ) {
        let p = DiagNormal::from_mean_log_var(m1, lv1).unwrap();
        let q = DiagNormal::from_mean_log_var(m2, lv2).unwrap();
        prop_assert!(kl_divergence(&p, &q).unwrap().iter().all(|&k| k >= -1e-12));
        prop_assert!(kl_divergence(&p, &p).unwrap().iter().all(|&k| k == 0.0));
        prop_assert!(p.kl_to_standard_normal().unwrap().iter().all(|&k| k >= -1e-12));
    }

    #[test]
    fn monte_carlo_kl_agrees_with_the_closed_form(
        m1 in matrix(1, 2, -2.0, 2.0), lv1 in matrix(1, 2, -1.0, 1.0),
        m2 in matrix(1, 2, -2.0, 2.0), lv2 in matrix(1, 2, -1.0, 1.0), s in seed(),
    ) {
        let p = DiagNormal::from_mean_log_var(m1, lv1).unwrap();
        let q = DiagNormal::from_mean_log_var(m2, lv2).unwrap();
        let exact = p.kl_divergence(&q).unwrap().view().sum();
        let mc = monte_carlo_kl(&p, &q, 4000, &mut rng(s)).unwrap();
        prop_assert!((mc.value - exact).abs() <= 4.0 * mc.std_err, "{mc:?} vs {exact}");
        // The row scorer is the element-wise log-density summed along the row.
        let x = array![[0.1, 0.2], [3.0, -1.0]];
        let rows = p.log_prob_rows(&x).unwrap();
        prop_assert!((rows[(1, 0)] - p.log_prob(&x).unwrap().row(1).sum()).abs() < 1e-12);
        prop_assert!((LogProb::log_prob_rows(&p, &x).unwrap()[1] - rows[(1, 0)]).abs() < 1e-15);
    }
}

#[test]
fn gradients_at_extreme_inputs_are_finite_and_exact() {
    // d/dmu = (x - mu) e^{-v} and d/dv = ((x - mu)^2 e^{-v} - 1) / 2 at v = -30, x - mu = 1e6.
    let tape = autodiff::Tape::new();
    let (m, lv) = (tape.leaf(array![[0.0]]), tape.leaf(array![[-30.0]]));
    let lp =
        DiagNormal::from_mean_log_var(m, lv).unwrap().log_prob_sum(&tape.constant(array![[1e6]])).unwrap();
    let g = lp.backward().unwrap();
    let (gm, gv) = (g.wrt(&m).unwrap().unwrap()[(0, 0)], g.wrt(&lv).unwrap().unwrap()[(0, 0)]);
    let e = 30f64.exp();
    assert!(((gm - 1e6 * e) / (1e6 * e)).abs() < 1e-14 && ((gv - 0.5 * (1e12 * e - 1.0)) / gv).abs() < 1e-14);
    // KL to the standard normal at v = +30: d/dv = (e^v - 1) / 2.
    let lv = tape.leaf(array![[30.0]]);
    let kl = DiagNormal::from_mean_log_var(tape.constant(array![[0.0]]), lv)
        .unwrap()
        .kl_to_standard_normal()
        .unwrap();
    let g = kl.sum().backward().unwrap().wrt(&lv).unwrap().unwrap()[(0, 0)];
    assert!(((g - 0.5 * (e - 1.0)) / g).abs() < 1e-14);
}

#[test]
fn nan_and_infinite_placeholders_in_unobserved_entries_change_nothing() {
    let (mean, log_var) = (array![[0.0, 1.0, 2.0]], array![[0.0, -1.0, 1.0]]);
    let clean = array![[0.5, 0.0, 2.5], [0.0, 1.5, 0.0]];
    let dirty = array![[0.5, f64::NAN, 2.5], [f64::INFINITY, 1.5, f64::NEG_INFINITY]];
    fn loss<'t>(v: &[autodiff::Var<'t>]) -> dists::Result<autodiff::Var<'t>> {
        let mask = array![[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]];
        DiagNormal::from_mean_log_var(v[0], v[1])?.log_prob_masked_sum(&v[2], &mask)
    }
    let (value, grads) = common::value_and_gradients(loss, &[mean.clone(), log_var.clone(), clean]);
    assert!(value.is_finite() && grads.iter().flatten().all(|g| g.is_finite()));
    assert_eq!(common::value_and_gradients(loss, &[mean, log_var, dirty]), (value, grads));
}

#[test]
fn non_finite_data_is_an_error_and_a_tracked_value_is_left_to_the_nan_guard() {
    let n = DiagNormal::from_mean_log_var(array![[0.0]], array![[0.0]]).unwrap();
    let err = n.log_prob(&array![[f64::NAN]]).unwrap_err();
    assert!(matches!(err, Error::NonFinite { param: "x", .. }), "{err}");
    // On a tape: data (a constant) is checked; a value computed from a tracked leaf
    // (a flow's output, say) flows on, NaN and all, to the training loop's guard.
    let tape = autodiff::Tape::new();
    let q =
        DiagNormal::from_mean_log_var(tape.constant(array![[0.0]]), tape.constant(array![[0.0]])).unwrap();
    assert!(matches!(q.log_prob(&tape.constant(array![[f64::NAN]])), Err(Error::NonFinite { .. })));
    let computed = tape.leaf(array![[1.0]]).scale(f64::NAN);
    assert!(q.log_prob(&computed).unwrap().value()[(0, 0)].is_nan());
}
