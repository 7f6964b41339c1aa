//! Densities: a flow density integrates to one, samples and log-densities agree,
//! the energies match their closed forms, the toy sets look like themselves.

mod common;

use autodiff::{NoGrad, ParamStore, Tensor};
use common::{randomize, rng};
use flows::{Chain, Conditioning, Energy, Flow, FlowDistribution, Grid, Toy, models};
use ndarray::array;

/// Midpoint rule for the density on an `n x n` grid over `[-l, l]^2`, plus the
/// Monte-Carlo fraction of samples falling outside the box: together, 1.
fn total_mass(dist: &FlowDistribution<Chain>, store: &ParamStore, l: f64, n: usize) -> f64 {
    let grid = Grid::new(l, n).unwrap();
    let lp = dist.log_prob(&NoGrad::new(store), &grid.points()).unwrap();
    let inside = grid.integrate(&lp.mapv(f64::exp)).unwrap();
    let xs = dist.sample(store, 20_000, &mut rng(99)).unwrap();
    let outside =
        xs.rows().into_iter().filter(|r| r[0].abs() > l || r[1].abs() > l).count() as f64 / 20_000.0;
    inside + outside
}

#[test]
fn grid_integrates_and_draws() {
    let grid = Grid::new(3.0, 60).unwrap();
    let pts = grid.points();
    // The standard normal restricted to [-3, 3]^2 has mass erf(3 / sqrt 2)^2 = 0.994609...
    let pdf = pts
        .map_axis(ndarray::Axis(1), |p| {
            (-(p[0] * p[0] + p[1] * p[1]) / 2.0).exp() / (2.0 * std::f64::consts::PI)
        })
        .insert_axis(ndarray::Axis(1));
    assert!((grid.integrate(&pdf).unwrap() - 0.994_608_9).abs() < 1e-3);
    let img = grid.image(&pts.column(1).to_owned().insert_axis(ndarray::Axis(1))).unwrap();
    assert!(img[(0, 0)] > 0.0 && img[(59, 0)] < 0.0, "y points up");
    let hist = grid.histogram(&array![[0.01, 2.99], [5.0, 0.0]]).unwrap();
    // One of two samples in the top cell right of the centre: density 0.5 / h^2.
    assert!((hist[(0, 30)] - 0.5 / 0.01).abs() < 1e-9 && (hist.view().sum() * 0.01 - 0.5).abs() < 1e-12);
    assert!(Grid::new(0.0, 3).is_err() && grid.image(&pdf.slice(ndarray::s![..5, ..]).to_owned()).is_err());
}

#[test]
fn grid_images_and_histograms_of_the_wrong_shape_are_errors_not_panics() {
    let grid = Grid::new(1.0, 2).unwrap();
    // Four values as a row (1 x 4) used to pass the count check and then index past row 0.
    let err = grid.image(&array![[1.0, 2.0, 3.0, 4.0]]).unwrap_err();
    assert_eq!(err, flows::Error::Dim { flow: "Grid::image", got: 4, expected: 1 });
    assert_eq!(err.to_string(), "Grid::image: input has 4 columns, the flow acts on 1");
    let err = grid.image(&array![[1.0], [2.0], [3.0]]).unwrap_err();
    assert!(matches!(err, flows::Error::Config { flow: "Grid", .. }), "{err:?}");
    assert!(err.to_string().contains("3 values for 4 grid points"), "{err}");
    // One-column samples used to panic reading their y.
    let err = grid.histogram(&array![[0.5], [0.25]]).unwrap_err();
    assert_eq!(err, flows::Error::Dim { flow: "Grid::histogram", got: 1, expected: 2 });
    assert!(err.to_string().starts_with("Grid::histogram: input has 1 columns"), "{err}");
}

