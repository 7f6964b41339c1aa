//! Invertibility constraints hold for arbitrary raw parameters.

mod common;

use autodiff::testing::seed;
use autodiff::{Activation, NoGrad, ParamStore, Session, Tensor};
use common::{apply, rng};
use flows::{
    AutoregressiveAffine, Conditioning, Coupling, Direction, Flow, InvertibleLinear, Order, Planar, Radial,
    ScaleBound, Sylvester, SylvesterKind,
};
use ndarray::Array2;
use proptest::prelude::*;
use rand::Rng;

/// Overwrites every parameter with values uniform in `[-a, a]`.
fn arbitrary(store: &mut ParamStore, a: f64, r: &mut common::TestRng) {
    for id in store.ids().collect::<Vec<_>>() {
        let v = Array2::from_shape_simple_fn(store.shape(id).unwrap(), || r.random_range(-a..a));
        store.get_mut(id).unwrap().assign(&v);
    }
}

fn round_trip_error<F: Flow>(f: &F, store: &ParamStore, x: &Array2<f64>) -> f64 {
    let (z, _) = apply(f, store, x, Direction::Forward).unwrap();
    let (back, _) = apply(f, store, &z, Direction::Inverse).unwrap();
    (&back - x).iter().fold(0.0f64, |m, v| m.max(v.abs()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn planar_w_dot_u_hat_exceeds_minus_one(s in seed(), scale in 0.1f64..20.0) {
        let (mut store, mut r) = (ParamStore::new(), rng(s));
        let p = Planar::new(&mut store, "p", 3, &mut r).unwrap();
        arbitrary(&mut store, scale, &mut r);
        let (u_hat, m) = p.constrained(&NoGrad::new(&store)).unwrap();
        let w = store.get(store.id("p.w").unwrap()).unwrap();
        let wu = (w * &u_hat).view().sum();
        // In exact arithmetic w . u_hat = m > -1; in floating point m rounds to -1 once
        // softplus(w . u) < 1e-16 (and the dot product to within rounding of it), so
        // the log-determinant is formed without m.
        prop_assert!(wu >= -1.0 - 1e-9 && m[(0, 0)] >= -1.0);
        prop_assert!((wu - m[(0, 0)]).abs() <= 1e-9 * (1.0 + wu.abs()));
        let z = common::normal((16, 3), 3.0, &mut r);
        let (_, ld) = apply(&p, &store, &z, Direction::Inverse).unwrap();
        prop_assert!(ld.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn radial_beta_at_least_minus_alpha(s in seed(), scale in 0.1f64..30.0) {
        let (mut store, mut r) = (ParamStore::new(), rng(s));
        let q = Radial::new(&mut store, "q", 2, &mut r).unwrap();
        arbitrary(&mut store, scale, &mut r);
        let (alpha, beta) = q.constrained(&NoGrad::new(&store)).unwrap();
        prop_assert!(alpha[(0, 0)] > 0.0 && beta[(0, 0)] >= -alpha[(0, 0)]);
        let z = common::normal((16, 2), 3.0, &mut r);
        let (_, ld) = apply(&q, &store, &z, Direction::Inverse).unwrap();
        prop_assert!(ld.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn sylvester_factors_stay_in_zero_two(s in seed(), scale in 0.1f64..10.0, kind in 0usize..3) {
        let kind = [
            SylvesterKind::Orthogonal { columns: 2 },
            SylvesterKind::Householder { reflections: 3 },
            SylvesterKind::Triangular { reverse: true },
        ][kind];
        let (mut store, mut r) = (ParamStore::new(), rng(s));
        let f = Sylvester::new(&mut store, "s", 3, kind, &mut r).unwrap();
        arbitrary(&mut store, scale, &mut r);
        let z = common::normal((16, 3), 3.0, &mut r);
        let (_, ld) = apply(&f, &store, &z, Direction::Inverse).unwrap();
        // Each of the m factors 1 + h' r~ r lies in (0, 2).
        prop_assert!(ld.iter().all(|v| v.is_finite() && *v < 3.0 * 2f64.ln()));
    }

    #[test]
    fn lu_linear_is_invertible_with_the_stated_log_det(s in seed(), scale in 0.1f64..3.0) {
        let (mut store, mut r) = (ParamStore::new(), rng(s));
        let f = InvertibleLinear::new(&mut store, "w", 4, &mut r).unwrap();
        arbitrary(&mut store, scale, &mut r);
        let w = f.weight(&store).unwrap();
        let (ld, _) = flows::linalg::log_abs_det(&w).unwrap();
        let l = store.get(store.id("w.log_scale").unwrap()).unwrap().view().sum();
        prop_assert!((ld - l).abs() < 1e-9 * (1.0 + l.abs()));
        let x = common::normal((8, 4), 1.0, &mut r);
        // Rounding grows with the condition number of W; wild raw values give a few 1e3.
        prop_assert!(round_trip_error(&f, &store, &x) < 1e-9 * (1.0 + scale.exp()).powi(4));
    }

    #[test]
    fn bounded_scales_keep_couplings_and_maf_invertible(s in seed(), scale in 0.1f64..5.0) {
        let (mut store, mut r) = (ParamStore::new(), rng(s));
        let c = Coupling::affine(&mut store, "c", &[false, true, true], &[8], Activation::Tanh, ScaleBound::Softplus { min_scale: 1e-2 }, &mut r).unwrap();
        let m = AutoregressiveAffine::new(&mut store, "m", 3, &[8], &Order::Random, Conditioning::Data, ScaleBound::Tanh { bound: 3.0 }, &mut r).unwrap();
        arbitrary(&mut store, scale, &mut r);
        let x = common::normal((8, 3), 1.0, &mut r);
        prop_assert!(round_trip_error(&c, &store, &x) < 1e-9);
        prop_assert!(round_trip_error(&m, &store, &x) < 1e-9);
    }
}

#[test]
fn tape_and_plain_arrays_agree() {
    let (mut store, mut r) = (ParamStore::new(), rng(3));
    let f = Sylvester::new(&mut store, "s", 3, SylvesterKind::Orthogonal { columns: 2 }, &mut r).unwrap();
    let z = common::normal((4, 3), 1.0, &mut r);
    let tape = autodiff::Tape::new();
    let s = tape.session(&store);
    let (x, ld) = f.inverse(&s, &s.constant(z.clone())).unwrap();
    let (xa, lda) = apply(&f, &store, &z, Direction::Inverse).unwrap();
    assert_eq!(x.value(), xa);
    assert_eq!(ld.to_array(), lda);
}
