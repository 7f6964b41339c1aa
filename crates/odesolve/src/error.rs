//! The error type of this crate: every failure names the time, the step size and the sample.

use std::fmt;

/// Which sample (row of a batch, or entry of a per-sample grid) a failure concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sample(pub Option<usize>);

impl fmt::Display for Sample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(i) => write!(f, " (sample {i})"),
            None => Ok(()),
        }
    }
}

/// What went wrong in a solve.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum OdeError {
    /// The controller asked for a step below `min_step`, or so small that `t + h == t`
    /// in floating point (Hairer's test `0.1 |h| <= |t| u`).
    #[error("step size underflow at t = {t}: h = {h:e}{sample}")]
    StepSizeUnderflow {
        /// Time reached.
        t: f64,
        /// The step size that was too small.
        h: f64,
        /// The sample concerned, if any.
        sample: Sample,
    },
    /// More step attempts (accepted plus rejected) than `max_steps`.
    #[error("more than {max_steps} steps before reaching the end, at t = {t} with h = {h:e}{sample}")]
    MaxStepsExceeded {
        /// The limit.
        max_steps: usize,
        /// Time reached.
        t: f64,
        /// Current step size.
        h: f64,
        /// The sample concerned, if any.
        sample: Sample,
    },
    /// A NaN or infinity in the state or in a derivative.
    #[error("non-finite {what} at t = {t} (step size {h:e}){sample}")]
    NonFinite {
        /// `"state"`, `"derivative"` or `"error estimate"`.
        what: &'static str,
        /// Time of the offending evaluation.
        t: f64,
        /// Step size at the time.
        h: f64,
        /// The first row (sample) holding a non-finite entry.
        sample: Sample,
    },
    /// Output times that are empty, non-finite or not strictly monotone.
    #[error("output times: {0}")]
    Times(String),
    /// Arrays whose shapes do not fit together.
    #[error("{what}: expected shape {expected:?}, got {got:?}")]
    Shape {
        /// Which array.
        what: &'static str,
        /// The shape required.
        expected: (usize, usize),
        /// The shape received.
        got: (usize, usize),
    },
    /// A Butcher tableau that fails its consistency checks.
    #[error("Butcher tableau `{name}`: {reason}")]
    Tableau {
        /// Name of the method.
        name: String,
        /// Which check failed.
        reason: String,
    },
    /// A solver option out of its range.
    #[error("option `{name}`: {reason}")]
    Options {
        /// The option.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// An error from the tape (shape mismatch inside the right-hand side, ...).
    #[error("autodiff: {0}")]
    Autodiff(#[from] autodiff::Error),
}

impl OdeError {
    /// The same error attributed to sample `i` (used by per-sample solves).
    pub fn with_sample(self, i: usize) -> Self {
        match self {
            OdeError::StepSizeUnderflow { t, h, .. } => {
                OdeError::StepSizeUnderflow { t, h, sample: Sample(Some(i)) }
            }
            OdeError::MaxStepsExceeded { max_steps, t, h, .. } => {
                OdeError::MaxStepsExceeded { max_steps, t, h, sample: Sample(Some(i)) }
            }
            OdeError::NonFinite { what, t, h, .. } => {
                OdeError::NonFinite { what, t, h, sample: Sample(Some(i)) }
            }
            other => other,
        }
    }
}

/// Result with this crate's [`OdeError`].
pub type Result<T, E = OdeError> = std::result::Result<T, E>;
