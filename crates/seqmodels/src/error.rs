//! The one error type of this crate: every failure names the model or file involved.

use std::path::PathBuf;

/// What went wrong when building or running a sequence model, or reading a data set.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operation on the tape failed (a shape mismatch inside a model, say).
    #[error(transparent)]
    Autodiff(#[from] autodiff::Error),
    /// An ODE solve failed (a step size that underflows, a step budget exceeded, ...).
    #[error(transparent)]
    Ode(#[from] odesolve::OdeError),
    /// A distribution rejected its parameters (a diverging model gives NaN means).
    #[error(transparent)]
    Dist(#[from] dists::Error),
    /// A model setting or an input that does not fit the model.
    #[error("{what}: {reason}")]
    Config {
        /// The model or routine.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A data file that could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A data file whose contents do not have the expected format.
    #[error("{source_name}: {reason}")]
    Format {
        /// The file (or a description of the in-memory source).
        source_name: String,
        /// What is wrong, and where.
        reason: String,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn config(what: &'static str, reason: impl Into<String>) -> Self {
        Error::Config { what, reason: reason.into() }
    }
}
