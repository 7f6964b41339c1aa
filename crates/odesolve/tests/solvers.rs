//! Every solver through every test problem with an exact solution: accuracy,
//! convergence order, dense output, statistics and errors.

mod common;

use autodiff::{NoGrad, ParamStore, Tape};
use common::{CosGrowth, Decay, Exact, MlpField, Oscillator, exact_problems, max_abs};
use ndarray::{Array2, array};
use odesolve::{
    ButcherTableau, DenseOutput, FnOde, Method, OdeError, PiController, SolveOptions, Tolerance, WithParams,
    odeint, odeint_session,
};

const TS: [f64; 4] = [0.0, 0.3, 1.1, 2.0];

fn is_adaptive(m: &Method) -> bool {
    m.tableau().error_weights().is_some()
}

#[test]
fn builtin_tableaux_are_consistent_and_fsal_is_derived() {
    for m in Method::all() {
        let tab = m.tableau();
        let fsal = matches!(m, Method::Dopri5 | Method::Tsit5 | Method::Bosh3);
        assert_eq!(tab.fsal(), fsal, "{}", tab.name());
        // The dense output reproduces both step ends: theta = 0 gives y0 (all weights 0),
        // theta = 1 gives y1 (weights b, and 0 on f(t1, y1)).
        assert!(tab.dense_weights(0.0).iter().all(|w| w.abs() < 1e-15), "{}", tab.name());
        let w1 = tab.dense_weights(1.0);
        for (i, b) in tab.b().iter().enumerate() {
            assert!((w1[i] - b).abs() < 1e-14, "{} weight {i}", tab.name());
        }
    }
}

#[test]
fn broken_tableaux_are_rejected() {
    let mk = |a: Vec<Vec<f64>>, b: Vec<f64>, c: Vec<f64>, e: Option<(Vec<f64>, usize)>| {
        ButcherTableau::new("broken", 2, a, b, c, e, DenseOutput::Hermite)
    };
    let cases = [
        (mk(vec![vec![], vec![0.4]], vec![0.0, 1.0], vec![0.0, 0.5], None), "sums to 0.4"),
        (mk(vec![vec![], vec![0.5]], vec![0.25, 0.5], vec![0.0, 0.5], None), "sum to 0.75"),
        (
            mk(vec![vec![], vec![0.5]], vec![0.0, 1.0], vec![0.0, 0.5], Some((vec![0.1, 0.0], 1))),
            "summing to 0.1",
        ),
        (mk(vec![vec![], vec![0.5, 0.0]], vec![0.0, 1.0], vec![0.0, 0.5], None), "row 1 of a has 2"),
        (mk(vec![vec![]], vec![1.0], vec![0.5], None), "c_0"),
    ];
    for (res, needle) in cases {
        match res {
            Err(e @ OdeError::Tableau { .. }) => {
                assert!(e.to_string().contains(needle), "{e} lacks {needle}")
            }
            other => panic!("expected a tableau error containing {needle}, got {other:?}"),
        }
    }
}

#[test]
fn every_method_solves_every_exact_problem() {
    for p in exact_problems() {
        for m in Method::all() {
            let name = m.tableau().name().to_owned();
            let order = m.tableau().order() as i32;
            let (opts, bound) = if is_adaptive(&m) {
                // Hermite dense output (third order) limits the interior outputs.
                let hermite = *m.tableau().dense() == DenseOutput::Hermite;
                (SolveOptions::new(m).tol(1e-10, 1e-10), if hermite { 1e-6 } else { 1e-8 })
            } else {
                // Global error of a p-th order method with h = 0.01 is about C h^p.
                (SolveOptions::new(m).step_size(0.01), 10.0 * 0.01f64.powi(order))
            };
            let sol = odeint(p.as_ref(), &p.y0(), &TS, &opts).unwrap();
            assert_eq!(sol.ys.len(), TS.len());
            for (t, y) in TS.iter().zip(&sol.ys) {
                let err = max_abs(y, &p.exact(*t));
                assert!(err < bound, "{name} on {}: error {err:e} at t = {t} (bound {bound:e})", p.name());
            }
        }
    }
}

