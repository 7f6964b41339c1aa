//! The vectorisable kernels of `autodiff::math` against the platform's libm.

use autodiff::math;

/// Distance in units in the last place between two finite doubles.
fn ulps(a: f64, b: f64) -> u64 {
    if a == b {
        return 0;
    }
    let key = |x: f64| {
        let bits = x.to_bits() as i64;
        if bits < 0 { i64::MIN - bits } else { bits }
    };
    key(a).abs_diff(key(b))
}

fn grid(lo: f64, hi: f64, n: usize) -> impl Iterator<Item = f64> {
    (0..=n).map(move |i| lo + (hi - lo) * i as f64 / n as f64)
}

fn max_ulps(f: fn(f64) -> f64, reference: fn(f64) -> f64, xs: impl Iterator<Item = f64>) -> (u64, f64) {
    xs.map(|x| (ulps(f(x), reference(x)), x)).fold((0, 0.0), |m, (u, x)| if u > m.0 { (u, x) } else { m })
}

#[test]
fn exp_within_a_few_ulps_over_its_whole_range() {
    let (u, at) = max_ulps(math::exp, f64::exp, grid(-708.0, 709.0, 400_000));
    assert!(u <= 2, "exp: {u} ulps at {at}");
    let (u, at) = max_ulps(math::exp, f64::exp, grid(-1.0, 1.0, 100_000));
    assert!(u <= 1, "exp near 0: {u} ulps at {at}");
}

#[test]
fn exp_limits_and_subnormals() {
    assert_eq!(math::exp(710.0), f64::INFINITY);
    assert_eq!(math::exp(-746.0), 0.0);
    assert_eq!(math::exp(0.0), 1.0);
    assert!(math::exp(f64::NAN).is_nan());
    // e^-740 is subnormal: relative accuracy is limited by its few significant bits.
    let (a, b) = (math::exp(-740.0), (-740f64).exp());
    assert!((a - b).abs() <= 1e-3 * b, "{a:e} vs {b:e}");
}

#[test]
fn expm1_keeps_relative_accuracy_near_zero() {
    let (u, at) = max_ulps(math::expm1, f64::exp_m1, grid(-1e-6, 1e-6, 20_001));
    assert!(u <= 2, "expm1: {u} ulps at {at}");
    let (u, at) = max_ulps(math::expm1, f64::exp_m1, grid(-40.0, 700.0, 200_000));
    assert!(u <= 3, "expm1: {u} ulps at {at}");
    assert_eq!(math::expm1(-800.0), -1.0);
}

#[test]
fn tanh_within_a_few_ulps() {
    let (u, at) = max_ulps(math::tanh, f64::tanh, grid(-20.0, 20.0, 400_001));
    assert!(u <= 4, "tanh: {u} ulps at {at}");
    let (u, at) = max_ulps(math::tanh, f64::tanh, grid(-1e-8, 1e-8, 2_001));
    assert!(u <= 2, "tanh near 0: {u} ulps at {at}");
    assert_eq!(math::tanh(800.0), 1.0);
    assert_eq!(math::tanh(-800.0), -1.0);
}

#[test]
fn ln_1p_unit_within_a_few_ulps() {
    let (u, at) = max_ulps(math::ln_1p_unit, f64::ln_1p, grid(0.0, 1.0, 200_001));
    assert!(u <= 3, "ln_1p_unit: {u} ulps at {at}");
    let (u, at) = max_ulps(math::ln_1p_unit, f64::ln_1p, grid(1e-300, 1e-6, 20_001));
    assert!(u <= 3, "ln_1p_unit near 0: {u} ulps at {at}");
}

#[test]
fn sigmoid_and_softplus_against_their_definitions() {
    for x in grid(-30.0, 30.0, 60_001) {
        let s = 1.0 / (1.0 + (-x).exp());
        assert!((math::sigmoid(x) - s).abs() <= 4.0 * f64::EPSILON * s, "sigmoid({x})");
        let sp = if x < 0.0 { x.exp().ln_1p() } else { x + (-x).exp().ln_1p() };
        assert!((math::softplus(x) - sp).abs() <= 4.0 * f64::EPSILON * sp.max(1e-300), "softplus({x})");
    }
    assert_eq!(math::sigmoid(-800.0), 0.0);
    assert_eq!(math::sigmoid(800.0), 1.0);
    assert_eq!(math::softplus(800.0), 800.0);
}
