//! The one error type of this crate: every fallible operation names what failed and where.

use crate::Shape;

/// What went wrong in an operation on the tape, a parameter store or a gradient check.
///
/// Shape errors name the operation and both shapes, so a failure deep inside a model
/// points at the exact op that received the wrong input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Two operands whose shapes the operation cannot combine.
    #[error("{op}: incompatible shapes {lhs:?} and {rhs:?}")]
    Shape {
        /// The operation that received the operands.
        op: &'static str,
        /// Shape of the left (or only) operand.
        lhs: Shape,
        /// Shape of the right operand, or the requested target shape.
        rhs: Shape,
    },
    /// An index (row, column) outside the value it addresses.
    #[error("{op}: index {index} out of bounds for length {len}")]
    Index {
        /// The operation that received the index.
        op: &'static str,
        /// The offending index.
        index: usize,
        /// The length of the indexed axis.
        len: usize,
    },
    /// An argument that is well-typed but meaningless (empty list, mixed tapes, ...).
    #[error("{op}: {reason}")]
    Invalid {
        /// The operation that received the argument.
        op: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Input data that cannot be batched: no examples, ragged or misaligned arrays.
    #[error("{what}: {reason}")]
    Data {
        /// The data set, constructor or argument.
        what: String,
        /// What is wrong, and where.
        reason: String,
    },
    /// A NaN or infinity in input data.
    #[error("{what}: non-finite value {value} at row {row}, column {col}")]
    NonFiniteData {
        /// Which array or sequence (e.g. "Rows::new array 1", "sequence 17").
        what: String,
        /// Row (time step, for a sequence).
        row: usize,
        /// Column (feature).
        col: usize,
        /// The offending value.
        value: f64,
    },
    /// The gradient rule of a [`Function`](crate::Function) failed during `backward`.
    #[error("backward through `{name}`: {reason}")]
    Function {
        /// The function's name.
        name: &'static str,
        /// What its rule reported.
        reason: String,
    },
    /// A gradient was asked of a session that records no graph ([`NoGrad`](crate::NoGrad)).
    #[error("{op}: a NoGrad session records no graph to differentiate; run the pass on a TapeSession")]
    NoTape {
        /// The operation that needed the graph.
        op: &'static str,
    },
    /// `backward` was called on a value that is not 1x1.
    #[error("backward: the loss must be a 1x1 value, got shape {0:?}")]
    NotScalar(Shape),
    /// `backward` was called on a value that depends on no tracked leaf.
    #[error("backward: the loss depends on no tracked value (only constants), so it has no gradient")]
    NotTracked,
    /// A handle used with a tape or parameter store other than the one that made it:
    /// a value or leaf of another tape, a parameter id of another store.
    #[error("{op}: {what} belongs to {owner}")]
    ForeignHandle {
        /// The operation that received the handle.
        op: &'static str,
        /// The handle (e.g. "parameter id #3", "the loss").
        what: String,
        /// Where it belongs instead (e.g. "another tape").
        owner: String,
    },
    /// A parameter name that the store does not hold.
    #[error("parameter store: no parameter named `{0}`")]
    UnknownParam(String),
    /// A parameter name given twice.
    #[error("parameter store: a parameter named `{0}` already exists")]
    DuplicateParam(String),
    /// An analytic gradient that disagrees with central finite differences.
    #[error("gradcheck: input {input}, element ({row}, {col}): analytic {analytic:e} vs numeric {numeric:e}")]
    GradCheck {
        /// Which input of the checked function.
        input: usize,
        /// Row of the element.
        row: usize,
        /// Column of the element.
        col: usize,
        /// The gradient from the tape.
        analytic: f64,
        /// The central-difference estimate.
        numeric: f64,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
