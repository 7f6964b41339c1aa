//! The [`Tensor`] trait: every operation, for plain arrays and tape variables alike.
//!
//! Model code written against `T: Tensor` runs unchanged in two modes: on
//! [`Array2<f64>`] it just computes values (no-grad evaluation: nothing recorded,
//! no nodes allocated), and on [`Var`](crate::Var) it records a tape that can be
//! differentiated. The gradient rules of the ops are themselves written against this
//! trait, which is what makes gradients of gradients work.
//!
//! A handful of methods are primitives that each implementation provides; everything
//! else (`sub`, `mean`, `softmax`, masking, ...) is derived from them once, here.

use crate::op::{
    Affine, BinaryOp, BroadcastTo, CausalConv, Concat, GatherRows, LogSumExp, Mask, MatMul, OneInput, Pad,
    ScatterAddRows, Select, Slice, SumTo, Transpose, TwoInputs, UnaryOp,
};
use crate::{Error, Function, Result, Shape};
use ndarray::{Array2, Axis};
use std::ops::Range;

/// A 2-D `f64` value that supports the differentiable operations of this crate.
///
/// Rows are the batch axis by convention; a scalar is `1 x 1`. Binary operations
/// broadcast (an axis of length 1 stretches to match), and return a shape error
/// naming the op and both shapes when they cannot.
pub trait Tensor: Clone + Sized {
    // ---- primitives ----

    /// `(rows, cols)`.
    fn shape(&self) -> Shape;
    /// A copy of the value as a plain array.
    fn to_array(&self) -> Array2<f64>;
    /// A constant (never differentiated) living where `self` lives (same tape).
    fn constant(&self, value: Array2<f64>) -> Self;
    /// A constant computed element-wise from this value (a mask, a sign, ...).
    fn map_constant(&self, f: impl Fn(f64) -> f64) -> Self;
    /// The same value with gradient flow stopped (`stop_gradient`).
    fn detach(&self) -> Self;
    /// Whether the value depends on a tracked input (a value computed on a tape from
    /// parameters or leaves); plain arrays never do.
    fn is_tracked(&self) -> bool;
    /// An element-wise function; see [`UnaryOp`].
    fn unary(&self, op: UnaryOp) -> Self;
    /// Element-wise arithmetic with broadcasting; see [`BinaryOp`].
    fn binary(&self, op: BinaryOp, rhs: &Self) -> Result<Self>;
    /// Matrix product `op(self) op(rhs)`, transposing an operand when its flag is set.
    fn matmul_t(&self, rhs: &Self, transpose_lhs: bool, transpose_rhs: bool) -> Result<Self>;
    /// `act(self W + b + plus)` for a weight `W` (`in x out`), a bias row `b`
    /// (`1 x out`), an optional addend of the output's shape (a recurrent cell's
    /// `h U`) and `act` tanh, sigmoid, relu or none: equal to the product, the sums
    /// (in that order) and the activation as separate ops to the bit (values and
    /// gradients), as one op that keeps one array on a tape where they keep three or
    /// four. Other activations are [`Error::Invalid`]: their gradients need the input,
    /// which the op does not keep.
    fn dense(&self, w: &Self, b: &Self, plus: Option<&Self>, act: Option<UnaryOp>) -> Result<Self>;
    /// The causal dilated convolution along time of a time-major batch `self`
    /// (`T B x C`, row `t B + b` = sequence `b` at step `t`) by `filter` (`w C x C'`,
    /// tap `k` in rows `k C ..`): `y_t = sum_k x_{t - (w - 1 - k) d} W_k`, zero before
    /// the start, so `y_t` sees steps `t - (w - 1) d ..= t` of its own sequence only.
    /// See [`CausalConv`] and the derivation of its gradient in `src/op/conv.rs`.
    fn causal_conv(&self, filter: &Self, conv: CausalConv) -> Result<Self>;
    /// The transpose.
    fn transpose(&self) -> Self;
    /// Sum over each axis where `shape` has length 1 (the adjoint of [`broadcast_to`](Tensor::broadcast_to)).
    fn sum_to(&self, shape: Shape) -> Result<Self>;
    /// Repeat along each axis of length 1 to reach `shape`.
    fn broadcast_to(&self, shape: Shape) -> Result<Self>;
    /// Stable `ln sum exp` along `axis`, keeping it with length 1.
    fn logsumexp(&self, axis: Axis) -> Self;
    /// All parts one after another along `axis` (they agree along the other axis).
    fn concat_along(parts: &[&Self], axis: Axis) -> Result<Self>;
    /// The entries in `range` along `axis`: a block of rows or of columns.
    fn slice_along(&self, axis: Axis, range: Range<usize>) -> Result<Self>;
    /// Zeros of length `len` along `axis` holding `self` from index `offset` on.
    fn pad_along(&self, axis: Axis, len: usize, offset: usize) -> Result<Self>;
    /// The entries where `keep` is 1, and 0 where it is 0 (broadcasting). The dropped
    /// entries are never read, so a NaN there gives 0, value and gradient alike (a
    /// product with the mask would give `0 * NaN = NaN`). See [`Mask`].
    fn keep_where(&self, keep: &Mask) -> Result<Self>;
    /// The rows listed in `index`, in that order (repeats allowed).
    fn gather_rows(&self, index: &[usize]) -> Result<Self>;
    /// `nrows` zero rows, to which row `k` of `self` is added at row `index[k]`.
    fn scatter_add_rows(&self, index: &[usize], nrows: usize) -> Result<Self>;
    /// A [`Function`] of `inputs` (recorded as one node on a tape).
    fn apply(function: &dyn Function, inputs: &[&Self]) -> Result<Self>;

