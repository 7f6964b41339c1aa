//! Continuous normalizing flows (Chen et al. 2018, Sec. 4) and FFJORD (Grathwohl et
//! al. 2019): a flow whose map is the solution of an ODE `dz/dt = f(t, z)` between
//! data (`t = 0`) and base (`t = T`).
//!
//! # The math in plain words
//!
//! Along a trajectory the log-density changes by the trace of the field's Jacobian,
//! `d ln p(z(t)) / dt = -tr(df/dz)` (the instantaneous change of variables, Chen et
//! al. 2018, Theorem 1), so the log-determinant of the map data to base is
//! `int_0^T tr(df/dz(t)) dt`, integrated beside the sample in one solve. Any
//! network works as `f`: nothing needs to be triangular, and the map is invertible
//! because the ODE can be solved backwards. The trace costs `dim`
//! vector-Jacobian products exactly; FFJORD's Hutchinson estimator
//! `E[e^T (df/dz) e]` costs one, with the probe `e` fixed for a whole solve (eq. 8)
//! so that the estimated dynamics stay smooth and the log-density stays unbiased.
//!
//! Gradients go through [`odesolve`]'s ODE tape operation with any of its methods
//! ([`Gradient`]); the field differentiates inside its own evaluation (the trace), so
//! training differentiates gradients: the tape's gradients of gradients.
//!
//! Finlay et al. (2020) regularise such flows towards straight, slow trajectories,
//! which the solver integrates in fewer steps: the kinetic energy
//! `int ||f||^2 dt` and the Jacobian's Frobenius norm `int ||df/dz||_F^2 dt`, two
//! more integrated states ([`ContinuousFlow::forward_regularised`]).
//!
//! The machinery takes any [`Field`]: [`solve_log_det`] integrates a field and its
//! log-determinant over a span of time, for fields that come from elsewhere (the
//! probability flow of a diffusion model in `seqmodels::diffusion`).
//!
//! # Conventions
//!
//! [`Flow::forward`] solves from the data at `t = 0` to the base at `t = T`, as
//! FFJORD evaluates densities; [`Flow::inverse`] solves back. The end time `T` is
//! learned as `s^2` (FFJORD's `train_T`) or fixed. A session that records a tape
//! (training) uses [`CnfConfig::solver`] and [`CnfConfig::trace`]; plain arrays
//! (evaluation) use [`CnfConfig::eval_solver`] and [`CnfConfig::eval_trace`], as
//! FFJORD's `training` flag switches its test tolerances and exact divergence.

mod dynamics;
mod field;
mod net;
mod trace;

pub use field::Field;
pub use net::{FieldNet, TimeInput};
pub use trace::{Probe, TraceEstimator};

use crate::flow::{Direction, Flow, check_dim};
use crate::{Error, Result};
use autodiff::{Activation, ParamStore, Tensor};
use dynamics::{Divergence, Dynamics, EndTime};
use ndarray::{Array2, array};
use odesolve::{Gradient, OdeSession, OdeStats, SolveOptions, SolveWork};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// The most solves whose work a flow keeps for [`ContinuousFlow::take_work`]: a
/// caller that never asks does not grow the log without bound.
pub const WORK_LOG: usize = 1024;

/// Settings of a [`ContinuousFlow`]; the defaults are FFJORD's `train_toy.py`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CnfConfig {
    /// Hidden widths of the field (`[64, 64, 64]`).
    pub hidden: Vec<usize>,
    /// How the field's layers read the time ([`TimeInput::ConcatSquash`]).
    pub time_input: TimeInput,
    /// The nonlinearity between layers (tanh).
    pub activation: Activation,
    /// The end time `T` at construction (0.5).
    pub end_time: f64,
    /// Whether `T` is learned (as `s^2`, true) or fixed.
    pub learn_end_time: bool,
    /// The trace when recording a tape ([`TraceEstimator::Exact`], `train_toy`'s
    /// `brute_force`; high-dimensional data want Hutchinson's).
    pub trace: TraceEstimator,
    /// The trace on plain arrays (exact).
    pub eval_trace: TraceEstimator,
    /// The solver when recording a tape (Dopri5, rtol = atol = 1e-5).
    pub solver: SolveOptions,
    /// The solver on plain arrays (the same).
    pub eval_solver: SolveOptions,
    /// How gradients go through the solve (checkpointed: exact, where FFJORD uses the
    /// backsolve adjoint, [`Gradient::Backsolve`]).
    pub gradient: Gradient,
    /// Seed of the probes' generator.
    pub seed: u64,
}