#[test]
fn flow_densities_integrate_to_one() {
    type Builder = fn(&mut ParamStore, &mut common::TestRng) -> flows::Result<Chain>;
    let builders: [(&str, Builder); 3] = [
        ("realnvp", |s, r| models::real_nvp(s, "nvp", 2, 4, &[16, 16], r)),
        ("glow", |s, r| models::glow(s, "glow", 2, 2, &[16], r)),
        ("maf", |s, r| models::autoregressive(s, "maf", 2, 3, &[16], Conditioning::Data, r)),
    ];
    for (name, build) in builders {
        let (mut store, mut r) = (ParamStore::new(), rng(4));
        let flow = build(&mut store, &mut r).unwrap();
        randomize(&mut store, 0.2, &mut r);
        let dist = FlowDistribution::standard(flow);
        let mass = total_mass(&dist, &store, 6.0, 300);
        assert!((mass - 1.0).abs() < 0.01, "{name}: total mass {mass}");
    }
}

#[test]
fn a_trained_density_still_integrates_to_one() {
    // 60 steps of plain gradient descent on two moons move the parameters far from
    // their initial values; the change of variables keeps the density normalised.
    let (mut store, mut r) = (ParamStore::new(), rng(7));
    let dist =
        FlowDistribution::standard(models::real_nvp(&mut store, "nvp", 2, 4, &[16, 16], &mut r).unwrap());
    let x = Toy::TwoMoons.sample(256, &mut r);
    let nll = |store: &ParamStore| -dist.log_prob(&NoGrad::new(store), &x).unwrap().view().mean().unwrap();
    let before = nll(&store);
    for _ in 0..60 {
        let tape = autodiff::Tape::new();
        let s = tape.session(&store);
        let loss = dist.log_prob(&s, &tape.constant(x.clone())).unwrap().mean().unwrap().neg();
        let grads = loss.backward().unwrap();
        for (id, g) in grads.params() {
            let step = g * 0.05;
            *store.get_mut(id).unwrap() -= &step;
        }
    }
    let after = nll(&store);
    assert!(after < before - 0.3, "training lowered the NLL only from {before} to {after}");
    let mass = total_mass(&dist, &store, 6.0, 300);
    assert!((mass - 1.0).abs() < 0.01, "total mass {mass}");
}

#[test]
fn samples_carry_their_log_density() {
    let (mut store, mut r) = (ParamStore::new(), rng(5));
    let flow = models::glow(&mut store, "glow", 3, 2, &[8], &mut r).unwrap();
    randomize(&mut store, 0.2, &mut r);
    let dist = FlowDistribution::standard(flow);
    let s = NoGrad::new(&store);
    let (x, lq) = dist.rsample_and_log_prob(&s, 50, &mut r).unwrap();
    let lp = dist.log_prob(&s, &x).unwrap();
    assert!(autodiff::gradcheck::all_close(&lq, &lp, 1e-10, 1e-10));
    // A shifted, scaled base: log-density of the identity-like flow changes accordingly.
    let base =
        dists::DiagNormal::from_mean_log_var(array![[1.0, 0.0, -1.0]], array![[0.0, 0.5, -0.5]]).unwrap();
    assert!(FlowDistribution::new(dist.flow().clone(), base).is_ok());
    let bad = dists::DiagNormal::from_mean_log_var(array![[0.0]], array![[0.0]]).unwrap();
    assert!(FlowDistribution::new(dist.flow().clone(), bad).is_err());
}

#[test]
fn planar_distribution_samples_on_the_tape() {
    let (mut store, mut r) = (ParamStore::new(), rng(6));
    let flow = models::planar(&mut store, "p", 2, 4, &mut r).unwrap();
    let dist = FlowDistribution::standard(flow);
    let tape = autodiff::Tape::new();
    let s = tape.session(&store);
    let (x, lq) = dist.rsample_and_log_prob(&s, 32, &mut r).unwrap();
    // Reverse KL to U1 up to its log-partition: E_q[ln q + U].
    let loss = lq.add(&Energy::U1.eval(&x).unwrap()).unwrap().mean().unwrap();
    let grads = loss.backward().unwrap();
    assert_eq!(grads.params().count(), store.len());
    assert!(dist.log_prob(&NoGrad::new(&store), &x.value()).is_err());
}

