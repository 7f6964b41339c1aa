//! The built-in methods, by name. Each file is mostly coefficients and a citation;
//! one generic stepper ([`crate::stepper`]) runs them all.

mod bosh3;
mod classic;
mod dopri5;
mod tsit5;

use crate::ButcherTableau;

/// A Runge-Kutta method.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum Method {
    /// Forward Euler (order 1, fixed step).
    Euler,
    /// Explicit midpoint (order 2, fixed step).
    Midpoint,
    /// Classical RK4 (order 4, fixed step).
    Rk4,
    /// Kutta's 3/8 rule (order 4, fixed step; torchdiffeq's `rk4`).
    Rk4ThreeEighths,
    /// Bogacki-Shampine 3(2), adaptive.
    Bosh3,
    /// Dormand-Prince 5(4) with Hairer's dense output, adaptive.
    Dopri5,
    /// Tsitouras 5(4), adaptive.
    Tsit5,
    /// Any user tableau (adaptive if it has error weights).
    Custom(Box<ButcherTableau>),
}

impl Method {
    /// The method's tableau.
    pub fn tableau(&self) -> ButcherTableau {
        match self {
            Method::Euler => classic::euler(),
            Method::Midpoint => classic::midpoint(),
            Method::Rk4 => classic::rk4(),
            Method::Rk4ThreeEighths => classic::rk4_38(),
            Method::Bosh3 => bosh3::bosh3(),
            Method::Dopri5 => dopri5::dopri5(),
            Method::Tsit5 => tsit5::tsit5(),
            Method::Custom(t) => (**t).clone(),
        }
    }

    /// Every built-in method, for generic tests.
    pub fn all() -> Vec<Method> {
        vec![
            Method::Euler,
            Method::Midpoint,
            Method::Rk4,
            Method::Rk4ThreeEighths,
            Method::Bosh3,
            Method::Dopri5,
            Method::Tsit5,
        ]
    }
}
