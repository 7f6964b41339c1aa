//! Bernoulli: stable log-likelihood at extreme logits, logits vs probabilities,
//! entropy and KL against direct sums, gradients.

mod common;

use autodiff::Tensor;
use autodiff::testing::{matrix, seed};
use common::{grad_ok, rng};
use dists::{Bernoulli, Error, PROB_MAX, PROB_MIN, Sample, kl_divergence, monte_carlo_kl};
use ndarray::{Array2, array};
use proptest::prelude::*;

fn direct_log_prob(p: f64, x: f64) -> f64 {
    x * p.ln() + (1.0 - x) * (1.0 - p).ln()
}

#[test]
fn extreme_logits_give_exact_finite_answers() {
    let b = Bernoulli::from_logits(array![[50.0, -50.0, 800.0, -800.0]]).unwrap();
    // Matching targets: ln sigmoid(50) = -softplus(-50) ~ -e^-50; at 800 the answer is 0 to f64.
    let lp = b.log_prob(&array![[1.0, 0.0, 1.0, 0.0]]).unwrap();
    assert!((lp[(0, 0)] + (-50f64).exp()).abs() < 1e-30 && (lp[(0, 1)] + (-50f64).exp()).abs() < 1e-30);
    assert_eq!((lp[(0, 2)], lp[(0, 3)]), (0.0, 0.0));
    // Mismatched targets: ln sigmoid(-800) = -800 exactly, not -inf.
    let lp = b.log_prob(&array![[0.0, 1.0, 0.0, 1.0]]).unwrap();
    assert!((lp[(0, 0)] + 50.0).abs() < 1e-12 && (lp[(0, 1)] + 50.0).abs() < 1e-12);
    assert_eq!((lp[(0, 2)], lp[(0, 3)]), (-800.0, -800.0));
    // A fractional target: the cross-entropy x l - softplus(l).
    let lp = b.log_prob(&array![[0.25, 0.25, 0.25, 0.25]]).unwrap();
    assert_eq!(lp[(0, 2)], 0.25 * 800.0 - 800.0);
    assert!(b.entropy().unwrap().iter().all(|h| h.is_finite() && *h >= 0.0 && *h < 1e-19));
    let flipped = Bernoulli::from_logits(array![[-50.0, 50.0, -800.0, 800.0]]).unwrap();
    let kl = b.kl_divergence(&flipped).unwrap();
    // KL(l || -l) = (sigmoid(l) - sigmoid(-l)) (softplus(l) - softplus(-l)) = (2 sigmoid(l) - 1) l,
    // which is l itself to f64 precision at l = 50 and 800 (and the same for -l).
    for (j, want) in [(0, 50.0), (1, 50.0), (2, 800.0), (3, 800.0)] {
        assert!((kl[(0, j)] - want).abs() < 1e-12 * want, "{kl}");
    }
}

/// `(p, ln p, ln(1 - p))`, the logarithms computed with mpmath at 50 digits from the
/// exact binary value of `p` (`mpmath.mpf(p)`), so a probability near 1 is scored for
/// the `f64` it really is.
#[allow(clippy::excessive_precision)] // mpmath's digits as printed, beyond f64's 17
const EXACT: [(f64, f64, f64); 8] = [
    (1e-300, -690.7755278982137052, -1e-300),
    (1e-100, -230.2585092994045684, -1e-100),
    (1e-20, -46.05170185988091374, -9.999999999999999452e-21),
    (1e-5, -11.51292546497022834, -0.00001000005000033333665),
    (0.3, -1.20397280432593603, -0.3566749439387323631),
    (0.5, -std::f64::consts::LN_2, -std::f64::consts::LN_2),
    (1.0 - 1e-10, -1.000000082790371007e-10, -23.02585084720008926),
    (PROB_MAX, -1.110223024625156602e-16, -36.7368005696771014),
];

#[test]
fn log_probabilities_from_probabilities_are_exact_down_to_the_smallest_double() {
    for (p, ln_p, ln_q) in EXACT {
        let b = Bernoulli::from_probs(array![[p, p]]).unwrap();
        let lp = b.log_prob(&array![[1.0, 0.0]]).unwrap();
        // Relative 1e-13: the logit carries rounding of order 1e-16 of its size (up to
        // 690), which `exp` turns into that much relative error of a tiny ln(1 - p).
        for (got, want) in [(lp[(0, 0)], ln_p), (lp[(0, 1)], ln_q)] {
            assert!((got - want).abs() <= 1e-13 * want.abs(), "p = {p:e}: {got:e} vs {want:e}");
        }
    }
}