/// Least-squares slope of log(error) against log(h).
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let (lx, ly): (Vec<f64>, Vec<f64>) = points.iter().map(|(h, e)| (h.ln(), e.ln())).unzip();
    let (mx, my) = (lx.iter().sum::<f64>() / n, ly.iter().sum::<f64>() / n);
    let sxy: f64 = lx.iter().zip(&ly).map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = lx.iter().map(|x| (x - mx) * (x - mx)).sum();
    sxy / sxx
}

#[test]
fn measured_convergence_orders() {
    // Fixed steps for every method, including Dopri5's fifth-order solution.
    let p = Oscillator { d: 0.2, w: 2.0 };
    let cases = [
        (Method::Euler, 1.0, [0.02, 0.01, 0.005, 0.0025]),
        (Method::Midpoint, 2.0, [0.04, 0.02, 0.01, 0.005]),
        (Method::Rk4, 4.0, [0.1, 0.05, 0.025, 0.0125]),
        (Method::Rk4ThreeEighths, 4.0, [0.1, 0.05, 0.025, 0.0125]),
        (Method::Bosh3, 3.0, [0.1, 0.05, 0.025, 0.0125]),
        (Method::Dopri5, 5.0, [0.1, 0.05, 0.025, 0.0125]),
        (Method::Tsit5, 5.0, [0.1, 0.05, 0.025, 0.0125]),
    ];
    for (m, order, hs) in cases {
        let name = m.tableau().name().to_owned();
        let pts: Vec<(f64, f64)> = hs
            .iter()
            .map(|&h| {
                let sol =
                    odeint(&p, &p.y0(), &[0.0, 2.0], &SolveOptions::new(m.clone()).step_size(h)).unwrap();
                (h, max_abs(&sol.ys[1], &p.exact(2.0)))
            })
            .collect();
        let k = slope(&pts);
        eprintln!("{name}: slope {k:.3} (expected {order}) from {pts:?}");
        assert!((k - order).abs() <= 0.1, "{name}: measured order {k} vs {order}");
    }
}

#[test]
fn dense_output_interpolates_without_shortening_steps() {
    let p = Oscillator { d: 0.2, w: 2.0 };
    let opts = SolveOptions::new(Method::Dopri5).tol(1e-8, 1e-8);
    let end_only = odeint(&p, &p.y0(), &[0.0, 5.0], &opts).unwrap();
    let ts: Vec<f64> = (0..=200).map(|i| i as f64 * 0.025).collect();
    let dense = odeint(&p, &p.y0(), &ts, &opts).unwrap();
    // Same steps, same work: outputs come from Hairer's continuous extension.
    assert_eq!(dense.stats, end_only.stats);
    assert_eq!(dense.ys[200], end_only.ys[1]);
    let worst = ts.iter().zip(&dense.ys).map(|(t, y)| max_abs(y, &p.exact(*t))).fold(0.0, f64::max);
    assert!(worst < 1e-6, "dense output error {worst:e}");
    // Hermite dense output (Tsit5, Bosh3) is accurate too.
    for m in [Method::Tsit5, Method::Bosh3] {
        let sol = odeint(&p, &p.y0(), &ts, &SolveOptions::new(m).tol(1e-8, 1e-8)).unwrap();
        let worst = ts.iter().zip(&sol.ys).map(|(t, y)| max_abs(y, &p.exact(*t))).fold(0.0, f64::max);
        assert!(worst < 1e-5, "hermite dense output error {worst:e}");
    }
}

#[test]
fn integrates_backwards_in_time() {
    let p = CosGrowth;
    let y2 = p.exact(2.0);
    let sol = odeint(&p, &y2, &[2.0, 1.0, 0.0], &SolveOptions::default()).unwrap();
    assert!(max_abs(&sol.ys[2], &p.y0()) < 1e-7);
    assert!(max_abs(&sol.ys[1], &p.exact(1.0)) < 1e-7);
}

