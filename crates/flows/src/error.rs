//! The one error type of this crate: every failure names the flow (or routine) involved.

use crate::Direction;

/// What went wrong when building, running or sampling a flow.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The requested direction of a flow has no closed form (planar, radial and
    /// Sylvester flows are only defined, and only invertible in principle, in their
    /// generative direction base -> data).
    #[error(
        "{flow}: the {direction:?} direction has no closed form; this flow only runs base -> data \
         (Flow::inverse), e.g. for sampling and reverse-KL fitting"
    )]
    NoClosedForm {
        /// The flow.
        flow: &'static str,
        /// The direction that was asked for.
        direction: Direction,
    },
    /// A configuration that cannot describe a flow (zero dimension, bad mask, bad order).
    #[error("{flow}: {reason}")]
    Config {
        /// The flow or routine.
        flow: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// An input whose width does not match the flow's dimension.
    #[error("{flow}: input has {got} columns, the flow acts on {expected}")]
    Dim {
        /// The flow.
        flow: &'static str,
        /// Columns of the input.
        got: usize,
        /// The flow's dimension.
        expected: usize,
    },
    /// A linear-algebra routine met a singular matrix.
    #[error("{routine}: matrix is singular (pivot {pivot} is zero)")]
    Singular {
        /// The routine.
        routine: &'static str,
        /// The column where elimination found no non-zero pivot.
        pivot: usize,
    },
    /// An ODE solve of a continuous flow failed (a step size that underflows, a step
    /// budget exceeded, a non-finite state).
    #[error("{flow}: {source}")]
    Solve {
        /// The flow.
        flow: &'static str,
        /// What the solver reported.
        source: odesolve::OdeError,
    },
    /// An error from a tape operation.
    #[error(transparent)]
    Autodiff(#[from] autodiff::Error),
    /// An error from a base distribution.
    #[error(transparent)]
    Dists(#[from] dists::Error),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
