//! Solver options, statistics and the solution type.

use crate::{Method, OdeError, PiController, Result};

/// A relative or absolute tolerance: one value, or one per component (column).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Tolerance {
    /// The same tolerance for every component.
    Scalar(f64),
    /// One tolerance per column of the state.
    PerComponent(Vec<f64>),
}

impl From<f64> for Tolerance {
    fn from(x: f64) -> Self {
        Tolerance::Scalar(x)
    }
}

impl Tolerance {
    /// The tolerance of each of `cols` components.
    pub(crate) fn expand(&self, name: &'static str, cols: usize) -> Result<Vec<f64>> {
        let v = match self {
            Tolerance::Scalar(x) => vec![*x; cols],
            Tolerance::PerComponent(v) if v.len() == cols => v.clone(),
            Tolerance::PerComponent(v) => {
                return Err(OdeError::Options {
                    name,
                    reason: format!("{} per-component values for a state with {cols} columns", v.len()),
                });
            }
        };
        match v.iter().find(|x| !(x.is_finite() && **x >= 0.0)) {
            Some(bad) => Err(OdeError::Options { name, reason: format!("{bad} is not a finite value >= 0") }),
            None => Ok(v),
        }
    }
}

/// Which components enter the error norm.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub enum ErrorNorm {
    /// Hairer's root mean square over every entry.
    #[default]
    Rms,
    /// Root mean square over the columns marked `true` only: a seminorm (Kidger, Chen
    /// and Lyons 2021, "Hey, that's not an ODE", Sec. 3). The adjoint uses it to leave
    /// the parameter-gradient integrals out of step-size control.
    Seminorm(Vec<bool>),
}

/// How a fixed-step method (or an adaptive one run with fixed steps) places its steps.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum FixedStep {
    /// One step between consecutive output times (torchdiffeq's fixed grid).
    Grid,
    /// Steps of at most this size: each interval between output times is split into
    /// `ceil(dt / h)` equal steps, so every output time is a step end (no interpolation).
    Size(f64),
}

/// Everything a solve can be told.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SolveOptions {
    /// The Runge-Kutta method (default Dopri5).
    pub method: Method,
    /// Relative tolerance (default `1e-7`, torchdiffeq's).
    pub rtol: Tolerance,
    /// Absolute tolerance (default `1e-9`, torchdiffeq's).
    pub atol: Tolerance,
    /// Fixed steps instead of adaptive ones; `None` means adaptive when the method has an
    /// error estimate, [`FixedStep::Grid`] otherwise.
    pub fixed: Option<FixedStep>,
    /// Initial step size (`None`: Hairer's heuristic, one extra evaluation).
    pub first_step: Option<f64>,
    /// Smallest step the controller may ask for before failing (the final step landing
    /// on the end time is exempt).
    pub min_step: f64,
    /// Largest step (`None`: the length of the interval).
    pub max_step: Option<f64>,
    /// Most step attempts, accepted plus rejected (Hairer's `NMAX`, default 100 000).
    pub max_steps: usize,
    /// Error norm used by the controller.
    pub norm: ErrorNorm,
    /// Controller settings.
    pub controller: PiController,
}

impl Default for SolveOptions {
    fn default() -> Self {
        SolveOptions {
            method: Method::Dopri5,
            rtol: Tolerance::Scalar(1e-7),
            atol: Tolerance::Scalar(1e-9),
            fixed: None,
            first_step: None,
            min_step: 0.0,
            max_step: None,
            max_steps: 100_000,
            norm: ErrorNorm::Rms,
            controller: PiController::default(),
        }
    }
}

impl SolveOptions {
    /// Default options with the given method.
    pub fn new(method: Method) -> Self {
        SolveOptions { method, ..Self::default() }
    }
    /// Sets scalar tolerances.
    pub fn tol(mut self, rtol: f64, atol: f64) -> Self {
        self.rtol = Tolerance::Scalar(rtol);
        self.atol = Tolerance::Scalar(atol);
        self
    }
    /// Fixed steps of at most `h`.
    pub fn step_size(mut self, h: f64) -> Self {
        self.fixed = Some(FixedStep::Size(h));
        self
    }
    /// One fixed step between consecutive output times.
    pub fn grid(mut self) -> Self {
        self.fixed = Some(FixedStep::Grid);
        self
    }
}

/// Work done by a solve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Right-hand side evaluations (Hairer's `NFCN`).
    pub nfev: usize,
    /// Accepted steps (`NACCPT`).
    pub naccept: usize,
    /// Rejected steps, every one of them. Hairer's `NREJCT` leaves out rejections
    /// before the first accepted step (its `NSTEP` counts them), so this can exceed
    /// `NREJCT` when the first step guess is too large; `nsteps()` equals `NSTEP`.
    pub nreject: usize,
}

impl Stats {
    /// Accepted plus rejected steps (`NSTEP`).
    pub fn nsteps(&self) -> usize {
        self.naccept + self.nreject
    }
}

impl std::ops::AddAssign for Stats {
    fn add_assign(&mut self, o: Stats) {
        self.nfev += o.nfev;
        self.naccept += o.naccept;
        self.nreject += o.nreject;
    }
}

/// States at the requested output times.
#[derive(Debug, Clone)]
pub struct Solution<T> {
    /// The output times (as requested).
    pub ts: Vec<f64>,
    /// `ys[i]` is the state at `ts[i]` (`ys[0]` is the initial state).
    pub ys: Vec<T>,
    /// Work done.
    pub stats: Stats,
}

/// Checks that output times are non-empty, finite and strictly monotone; returns the
/// direction of integration (`+1` or `-1`; `+1` for a single time).
pub(crate) fn check_times(ts: &[f64]) -> Result<f64> {
    if ts.is_empty() {
        return Err(OdeError::Times("no output times (need at least the initial time)".into()));
    }
    if let Some(i) = ts.iter().position(|t| !t.is_finite()) {
        return Err(OdeError::Times(format!("t[{i}] = {} is not finite", ts[i])));
    }
    let dir = if ts.len() > 1 && ts[1] < ts[0] { -1.0 } else { 1.0 };
    for i in 1..ts.len() {
        if (ts[i] - ts[i - 1]) * dir <= 0.0 {
            let kind = if dir > 0.0 { "increasing" } else { "decreasing" };
            return Err(OdeError::Times(format!(
                "not strictly {kind}: t[{}] = {}, t[{i}] = {}",
                i - 1,
                ts[i - 1],
                ts[i]
            )));
        }
    }
    Ok(dir)
}