#[test]
fn probabilities_of_exactly_zero_and_one_score_as_the_nearest_doubles_inside() {
    let b = Bernoulli::from_probs(array![[0.0, 1.0]]).unwrap();
    let matching = b.log_prob(&array![[0.0, 1.0]]).unwrap();
    // A "certain" event costs about ln(1 - 2^-53) = -1.1e-16 of log-likelihood.
    assert!(matching.iter().all(|l| (-f64::EPSILON..=0.0).contains(l)), "{matching}");
    let mismatched = b.log_prob(&array![[1.0, 0.0]]).unwrap();
    // ln PROB_MIN (mpmath: -744.4400719213812623) and ln(1 - PROB_MAX) = ln 2^-53.
    let want = [-744.440071921381, -36.7368005696771];
    assert!(mismatched.iter().zip(want).all(|(&l, w)| (l - w).abs() < 1e-12 * w.abs()), "{mismatched}");
    assert_eq!(PROB_MIN, f64::from_bits(1));
    assert_eq!(PROB_MAX, f64::from_bits(1.0_f64.to_bits() - 1));
    assert!(matches!(Bernoulli::from_probs(array![[1.5]]), Err(Error::OutOfRange { param: "probs", .. })));
    assert!(matches!(Bernoulli::from_logits(array![[f64::NAN]]), Err(Error::NonFinite { .. })));
    assert!(matches!(b.log_prob(&array![[2.0, 0.0]]), Err(Error::OutOfRange { param: "x", .. })));
}

#[test]
fn mass_sums_to_one_and_entropy_and_kl_match_direct_sums() {
    let (a, c) = (0.7_f64, -1.3_f64);
    let (pa, pc) = (1.0 / (1.0 + (-a).exp()), 1.0 / (1.0 + (-c).exp()));
    let b = Bernoulli::from_logits(array![[a]]).unwrap();
    let q = Bernoulli::from_logits(array![[c]]).unwrap();
    let mass: f64 = [0.0, 1.0].iter().map(|&x| b.log_prob(&array![[x]]).unwrap()[(0, 0)].exp()).sum();
    assert!((mass - 1.0).abs() < 1e-15);
    let h = -(pa * pa.ln() + (1.0 - pa) * (1.0 - pa).ln());
    assert!((b.entropy().unwrap()[(0, 0)] - h).abs() < 1e-15);
    let kl = pa * (pa / pc).ln() + (1.0 - pa) * ((1.0 - pa) / (1.0 - pc)).ln();
    assert!((kl_divergence(&b, &q).unwrap()[(0, 0)] - kl).abs() < 1e-15);
    assert!((b.log_prob(&array![[1.0]]).unwrap()[(0, 0)] - direct_log_prob(pa, 1.0)).abs() < 1e-15);
}

#[test]
fn samples_have_the_right_frequency() {
    let b = Bernoulli::from_probs(array![[0.2, 0.9]]).unwrap();
    let x = b.sample_n(20000, &mut rng(3)).unwrap();
    let freq = x.view().mean_axis(ndarray::Axis(0)).unwrap();
    // Standard errors sqrt(p(1-p)/n): 0.0028 and 0.0021.
    assert!((freq[0] - 0.2).abs() < 4.0 * 0.0029 && (freq[1] - 0.9).abs() < 4.0 * 0.0022, "{freq}");
    assert!(x.iter().all(|&v| v == 0.0 || v == 1.0));
    let one = b.sample(&mut rng(3));
    assert_eq!(one.dim(), (1, 2));
}