#[test]
fn energies_match_table_1() {
    let z = array![[0.3, -1.2], [2.0, 0.5], [-1.0, 2.5]];
    let u = |e: Energy| e.eval(&z).unwrap();
    for r in 0..3 {
        let (z1, z2) = (z[(r, 0)], z[(r, 1)]);
        let norm = (z1 * z1 + z2 * z2).sqrt();
        let g = |a: f64, s: f64| (-0.5 * (a / s).powi(2)).exp();
        let w1 = (std::f64::consts::PI * z1 / 2.0).sin();
        let w2 = 3.0 * g(z1 - 1.0, 0.6);
        let w3 = 3.0 / (1.0 + (-(z1 - 1.0) / 0.3).exp());
        let want = [
            0.5 * ((norm - 2.0) / 0.4).powi(2) - (g(z1 - 2.0, 0.6) + g(z1 + 2.0, 0.6)).ln(),
            0.5 * ((z2 - w1) / 0.4).powi(2),
            -(g(z2 - w1, 0.35) + g(z2 - w1 + w2, 0.35)).ln(),
            -(g(z2 - w1, 0.4) + g(z2 - w1 + w3, 0.35)).ln(),
        ];
        for (e, w) in Energy::ALL.into_iter().zip(want) {
            assert!((u(e)[(r, 0)] - w).abs() < 1e-12, "{} at row {r}", e.name());
        }
    }
    // The wall: zero inside |z1| <= 4, (|z1| - 4)^2 / (2 0.2^2) outside.
    let far = array![[5.0, 0.0]];
    let near = array![[4.0, 0.0]];
    let wall = Energy::U2.eval(&far).unwrap()[(0, 0)]
        - 0.5 * ((0.0 - (std::f64::consts::PI * 2.5).sin()) / 0.4f64).powi(2);
    assert!((wall - 12.5).abs() < 1e-9);
    assert!(
        (Energy::U2.eval(&near).unwrap()[(0, 0)]
            - 0.5 * ((0.0 - (2.0 * std::f64::consts::PI).sin()) / 0.4f64).powi(2))
        .abs()
            < 1e-12
    );
}

#[test]
fn energies_have_gradients() {
    let z = array![[0.3, -1.2], [2.0, 0.5], [-4.5, 2.5]];
    for e in Energy::ALL {
        autodiff::gradcheck(|v| e.eval(&v[0]), &[z.clone()], &autodiff::GradCheck::default())
            .unwrap_or_else(|err| panic!("{}: {err}", e.name()));
    }
}

#[test]
fn known_entropies_match_their_densities() {
    // Checkerboard: uniform on 8 squares of side 2, area 32.
    assert_eq!(Toy::Checkerboard.entropy(), Some(32f64.ln()));
    // 8 Gaussians: the mixture of N(4 c_k / sqrt 2, (0.5 / sqrt 2)^2 I) with equal
    // weights; -E[ln p] by Monte Carlo over 40,000 draws, within 4 standard errors.
    let x = Toy::EightGaussians.sample(40_000, &mut rng(5));
    let (var, pi) = (0.125, std::f64::consts::PI);
    let centres: Vec<(f64, f64)> = (0..8)
        .map(|k| {
            let a = k as f64 * pi / 4.0;
            (4.0 * a.cos() / 2f64.sqrt(), 4.0 * a.sin() / 2f64.sqrt())
        })
        .collect();
    let nll: Vec<f64> = x
        .rows()
        .into_iter()
        .map(|p| {
            let density: f64 = centres
                .iter()
                .map(|(cx, cy)| (-((p[0] - cx).powi(2) + (p[1] - cy).powi(2)) / (2.0 * var)).exp())
                .sum::<f64>()
                / (8.0 * 2.0 * pi * var);
            -density.ln()
        })
        .collect();
    let n = nll.len() as f64;
    let mean = nll.iter().sum::<f64>() / n;
    let se = (nll.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0) / n).sqrt();
    let want = Toy::EightGaussians.entropy().unwrap();
    assert!((mean - want).abs() < 4.0 * se + 5e-4, "entropy {mean} +- {se} vs {want}");
    assert_eq!(Toy::TwoMoons.entropy(), None);
}

