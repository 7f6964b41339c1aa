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
        Tolerance::check(name, &v)?;
        Ok(v)
    }

    /// Fails unless every value is finite and `>= 0`.
    fn check(name: &'static str, values: &[f64]) -> Result<()> {
        match values.iter().find(|x| !(x.is_finite() && **x >= 0.0)) {
            Some(bad) => Err(OdeError::Options { name, reason: format!("{bad} is not a finite value >= 0") }),
            None => Ok(()),
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

/// How an adaptive solve picks its first step when [`SolveOptions::first_step`] is
/// `None`. Both take one extra evaluation: an Euler probe from the start, whose
/// change of slope estimates the second derivative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum InitialStep {
    /// Hairer's `HINIT` (*Solving ODEs I*, II.4, "Starting Step Size"): weighted sums
    /// of squares over every entry and the exponent `1 / order`. What reproduces
    /// Hairer's step counts.
    #[default]
    Hairer,
    /// torchdiffeq's `_select_initial_step`: the same estimate with root-mean-square
    /// norms and the exponent `1 / (order + 1)`. For a batch of many entries its first
    /// step is larger than Hairer's, so a short solve can take one step fewer (FFJORD's
    /// benchmark solve: two steps where Hairer's start needs three); this is the choice
    /// for comparing with torchdiffeq at equal evaluations.
    Torchdiffeq,
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
    /// Initial step size (`None`: the heuristic [`initial_step`](Self::initial_step)
    /// names, one extra evaluation).
    pub first_step: Option<f64>,
    /// The heuristic for the first step when `first_step` is `None` (default
    /// Hairer's). Absent from older saved options, which read as the default.
    #[serde(default)]
    pub initial_step: InitialStep,
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
            initial_step: InitialStep::Hairer,
            min_step: 0.0,
            max_step: None,
            max_steps: 100_000,
            norm: ErrorNorm::Rms,
            controller: PiController::default(),
        }
    }
}

impl SolveOptions {
    /// Checks the step settings before any step is taken: `min_step` finite and
    /// `>= 0`, `max_step` and `first_step` finite and `> 0` in size, `min_step` no larger
    /// than `max_step`, a fixed step size finite and `> 0`, `max_steps >= 1`, and each
    /// scalar tolerance finite and `>= 0` with not both zero, and for adaptive steps
    /// the controller's fields ([`PiController::validate`]). Fails with
    /// [`OdeError::Options`] naming the option. (Per-component tolerances are checked
    /// against the state's width when the solve starts.) Every solve calls this.
    pub fn validate(&self) -> Result<()> {
        let bad = |name: &'static str, reason: String| Err(OdeError::Options { name, reason });
        let positive = |h: f64| h.is_finite() && h != 0.0;
        if !(self.min_step.is_finite() && self.min_step >= 0.0) {
            return bad("min_step", format!("{} is not a finite value >= 0", self.min_step));
        }
        match self.max_step {
            Some(h) if !positive(h) => return bad("max_step", format!("{h} is not a finite, non-zero size")),
            Some(h) if self.min_step > h.abs() => {
                return bad("min_step", format!("{} exceeds max_step = {h}", self.min_step));
            }
            _ => {}
        }
        if let Some(h) = self.first_step.filter(|&h| !positive(h)) {
            return bad("first_step", format!("{h} is not a finite, non-zero size"));
        }
        if let Some(FixedStep::Size(h)) = self.fixed
            && !(h.is_finite() && h > 0.0)
        {
            return bad("fixed step size", format!("{h} is not > 0"));
        }
        if self.max_steps == 0 {
            return bad("max_steps", "must be at least 1".into());
        }
        for (name, tol) in [("rtol", &self.rtol), ("atol", &self.atol)] {
            if let Tolerance::Scalar(x) = tol {
                Tolerance::check(name, &[*x])?;
            }
        }
        if self.rtol == Tolerance::Scalar(0.0) && self.atol == Tolerance::Scalar(0.0) {
            return bad("atol", "rtol and atol are both 0: the error scale atol + rtol |y| is 0".into());
        }
        match self.fixed {
            // Fixed steps never consult the controller.
            Some(_) => Ok(()),
            None => self.controller.validate(),
        }
    }

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
