//! The one error type of this crate: every failure names what failed and where.

use std::path::PathBuf;

/// Any error a user-supplied loss or callback may return (`?` works on every error type).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong while building data, stepping an optimizer, training or checkpointing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operation of the autodiff tape failed (shapes, a non-scalar loss, ...).
    #[error("{context}: {source}")]
    Autodiff {
        /// Where it happened.
        context: String,
        /// The tape's error.
        source: autodiff::Error,
    },
    /// The user's loss function failed.
    #[error("step {step}: the loss failed: {source}")]
    Loss {
        /// Optimizer step (0-based) during which the loss was evaluated.
        step: u64,
        /// The loss function's error.
        source: BoxError,
    },
    /// A user callback failed.
    #[error("step {step}: callback failed: {source}")]
    Callback {
        /// Optimizer steps taken when the callback ran.
        step: u64,
        /// The callback's error.
        source: BoxError,
    },
    /// The NaN guard: a loss, gradient or parameter that is NaN or infinite.
    #[error("step {step}: non-finite {what}; training stopped before the update (no checkpoint written)")]
    NonFinite {
        /// Optimizer step (0-based) at which it was detected.
        step: u64,
        /// What held the value, e.g. "gradient of parameter `mlp.0.weight` at (3, 1) = NaN".
        what: String,
    },
    /// A batch whose loss has weight 0: nothing in it was observed, so there is no
    /// mean to take. Not a numerical fault, so `OnNan::RollBack` does not retry it.
    #[error(
        "step {step}: the batch's loss has weight 0 (nothing observed to average over); training stopped before the update"
    )]
    NothingObserved {
        /// Optimizer step (0-based) of the batch.
        step: u64,
    },
    /// A data set with nothing in it.
    #[error("{what}: the data set is empty")]
    Empty {
        /// Which data set or argument.
        what: String,
    },
    /// A hyper-parameter outside its valid range.
    #[error("{what}: {reason}")]
    Config {
        /// Which setting.
        what: String,
        /// Why it is invalid.
        reason: String,
    },
    /// Optimizer state that does not fit this optimizer or parameter store.
    #[error("optimizer state: {0}")]
    State(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A checkpoint or safetensors file that is malformed or does not fit the model.
    #[error("{path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }

    pub(crate) fn format(path: impl Into<PathBuf>, reason: impl Into<String>) -> Error {
        Error::Format { path: path.into(), reason: reason.into() }
    }

    pub(crate) fn config(what: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Config { what: what.into(), reason: reason.into() }
    }

    pub(crate) fn autodiff(context: impl Into<String>) -> impl FnOnce(autodiff::Error) -> Error {
        let context = context.into();
        move |source| Error::Autodiff { context, source }
    }
}
