//! Bogacki-Shampine 3(2).
//!
//! P. Bogacki and L. F. Shampine, "A 3(2) pair of Runge-Kutta formulas", Appl. Math.
//! Lett. 2 (1989) 321-325. Four stages, FSAL (three new evaluations per step);
//! MATLAB's `ode23`. Dense output: cubic Hermite.

use crate::{ButcherTableau, DenseOutput};

/// The Bosh3 tableau.
pub(crate) fn bosh3() -> ButcherTableau {
    let b = vec![2.0 / 9.0, 1.0 / 3.0, 4.0 / 9.0, 0.0];
    let a = vec![vec![], vec![1.0 / 2.0], vec![0.0, 3.0 / 4.0], b[..3].to_vec()];
    let c = vec![0.0, 1.0 / 2.0, 3.0 / 4.0, 1.0];
    // b - b_hat with b_hat = (7/24, 1/4, 1/3, 1/8).
    let e = vec![2.0 / 9.0 - 7.0 / 24.0, 1.0 / 3.0 - 1.0 / 4.0, 4.0 / 9.0 - 1.0 / 3.0, -1.0 / 8.0];
    ButcherTableau::new("bosh3", 3, a, b, c, Some((e, 2)), DenseOutput::Hermite)
        .expect("the Bosh3 coefficients pass the tableau checks (tested)")
}
