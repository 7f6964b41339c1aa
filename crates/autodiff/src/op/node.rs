//! What a tape node records, and the dispatch that runs its gradient rule.
//!
//! A node is one op and the ids of its inputs. The dispatch below only picks the
//! rule and hands it its inputs; the math is in the rule's own file.

use super::{
    Affine, BinaryOp, BroadcastTo, CausalConv, Fused, GatherRows, Grad, GradTensor, LogSumExp, MatMul,
    OneInput, Pad, SHAPES, ScatterAddRows, Select, Slice, SumTo, Transpose, TwoInputs, UnaryOp,
};
use crate::ParamId;
use crate::function::Recorded;
use std::borrow::Borrow;
use std::rc::Rc;

/// Index of a node on its tape.
pub(crate) type Id = usize;

/// How a node's value was computed from earlier nodes: an op and its inputs.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    /// A leaf: a constant, or a tracked input whose gradient is wanted.
    Leaf,
    /// A leaf bound to a parameter of a [`ParamStore`](crate::ParamStore).
    Param(ParamId),
    /// An element-wise function of one value.
    Map(UnaryOp, Id),
    /// Element-wise arithmetic of two values, broadcasting.
    Zip(BinaryOp, Id, Id),
    /// A fused gradient, recorded by [`Tape::grad`](crate::Tape::grad).
    Fused(Fused, Id, Id),
    MatMul(MatMul, Id, Id),
    /// `act(x W + b + c)`.
    Affine(Affine, AffineIds),
    /// A causal dilated convolution of an input (first) by a filter (second).
    CausalConv(CausalConv, Id, Id),
    Transpose(Transpose, Id),
    SumTo(SumTo, Id),
    BroadcastTo(BroadcastTo, Id),
    LogSumExp(LogSumExp, Id),
    Slice(Slice, Id),
    Pad(Pad, Id),
    Select(Select, Id),
    /// The parts of a [`Concat`](super::Concat), each with the pad that placed it.
    Concat(Rc<[(Pad, Id)]>),
    GatherRows(GatherRows, Id),
    ScatterAddRows(ScatterAddRows, Id),
    /// A [`Function`](crate::Function) of the listed inputs, differentiated by its
    /// own rule in [`Tape::backward`](crate::Tape::backward) only.
    Function(Recorded, Rc<[Id]>),
}

/// The inputs of an [`Op::Affine`]: `x`, `W`, the bias row `b` and the addend `c`
/// if there is one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AffineIds {
    pub(crate) x: Id,
    pub(crate) w: Id,
    pub(crate) b: Id,
    pub(crate) plus: Option<Id>,
}

/// One run of a node's rule: `g = dL/dy` for its value `y`, each input's value by
/// id, which inputs need a gradient, and where their contributions go.
struct Run<'g, T, V, N, E> {
    g: &'g T,
    y: &'g T,
    val: V,
    need: N,
    emit: E,
}

impl<T, R, V, N, E> Run<'_, T, V, N, E>
where
    T: GradTensor,
    R: Borrow<T>,
    V: Fn(Id) -> R,
    N: Fn(Id) -> bool,
    E: FnMut(Id, Grad<T>),
{
    fn one(&mut self, op: &impl OneInput, x: Id) {
        if (self.need)(x) {
            let d = op.grad(self.g, (self.val)(x).borrow(), self.y);
            (self.emit)(x, d);
        }
    }

    /// The product's rules with `dL/d(x W + b + c)` in place of `g`, its column sum
    /// for the bias and itself for the addend (as `g` itself, which the sweep sums
    /// for the bias, when there is no activation).
    fn affine(&mut self, op: &Affine, ids: AffineIds) {
        let AffineIds { x, w, b, plus } = ids;
        let pre = op.pre_activation_grad(self.g, self.y);
        self.two_with(pre.as_ref().unwrap_or(self.g), &Affine::PRODUCT, x, w);
        if (self.need)(b) {
            let d = match &pre {
                None => Grad::Pass,
                Some(p) => Grad::New(p.sum_to((self.val)(b).borrow().shape()).expect(SHAPES)),
            };
            (self.emit)(b, d);
        }
        match (plus.filter(|&c| (self.need)(c)), pre) {
            (Some(c), pre) => (self.emit)(c, pre.map_or(Grad::Pass, Grad::New)),
            (None, Some(pre)) => pre.recycle(),
            (None, None) => {}
        }
    }

    fn two(&mut self, op: &impl TwoInputs, a: Id, b: Id) {
        self.two_with(self.g, op, a, b);
    }

    /// [`two`](Self::two) with `g` in place of the node's own incoming gradient.
    fn two_with(&mut self, g: &T, op: &impl TwoInputs, a: Id, b: Id) {
        let (va, vb) = ((self.val)(a), (self.val)(b));
        if (self.need)(a) {
            let d = op.grad_lhs(g, va.borrow(), vb.borrow(), self.y);
            (self.emit)(a, d);
        }
        if (self.need)(b) {
            let d = op.grad_rhs(g, va.borrow(), vb.borrow(), self.y);
            (self.emit)(b, d);
        }
    }
}

