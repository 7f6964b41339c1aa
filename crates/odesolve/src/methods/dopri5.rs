//! Dormand-Prince 5(4) with Hairer's continuous extension.
//!
//! J. R. Dormand and P. J. Prince, "A family of embedded Runge-Kutta formulae",
//! J. Comp. Appl. Math. 6 (1980) 19-26, Table 2 (the method `RK5(4)7M`); dense output
//! from Hairer, Nørsett and Wanner, *Solving ODEs I* (2nd ed.), II.6, eq. (6.12) and
//! the `CONTD5` coefficients of Hairer's `dopri5.f`. Seven stages, FSAL: six new
//! evaluations per step.

use crate::{ButcherTableau, DenseOutput};

/// The Dopri5 tableau.
pub(crate) fn dopri5() -> ButcherTableau {
    let a = vec![
        vec![],
        vec![1.0 / 5.0],
        vec![3.0 / 40.0, 9.0 / 40.0],
        vec![44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0],
        vec![19372.0 / 6561.0, -25360.0 / 2187.0, 64448.0 / 6561.0, -212.0 / 729.0],
        vec![9017.0 / 3168.0, -355.0 / 33.0, 46732.0 / 5247.0, 49.0 / 176.0, -5103.0 / 18656.0],
        vec![35.0 / 384.0, 0.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0],
    ];
    let b = vec![35.0 / 384.0, 0.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0, 0.0];
    let c = vec![0.0, 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0, 1.0];
    // E_i of dopri5.f: b - b_hat.
    let e = vec![
        71.0 / 57600.0,
        0.0,
        -71.0 / 16695.0,
        71.0 / 1920.0,
        -17253.0 / 339200.0,
        22.0 / 525.0,
        -1.0 / 40.0,
    ];
    // D_i of dopri5.f (CONTD5).
    let d = vec![
        -12715105075.0 / 11282082432.0,
        0.0,
        87487479700.0 / 32700410799.0,
        -10690763975.0 / 1880347072.0,
        701980252875.0 / 199316789632.0,
        -1453857185.0 / 822651844.0,
        69997945.0 / 29380423.0,
    ];
    ButcherTableau::new("dopri5", 5, a, b, c, Some((e, 4)), DenseOutput::Hairer(d))
        .expect("the Dopri5 coefficients pass the tableau checks (tested)")
}
