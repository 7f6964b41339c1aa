//! The one error type of this crate: every failure names the distribution (or
//! routine) and the parameter involved.

use autodiff::Shape;

/// What went wrong when building, scoring, sampling or fitting a distribution.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter holds NaN or an infinity.
    #[error("{dist}: parameter `{param}` has a non-finite entry {value} at ({row}, {col})")]
    NonFinite {
        /// The distribution or routine.
        dist: &'static str,
        /// The parameter.
        param: &'static str,
        /// Row of the offending entry.
        row: usize,
        /// Column of the offending entry.
        col: usize,
        /// The entry itself.
        value: f64,
    },
    /// A scale, standard deviation or variance that is zero or negative.
    #[error("{dist}: parameter `{param}` must be positive, got {value} at ({row}, {col})")]
    NonPositive {
        /// The distribution or routine.
        dist: &'static str,
        /// The parameter.
        param: &'static str,
        /// Row of the offending entry.
        row: usize,
        /// Column of the offending entry.
        col: usize,
        /// The entry itself.
        value: f64,
    },
    /// A value outside the range the parameter admits (a probability outside
    /// `[0, 1]`, a mask entry other than 0 or 1, ...).
    #[error("{dist}: parameter `{param}` must lie in {range}, got {value} at ({row}, {col})")]
    OutOfRange {
        /// The distribution or routine.
        dist: &'static str,
        /// The parameter.
        param: &'static str,
        /// The admissible range, in words.
        range: &'static str,
        /// Row of the offending entry.
        row: usize,
        /// Column of the offending entry.
        col: usize,
        /// The entry itself.
        value: f64,
    },
    /// Two parameters (or a parameter and the data) whose shapes do not fit together.
    #[error("{dist}: `{what}` has shape {got:?}, expected {expected}")]
    Shape {
        /// The distribution or routine.
        dist: &'static str,
        /// What has the wrong shape.
        what: &'static str,
        /// The shape received.
        got: Shape,
        /// The shape required, in words.
        expected: String,
    },
    /// A mixture with no components, or a fit with no data.
    #[error("{dist}: {what} is empty")]
    Empty {
        /// The distribution or routine.
        dist: &'static str,
        /// What is empty.
        what: &'static str,
    },
    /// A scale matrix with non-zero entries above its diagonal.
    #[error("{dist}: `{param}` must be lower-triangular, but entry ({row}, {col}) is {value}")]
    NotLowerTriangular {
        /// The distribution or routine.
        dist: &'static str,
        /// The parameter.
        param: &'static str,
        /// Row of the offending entry.
        row: usize,
        /// Column of the offending entry.
        col: usize,
        /// The entry itself.
        value: f64,
    },
    /// A matrix that is not symmetric (checked before a Cholesky factorisation).
    #[error(
        "cholesky: matrix is not symmetric: entries ({row}, {col}) and ({col}, {row}) differ ({a} vs {b})"
    )]
    NotSymmetric {
        /// Row of the offending pair.
        row: usize,
        /// Column of the offending pair.
        col: usize,
        /// Entry `(row, col)`.
        a: f64,
        /// Entry `(col, row)`.
        b: f64,
    },
    /// A Cholesky factorisation that met a non-positive pivot.
    #[error(
        "cholesky: matrix is not positive definite: pivot {pivot} is {value} \
         (the leading {pivot}x{pivot} block is fine, the next one is not)"
    )]
    NotPositiveDefinite {
        /// Index of the failing pivot (0-based).
        pivot: usize,
        /// The value under the square root.
        value: f64,
    },
    /// A meaningless setting (zero samples, zero iterations, a negative tolerance, ...).
    #[error("{routine}: {reason}")]
    Config {
        /// The routine that received the setting.
        routine: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// An error from a tape operation.
    #[error(transparent)]
    Autodiff(#[from] autodiff::Error),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Lets code that speaks autodiff's error type (gradient-check closures, model code
/// returning `autodiff::Result`) use `?` on this crate's results: tape errors come
/// back unchanged, the others as [`autodiff::Error::Invalid`] carrying this error's
/// message.
impl From<Error> for autodiff::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Autodiff(inner) => inner,
            other => autodiff::Error::Invalid { op: "dists", reason: other.to_string() },
        }
    }
}