impl Default for CnfConfig {
    fn default() -> Self {
        let solver = SolveOptions::default().tol(1e-5, 1e-5);
        CnfConfig {
            hidden: vec![64, 64, 64],
            time_input: TimeInput::ConcatSquash,
            activation: Activation::Tanh,
            end_time: 0.5,
            learn_end_time: true,
            trace: TraceEstimator::Exact,
            eval_trace: TraceEstimator::Exact,
            solver: solver.clone(),
            eval_solver: solver,
            gradient: Gradient::default(),
            seed: 0,
        }
    }
}

/// A continuous normalizing flow: both directions are one ODE solve of the sample
/// and its log-determinant (see the [module docs](self)).
///
/// ```
/// use autodiff::{NoGrad, ParamStore};
/// use flows::cnf::{CnfConfig, ContinuousFlow};
/// use flows::Flow;
/// use ndarray::array;
/// use rand::SeedableRng;
///
/// let mut store = ParamStore::new();
/// let config = CnfConfig { hidden: vec![16], ..CnfConfig::default() };
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// let cnf = ContinuousFlow::new(&mut store, "cnf", 2, config, &mut rng)?;
/// let s = NoGrad::new(&store);
/// let x = array![[0.5, -1.0], [2.0, 0.0]];
/// let (z, log_det) = cnf.forward(&s, &x)?;
/// let (back, log_det_back) = cnf.inverse(&s, &z)?;
/// assert!((&back - &x).iter().all(|d| d.abs() < 1e-4));
/// assert!((&log_det + &log_det_back).iter().all(|d| d.abs() < 1e-4));
/// # Ok::<(), flows::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ContinuousFlow {
    net: FieldNet,
    end_time: EndTime,
    config: CnfConfig,
    /// The probes' generator, shared by clones: each solve draws fresh probes.
    probes: Arc<Mutex<ChaCha8Rng>>,
    /// The work of the solves since the last [`take_work`](ContinuousFlow::take_work),
    /// at most [`WORK_LOG`] of them.
    work: Arc<Mutex<VecDeque<SolveWork>>>,
}

/// The result of [`ContinuousFlow::forward_regularised`], each but `z` `batch x 1`.
#[derive(Debug, Clone)]
pub struct Regularised<T> {
    /// The image in the base space.
    pub z: T,
    /// `ln|det dz/dx|`.
    pub log_det: T,
    /// `int_0^T ||f(t, z(t))||^2 dt` (Finlay et al. 2020, eq. 4).
    pub kinetic: T,
    /// `int_0^T ||df/dz(t)||_F^2 dt` (eq. 5), estimated with the solve's probes when
    /// the trace is.
    pub jacobian: T,
}

impl ContinuousFlow {
    /// A flow on `dim` columns: the field `{name}.f.*` with widths
    /// `[dim, hidden.., dim]` and, when learned, `{name}.sqrt_end_time`.
    pub fn new(
        store: &mut ParamStore,
        name: &str,
        dim: usize,
        config: CnfConfig,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        if !(config.end_time > 0.0 && config.end_time.is_finite()) {
            return Err(Error::Config {
                flow: "continuous",
                reason: format!("end time {} must be positive and finite", config.end_time),
            });
        }
        check_trace("trace", config.trace)?;
        check_trace("eval_trace", config.eval_trace)?;
        let widths: Vec<usize> =
            std::iter::once(dim).chain(config.hidden.iter().copied()).chain([dim]).collect();
        let net =
            FieldNet::new(store, &format!("{name}.f"), &widths, config.time_input, config.activation, rng)?;
        let end_time = if config.learn_end_time {
            EndTime::Learned(store.add(format!("{name}.sqrt_end_time"), array![[config.end_time.sqrt()]])?)
        } else {
            EndTime::Fixed(config.end_time)
        };
        let probes = Arc::new(Mutex::new(ChaCha8Rng::seed_from_u64(config.seed)));
        Ok(ContinuousFlow { net, end_time, config, probes, work: Arc::default() })
    }

