//! The operations a tape records, each with its value rule and its gradient rule.
//!
//! The value rules work on plain arrays; the gradient rules are generic over
//! [`Tensor`], so the same rule runs on arrays (a plain backward pass) and on tape
//! variables (a recorded backward pass, whose result can be differentiated again).

pub mod binary;
pub mod layout;
pub mod linalg;
pub mod reduce;
pub mod unary;

use crate::function::Recorded;
use crate::{ParamId, Tensor};
use ndarray::Axis;
use std::borrow::Borrow;
use std::rc::Rc;

pub use binary::BinaryOp;
pub use linalg::MatMul;
pub use unary::UnaryOp;

/// Index of a node on its tape.
pub(crate) type Id = usize;

/// How a node's value was computed from earlier nodes.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    /// A leaf: a constant, or a tracked input whose gradient is wanted.
    Leaf,
    /// A leaf bound to a parameter of a [`ParamStore`](crate::ParamStore).
    Param(ParamId),
    Unary(UnaryOp, Id),
    Binary(BinaryOp, Id, Id),
    MatMul(MatMul, Id, Id),
    Transpose(Id),
    SumTo(Id),
    BroadcastTo(Id),
    LogSumExp(Id),
    Concat(Axis, Rc<[Id]>),
    Slice {
        x: Id,
        axis: Axis,
        start: usize,
    },
    Pad {
        x: Id,
        axis: Axis,
        offset: usize,
    },
    GatherRows(Id, Rc<[usize]>),
    ScatterAddRows(Id, Rc<[usize]>),
    /// A [`Function`](crate::Function) of the listed inputs, differentiated by its
    /// own rule in [`Tape::backward`](crate::Tape::backward) only.
    Function(Recorded, Rc<[Id]>),
}

impl Op {
    /// Sends `dL/d(input)` for every input that `need`s it to `emit`, given
    /// `g = dL/dy` for this node's output `y` and `val` giving each input's value.
    pub(crate) fn vjp<T, R>(
        &self,
        g: T,
        y: &T,
        val: impl Fn(Id) -> R,
        need: impl Fn(Id) -> bool,
        mut emit: impl FnMut(Id, T),
    ) where
        T: Tensor,
        R: Borrow<T>,
    {
        const SHAPES: &str = "vjp: shapes agree by construction";
        // The rules of `Unary` and `Binary` may pass `g` on; every other arm only reads
        // it, and it is released once the contributions are out.
        match self {
            Op::Leaf | Op::Param(_) => return,
            Op::Unary(op, x) => {
                if need(*x) {
                    emit(*x, op.vjp(g, val(*x).borrow(), y));
                }
                return;
            }
            Op::Binary(op, a, b) => {
                let (va, vb) = (val(*a), val(*b));
                let (da, db) = op.vjp(g, va.borrow(), vb.borrow(), y, (need(*a), need(*b)));
                da.into_iter().for_each(|d| emit(*a, d));
                db.into_iter().for_each(|d| emit(*b, d));
                return;
            }
            Op::MatMul(mm, a, b) => {
                let (va, vb) = (val(*a), val(*b));
                let (da, db) = mm.vjp(&g, va.borrow(), vb.borrow(), (need(*a), need(*b)));
                da.into_iter().for_each(|d| emit(*a, d));
                db.into_iter().for_each(|d| emit(*b, d));
            }
            Op::Transpose(x) => emit(*x, g.transpose()),
            Op::SumTo(x) => emit(*x, reduce::sum_to_vjp(&g, val(*x).borrow())),
            Op::BroadcastTo(x) => emit(*x, reduce::broadcast_to_vjp(&g, val(*x).borrow())),
            Op::LogSumExp(x) => emit(*x, reduce::logsumexp_vjp(&g, val(*x).borrow(), y)),
            Op::Concat(axis, parts) => {
                let lens = parts.iter().map(|&p| val(p).borrow().shape_of(*axis));
                for (&p, d) in parts.iter().zip(layout::concat_vjp(&g, *axis, lens)) {
                    if need(p) {
                        emit(p, d);
                    }
                }
            }
            Op::Slice { x, axis, start } => {
                let len = val(*x).borrow().shape_of(*axis);
                emit(*x, g.pad_along(*axis, len, *start).expect(SHAPES));
            }
            Op::Pad { x, axis, offset } => {
                let n = val(*x).borrow().shape_of(*axis);
                emit(*x, g.slice_along(*axis, *offset..*offset + n).expect(SHAPES));
            }
            Op::GatherRows(x, index) => {
                let rows = val(*x).borrow().shape().0;
                emit(*x, g.scatter_add_rows(index, rows).expect(SHAPES));
            }
            Op::ScatterAddRows(x, index) => emit(*x, g.gather_rows(index).expect(SHAPES)),
            Op::Function(f, _) => {
                unreachable!("function `{}`: its rule runs on arrays in Tape::backward only", f.name)
            }
        }
        g.release();
    }
}
