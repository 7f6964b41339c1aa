//! The operations a tape records: each one a small type holding its value rule and
//! its gradient rule side by side.
//!
//! An op computes its value `y` from its inputs' values on plain arrays. Its
//! gradient rule answers one question per input `x`: given `g = dL/dy`, what is
//! `dL/dx`? The rule is written with [`Tensor`] ops (generic over `GradTensor`, the
//! crate's extension of [`Tensor`] with the fused gradients of `fused.rs`), so the
//! same code runs on arrays (the ordinary backward pass,
//! [`Tape::backward`](crate::Tape::backward)) and on tape variables (a recorded
//! backward pass, [`Tape::grad`](crate::Tape::grad), whose result can be
//! differentiated again). A rule borrows `g` and returns a `Grad`:
//! "the gradient is `g` itself", "`g` zero-padded" (a slice's) or a new value. How
//! a contribution is added into the input's gradient (moved, added in place or into
//! a block, summed over the axes where the input was broadcast) and when spent
//! buffers are recycled is the sweep's business (`src/backward.rs`), so a rule reads
//! like its derivation in `docs/autodiff.md`.
//!
//! The public part of this module is the names of the element-wise ops, [`UnaryOp`]
//! and [`BinaryOp`], which [`Tensor::unary`] and [`Tensor::binary`] take, and the
//! geometry of a convolution, [`CausalConv`], which [`Tensor::causal_conv`] takes, and the
//! validated 0/1 [`Mask`], which [`Tensor::keep_where`] takes. The rest is
//! private to the crate, one file per family:
//!
//! * `unary.rs`: element-wise functions of one value, each a `Map` with a scalar
//!   value rule;
//! * `binary.rs`: element-wise arithmetic of two values with broadcasting, each a
//!   `Zip` with a scalar value rule;
//! * `fused.rs`: the gradients of `tanh`, the sigmoid and the ELU in one pass each, a speed-up
//!   that only gradient rules use;
//! * `linalg.rs`: the matrix product with transpose flags;
//! * `conv.rs`: the causal dilated convolution along time of a time-major batch
//!   (WaveNet's layer), public as [`CausalConv`], its geometry;
//! * `reduce.rs`: summing to a shape, broadcasting to one, log-sum-exp;
//! * `select.rs`: selection by a 0/1 mask, public as [`Mask`], so that a masked-out
//!   entry never reaches the arithmetic (NaN placeholders stay harmless);
//! * `layout.rs`: transpose, slices, padding, concatenation, row gathers and scatters;
//! * `node.rs`: `Op`, the record of one tape node (its op and the ids of its inputs),
//!   and the thin dispatch that runs a node's rule.
//!
//! # Adding an op
//!
//! To add an op, write one impl here: a type with its value rule and its gradient
//! rule, as a `Map` or `Zip` if it is element-wise, else as a `OneInput` or
//! `TwoInputs`. Then:
//!
//! 1. name it: an element-wise op gets a variant of [`UnaryOp`] or [`BinaryOp`] and a
//!    line in the `with_rule!` list of its file; any other op gets a variant of `Op`
//!    and a line in the dispatch in `node.rs`;
//! 2. give it a method in the [`Tensor`] trait: a derived method calling
//!    [`Tensor::unary`] or [`Tensor::binary`] for an element-wise op, otherwise a
//!    primitive whose two implementations (arrays in `tensor.rs`, tape variables in
//!    `tape.rs`) are one line each naming the type;
//! 3. check its gradient against finite differences with
//!    [`gradcheck`](crate::gradcheck()) in `tests/gradients.rs`, and its second
//!    derivative in `tests/higher_order.rs`.
//!
//! The tape, the sweeps and the other ops stay as they are. An op that is a
//! composition of existing ones needs none of this: write it as a derived method of
//! [`Tensor`], and its gradient follows from theirs.