    // ---- derived element-wise arithmetic ----

    /// `self + rhs`, broadcasting.
    fn add(&self, rhs: &Self) -> Result<Self> {
        self.binary(BinaryOp::Add, rhs)
    }
    /// `self - rhs`, broadcasting.
    fn sub(&self, rhs: &Self) -> Result<Self> {
        self.binary(BinaryOp::Sub, rhs)
    }
    /// `self * rhs` element-wise, broadcasting.
    fn mul(&self, rhs: &Self) -> Result<Self> {
        self.binary(BinaryOp::Mul, rhs)
    }
    /// `self / rhs` element-wise, broadcasting.
    fn div(&self, rhs: &Self) -> Result<Self> {
        self.binary(BinaryOp::Div, rhs)
    }
    /// Matrix product `self @ rhs`.
    fn matmul(&self, rhs: &Self) -> Result<Self> {
        self.matmul_t(rhs, false, false)
    }
    /// `self W + b`: [`dense`](Self::dense) without an addend or an activation.
    fn affine(&self, w: &Self, b: &Self) -> Result<Self> {
        self.dense(w, b, None, None)
    }
    /// `-x`
    fn neg(&self) -> Self {
        self.unary(UnaryOp::Neg)
    }
    /// `e^x`
    fn exp(&self) -> Self {
        self.unary(UnaryOp::Exp)
    }
    /// `ln x`
    fn log(&self) -> Self {
        self.unary(UnaryOp::Log)
    }
    /// `sqrt x`
    fn sqrt(&self) -> Self {
        self.unary(UnaryOp::Sqrt)
    }
    /// `x^p`
    fn powf(&self, p: f64) -> Self {
        self.unary(UnaryOp::Powf(p))
    }
    /// `tanh x`
    fn tanh(&self) -> Self {
        self.unary(UnaryOp::Tanh)
    }
    /// `1 / (1 + e^-x)`
    fn sigmoid(&self) -> Self {
        self.unary(UnaryOp::Sigmoid)
    }
    /// `max(x, 0)`
    fn relu(&self) -> Self {
        self.unary(UnaryOp::Relu)
    }
    /// `ln(1 + e^x)`, stable for large `|x|`.
    fn softplus(&self) -> Self {
        self.unary(UnaryOp::Softplus)
    }
    /// ELU: `x` for `x > 0`, `e^x - 1` otherwise (see [`UnaryOp::Elu`]).
    fn elu(&self) -> Self {
        self.unary(UnaryOp::Elu)
    }
    /// `ln sigmoid(x)`, stable for large `|x|`.
    fn log_sigmoid(&self) -> Self {
        self.unary(UnaryOp::LogSigmoid)
    }
    /// `|x|`
    fn abs(&self) -> Self {
        self.unary(UnaryOp::Abs)
    }
    /// `x^2`
    fn square(&self) -> Self {
        self.unary(UnaryOp::Square)
    }
    /// `sin x`
    fn sin(&self) -> Self {
        self.unary(UnaryOp::Sin)
    }
    /// `cos x`
    fn cos(&self) -> Self {
        self.unary(UnaryOp::Cos)
    }
    /// `c x`
    fn scale(&self, c: f64) -> Self {
        self.unary(UnaryOp::Scale(c))
    }
    /// `x + c`
    fn add_scalar(&self, c: f64) -> Self {
        self.unary(UnaryOp::AddScalar(c))
    }
    /// `min(max(x, lo), hi)`; a NaN bound or `lo > hi` is [`Error::Invalid`] naming
    /// both bounds (not `f64::clamp`'s panic).
    fn clamp(&self, lo: f64, hi: f64) -> Result<Self> {
        if lo.is_nan() || hi.is_nan() || lo > hi {
            return Err(Error::Invalid {
                op: "clamp",
                reason: format!("needs lo <= hi, got lo = {lo}, hi = {hi}"),
            });
        }
        Ok(self.unary(UnaryOp::Clamp(lo, hi)))
    }