    /// The settings.
    pub fn config(&self) -> &CnfConfig {
        &self.config
    }

    /// The field `f(t, z)`.
    pub fn field(&self) -> &FieldNet {
        &self.net
    }

    /// The end time `T` with the parameters in `store`.
    pub fn end_time(&self, store: &ParamStore) -> Result<f64> {
        Ok(self.end_time.value(&autodiff::NoGrad::new(store))?[[0, 0]])
    }

    /// The work of every solve since the last call (forward, and backward once the
    /// tape's backward pass has run), oldest first; at most the latest [`WORK_LOG`].
    pub fn take_work(&self) -> Vec<OdeStats> {
        let mut work = self.work.lock().expect("the work log: a solve panicked while holding it");
        work.drain(..).map(|w| w.get()).collect()
    }

    /// Data to base with the regularisers integrated alongside: what a training
    /// step with Finlay et al.'s penalties needs.
    pub fn forward_regularised<S: OdeSession>(&self, s: &S, x: &S::T) -> Result<Regularised<S::T>> {
        let out = self.solve(s, x, Direction::Forward, true)?;
        let d = self.net.dim();
        let (z, log_det) = sample_and_log_det(&out, d)?;
        Ok(Regularised {
            z,
            log_det,
            kinetic: out.slice_cols(d + 1..d + 2)?,
            jacobian: out.slice_cols(d + 2..d + 3)?,
        })
    }

    /// The state at the far end of a solve from `x` in `direction`: the sample, its
    /// log-determinant and, with `regularise`, the two integrals.
    fn solve<S: OdeSession>(&self, s: &S, x: &S::T, direction: Direction, regularise: bool) -> Result<S::T> {
        check_dim("continuous", x, self.net.dim())?;
        let (solver, trace) = if S::RECORDS {
            (&self.config.solver, self.config.trace)
        } else {
            (&self.config.eval_solver, self.config.eval_trace)
        };
        let divergence = {
            let mut rng = self.probes.lock().expect("the probe generator: a draw panicked");
            draw_divergence(trace, x.shape().0, self.net.dim(), &mut *rng)
        };
        let dynamics =
            Dynamics { field: self.net.clone(), start: 0.0, end_time: self.end_time, divergence, regularise };
        let times = match direction {
            Direction::Forward => [0.0, 1.0],
            Direction::Inverse => [1.0, 0.0],
        };
        let (end, work) = integrate(s, &dynamics, x, &times, solver, &self.config.gradient)?;
        let mut log = self.work.lock().expect("the work log: a solve panicked while holding it");
        if log.len() == WORK_LOG {
            log.pop_front();
        }
        log.push_back(work);
        drop(log);
        Ok(end)
    }
}

impl Flow for ContinuousFlow {
    fn name(&self) -> &'static str {
        "continuous"
    }
    fn dim(&self) -> usize {
        self.net.dim()
    }
    fn forward<S: OdeSession>(&self, s: &S, x: &S::T) -> Result<(S::T, S::T)> {
        sample_and_log_det(&self.solve(s, x, Direction::Forward, false)?, self.net.dim())
    }
    fn inverse<S: OdeSession>(&self, s: &S, z: &S::T) -> Result<(S::T, S::T)> {
        sample_and_log_det(&self.solve(s, z, Direction::Inverse, false)?, self.net.dim())
    }
    fn cheap_direction(&self) -> Direction {
        // Both directions are one solve.
        Direction::Forward
    }
}

/// How [`solve_log_det`] integrates a field and its log-determinant.
#[derive(Debug, Clone, PartialEq)]
pub struct LogDetOptions {
    /// Exact or Hutchinson's trace (probes drawn once for the solve).
    pub trace: TraceEstimator,
    /// The solver.
    pub solver: SolveOptions,
    /// How gradients go through the solve, on a recording session.
    pub gradient: Gradient,
}

