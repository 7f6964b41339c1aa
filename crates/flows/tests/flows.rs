//! Every flow with random parameters: round trip to 1e-9, log-determinant against
//! the LU log-determinant of the finite-difference Jacobian, and parameter and input
//! gradients against finite differences (see `common::check_flow`).

mod common;

use autodiff::{Activation, ParamStore};
use common::{check_flow, normal, randomize, rng};
use flows::{
    AutoregressiveAffine, Chain, Conditioning, Coupling, Direction, ElementwiseAffine, Error, Flow,
    InvertibleLinear, Layer, Order, Permutation, Planar, Radial, ScaleBound, Sylvester, SylvesterKind,
    alternating_mask, models,
};

const D: usize = 3;

fn data(seed: u64) -> ndarray::Array2<f64> {
    normal((5, D), 1.0, &mut rng(seed))
}

#[test]
fn additive_coupling() {
    let (mut store, mut r) = (ParamStore::new(), rng(1));
    let f =
        Coupling::additive(&mut store, "c", &[true, false, true], &[8], Activation::Tanh, &mut r).unwrap();
    randomize(&mut store, 0.3, &mut r);
    assert_eq!(check_flow(&f, &store, &data(2)), [Direction::Forward, Direction::Inverse]);
}

#[test]
fn affine_coupling_with_both_scale_bounds() {
    for (i, bound) in
        [ScaleBound::Tanh { bound: 2.0 }, ScaleBound::Softplus { min_scale: 1e-3 }].into_iter().enumerate()
    {
        let (mut store, mut r) = (ParamStore::new(), rng(3 + i as u64));
        let mask = alternating_mask(D, i);
        let f = Coupling::affine(&mut store, "c", &mask, &[8, 8], Activation::Tanh, bound, &mut r).unwrap();
        randomize(&mut store, 0.3, &mut r);
        check_flow(&f, &store, &data(4));
    }
}

#[test]
fn nice_scaling_and_actnorm() {
    let (mut store, mut r) = (ParamStore::new(), rng(5));
    let scale = ElementwiseAffine::nice_scaling(&mut store, "s", D).unwrap();
    let act = ElementwiseAffine::actnorm(&mut store, "a", D).unwrap();
    randomize(&mut store, 0.5, &mut r);
    check_flow(&scale, &store, &data(6));
    check_flow(&act, &store, &data(6));
}

#[test]
fn actnorm_data_init_standardises_the_batch() {
    let (mut store, mut r) = (ParamStore::new(), rng(7));
    let act = ElementwiseAffine::actnorm(&mut store, "a", D).unwrap();
    let x = normal((200, D), 3.0, &mut r).mapv(|v| v + 5.0);
    act.data_init(&mut store, &x).unwrap();
    let (z, _) = common::apply(&act, &store, &x, Direction::Forward).unwrap();
    for col in z.columns() {
        // Mean 0 and population std 1 up to the 1e-6 added to the std.
        assert!(col.mean().unwrap().abs() < 1e-12);
        assert!((col.std(0.0) - 1.0).abs() < 1e-6);
    }
    assert!(act.data_init(&mut store, &normal((1, D), 1.0, &mut r)).is_err());
}

#[test]
fn permutation_and_invertible_linear() {
    let (mut store, mut r) = (ParamStore::new(), rng(8));
    check_flow(&Permutation::random(D, &mut r).unwrap(), &store, &data(9));
    let lin = InvertibleLinear::new(&mut store, "w", D, &mut r).unwrap();
    // Initialised at a rotation: |det W| = 1.
    let w = lin.weight(&store).unwrap();
    assert!(autodiff::gradcheck::all_close(&w.t().dot(&w), &ndarray::Array2::eye(D), 1e-12, 1e-12));
    randomize(&mut store, 0.3, &mut r);
    check_flow(&lin, &store, &data(9));
    let (ld, _) = flows::linalg::log_abs_det(&lin.weight(&store).unwrap()).unwrap();
    let (_, fwd_ld) = common::apply(&lin, &store, &data(9), Direction::Forward).unwrap();
    assert!((ld - fwd_ld[(0, 0)]).abs() < 1e-12);
}

