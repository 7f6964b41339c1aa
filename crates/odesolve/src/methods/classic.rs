//! The classical fixed-step methods: Euler, explicit midpoint, RK4 and the 3/8 rule.
//!
//! Hairer, Nørsett and Wanner, *Solving ODEs I*, II.1, Table 1.1 (RK4 and the 3/8 rule,
//! Kutta 1901). torchdiffeq's `rk4` is the 3/8 rule.

use crate::{ButcherTableau, DenseOutput};

fn fixed(name: &str, order: usize, a: Vec<Vec<f64>>, b: Vec<f64>, c: Vec<f64>) -> ButcherTableau {
    ButcherTableau::new(name, order, a, b, c, None, DenseOutput::Hermite)
        .expect("the classical coefficients pass the tableau checks (tested)")
}

/// Forward Euler, order 1.
pub(crate) fn euler() -> ButcherTableau {
    fixed("euler", 1, vec![vec![]], vec![1.0], vec![0.0])
}

/// Explicit midpoint, order 2.
pub(crate) fn midpoint() -> ButcherTableau {
    fixed("midpoint", 2, vec![vec![], vec![0.5]], vec![0.0, 1.0], vec![0.0, 0.5])
}

/// The classical fourth-order Runge-Kutta method.
pub(crate) fn rk4() -> ButcherTableau {
    let a = vec![vec![], vec![0.5], vec![0.0, 0.5], vec![0.0, 0.0, 1.0]];
    fixed("rk4", 4, a, vec![1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0], vec![0.0, 0.5, 0.5, 1.0])
}

/// Kutta's 3/8 rule, order 4 (torchdiffeq's `rk4`).
pub(crate) fn rk4_38() -> ButcherTableau {
    let a = vec![vec![], vec![1.0 / 3.0], vec![-1.0 / 3.0, 1.0], vec![1.0, -1.0, 1.0]];
    fixed(
        "rk4_38",
        4,
        a,
        vec![1.0 / 8.0, 3.0 / 8.0, 3.0 / 8.0, 1.0 / 8.0],
        vec![0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0],
    )
}
