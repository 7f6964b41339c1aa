//! # odesolve: Runge-Kutta solvers, dense output and the adjoint method
//!
//! (essay written below)

#![deny(missing_docs)]

mod adjoint;
mod controller;
mod error;
mod func;
mod grids;
mod methods;
mod norm;
mod options;
mod solve;
mod state;
mod stepper;
mod tableau;

pub use adjoint::{AdjointGradients, AdjointOptions, AugmentedLayout, adjoint_backward};
pub use controller::{PiController, PiState, StepDecision};
pub use error::{OdeError, Result, Sample};
pub use func::{FnOde, NeuralOdeFunc, OdeFunc, WithParams};
pub use grids::{GridStrategy, PerSampleSolution, odeint_per_sample};
pub use methods::Method;
pub use options::{ErrorNorm, FixedStep, Solution, SolveOptions, Stats, Tolerance};
pub use solve::{odeint, odeint_session};
pub use state::State;
pub use tableau::{ButcherTableau, DenseOutput};