#[test]
fn planar_and_radial_run_base_to_data_only() {
    let (mut store, mut r) = (ParamStore::new(), rng(10));
    let p = Planar::new(&mut store, "p", D, &mut r).unwrap();
    let q = Radial::new(&mut store, "q", D, &mut r).unwrap();
    randomize(&mut store, 0.7, &mut r);
    assert_eq!(check_flow(&p, &store, &data(11)), [Direction::Inverse]);
    assert_eq!(check_flow(&q, &store, &data(11)), [Direction::Inverse]);
    let err = common::apply(&p, &store, &data(11), Direction::Forward).unwrap_err();
    assert!(matches!(err, Error::NoClosedForm { flow: "planar", direction: Direction::Forward }));
    assert!(err.to_string().contains("no closed form"));
}

#[test]
fn maf_and_iaf_both_directions() {
    for (i, cond) in [Conditioning::Data, Conditioning::Base].into_iter().enumerate() {
        let (mut store, mut r) = (ParamStore::new(), rng(12 + i as u64));
        let f = AutoregressiveAffine::new(
            &mut store,
            "m",
            D,
            &[8, 8],
            &Order::Random,
            cond,
            ScaleBound::Tanh { bound: 2.0 },
            &mut r,
        )
        .unwrap();
        randomize(&mut store, 0.3, &mut r);
        check_flow(&f, &store, &data(14));
        let cheap = if cond == Conditioning::Data { Direction::Forward } else { Direction::Inverse };
        assert_eq!(f.cheap_direction(), cheap);
    }
}

#[test]
fn sylvester_variants() {
    let kinds = [
        SylvesterKind::Orthogonal { columns: 2 },
        SylvesterKind::Householder { reflections: 2 },
        SylvesterKind::Triangular { reverse: false },
        SylvesterKind::Triangular { reverse: true },
    ];
    for (i, kind) in kinds.into_iter().enumerate() {
        let (mut store, mut r) = (ParamStore::new(), rng(15 + i as u64));
        let f = Sylvester::new(&mut store, "s", D, kind, &mut r).unwrap();
        randomize(&mut store, 0.5, &mut r);
        let q = f.q(&autodiff::NoGrad::new(&store)).unwrap();
        let qtq = q.t().dot(&q);
        assert!(
            autodiff::gradcheck::all_close(&qtq, &ndarray::Array2::eye(q.ncols()), 1e-12, 1e-12),
            "{kind:?}"
        );
        assert_eq!(check_flow(&f, &store, &data(16)), [Direction::Inverse]);
    }
}

#[test]
fn stacks_from_models() {
    let mut r = rng(20);
    let mut build: Vec<(ParamStore, Chain)> = Vec::new();
    type Builder = fn(&mut ParamStore, &mut common::TestRng) -> flows::Result<Chain>;
    let builders: [Builder; 6] = [
        |s, r| models::real_nvp(s, "nvp", D, 3, &[8], r),
        |s, r| models::nice(s, "nice", D, 3, &[8], r),
        |s, r| models::glow(s, "glow", D, 2, &[8], r),
        |s, r| models::autoregressive(s, "maf", D, 2, &[8], Conditioning::Data, r),
        |s, r| models::planar(s, "planar", D, 3, r),
        |s, r| models::sylvester(s, "syl", D, 2, SylvesterKind::Triangular { reverse: false }, r),
    ];
    for b in builders {
        let mut store = ParamStore::new();
        let chain = b(&mut store, &mut r).unwrap();
        randomize(&mut store, 0.1, &mut r);
        build.push((store, chain));
    }
    for (store, chain) in &build {
        check_flow(chain, store, &data(21));
    }
}

