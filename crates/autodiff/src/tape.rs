//! The tape: an arena of nodes in creation order, and [`Var`], a `Copy` handle to one.
//!
//! Each operation on a [`Var`] computes its value immediately and, if any input is
//! tracked, appends a node recording which op produced it from which earlier nodes.
//! Because nodes only ever refer to earlier ones, the backward pass is a single
//! reverse walk over the arena (see [`crate::backward`]). An op whose inputs are all
//! constants records a constant: nothing is kept for the backward pass.

use crate::function::Recorded;
use crate::op::{
    Affine, AffineIds, BinaryOp, BroadcastTo, CausalConv, Concat, Fused, GatherRows, GradTensor, Id,
    LogSumExp, Mask, MatMul, OneInput, Op, Pad, ScatterAddRows, Select, Slice, SumTo, Transpose, TwoInputs,
    UnaryOp,
};
use crate::{Error, Function, ParamId, Result, Shape, Tensor};
use ndarray::{Array2, Axis};
use std::cell::RefCell;
use std::ops::Range;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

struct Node {
    value: Array2<f64>,
    op: Op,
    tracked: bool,
}

/// A recording of operations, to be differentiated in reverse.
///
/// Create one per forward pass; it is dropped (with all its values) at the end of
/// the step. A tape is single-threaded; for data parallelism, give each thread its
/// own tape.
///
/// Every tape has an identity of its own, which its [`Gradients`](crate::Gradients)
/// keep: a value of one tape used with another (as an operand, as the loss, or to
/// look up a gradient) is an error, never another value's result.
pub struct Tape {
    identity: u64,
    nodes: RefCell<Vec<Node>>,
}

/// Identities of tapes, drawn once per tape.
static NEXT_TAPE: AtomicU64 = AtomicU64::new(0);

impl Default for Tape {
    fn default() -> Self {
        Tape::with_capacity(0)
    }
}

impl Drop for Tape {
    fn drop(&mut self) {
        // The next step will need buffers of the same sizes: keep them.
        for node in self.nodes.get_mut().drain(..) {
            crate::fast::pool::recycle(node.value);
        }
    }
}

impl std::fmt::Debug for Tape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tape {{ {} nodes }}", self.len())
    }
}

/// The nodes of a tape, borrowed all at once (by a sweep, or by an op of several
/// inputs), read by index.
#[derive(Clone, Copy)]
pub(crate) struct Nodes<'n>(&'n [Node]);

impl<'n> Nodes<'n> {
    pub(crate) fn value(self, id: Id) -> &'n Array2<f64> {
        &self.0[id].value
    }
    pub(crate) fn op(self, id: Id) -> &'n Op {
        &self.0[id].op
    }
    pub(crate) fn tracked(self, id: Id) -> bool {
        self.0[id].tracked
    }
}

/// A value on a [`Tape`]: a cheap `Copy` handle (the tape and a node index).
#[derive(Clone, Copy)]
pub struct Var<'t> {
    tape: &'t Tape,
    id: Id,
}

impl std::fmt::Debug for Var<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.with_value(|v| write!(f, "Var #{} {:?} tracked={} {v:?}", self.id, v.dim(), self.is_tracked()))
    }
}

impl Tape {
    /// An empty tape.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty tape with room for `nodes` nodes before it reallocates.
    pub fn with_capacity(nodes: usize) -> Self {
        Tape {
            identity: NEXT_TAPE.fetch_add(1, Ordering::Relaxed),
            nodes: RefCell::new(Vec::with_capacity(nodes)),
        }
    }

    /// This tape's identity, unique in the process.
    pub(crate) fn identity(&self) -> u64 {
        self.identity
    }

    /// Whether `v` was recorded on this tape; if not, [`Error::ForeignHandle`] naming
    /// `op` and `what()` (e.g. "the loss"), which is only formatted then: operands of
    /// every op pass through here.
    pub(crate) fn owns(&self, v: &Var<'_>, op: &'static str, what: impl FnOnce() -> String) -> Result<()> {
        if std::ptr::eq(v.tape, self) {
            Ok(())
        } else {
            Err(Error::ForeignHandle {
                op,
                what: format!("{} (value #{})", what(), v.id),
                owner: "another tape".into(),
            })
        }
    }

    /// Number of nodes recorded so far.
    pub fn len(&self) -> usize {
        self.nodes.borrow().len()
    }