    // ---- derived reductions ----

    /// Sum of all elements, as `1 x 1`.
    fn sum(&self) -> Self {
        self.sum_to((1, 1)).expect("every shape reduces to 1x1")
    }
    /// Sum along `axis`, keeping it with length 1 (`Axis(0)` gives `1 x cols`).
    fn sum_axis(&self, axis: Axis) -> Self {
        let (r, c) = self.shape();
        let to = if axis == Axis(0) { (1, c) } else { (r, 1) };
        self.sum_to(to).expect("an axis reduces to length 1")
    }
    /// Mean of all elements, as `1 x 1`; a value with no entries has none (an error,
    /// not `0 / 0`).
    fn mean(&self) -> Result<Self> {
        let (r, c) = self.shape();
        if r * c == 0 {
            return Err(Error::Invalid {
                op: "mean",
                reason: format!("a {r} x {c} value has no entries to average"),
            });
        }
        Ok(self.sum().scale(1.0 / (r * c) as f64))
    }
    /// Mean along `axis`, keeping it with length 1; an axis of length 0 has none.
    fn mean_axis(&self, axis: Axis) -> Result<Self> {
        let n = self.shape_of(axis);
        if n == 0 {
            let (r, c) = self.shape();
            return Err(Error::Invalid {
                op: "mean_axis",
                reason: format!("axis {} of a {r} x {c} value is empty", axis.index()),
            });
        }
        Ok(self.sum_axis(axis).scale(1.0 / n as f64))
    }
    /// `x - logsumexp(x)` along `axis`: log-probabilities from logits.
    fn log_softmax(&self, axis: Axis) -> Self {
        self.sub(&self.logsumexp(axis)).expect("a reduction broadcasts back")
    }
    /// `e^x / sum e^x` along `axis`.
    fn softmax(&self, axis: Axis) -> Self {
        self.log_softmax(axis).exp()
    }

    // ---- derived masking and layout ----

    /// The entries where the 0/1 `mask` is 1, and 0 elsewhere (broadcasting):
    /// [`select`](Tensor::keep_where) with a [`Mask`] checked on the way (an entry that
    /// is neither 0 nor 1 is an error). Unobserved entries never reach the arithmetic.
    fn mask(&self, mask: &Array2<f64>) -> Result<Self> {
        self.keep_where(&Mask::new(mask)?)
    }
    /// Sum of the entries where `mask` is 1, as `1 x 1`.
    fn masked_sum(&self, mask: &Array2<f64>) -> Result<Self> {
        Ok(self.mask(mask)?.sum())
    }
    /// Length along `axis`.
    fn shape_of(&self, axis: Axis) -> usize {
        let (rows, cols) = self.shape();
        if axis == Axis(0) { rows } else { cols }
    }
    /// Columns of all parts side by side (all with the same number of rows).
    fn concat_cols(parts: &[&Self]) -> Result<Self> {
        Self::concat_along(parts, Axis(1))
    }
    /// Rows of all parts stacked (all with the same number of columns). Stacking a
    /// sequence's steps so that one product serves them all was measured slower than
    /// a product per step here (`docs/architecture.md`, "Performance notes").
    fn concat_rows(parts: &[&Self]) -> Result<Self> {
        Self::concat_along(parts, Axis(0))
    }
    /// The columns in `range`.
    fn slice_cols(&self, range: Range<usize>) -> Result<Self> {
        self.slice_along(Axis(1), range)
    }
    /// The rows in `range`.
    fn slice_rows(&self, range: Range<usize>) -> Result<Self> {
        self.slice_along(Axis(0), range)
    }
    /// A `rows x width` matrix of zeros holding `self` from column `offset` on.
    fn pad_cols(&self, width: usize, offset: usize) -> Result<Self> {
        self.pad_along(Axis(1), width, offset)
    }
    /// Splits the columns into consecutive blocks of the given widths (which must add
    /// up to the number of columns).
    fn split_cols(&self, widths: &[usize]) -> Result<Vec<Self>> {
        let total: usize = widths.iter().sum();
        if total != self.shape().1 {
            return Err(Error::Invalid {
                op: "split_cols",
                reason: format!("widths {widths:?} add up to {total}, not {} columns", self.shape().1),
            });
        }
        let mut start = 0;
        widths
            .iter()
            .map(|&w| {
                start += w;
                self.slice_cols(start - w..start)
            })
            .collect()
    }
    /// The single element of a `1 x 1` value.
    fn item(&self) -> Result<f64> {
        match self.shape() {
            (1, 1) => Ok(self.to_array()[(0, 0)]),
            other => Err(Error::NotScalar(other)),
        }
    }
}