#[test]
fn chain_sums_log_dets_and_rejects_mismatched_layers() {
    let (mut store, mut r) = (ParamStore::new(), rng(22));
    let a: Layer = ElementwiseAffine::actnorm(&mut store, "a", D).unwrap().into();
    let b: Layer = InvertibleLinear::new(&mut store, "b", D, &mut r).unwrap().into();
    randomize(&mut store, 0.4, &mut r);
    let x = data(23);
    let (ya, la) = common::apply(&a, &store, &x, Direction::Forward).unwrap();
    let (yb, lb) = common::apply(&b, &store, &ya, Direction::Forward).unwrap();
    let chain = Chain::new(vec![a, b]).unwrap();
    let (y, l) = common::apply(&chain, &store, &x, Direction::Forward).unwrap();
    assert_eq!(y, yb);
    assert_eq!(l, &la + &lb);
    let c: Layer = Permutation::reverse(D + 1).unwrap().into();
    assert!(matches!(Chain::new(vec![chain.layers()[0].clone(), c]), Err(Error::Config { .. })));
    assert!(Chain::<Layer>::new(vec![]).is_err());
    let wrong = normal((2, D + 1), 1.0, &mut r);
    assert!(matches!(common::apply(&chain, &store, &wrong, Direction::Forward), Err(Error::Dim { .. })));
}

#[test]
fn chain_data_init_reaches_every_actnorm_and_stops_at_generative_layers() {
    let (mut store, mut r) = (ParamStore::new(), rng(30));
    let glow = models::glow(&mut store, "glow", D, 2, &[8], &mut r).unwrap();
    let x = normal((300, D), 2.0, &mut r).mapv(|v| v - 3.0);
    glow.data_init(&mut store, &x).unwrap();
    // The input of the second ActNorm (layer 3) leaves it standardised.
    let head = Chain::new(glow.layers()[..4].to_vec()).unwrap();
    let (h, _) = common::apply(&head, &store, &x, Direction::Forward).unwrap();
    for col in h.columns() {
        assert!(col.mean().unwrap().abs() < 1e-9 && (col.std(0.0) - 1.0).abs() < 1e-5);
    }
    let mixed = Chain::new(vec![
        Layer::from(ElementwiseAffine::actnorm(&mut store, "a", D).unwrap()),
        Layer::from(Planar::new(&mut store, "p", D, &mut r).unwrap()),
        Layer::from(ElementwiseAffine::actnorm(&mut store, "b", D).unwrap()),
    ])
    .unwrap();
    mixed.data_init(&mut store, &x).unwrap();
    assert_ne!(store.get(store.id("a.shift").unwrap()).unwrap(), ndarray::Array2::<f64>::zeros((1, D)));
    assert_eq!(store.get(store.id("b.shift").unwrap()).unwrap(), ndarray::Array2::<f64>::zeros((1, D)));
    assert_eq!(mixed.cheap_direction(), Direction::Forward);
    assert_eq!(models::planar(&mut store, "q", D, 2, &mut r).unwrap().cheap_direction(), Direction::Inverse);
}

#[test]
fn configuration_errors_name_the_flow() {
    let (mut store, mut r) = (ParamStore::new(), rng(31));
    let err = Coupling::additive(&mut store, "c", &[true, true], &[4], Activation::Tanh, &mut r).unwrap_err();
    assert!(err.to_string().contains("additive coupling"), "{err}");
    let bound = ScaleBound::Tanh { bound: -1.0 };
    let err =
        Coupling::affine(&mut store, "d", &[true, false], &[4], Activation::Tanh, bound, &mut r).unwrap_err();
    assert!(err.to_string().contains("affine coupling"), "{err}");
    let err =
        Sylvester::new(&mut store, "s", 2, SylvesterKind::Orthogonal { columns: 3 }, &mut r).unwrap_err();
    assert!(err.to_string().contains("sylvester"), "{err}");
    assert!(Permutation::new(vec![0, 2]).is_err());
    let p = Planar::new(&mut store, "p", 2, &mut r).unwrap();
    let err = common::apply(&p, &store, &normal((1, 3), 1.0, &mut r), Direction::Inverse).unwrap_err();
    assert_eq!(err, Error::Dim { flow: "planar", got: 3, expected: 2 });
}