#[test]
fn fixed_step_statistics_count_every_evaluation() {
    let p = Decay(1.0);
    // RK4: four evaluations per step; 2 / 0.1 = 20 steps.
    let sol = odeint(&p, &p.y0(), &[0.0, 2.0], &SolveOptions::new(Method::Rk4).step_size(0.1)).unwrap();
    assert_eq!((sol.stats.nfev, sol.stats.naccept), (80, 20));
    // Dopri5 with fixed steps is FSAL: 1 + 6 per step.
    let sol = odeint(&p, &p.y0(), &[0.0, 2.0], &SolveOptions::new(Method::Dopri5).step_size(0.1)).unwrap();
    assert_eq!(sol.stats.nfev, 1 + 6 * 20);
    // A grid: one step per interval.
    let sol = odeint(&p, &p.y0(), &TS, &SolveOptions::new(Method::Midpoint)).unwrap();
    assert_eq!((sol.stats.nfev, sol.stats.naccept), (6, 3));
}

#[test]
fn per_component_tolerances_and_max_step() {
    let p = Oscillator { d: 0.2, w: 2.0 };
    let opts = SolveOptions {
        rtol: Tolerance::PerComponent(vec![1e-9, 1e-6]),
        atol: Tolerance::PerComponent(vec![1e-9, 1e-6]),
        max_step: Some(0.05),
        ..SolveOptions::default()
    };
    let sol = odeint(&p, &p.y0(), &[0.0, 2.0], &opts).unwrap();
    assert!(max_abs(&sol.ys[1], &p.exact(2.0)) < 1e-5);
    assert!(sol.stats.naccept >= 40, "max_step 0.05 over [0, 2] needs at least 40 steps");
    let bad = SolveOptions { rtol: Tolerance::PerComponent(vec![1e-6]), ..SolveOptions::default() };
    assert!(matches!(odeint(&p, &p.y0(), &[0.0, 1.0], &bad), Err(OdeError::Options { name: "rtol", .. })));
}

#[test]
fn tape_and_array_paths_agree() {
    let mut store = ParamStore::new();
    let f = MlpField::new(&mut store, 3);
    let y0 = array![[0.5, -1.0], [1.5, 0.2]];
    let opts = SolveOptions::default();
    let arrays = odeint(&WithParams { func: &f, store: &store }, &y0, &TS, &opts).unwrap();
    let nograd = odeint_session(&f, &NoGrad::new(&store), &y0, &TS, &opts).unwrap();
    let tape = Tape::new();
    let s = tape.session(&store);
    let on_tape = odeint_session(&f, &s, &tape.leaf(y0.clone()), &TS, &opts).unwrap();
    assert_eq!(arrays.stats, on_tape.stats);
    for i in 0..TS.len() {
        assert_eq!(arrays.ys[i], nograd.ys[i]);
        assert!(max_abs(&arrays.ys[i], &on_tape.ys[i].value()) < 1e-14);
    }
}

#[test]
fn bad_output_times_are_named() {
    let p = Decay(1.0);
    let o = SolveOptions::default();
    for (ts, needle) in [
        (vec![], "no output times"),
        (vec![0.0, 1.0, 1.0], "t[1] = 1, t[2] = 1"),
        (vec![0.0, 2.0, 1.0], "not strictly increasing"),
        (vec![0.0, f64::NAN], "not finite"),
    ] {
        match odeint(&p, &p.y0(), &ts, &o) {
            Err(e @ OdeError::Times(_)) => assert!(e.to_string().contains(needle), "{e}"),
            other => panic!("{ts:?}: {other:?}"),
        }
    }
    // A single time returns the initial state without evaluating f.
    let sol = odeint(&p, &p.y0(), &[3.0], &o).unwrap();
    assert_eq!((sol.ys.len(), sol.stats.nfev), (1, 0));
}