/// Plain arrays: operations compute values and record nothing.
impl Tensor for Array2<f64> {
    fn shape(&self) -> Shape {
        self.dim()
    }
    fn to_array(&self) -> Array2<f64> {
        self.clone()
    }
    fn constant(&self, value: Array2<f64>) -> Self {
        value
    }
    fn map_constant(&self, f: impl Fn(f64) -> f64) -> Self {
        crate::fast::kernels::map(self, f)
    }
    fn is_tracked(&self) -> bool {
        false
    }
    fn detach(&self) -> Self {
        self.clone()
    }
    fn unary(&self, op: UnaryOp) -> Self {
        op.value(self).expect("element-wise functions apply to any shape")
    }
    fn binary(&self, op: BinaryOp, rhs: &Self) -> Result<Self> {
        op.value(self, rhs)
    }
    fn matmul_t(&self, rhs: &Self, ta: bool, tb: bool) -> Result<Self> {
        MatMul { ta, tb }.value(self, rhs)
    }
    fn dense(&self, w: &Self, b: &Self, plus: Option<&Self>, act: Option<UnaryOp>) -> Result<Self> {
        Affine::new(act)?.value(self, w, b, plus)
    }
    fn causal_conv(&self, filter: &Self, conv: CausalConv) -> Result<Self> {
        conv.value(self, filter)
    }
    fn transpose(&self) -> Self {
        Transpose.value(self).expect("every matrix has a transpose")
    }
    fn sum_to(&self, shape: Shape) -> Result<Self> {
        SumTo(shape).value(self)
    }
    fn broadcast_to(&self, shape: Shape) -> Result<Self> {
        BroadcastTo(shape).value(self)
    }
    fn logsumexp(&self, axis: Axis) -> Self {
        LogSumExp(axis).value(self).expect("every lane has a log-sum-exp")
    }
    fn concat_along(parts: &[&Self], axis: Axis) -> Result<Self> {
        Concat { axis }.value(parts)
    }
    fn slice_along(&self, axis: Axis, range: Range<usize>) -> Result<Self> {
        Slice { axis, start: range.start, end: range.end }.value(self)
    }
    fn pad_along(&self, axis: Axis, len: usize, offset: usize) -> Result<Self> {
        Pad { axis, len, offset }.value(self)
    }
    fn keep_where(&self, keep: &Mask) -> Result<Self> {
        Select(keep.clone()).value(self)
    }
    fn gather_rows(&self, index: &[usize]) -> Result<Self> {
        GatherRows { index: index.into() }.value(self)
    }
    fn scatter_add_rows(&self, index: &[usize], nrows: usize) -> Result<Self> {
        ScatterAddRows { index: index.into(), nrows }.value(self)
    }
    fn apply(function: &dyn Function, inputs: &[&Self]) -> Result<Self> {
        if inputs.is_empty() {
            return Err(Error::Invalid { op: function.name(), reason: "a function needs inputs".into() });
        }
        Ok(function.forward(inputs)?.0)
    }
}
