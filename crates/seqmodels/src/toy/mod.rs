//! Seeded generators of the toy data sets the continuous-time papers train on:
//! torchdiffeq's spirals (Chen et al. 2018), the Latent ODE paper's periodic curves
//! (Rubanova et al. 2019) and GRU-ODE-Bayes's double Ornstein-Uhlenbeck process
//! (De Brouwer et al. 2019) with its exact Kalman-filter oracle.

mod double_ou;
pub mod double_ou_oracle;
pub mod kalman;
mod periodic;
mod spirals;

pub use double_ou::{DoubleOu, DoubleOuConfig, DoubleOuPath, double_ou};
pub use periodic::{Periodic, PeriodicConfig, PeriodicCurve, periodic};
pub use spirals::{Spiral, SpiralConfig, spirals};