impl Op {
    /// Calls `f` with the id of each input, in order (a leaf has none).
    pub(crate) fn for_each_input(&self, mut f: impl FnMut(Id)) {
        match self {
            Op::Leaf | Op::Param(_) => {}
            Op::Map(_, x)
            | Op::Transpose(_, x)
            | Op::SumTo(_, x)
            | Op::BroadcastTo(_, x)
            | Op::LogSumExp(_, x)
            | Op::Slice(_, x)
            | Op::Pad(_, x)
            | Op::Select(_, x)
            | Op::GatherRows(_, x)
            | Op::ScatterAddRows(_, x) => f(*x),
            Op::Zip(_, a, b) | Op::Fused(_, a, b) | Op::MatMul(_, a, b) | Op::CausalConv(_, a, b) => {
                f(*a);
                f(*b);
            }
            Op::Affine(_, ids) => [ids.x, ids.w, ids.b].into_iter().chain(ids.plus).for_each(f),
            Op::Concat(parts) => parts.iter().for_each(|(_, p)| f(*p)),
            Op::Function(_, inputs) => inputs.iter().for_each(|&j| f(j)),
        }
    }

    /// Runs this node's gradient rule: given `g = dL/dy` for the node's value `y`, and
    /// `val` giving each input's value, sends each input that `need`s a gradient and
    /// its contribution to `emit`. Leaves have none.
    pub(crate) fn grad<T, R>(
        &self,
        g: &T,
        y: &T,
        val: impl Fn(Id) -> R,
        need: impl Fn(Id) -> bool,
        emit: impl FnMut(Id, Grad<T>),
    ) where
        T: GradTensor,
        R: Borrow<T>,
    {
        let mut run = Run { g, y, val, need, emit };
        match self {
            Op::Leaf | Op::Param(_) => {}
            Op::Map(op, x) => run.one(op, *x),
            Op::Zip(op, a, b) => run.two(op, *a, *b),
            Op::Fused(op, a, b) => run.two(op, *a, *b),
            Op::MatMul(op, a, b) => run.two(op, *a, *b),
            Op::Affine(op, ids) => run.affine(op, *ids),
            Op::CausalConv(op, x, w) => run.two(op, *x, *w),
            Op::Transpose(op, x) => run.one(op, *x),
            Op::SumTo(op, x) => run.one(op, *x),
            Op::BroadcastTo(op, x) => run.one(op, *x),
            Op::LogSumExp(op, x) => run.one(op, *x),
            Op::Slice(op, x) => run.one(op, *x),
            Op::Pad(op, x) => run.one(op, *x),
            Op::Select(op, x) => run.one(op, *x),
            Op::Concat(parts) => parts.iter().for_each(|(pad, p)| run.one(pad, *p)),
            Op::GatherRows(op, x) => run.one(op, *x),
            Op::ScatterAddRows(op, x) => run.one(op, *x),
            Op::Function(f, _) => {
                unreachable!("function `{}`: its rule runs on arrays in Tape::backward only", f.name)
            }
        }
    }
}
