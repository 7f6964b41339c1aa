//! Efficiency against Hairer's Fortran DOPRI5 (numbers from ../shared/REFERENCE.md):
//! the same function evaluations, accepted and rejected steps, and a final-point error
//! within a factor of 2 of Hairer's.

mod common;

use common::{Lorenz, VanDerPol, dist};
use ndarray::{Array2, array};
use odesolve::{Method, OdeFunc, SolveOptions, odeint};

struct Case {
    tol: f64,
    nfev: usize,
    naccept: usize,
    nreject: usize,
    err: f64,
}

fn check(name: &str, f: &dyn OdeFunc, y0: Array2<f64>, tend: f64, cases: &[Case]) {
    // Reference end point: a much tighter solve (error about 1e-13, far below the
    // smallest error compared, 3.9e-8 * 0.5).
    let reference =
        odeint(f, &y0, &[0.0, tend], &SolveOptions::new(Method::Dopri5).tol(1e-14, 1e-14)).unwrap().ys[1]
            .clone();
    for c in cases {
        let sol = odeint(f, &y0, &[0.0, tend], &SolveOptions::new(Method::Dopri5).tol(c.tol, c.tol)).unwrap();
        let err = dist(&sol.ys[1], &reference);
        let st = sol.stats;
        eprintln!(
            "{name} tol {:e}: nfev {} ({}/{}) vs Hairer {} ({}/{}); error {err:.2e} vs {:.1e}",
            c.tol, st.nfev, st.naccept, st.nreject, c.nfev, c.naccept, c.nreject, c.err
        );
        assert_eq!(
            (st.nfev, st.naccept, st.nreject),
            (c.nfev, c.naccept, c.nreject),
            "{name} tol {}: (evaluations, accepted, rejected) vs Hairer's",
            c.tol
        );
        assert!(
            err <= 2.0 * c.err && err >= 0.5 * c.err,
            "{name} tol {}: error {err:e} vs {:e}",
            c.tol,
            c.err
        );
        // Hairer's count: NFCN = 6 NSTEP + 2 (FSAL, plus the initial-step guess).
        assert_eq!(st.nfev, 6 * st.nsteps() + 2);
    }
}

#[test]
fn lorenz_matches_hairer() {
    let cases = [
        Case { tol: 1e-3, nfev: 164, naccept: 23, nreject: 4, err: 5.6e-2 },
        Case { tol: 1e-6, nfev: 494, naccept: 81, nreject: 1, err: 5.7e-5 },
        Case { tol: 1e-9, nfev: 1880, naccept: 313, nreject: 0, err: 3.9e-8 },
    ];
    check("lorenz", &Lorenz, array![[1.0, 1.0, 1.0]], 2.0, &cases);
}

#[test]
fn van_der_pol_matches_hairer() {
    let cases = [
        Case { tol: 1e-3, nfev: 356, naccept: 44, nreject: 15, err: 8.9e-2 },
        Case { tol: 1e-6, nfev: 1088, naccept: 147, nreject: 34, err: 1.9e-5 },
        Case { tol: 1e-9, nfev: 3356, naccept: 552, nreject: 7, err: 6.7e-9 },
    ];
    check("van der pol", &VanDerPol(1.0), array![[2.0, 0.0]], 20.0, &cases);
}
