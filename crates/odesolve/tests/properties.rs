//! Property tests on random problems: dense output, per-sample grids, tableau checks.

mod common;

use autodiff::testing::seed;
use common::{Oscillator, max_abs};
use ndarray::{Array2, Axis};
use odesolve::{ButcherTableau, GridStrategy, Method, SolveOptions, odeint, odeint_per_sample};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Sorted distinct times in (0, 3].
fn random_times(rng: &mut ChaCha8Rng, n: usize) -> Vec<f64> {
    let mut ts: Vec<f64> = (0..n).map(|_| rng.random_range(0.01..3.0)).collect();
    ts.sort_by(f64::total_cmp);
    ts.dedup();
    ts
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn dense_output_is_accurate_and_free(d in 0.0f64..1.0, w in 0.5f64..3.0, s in seed()) {
        let mut rng = ChaCha8Rng::seed_from_u64(s);
        let p = Oscillator { d, w };
        let y0 = Array2::from_shape_simple_fn((2, 2), || rng.random_range(-2.0..2.0));
        let mut ts = vec![0.0];
        ts.extend(random_times(&mut rng, 6));
        let opts = SolveOptions::new(Method::Dopri5).tol(1e-9, 1e-9);
        let sol = odeint(&p, &y0, &ts, &opts).unwrap();
        let end = odeint(&p, &y0, &[0.0, *ts.last().unwrap()], &opts).unwrap();
        prop_assert_eq!(sol.stats, end.stats);
        for (t, y) in ts.iter().zip(&sol.ys) {
            prop_assert!(max_abs(y, &p.flow(&y0, *t)) < 1e-7);
        }
    }

    #[test]
    fn grid_strategies_agree(d in 0.0f64..1.0, w in 0.5f64..3.0, s in seed()) {
        let mut rng = ChaCha8Rng::seed_from_u64(s);
        let p = Oscillator { d, w };
        let n = rng.random_range(1..5usize);
        let y0 = Array2::from_shape_simple_fn((n, 2), || rng.random_range(-2.0..2.0));
        let times: Vec<Vec<f64>> = (0..n).map(|_| { let k = rng.random_range(0..5); random_times(&mut rng, k) }).collect();
        let opts = SolveOptions::default().tol(1e-9, 1e-9);
        let u = odeint_per_sample(&p, &y0, 0.0, &times, &opts, GridStrategy::Union).unwrap();
        let i = odeint_per_sample(&p, &y0, 0.0, &times, &opts, GridStrategy::Independent).unwrap();
        for (k, ts) in times.iter().enumerate() {
            prop_assert!(max_abs(&u.ys[k], &i.ys[k]) < 1e-7);
            let row = y0.index_axis(Axis(0), k).insert_axis(Axis(0)).to_owned();
            for (j, t) in ts.iter().enumerate() {
                let got = u.ys[k].index_axis(Axis(0), j).insert_axis(Axis(0)).to_owned();
                prop_assert!(max_abs(&got, &p.flow(&row, *t)) < 1e-7);
            }
        }
    }

    #[test]
    fn perturbed_tableaux_are_rejected(row in 1usize..7, delta in 1e-9f64..1e-3, s in seed()) {
        // Moving one coefficient of Dopri5's A breaks "row sums to c".
        let tab = Method::Dopri5.tableau();
        let mut rng = ChaCha8Rng::seed_from_u64(s);
        let mut a: Vec<Vec<f64>> = (0..tab.stages()).map(|i| tab.a(i).to_vec()).collect();
        let col = rng.random_range(0..row);
        a[row][col] += delta;
        let e = tab.error_weights().map(|e| (e.to_vec(), 4));
        let r = ButcherTableau::new("perturbed", 5, a, tab.b().to_vec(), tab.c().to_vec(), e, tab.dense().clone());
        prop_assert!(r.is_err());
    }
}
