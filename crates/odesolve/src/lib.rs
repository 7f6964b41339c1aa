//! # odesolve: Runge-Kutta solvers, dense output and the adjoint method
//!
//! The solver layer of latent-seq, for neural ODEs: fixed-step and adaptive
//! Runge-Kutta methods on batched states, backprop through the solver, and the adjoint
//! method, as torchdiffeq's `odeint` / `odeint_adjoint` and diffrax give them; Dopri5
//! takes *the same steps as Hairer's Fortran code* (tested against its published work
//! counts), time grids may differ per sample, errors are typed and name the time, step
//! and sample, and the adjoint has the seminorm option of Kidger et al. (as torchdiffeq
//! and diffrax do). The continuous-time models that will use it (ODE-RNN, Latent ODE,
//! GRU-ODE-Bayes, continuous flows) are planned in `docs/roadmap.md`.
//!
//! ## Runge-Kutta methods as data
//!
//! An explicit $s$-stage method advances $y' = f(t, y)$ from $(t, y)$ by $h$ with
//!
//! $$ k_i = f\Big(t + c_i h,\; y + h\sum_{j<i} a_{ij} k_j\Big),\qquad y_1 = y + h\sum_i b_i k_i $$
//!
//! (Hairer, Nørsett and Wanner, *Solving ODEs I*, II.1, eq. (1.8)). A
//! [`ButcherTableau`] holds `a`, `b`, `c` and, for an embedded pair, the error weights
//! $e = b - \hat b$; it is checked when built (rows of `a` sum to `c`, `b` sums to one,
//! `e` sums to zero) and FSAL ("first same as last") is derived from it. One generic
//! stepper runs every [`Method`]: Euler, midpoint, RK4 and the 3/8 rule with fixed steps,
//! and Bogacki-Shampine 3(2), Dormand-Prince 5(4) and Tsitouras 5(4) adaptively. The
//! stage combination is written once against [`State`], implemented for plain arrays (in
//! place, the fast path) and for tape values (recorded, so the solve is differentiable).
//! States are `batch x dim` matrices, rows being samples.
//!
//! ## Error control
//!
//! The local error estimate $\mathrm{err} = h \sum_i e_i k_i$ is measured in Hairer's norm
//!
//! $$ \|\mathrm{err}\| = \sqrt{\frac1n \sum_i \Big(\frac{\mathrm{err}_i}{\mathrm{atol}_i +
//!    \mathrm{rtol}_i \max(|y_i|, |y_{1,i}|)}\Big)^2} $$
//!
//! and the step is accepted when it is at most one. The next step comes from the PI
//! controller of `dopri5.f` ([`PiController`]: $\beta = 0.04$, safety 0.9, ratio bounds
//! 0.2 and 10), the first step from Hairer's `HINIT` heuristic, and the last step lands
//! exactly on the final time. With these, [`odeint`] on Lorenz and Van der Pol uses
//! exactly Hairer's number of evaluations (`NFCN = 6 NSTEP + 2`) at tolerances 1e-3,
//! 1e-6 and 1e-9 (`tests/hairer.rs`).
//!
//! ## Dense output
//!
//! Output times never shorten a step: states between step ends come from Hairer's
//! fourth-order continuous extension for Dopri5 (*Solving ODEs I*, II.6, the `CONTD5`
//! coefficients) and from cubic Hermite interpolation for the other pairs. A solve with
//! 200 output times takes the same steps as one with only the final time.
//!
//! ## Gradients
//!
//! *Backprop through the solver* ([`odeint_session`] on a
//! [`TapeSession`](autodiff::TapeSession)) records every stage on the tape. The *adjoint
//! method* ([`adjoint_backward`]; Chen, Rubanova, Bettencourt and Duvenaud 2018,
//! Algorithm 1) instead solves, backwards from the last output time, the augmented system
//!
//! $$ \dot y = f(t, y, \theta),\quad \dot a = -a^\top \frac{\partial f}{\partial y},\quad
//!    \dot a_\theta = -a^\top \frac{\partial f}{\partial \theta},\quad
//!    \dot a_t = -a^\top \frac{\partial f}{\partial t}, $$
//!
//! with $a(t_N) = \partial L / \partial y(t_N)$ and a jump $a \mathrel{+}= \partial L/\partial
//! y(t_i)$ at every earlier output time. Each evaluation records $f$ on a fresh small tape
//! and takes one vector-Jacobian product, so memory does not grow with the number of
//! steps. The seminorm option (Kidger, Chen and Lyons 2021) leaves $a_\theta$ and $a_t$
//! out of the error norm and saves backward evaluations.
//!
//! ## Example
//!
//! ```
//! use ndarray::array;
//! use odesolve::{FnOde, Method, SolveOptions, odeint};
//!
//! // y' = -y on a batch of two samples; y(t) = y0 e^{-t}.
//! let f = FnOde(|_t: f64, y: &ndarray::Array2<f64>| Ok(-y));
//! let y0 = array![[1.0], [2.0]];
//! let opts = SolveOptions::new(Method::Dopri5).tol(1e-8, 1e-10);
//! let sol = odeint(&f, &y0, &[0.0, 0.5, 1.0], &opts)?;
//! assert!((sol.ys[2][[1, 0]] - 2.0 * (-1.0f64).exp()).abs() < 1e-7);
//! // Hairer's count: 6 evaluations per step attempt, plus 2.
//! assert_eq!(sol.stats.nfev, 6 * sol.stats.nsteps() + 2);
//! # Ok::<(), odesolve::OdeError>(())
//! ```
//!
//! Neural right-hand sides implement [`NeuralOdeFunc`] (generic over
//! [`Session`](autodiff::Session)); [`WithParams`] binds one to its parameters for the
//! array solvers, and [`odeint_per_sample`] solves batches whose samples have their own
//! observation times.

#![deny(missing_docs)]

mod adjoint;
mod checkpoint;
mod controller;
mod error;
mod func;
mod grids;
mod methods;
mod norm;
mod options;
mod replay;
mod solve;
mod state;
mod stepper;
mod tableau;
mod tape_grids;
mod tape_op;
mod trace;

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
pub use tape_grids::{PerSampleTape, Starts, odeint_tape_per_sample};
pub use tape_op::{Gradient, OdeStats, TapeSolution, Times, odeint_tape};