#[test]
fn toy_sets_are_seeded_and_shaped() {
    for toy in Toy::ALL {
        let a = toy.sample(2000, &mut rng(1));
        assert_eq!(a, toy.sample(2000, &mut rng(1)), "{}", toy.name());
        assert_eq!(a.dim(), (2000, 2));
        assert!(a.iter().all(|v| v.is_finite() && v.abs() < 10.0), "{}", toy.name());
        let mean = a.view().mean_axis(ndarray::Axis(0)).unwrap();
        let spread = a.view().std_axis(ndarray::Axis(0), 0.0);
        assert!(spread.iter().all(|&s| s > 0.3 && s < 5.0), "{}: spread {spread}", toy.name());
        // All but two moons are (nearly) centred.
        if toy != Toy::TwoMoons {
            assert!(mean.iter().all(|m| m.abs() < 0.5), "{}: mean {mean}", toy.name());
        }
    }
    // Rings: radii 3, 2.25, 1.5, 0.75 in equal shares.
    let rings = Toy::Rings.sample(4000, &mut rng(2));
    let near = |r0: f64| {
        rings.rows().into_iter().filter(|p| ((p[0] * p[0] + p[1] * p[1]).sqrt() - r0).abs() < 0.3).count()
    };
    for r0 in [3.0, 2.25, 1.5, 0.75] {
        assert!((near(r0) as f64 / 1000.0 - 1.0).abs() < 0.1, "ring {r0}: {}", near(r0));
    }
    // Circles: radii 3 and 1.5 in equal shares, radial noise 3 x 0.08.
    let circles = Toy::Circles.sample(4000, &mut rng(3));
    let radii: Vec<f64> = circles.rows().into_iter().map(|p| (p[0] * p[0] + p[1] * p[1]).sqrt()).collect();
    let outer: Vec<f64> = radii.iter().copied().filter(|&r| r > 2.25).collect();
    assert!((outer.len() as f64 / 2000.0 - 1.0).abs() < 0.05, "outer share {}", outer.len());
    let mean = outer.iter().sum::<f64>() / outer.len() as f64;
    let std = (outer.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / outer.len() as f64).sqrt();
    assert!((mean - 3.0).abs() < 0.03 && (std - 0.24).abs() < 0.02, "outer radius {mean} +- {std}");
}

/// A flow saved as named parameters and rebuilt from the same generator computes the
/// same density to the bit: no state outside the store but what construction draws.
#[test]
fn rebuilt_flows_with_loaded_parameters_give_the_same_density() {
    let x = Toy::Checkerboard.sample(300, &mut rng(4));
    for family in 0..3 {
        let build = |store: &mut ParamStore| -> Chain {
            let r = &mut rng(9);
            match family {
                0 => models::real_nvp(store, "m", 2, 4, &[16], r),
                1 => models::glow(store, "m", 2, 3, &[16], r),
                _ => models::autoregressive(store, "m", 2, 3, &[16], Conditioning::Data, r),
            }
            .unwrap()
        };
        let mut store = ParamStore::new();
        let flow = build(&mut store);
        flow.data_init(&mut store, &x).unwrap();
        randomize(&mut store, 0.3, &mut rng(5));
        let saved = store.to_named();
        let dist = FlowDistribution::standard(flow);
        let want = dist.log_prob(&NoGrad::new(&store), &x).unwrap();
        let mut again = ParamStore::new();
        let rebuilt = FlowDistribution::standard(build(&mut again));
        again.load_named(&saved).unwrap();
        let got = rebuilt.log_prob(&NoGrad::new(&again), &x).unwrap();
        assert_eq!(got, want, "family {family}");
    }
}