/// Step and tolerance options that cannot work are named before any step is taken
/// (min_step > max_step used to surface as a step-size underflow mid-solve).
#[test]
fn bad_step_and_tolerance_options_are_named_before_stepping() {
    let p = Decay(1.0);
    let d = SolveOptions::default;
    let pi = |controller| SolveOptions { controller, ..d() };
    let cases = [
        (SolveOptions { max_step: Some(0.0), ..d() }, "max_step", "0 is not a finite, non-zero size"),
        (
            SolveOptions { min_step: 0.5, max_step: Some(0.1), ..d() },
            "min_step",
            "0.5 exceeds max_step = 0.1",
        ),
        (SolveOptions { min_step: -1.0, ..d() }, "min_step", "-1 is not a finite value >= 0"),
        (SolveOptions { first_step: Some(f64::NAN), ..d() }, "first_step", "NaN is not a finite"),
        (SolveOptions { max_steps: 0, ..d() }, "max_steps", "must be at least 1"),
        (d().tol(-1e-6, 1e-9), "rtol", "-0.000001 is not a finite value >= 0"),
        (d().tol(1e-6, f64::INFINITY), "atol", "inf is not a finite value >= 0"),
        (d().tol(0.0, 0.0), "atol", "rtol and atol are both 0"),
        (d().step_size(0.0), "fixed step size", "0 is not > 0"),
        (d().grid().tol(1e-6, -1.0), "atol", "-1 is not a finite value >= 0"),
        (
            pi(PiController { beta: 0.3, ..PiController::default() }),
            "controller.beta",
            "0.3 is not in [0, 0.2]",
        ),
        (pi(PiController { beta: f64::NAN, ..PiController::default() }), "controller.beta", "NaN is not in"),
        (
            pi(PiController { safety: 1.5, ..PiController::default() }),
            "controller.safety",
            "1.5 is not in (0, 1)",
        ),
        (
            pi(PiController { facmin: 0.0, ..PiController::default() }),
            "controller.facmin",
            "0 is not in (0, 1]",
        ),
        (
            pi(PiController { facmax: 0.5, ..PiController::default() }),
            "controller.facmax",
            "0.5 is not a finite",
        ),
        (
            pi(PiController { facmax: f64::INFINITY, ..PiController::default() }),
            "controller.facmax",
            "inf is not a finite value >= 1",
        ),
    ];
    for (opts, name, needle) in cases {
        // Counting evaluations shows the error comes before the first one.
        let calls = std::cell::Cell::new(0);
        let f = FnOde(|_t: f64, y: &Array2<f64>| {
            calls.set(calls.get() + 1);
            Ok(-y)
        });
        let err = odeint(&f, &p.y0(), &[0.0, 1.0], &opts).unwrap_err();
        assert!(matches!(err, OdeError::Options { name: n, .. } if n == name), "{name}: {err:?}");
        let message = err.to_string();
        assert!(message.starts_with(&format!("option `{name}`: ")) && message.contains(needle), "{message}");
        assert_eq!(calls.get(), 0, "{name}: no evaluation before the error");
        assert!(matches!(opts.validate(), Err(OdeError::Options { .. })), "{name}");
    }
    // Per-component tolerances that are both 0 in one column are caught at the start too.
    let zero_col = SolveOptions {
        rtol: Tolerance::PerComponent(vec![1e-6, 0.0]),
        atol: Tolerance::PerComponent(vec![1e-9, 0.0]),
        ..d()
    };
    let err = odeint(&p, &array![[1.0, 2.0]], &[0.0, 1.0], &zero_col).unwrap_err();
    assert!(matches!(err, OdeError::Options { name: "atol", .. }), "{err:?}");
    assert!(err.to_string().contains("both 0 for column 1"), "{err}");
}

#[test]
fn shape_mismatch_is_reported() {
    let f = FnOde(|_t: f64, y: &Array2<f64>| Ok(Array2::zeros((y.nrows(), y.ncols() + 1))));
    let e = odeint(&f, &array![[1.0, 2.0]], &[0.0, 1.0], &SolveOptions::default()).unwrap_err();
    assert_eq!(e, OdeError::Shape { what: "right-hand side output", expected: (1, 2), got: (1, 3) });
}

