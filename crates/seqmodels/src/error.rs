//! The one error type of this crate: every failure names the model or file involved.
//!
//! A CSV of irregular series ([`crate::batch::CsvSeries`]) fails with [`Error::Csv`],
//! whose [`CsvProblem`] says what is wrong, so a caller can match on the kind and an
//! editor's user can go to the line and column.

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
    /// A normalizing flow failed (the probability-flow ODE's solve, say).
    #[error(transparent)]
    Flow(#[from] flows::Error),
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
    /// A line of an irregular-series CSV that does not fit the layout.
    #[error("{source_name}: line {line}{}: {problem}", at_column(.column))]
    Csv {
        /// The file (or a description of the in-memory source).
        source_name: String,
        /// The line, counted from 1 as an editor shows it (the header is line 1).
        line: usize,
        /// The header name of the column at fault, when the problem is in one column.
        column: Option<String>,
        /// What is wrong there.
        problem: CsvProblem,
    },
}

/// What is wrong at the line and column of an [`Error::Csv`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CsvProblem {
    /// The source failed while being read (or is not UTF-8).
    #[error("read failed: {0}")]
    Read(std::io::Error),
    /// Not even a header line.
    #[error("the file is empty")]
    Empty,
    /// A header but no data line.
    #[error("no data line after the header")]
    NoRows,
    /// The header lacks the column: `ID`, `Time`, the `Mask_k` of a `Value_k` or the
    /// reverse, or `Value_k` (literally) when there is no value column at all.
    #[error("no such column in the header")]
    MissingColumn,
    /// The header names the column twice.
    #[error("the header names this column twice")]
    DuplicateColumn,
    /// A `Value_`/`Mask_` column whose suffix is not a non-negative integer.
    #[error("the index after `Value_`/`Mask_` is not a non-negative integer")]
    ColumnIndex,
    /// A line with a different number of fields from the header.
    #[error("{found} fields where the header has {expected}")]
    FieldCount {
        /// Fields in the header.
        expected: usize,
        /// Fields on this line.
        found: usize,
    },
    /// A double quote: quoting is not part of the layout, and splitting on commas
    /// would misread a quoted comma.
    #[error("quoted fields are not supported")]
    Quote,
    /// An empty ID field.
    #[error("the ID is empty")]
    EmptyId,
    /// A covariate that differs from the series' first line (covariates describe a
    /// series, not a time).
    #[error("series {id}: covariate differs from its value on line {first_line}")]
    CovariateChanges {
        /// The series' ID.
        id: String,
        /// The series' first line (in file order).
        first_line: usize,
    },
    /// A field that does not parse as a number.
    #[error("`{text}` is not a number")]
    NotANumber {
        /// The field as written.
        text: String,
    },
    /// A NaN or infinite time, or observed value.
    #[error("{value} is not finite")]
    NonFinite {
        /// The value read.
        value: f64,
    },
    /// A mask that is neither 0 nor 1.
    #[error("mask {value} is neither 0 nor 1")]
    NotAMask {
        /// The value read.
        value: f64,
    },
    /// A second line of one series at a time it already has.
    #[error("series `{id}` has a second line at time {time} (the other is line {first_line})")]
    DuplicateTime {
        /// The series.
        id: String,
        /// The time the two lines share.
        time: f64,
        /// The earlier of the two lines (the error's `line` is the later).
        first_line: usize,
    },
}

/// `", column NAME"` when the error is in one column, else nothing.
fn at_column(column: &Option<String>) -> String {
    column.as_ref().map(|c| format!(", column {c}")).unwrap_or_default()
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn config(what: &'static str, reason: impl Into<String>) -> Self {
        Error::Config { what, reason: reason.into() }
    }
}