/// The far end of [`solve_log_det`], each `batch x` its columns.
#[derive(Debug, Clone)]
pub struct LogDetSolution<T> {
    /// `z(t_1)`.
    pub z: T,
    /// `ln|det dz(t_1)/dz(t_0)| = int_{t_0}^{t_1} tr(df/dz) dt`.
    pub log_det: T,
    /// The solve's work (the backward pass's too, once a tape's backward has run).
    pub work: SolveWork,
}

/// Solves `[z, l]' = [f(t, z), tr(df/dz)]` for any [`Field`] from `x` at
/// `t = span.0` to `t = span.1`: the map a continuous flow applies, with its
/// log-determinant (Chen et al. 2018, Theorem 1), so that
/// `ln p_0(x) = ln p_1(z) + l` for a density `p_1` at the far end. The probes of a
/// Hutchinson trace are drawn from `rng`, once for the whole solve.
pub fn solve_log_det<F, S>(
    s: &S,
    field: &F,
    x: &S::T,
    span: (f64, f64),
    options: &LogDetOptions,
    rng: &mut impl Rng,
) -> Result<LogDetSolution<S::T>>
where
    F: Field + Clone + Send + Sync + 'static,
    S: OdeSession,
{
    let (start, end) = span;
    if !(start.is_finite() && end.is_finite() && end > start) {
        return Err(Error::Config {
            flow: "continuous",
            reason: format!("span {span:?}: need t_0 < t_1, finite"),
        });
    }
    check_trace("trace", options.trace)?;
    check_dim("continuous", x, field.dim())?;
    let divergence = draw_divergence(options.trace, x.shape().0, field.dim(), rng);
    let dynamics = Dynamics {
        field: field.clone(),
        start,
        end_time: EndTime::Fixed(end),
        divergence,
        regularise: false,
    };
    let (out, work) = integrate(s, &dynamics, x, &[0.0, 1.0], &options.solver, &options.gradient)?;
    let (z, log_det) = sample_and_log_det(&out, field.dim())?;
    Ok(LogDetSolution { z, log_det, work })
}

/// The sample (the first `dim` columns) and the log-determinant (the next) of an
/// augmented state.
fn sample_and_log_det<T: Tensor>(out: &T, dim: usize) -> Result<(T, T)> {
    Ok((out.slice_cols(0..dim)?, out.slice_cols(dim..dim + 1)?))
}

/// A Hutchinson trace needs at least one probe.
fn check_trace(which: &str, trace: TraceEstimator) -> Result<()> {
    if let TraceEstimator::Hutchinson { samples: 0, .. } = trace {
        return Err(Error::Config { flow: "continuous", reason: format!("{which}: zero probes") });
    }
    Ok(())
}

/// The trace's probes for one solve of `rows x dim`, or none for the exact trace.
fn draw_divergence(trace: TraceEstimator, rows: usize, dim: usize, rng: &mut impl Rng) -> Divergence {
    match trace {
        TraceEstimator::Exact => Divergence::Exact,
        TraceEstimator::Hutchinson { probe, samples } => {
            Divergence::Probes(Arc::new((0..samples).map(|_| probe.draw(rows, dim, rng)).collect()))
        }
    }
}

/// The augmented state at the end of `times`, starting from `x` with zero integrals.
fn integrate<F, S>(
    s: &S,
    dynamics: &Dynamics<F>,
    x: &S::T,
    times: &[f64],
    solver: &SolveOptions,
    gradient: &Gradient,
) -> Result<(S::T, SolveWork)>
where
    F: Field + Clone + Send + Sync + 'static,
    S: OdeSession,
{
    let start = S::T::concat_cols(&[x, &x.constant(Array2::zeros((x.shape().0, dynamics.extra_columns())))])?;
    let (mut ys, work) = s
        .odeint_with_work(dynamics, &start, times, solver, gradient)
        .map_err(|e| Error::Solve { flow: "continuous", source: e })?;
    Ok((ys.pop().expect("a solve returns its end state"), work))
}