#[test]
fn blow_up_fails_with_a_typed_error_not_a_loop() {
    // y' = y^2, y(0) = 1 has y = 1 / (1 - t): it blows up at t = 1.
    let f = FnOde(|_t: f64, y: &Array2<f64>| Ok(y * y));
    let e = odeint(&f, &array![[1.0]], &[0.0, 2.0], &SolveOptions::default()).unwrap_err();
    match e {
        OdeError::StepSizeUnderflow { t, .. } | OdeError::NonFinite { t, .. } => {
            assert!((t - 1.0).abs() < 1e-3, "stopped at t = {t}")
        }
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn max_steps_and_min_step_are_enforced() {
    let p = Oscillator { d: 0.0, w: 50.0 };
    let opts = SolveOptions { max_steps: 10, ..SolveOptions::default() };
    let e = odeint(&p, &p.y0(), &[0.0, 10.0], &opts).unwrap_err();
    assert!(matches!(e, OdeError::MaxStepsExceeded { max_steps: 10, .. }), "{e}");
    let opts = SolveOptions { min_step: 0.5, ..SolveOptions::default() };
    let e = odeint(&p, &p.y0(), &[0.0, 10.0], &opts).unwrap_err();
    assert!(matches!(e, OdeError::StepSizeUnderflow { .. }), "{e}");
    let opts = SolveOptions { max_steps: 10, ..SolveOptions::new(Method::Euler).step_size(0.01) };
    let e = odeint(&p, &p.y0(), &[0.0, 1.0], &opts).unwrap_err();
    assert!(matches!(e, OdeError::MaxStepsExceeded { .. }), "{e}");
}

#[test]
fn non_finite_derivative_names_the_sample() {
    // Row 1 gets a NaN derivative once y < 0.5, which happens at t = ln 2.
    let f = FnOde(|_t: f64, y: &Array2<f64>| {
        let mut d = -y.clone();
        if y[[1, 0]] < 0.5 {
            d[[1, 0]] = f64::NAN;
        }
        Ok(d)
    });
    for m in [Method::Dopri5, Method::Rk4] {
        let e = odeint(&f, &array![[1.0], [1.0]], &[0.0, 2.0], &SolveOptions::new(m).step_size(0.01))
            .unwrap_err();
        match e {
            OdeError::NonFinite { sample, t, .. } => {
                assert_eq!(sample.0, Some(1));
                assert!((t - 2f64.ln()).abs() < 0.05, "t = {t}");
            }
            other => panic!("unexpected {other}"),
        }
    }
    let adaptive = odeint(&f, &array![[1.0], [1.0]], &[0.0, 2.0], &SolveOptions::default()).unwrap_err();
    assert!(matches!(adaptive, OdeError::NonFinite { sample: odesolve::Sample(Some(1)), .. }), "{adaptive}");
    let nan0 = odeint(&Decay(1.0), &array![[1.0], [f64::NAN]], &[0.0, 1.0], &SolveOptions::default());
    assert!(matches!(nan0, Err(OdeError::NonFinite { what: "state", .. })));
}

/// Options are data a model file stores: they go to JSON and back unchanged, a custom
/// tableau included, and a tableau edited into inconsistency is refused on the way in.
#[test]
fn options_round_trip_through_json_and_bad_tableaux_do_not_load() {
    use odesolve::{AdjointOptions, Gradient, Method, SolveOptions};
    let custom = Method::Custom(Box::new(Method::Dopri5.tableau()));
    let opts = SolveOptions { max_step: Some(0.5), ..SolveOptions::new(custom).tol(1e-6, 1e-8) };
    let json = serde_json::to_string(&opts).unwrap();
    assert_eq!(serde_json::from_str::<SolveOptions>(&json).unwrap(), opts);
    let gradient = Gradient::Backsolve(AdjointOptions::new(SolveOptions::new(Method::Rk4).step_size(0.1)));
    let back: Gradient = serde_json::from_str(&serde_json::to_string(&gradient).unwrap()).unwrap();
    assert_eq!(back, gradient);
    // Dopri5's last row of a starts 35/384 = 0.0911458...; make it 0.5 and the row no
    // longer sums to c_6 = 1.
    let broken = json.replacen("0.09114583333333333", "0.5", 1);
    assert_ne!(broken, json, "the edit must hit a coefficient");
    let err = serde_json::from_str::<SolveOptions>(&broken).unwrap_err().to_string();
    assert!(err.contains("Butcher tableau `dopri5`: row 6 of a sums to 1.40885"), "{err}");
}
