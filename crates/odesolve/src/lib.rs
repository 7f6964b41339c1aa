//! # odesolve: Runge-Kutta solvers, dense output and the adjoint method
//!
//! The solver layer of latent-seq, for neural ODEs: fixed-step and adaptive
//! Runge-Kutta methods on batched states, backprop through the solver, and the adjoint
//! method, as torchdiffeq's `odeint` / `odeint_adjoint` and diffrax give them; Dopri5
//! takes *the same steps as Hairer's Fortran code* (tested against its published work
//! counts), time grids may differ per sample, errors are typed and name the time, step
//! and sample, and a solve can be one operation of a tape whose gradient is exact and
//! memory-bounded (binomial checkpointing, diffrax's default) or the adjoint with the
//! seminorm option of Kidger et al. (as torchdiffeq and diffrax have it). The
//! continuous-time models that will use it (ODE-RNN, Latent ODE, GRU-ODE-Bayes,
//! continuous flows) are planned in `docs/roadmap.md`.
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
//! 1e-6 and 1e-9 (`tests/hairer.rs`). [`PiController::integral`] is torchdiffeq's
//! step control instead.
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
//! [`odeint_tape`] puts a solve inside a model's graph: it takes tape values (the
//! initial state, and the field's parameters through the session), returns the states
//! at the output times as tape values, and the enclosing tape's backward pass computes
//! the gradient by the [`Gradient`] method chosen:
//!
//! * **Checkpointed** (the default, as in diffrax): the solve is one tape node; its
//!   rule replays the solver's accepted steps, each on a fresh small tape, from at most
//!   `c` stored states placed by binomial checkpointing (Griewank's revolve). It is
//!   exactly the gradient of the computed solution (discretise-then-optimise), equal to
//!   backprop to rounding (`tests/tape_op.rs` checks 1e-12 for c from 1 to more than the
//!   number of steps, with Dopri5, Tsit5, RK4 and Euler), without backprop's memory.
//! * **Backprop** through the solver: every stage recorded on the enclosing tape
//!   (memory grows with the steps), differentiable again with `Tape::grad`.
//! * **Backsolve adjoint** (Chen, Rubanova, Bettencourt and Duvenaud 2018, Algorithm 1):
//!   one node whose rule solves, backwards from the last output time, the augmented
//!   system
//!
//! $$ \dot y = f(t, y, \theta),\quad \dot a = -a^\top \frac{\partial f}{\partial y},\quad
//!    \dot a_\theta = -a^\top \frac{\partial f}{\partial \theta},\quad
//!    \dot a_t = -a^\top \frac{\partial f}{\partial t}, $$
//!
//!   with $a(t_N) = \partial L / \partial y(t_N)$ and a jump $a \mathrel{+}= \partial
//!   L/\partial y(t_i)$ at every earlier output time ([`adjoint_backward`] is the same
//!   on plain arrays). Memory does not grow with the steps, but the gradient is that of
//!   the true ODE recomputed backwards, so it carries both solves' errors: at rtol 1e-3
//!   it is 4e-4 (relative) away from the gradient of the computed solution on the test
//!   problem. The seminorm option (Kidger, Chen and Lyons 2021) leaves $a_\theta$ and
//!   $a_t$ out of the error norm and saves backward evaluations.
//!
//! Every method also gives gradients with respect to the output times when they are a
//! tape value, and reports its work ([`OdeStats`]: evaluations of each pass, stored
//! checkpoints, recomputed steps). [`odeint_tape_per_sample`] gives each row its own
//! output times (and, solved independently, its own initial time; with the
//! checkpointed and backsolve methods the independent rows are solved in parallel,
//! forwards and backwards).
//!
//! A field may differentiate inside its own evaluation with
//! [`Session::grad`](autodiff::Session::grad), as a continuous normalizing flow does
//! for $\mathrm{tr}(\partial f/\partial z)$: every method runs it on tapes (the
//! recorded inner gradients are differentiated again), and a field that says so
//! ([`NeuralOdeFunc::needs_tape`]) is evaluated on a scratch tape where a solve needs
//! only values (`tests/inner_grad.rs` checks the closed form for a linear field and
//! each method against finite differences).
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
//! Neural right-hand sides implement [`NeuralOdeFunc`] (an [`Mlp`](autodiff::Mlp) is one as it is; generic over
//! [`Session`](autodiff::Session)); [`WithParams`] binds one to its parameters for the
//! array solvers, and [`odeint_per_sample`] solves batches whose samples have their own
//! observation times. On the tape:
//!
//! ```
//! use autodiff::{Activation, Mlp, ParamStore, Tape, Tensor};
//! use ndarray::array;
//! use odesolve::{Gradient, SolveOptions, odeint_tape};
//! use rand::SeedableRng;
//!
//! // An MLP is a field as it is: f(t, y) = mlp(y), here 2-16-2 with tanh.
//! let mut store = ParamStore::new();
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
//! let field = Mlp::new(&mut store, "f", &[2, 16, 2], Activation::Tanh, &mut rng)?;
//! let tape = Tape::new();
//! let s = tape.session(&store);
//! let y0 = tape.leaf(array![[1.0, -0.5]]);
//! // The default gradient: binomial checkpointing, exact and memory-bounded.
//! let sol = odeint_tape(&field, &s, &y0, &[0.0, 0.5, 1.0], &SolveOptions::default(), &Gradient::default())?;
//! let loss = sol.ys[2].square().sum();
//! let grads = tape.backward(loss)?;
//! assert_eq!(grads.wrt(&y0).unwrap().unwrap().dim(), (1, 2));
//! assert!(sol.stats().backward.naccept > 0); // the backward pass replayed the steps
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

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
pub use options::{ErrorNorm, FixedStep, InitialStep, Solution, SolveOptions, Stats, Tolerance};
pub use solve::{odeint, odeint_session};
pub use state::State;
pub use tableau::{ButcherTableau, DenseOutput};
pub use tape_grids::{PerSampleTape, Starts, odeint_tape_per_sample};
pub use tape_op::{Gradient, OdeSession, OdeStats, SolveWork, TapeSolution, Times, odeint_tape};