    /// Whether nothing has been recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A tracked input: gradients with respect to it are computed by `backward`.
    pub fn leaf(&self, value: Array2<f64>) -> Var<'_> {
        self.push(value, Op::Leaf, true)
    }

    /// A constant input: never differentiated.
    pub fn constant(&self, value: Array2<f64>) -> Var<'_> {
        self.push(value, Op::Leaf, false)
    }

    pub(crate) fn param_leaf(&self, id: ParamId, value: Array2<f64>) -> Var<'_> {
        self.push(value, Op::Param(id), true)
    }

    fn push(&self, value: Array2<f64>, op: Op, tracked: bool) -> Var<'_> {
        let mut nodes = self.nodes.borrow_mut();
        nodes.push(Node { value, op, tracked });
        Var { tape: self, id: nodes.len() - 1 }
    }

    /// Appends a computed value; `op` is kept only if it depends on a tracked input.
    fn record(&self, value: Array2<f64>, op: Op, tracked: bool) -> Var<'_> {
        if tracked { self.push(value, op, true) } else { self.push(value, Op::Leaf, false) }
    }

    /// Runs `f` on the node's value, op and tracked flag.
    pub(crate) fn inspect<R>(&self, id: Id, f: impl FnOnce(&Array2<f64>, &Op, bool) -> R) -> R {
        let nodes = self.nodes.borrow();
        let n = &nodes[id];
        f(&n.value, &n.op, n.tracked)
    }

    /// Runs `f` on all nodes at once.
    pub(crate) fn with_nodes<R>(&self, f: impl FnOnce(Nodes<'_>) -> R) -> R {
        f(Nodes(&self.nodes.borrow()))
    }

    pub(crate) fn var(&self, id: Id) -> Var<'_> {
        Var { tape: self, id }
    }
}

impl<'t> Var<'t> {
    /// The tape this value lives on.
    pub fn tape(&self) -> &'t Tape {
        self.tape
    }

    /// Index of this value's node on its tape.
    pub fn id(&self) -> usize {
        self.id
    }

    /// Whether this value depends on a tracked input (and so has a gradient).
    pub fn is_tracked(&self) -> bool {
        self.tape.inspect(self.id, |_, _, t| t)
    }

    /// Runs `f` on the value without copying it. Do not record new operations
    /// on the same tape inside `f` (the tape is borrowed while `f` runs).
    pub fn with_value<R>(&self, f: impl FnOnce(&Array2<f64>) -> R) -> R {
        self.tape.inspect(self.id, |v, _, _| f(v))
    }

    /// A copy of the value.
    pub fn value(&self) -> Array2<f64> {
        self.to_array()
    }

    /// Records `op` applied to this value, as the node `node(op, self)`.
    fn record1<O: OneInput>(&self, op: O, node: impl FnOnce(O, Id) -> Op) -> Result<Self> {
        let (value, tracked) = self.tape.inspect(self.id, |x, _, t| (op.value(x), t));
        Ok(self.tape.record(value?, node(op, self.id), tracked))
    }

    /// Records `op` applied to this value and `rhs`, as the node `node(op, self, rhs)`.
    fn record2<O: TwoInputs>(&self, rhs: &Self, op: O, node: impl FnOnce(O, Id, Id) -> Op) -> Result<Self> {
        self.tape.owns(rhs, op.name(), || "the right operand".into())?;
        let (value, tracked) = self.tape.with_nodes(|nodes| {
            let (a, b) = (self.id, rhs.id);
            (op.value(nodes.value(a), nodes.value(b)), nodes.tracked(a) || nodes.tracked(b))
        });
        Ok(self.tape.record(value?, node(op, self.id, rhs.id), tracked))
    }
}