mod binary;
mod conv;
mod fused;
mod layout;
mod linalg;
mod node;
mod reduce;
mod select;
mod unary;

use crate::{Result, Shape, Tensor};
use ndarray::{Array2, Axis};

pub use binary::BinaryOp;
pub use conv::CausalConv;
pub(crate) use fused::{Fused, GradTensor};
pub(crate) use layout::{Concat, GatherRows, Pad, ScatterAddRows, Slice, Transpose};
pub(crate) use linalg::{Affine, MatMul};
pub(crate) use node::{AffineIds, Id, Op};
pub(crate) use reduce::{BroadcastTo, LogSumExp, SumTo};
pub use select::Mask;
pub(crate) use select::Select;
pub use unary::UnaryOp;

/// A gradient rule's answer for one input: its contribution to `dL/dx`.
pub(crate) enum Grad<T> {
    /// The contribution is `g` itself (as for `x + c`). The sweep can then hand `g` on
    /// without computing, and on arrays without copying it.
    Pass,
    /// The contribution is `g` placed from `offset` on along `axis`, with zeros
    /// elsewhere: the gradient of a slice. The sweep on arrays adds `g` into that
    /// block of the input's gradient in place, so a sequence cut into `T` steps does
    /// not cost `T` full-size arrays of zeros.
    Padded { axis: Axis, offset: usize },
    /// A new value computed from `g`.
    New(T),
}

impl<T: Tensor> Grad<T> {
    /// The contribution as a value of the input's shape `shape`, which is what the
    /// recorded sweep adds (the sweep on arrays adds the same without these copies).
    /// A contribution at a broadcast shape is summed back over the stretched axes.
    pub(crate) fn into_value(self, g: &T, shape: Shape) -> T {
        const SHAPE: &str = "a contribution has its input's shape, or one broadcast from it";
        match self {
            Grad::Pass => g.sum_to(shape).expect(SHAPE),
            Grad::Padded { axis, offset } => {
                let len = if axis == Axis(0) { shape.0 } else { shape.1 };
                g.pad_along(axis, len, offset).expect(SHAPE)
            }
            Grad::New(d) => d.sum_to(shape).expect(SHAPE),
        }
    }
}

/// An op of one input.
pub(crate) trait OneInput {
    /// The value `y = f(x)`, or an error naming the op if `x` does not fit it.
    fn value(&self, x: &Array2<f64>) -> Result<Array2<f64>>;
    /// `dL/dx`, given `g = dL/dy`, the input `x` and the output `y`.
    fn grad<T: GradTensor>(&self, g: &T, x: &T, y: &T) -> Grad<T>;
}

/// An op of two inputs, `y = f(a, b)`.
pub(crate) trait TwoInputs {
    /// A short name for error messages.
    fn name(&self) -> &'static str;
    /// The value, or an error naming the op and both shapes if they do not fit it.
    fn value(&self, a: &Array2<f64>, b: &Array2<f64>) -> Result<Array2<f64>>;
    /// `dL/da`, given `g = dL/dy`; it may have the (broadcast) shape of `y`.
    fn grad_lhs<T: GradTensor>(&self, g: &T, a: &T, b: &T, y: &T) -> Grad<T>;
    /// `dL/db`, given `g = dL/dy`; it may have the (broadcast) shape of `y`.
    fn grad_rhs<T: GradTensor>(&self, g: &T, a: &T, b: &T, y: &T) -> Grad<T>;
}

/// Why a shape error inside a gradient rule is a bug: the forward pass checked the
/// shapes that the rule combines.
const SHAPES: &str = "gradient rule: the forward pass checked these shapes";

/// `a * b` element-wise, inside a gradient rule.
fn mul<T: Tensor>(a: &T, b: &T) -> T {
    a.mul(b).expect(SHAPES)
}

/// `a / b` element-wise, inside a gradient rule.
fn div<T: Tensor>(a: &T, b: &T) -> T {
    a.div(b).expect(SHAPES)
}