#[test]
fn gradients_pass_gradcheck() {
    let l = array![[0.3, -1.2, 4.0], [2.0, 0.5, -0.7]];
    let l2 = array![[-0.3, 0.2, 1.0], [0.0, -2.5, 0.7]];
    // Targets strictly inside (0, 1), so central differences stay in the domain.
    let x = array![[0.9, 0.1, 0.25], [0.5, 0.99, 0.01]];
    let p = l.mapv(|v: f64| 1.0 / (1.0 + (-v).exp()));
    grad_ok(|v| Bernoulli::from_logits(v[0])?.log_prob(&v[1]), &[l.clone(), x.clone()]);
    grad_ok(|v| Bernoulli::from_probs(v[0])?.log_prob(&v[1]), &[p, x.clone()]);
    grad_ok(|v| Bernoulli::from_logits(v[0])?.entropy(), std::slice::from_ref(&l));
    grad_ok(|v| Bernoulli::from_logits(v[0])?.kl_divergence(&Bernoulli::from_logits(v[1])?), &[l, l2]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn logits_and_sigmoid_probabilities_agree(l in matrix(2, 3, -15.0, 15.0), x in matrix(2, 3, 0.0, 1.0)) {
        // Beyond |l| ~ 15, 1 - sigmoid(l) loses relative precision in f64, so the
        // probability route is only as good as that; within, both are exact.
        let from_l = Bernoulli::from_logits(l.clone()).unwrap().log_prob(&x).unwrap();
        let p: Array2<f64> = l.sigmoid();
        let from_p = Bernoulli::from_probs(p.clone()).unwrap().log_prob(&x).unwrap();
        for ((a, b), (pp, xx)) in from_l.iter().zip(&from_p).zip(p.iter().zip(&x)) {
            prop_assert!((a - b).abs() <= 1e-8 * (1.0 + a.abs()), "{a} vs {b}");
            let direct = direct_log_prob(*pp, *xx);
            prop_assert!((a - direct).abs() <= 1e-8 * (1.0 + a.abs()));
        }
    }

    #[test]
    fn kl_properties(a in matrix(1, 3, -30.0, 30.0), b in matrix(1, 3, -30.0, 30.0), s in seed()) {
        let p = Bernoulli::from_logits(a).unwrap();
        let q = Bernoulli::from_logits(b.mapv(|v| v / 10.0)).unwrap();
        prop_assert!(p.kl_divergence(&q).unwrap().iter().all(|&k| k >= -1e-12));
        prop_assert!(p.kl_divergence(&p).unwrap().iter().all(|&k| k.abs() < 1e-12));
        // Monte Carlo only where no outcome is rarer than about 1e-2: a near-certain
        // p never shows its rare outcome in 4000 draws, so the estimate (and its
        // standard error) would miss that outcome's whole contribution.
        let p = Bernoulli::from_logits(p.logits().mapv(|v| v / 8.0)).unwrap();
        let exact = p.kl_divergence(&q).unwrap().view().sum();
        let mc = monte_carlo_kl(&p, &q, 4000, &mut rng(s)).unwrap();
        prop_assert!((mc.value - exact).abs() <= 4.0 * mc.std_err + 1e-9, "{mc:?} vs {exact}");
    }
}

#[test]
fn gradients_at_extreme_logits_are_finite_and_exact() {
    // d/dl [x l - softplus(l)] = x - sigmoid(l): exactly -1, 1, 0, 0 here.
    let tape = autodiff::Tape::new();
    let l = tape.leaf(array![[800.0, -800.0, 800.0, -50.0]]);
    let x = tape.constant(array![[0.0, 1.0, 1.0, 0.0]]);
    let g = Bernoulli::from_logits(l).unwrap().log_prob_sum(&x).unwrap().backward().unwrap();
    let g = g.wrt(&l).unwrap().unwrap();
    assert_eq!((g[(0, 0)], g[(0, 1)], g[(0, 2)]), (-1.0, 1.0, 0.0));
    assert!(g[(0, 3)].abs() < 1e-21, "{g}");
}

#[test]
fn nan_placeholders_in_unobserved_entries_change_nothing() {
    let logits = array![[0.3, -2.0, 5.0], [1.0, 0.0, -0.5]];
    let clean = array![[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]];
    let dirty = array![[1.0, f64::NAN, 0.0], [f64::INFINITY, 1.0, 1.0]];
    fn loss<'t>(v: &[autodiff::Var<'t>]) -> dists::Result<autodiff::Var<'t>> {
        let mask = array![[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]];
        Ok(Bernoulli::from_logits(v[0])?.log_prob_masked(&v[1], &mask)?.sum())
    }
    let (value, grads) = common::value_and_gradients(loss, &[logits.clone(), clean]);
    assert!(value.is_finite() && grads.iter().flatten().all(|g| g.is_finite()));
    assert_eq!(common::value_and_gradients(loss, &[logits, dirty]), (value, grads));
}