impl Tensor for Var<'_> {
    fn shape(&self) -> Shape {
        self.with_value(|v| v.dim())
    }
    fn to_array(&self) -> Array2<f64> {
        self.with_value(|v| v.clone())
    }
    fn constant(&self, value: Array2<f64>) -> Self {
        self.tape.constant(value)
    }
    fn map_constant(&self, f: impl Fn(f64) -> f64) -> Self {
        let value = self.with_value(|v| crate::fast::kernels::map(v, f));
        self.tape.constant(value)
    }
    fn is_tracked(&self) -> bool {
        Var::is_tracked(self)
    }
    fn detach(&self) -> Self {
        self.tape.constant(self.to_array())
    }
    fn unary(&self, op: UnaryOp) -> Self {
        self.record1(op, Op::Map).expect("element-wise functions apply to any shape")
    }
    fn binary(&self, op: BinaryOp, rhs: &Self) -> Result<Self> {
        self.record2(rhs, op, Op::Zip)
    }
    fn matmul_t(&self, rhs: &Self, ta: bool, tb: bool) -> Result<Self> {
        self.record2(rhs, MatMul { ta, tb }, Op::MatMul)
    }
    fn dense(&self, w: &Self, b: &Self, plus: Option<&Self>, act: Option<UnaryOp>) -> Result<Self> {
        self.tape.owns(w, "dense", || "the weight".into())?;
        self.tape.owns(b, "dense", || "the bias".into())?;
        if let Some(c) = plus {
            self.tape.owns(c, "dense", || "the addend".into())?;
        }
        let op = Affine::new(act)?;
        let ids = AffineIds { x: self.id, w: w.id, b: b.id, plus: plus.map(|c| c.id) };
        let (value, tracked) = self.tape.with_nodes(|nodes| {
            let value = op.value(
                nodes.value(ids.x),
                nodes.value(ids.w),
                nodes.value(ids.b),
                ids.plus.map(|c| nodes.value(c)),
            );
            (value, [ids.x, ids.w, ids.b].into_iter().chain(ids.plus).any(|j| nodes.tracked(j)))
        });
        Ok(self.tape.record(value?, Op::Affine(op, ids), tracked))
    }
    fn causal_conv(&self, filter: &Self, conv: CausalConv) -> Result<Self> {
        self.record2(filter, conv, Op::CausalConv)
    }
    fn transpose(&self) -> Self {
        self.record1(Transpose, Op::Transpose).expect("every matrix has a transpose")
    }
    fn sum_to(&self, shape: Shape) -> Result<Self> {
        if self.shape() == shape {
            return Ok(*self);
        }
        self.record1(SumTo(shape), Op::SumTo)
    }
    fn broadcast_to(&self, shape: Shape) -> Result<Self> {
        if self.shape() == shape {
            return Ok(*self);
        }
        self.record1(BroadcastTo(shape), Op::BroadcastTo)
    }
    fn logsumexp(&self, axis: Axis) -> Self {
        self.record1(LogSumExp(axis), Op::LogSumExp).expect("every lane has a log-sum-exp")
    }
    fn concat_along(parts: &[&Self], axis: Axis) -> Result<Self> {
        let Some(first) = parts.first() else {
            return Err(Error::Invalid { op: "concat", reason: "no parts to concatenate".into() });
        };
        for (k, p) in parts.iter().enumerate() {
            first.tape.owns(p, "concat", || format!("part {k}"))?;
        }
        let (tape, op) = (first.tape, Concat { axis });
        let (value, placed, tracked) = tape.with_nodes(|nodes| {
            let values: Vec<_> = parts.iter().map(|p| nodes.value(p.id)).collect();
            let placed: Rc<[_]> = op.placements(&values).zip(parts.iter().map(|p| p.id)).collect();
            (op.value(&values), placed, parts.iter().any(|p| nodes.tracked(p.id)))
        });
        Ok(tape.record(value?, Op::Concat(placed), tracked))
    }
    fn slice_along(&self, axis: Axis, range: Range<usize>) -> Result<Self> {
        self.record1(Slice { axis, start: range.start, end: range.end }, Op::Slice)
    }
    fn pad_along(&self, axis: Axis, len: usize, offset: usize) -> Result<Self> {
        self.record1(Pad { axis, len, offset }, Op::Pad)
    }
    fn keep_where(&self, keep: &Mask) -> Result<Self> {
        self.record1(Select(keep.clone()), Op::Select)
    }
    fn gather_rows(&self, index: &[usize]) -> Result<Self> {
        self.record1(GatherRows { index: index.into() }, Op::GatherRows)
    }
    fn scatter_add_rows(&self, index: &[usize], nrows: usize) -> Result<Self> {
        self.record1(ScatterAddRows { index: index.into(), nrows }, Op::ScatterAddRows)
    }
    fn apply(function: &dyn Function, inputs: &[&Self]) -> Result<Self> {
        let Some(first) = inputs.first() else {
            return Err(Error::Invalid { op: function.name(), reason: "a function needs inputs".into() });
        };
        for (k, x) in inputs.iter().enumerate() {
            first.tape.owns(x, function.name(), || format!("input {k}"))?;
        }
        let tape = first.tape;
        let (result, tracked) = tape.with_nodes(|nodes| {
            let values: Vec<_> = inputs.iter().map(|x| nodes.value(x.id)).collect();
            (function.forward(&values), inputs.iter().any(|x| nodes.tracked(x.id)))
        });
        let (value, rule) = result?;
        let op = Op::Function(
            Recorded { name: function.name(), rule: rule.into() },
            inputs.iter().map(|x| x.id).collect(),
        );
        Ok(tape.record(value, op, tracked))
    }
}

impl GradTensor for Var<'_> {
    fn fused(&self, op: Fused, rhs: &Self) -> Self {
        self.record2(rhs, op, Op::Fused)
            .expect("a fused gradient's operands come from a checked forward pass")
    }
    fn times(self, g: &Self) -> Self {
        self.mul(g).expect("a gradient factor broadcasts with its gradient")
    }
    fn recycle(self) {}
}
