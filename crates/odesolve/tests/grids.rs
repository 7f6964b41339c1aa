//! Per-sample time grids: the union and independent strategies agree, and a batch of
//! one equals an unbatched solve.

mod common;

use common::{Oscillator, max_abs};
use ndarray::{Array2, Axis, array};
use odesolve::{GridStrategy, OdeError, SolveOptions, odeint, odeint_per_sample};

fn times() -> Vec<Vec<f64>> {
    vec![vec![0.1, 0.5, 2.0], vec![0.0, 0.7], vec![1.3, 1.4, 1.5, 3.0], vec![]]
}

fn y0() -> Array2<f64> {
    array![[1.0, 0.0], [0.3, -0.7], [-1.2, 0.4], [0.5, 0.5]]
}

#[test]
fn strategies_agree_with_each_other_and_the_exact_solution() {
    let p = Oscillator { d: 0.3, w: 1.7 };
    let opts = SolveOptions::default().tol(1e-9, 1e-9);
    let union = odeint_per_sample(&p, &y0(), 0.0, &times(), &opts, GridStrategy::Union).unwrap();
    let indep = odeint_per_sample(&p, &y0(), 0.0, &times(), &opts, GridStrategy::Independent).unwrap();
    for (i, ts) in times().iter().enumerate() {
        assert_eq!(union.ys[i].dim(), (ts.len(), 2));
        assert!(max_abs(&union.ys[i], &indep.ys[i]) < 1e-7, "sample {i}");
        for (k, &t) in ts.iter().enumerate() {
            // The exact flow of one row: y(t) = y0 exp(tA).
            let row = y0().index_axis(Axis(0), i).insert_axis(Axis(0)).to_owned();
            let exact_i = p.flow(&row, t);
            assert!(max_abs(&union.ys[i].row(k).insert_axis(Axis(0)).to_owned(), &exact_i) < 1e-7);
        }
    }
    // One batched solve versus four small ones.
    assert!(union.stats.naccept < indep.stats.naccept);
}

#[test]
fn batch_of_one_equals_an_unbatched_solve() {
    let p = Oscillator { d: 0.3, w: 1.7 };
    let opts = SolveOptions::default();
    let y = array![[0.3, -0.7]];
    let ts = vec![0.25, 1.0, 2.5];
    let plain = odeint(&p, &y, &[0.0, 0.25, 1.0, 2.5], &opts).unwrap();
    for strategy in [GridStrategy::Union, GridStrategy::Independent] {
        let per = odeint_per_sample(&p, &y, 0.0, std::slice::from_ref(&ts), &opts, strategy).unwrap();
        for k in 0..3 {
            assert_eq!(per.ys[0].row(k), plain.ys[k + 1].row(0));
        }
        assert_eq!(per.stats, plain.stats);
    }
}

#[test]
fn bad_grids_and_failures_name_the_sample() {
    let p = Oscillator { d: 0.3, w: 1.7 };
    let opts = SolveOptions::default();
    let e = odeint_per_sample(&p, &y0(), 0.0, &times()[..2], &opts, GridStrategy::Union).unwrap_err();
    assert!(matches!(e, OdeError::Shape { .. }), "{e}");
    let mut bad = times();
    bad[2] = vec![1.0, 0.5];
    let e = odeint_per_sample(&p, &y0(), 0.0, &bad, &opts, GridStrategy::Independent).unwrap_err();
    assert!(e.to_string().contains("sample 2"), "{e}");
    let mut y = y0();
    y[[3, 1]] = f64::NAN;
    for s in [GridStrategy::Union, GridStrategy::Independent] {
        let e = odeint_per_sample(&p, &y, 0.0, &times(), &opts, s).unwrap_err();
        assert!(matches!(e, OdeError::NonFinite { sample: odesolve::Sample(Some(3)), .. }), "{s:?}: {e}");
    }
}
