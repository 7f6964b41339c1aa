//! Element-wise arithmetic of two values with broadcasting, each op with its value
//! rule and its gradient rule.
//!
//! The value rule broadcasts both operands to a common shape (see [`crate::shape`]);
//! the gradient rules give each operand's partial derivative at that shape, and the
//! backward sweep sums it back over the axes where the operand was stretched.

use super::{Grad, GradTensor, TwoInputs, div, mul};
use crate::Result;
use crate::fast::kernels;
use crate::shape::broadcast_shape;
use ndarray::Array2;

/// An element-wise function `y = f(a, b)` of two values.
pub(crate) trait Zip {
    /// `f` of one pair of elements; `#[inline(always)]`, as `Map::value` in `unary.rs`.
    fn value(&self, a: f64, b: f64) -> f64;
    /// `dL/da = g df/da`, given `g = dL/dy`, the operands and `y`.
    fn grad_lhs<T: GradTensor>(&self, g: &T, a: &T, b: &T, y: &T) -> Grad<T>;
    /// `dL/db = g df/db`.
    fn grad_rhs<T: GradTensor>(&self, g: &T, a: &T, b: &T, y: &T) -> Grad<T>;
}

/// An element-wise operation of two values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    /// `a + b`
    Add,
    /// `a - b`
    Sub,
    /// `a * b`
    Mul,
    /// `a / b`
    Div,
}

/// Runs `$body` with `$rule` bound to the [`Zip`] that `$op` names (see the macro of
/// the same name in `unary.rs`).
#[rustfmt::skip]
macro_rules! with_rule {
    ($op:expr, |$rule:ident| $body:expr) => {
        match $op {
            BinaryOp::Add => { let $rule = Add; $body }
            BinaryOp::Sub => { let $rule = Sub; $body }
            BinaryOp::Mul => { let $rule = Mul; $body }
            BinaryOp::Div => { let $rule = Div; $body }
        }
    };
}

impl BinaryOp {
    /// Short name for error messages.
    pub fn name(&self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
        }
    }
}

impl TwoInputs for BinaryOp {
    fn name(&self) -> &'static str {
        BinaryOp::name(self)
    }
    fn value(&self, a: &Array2<f64>, b: &Array2<f64>) -> Result<Array2<f64>> {
        with_rule!(*self, |rule| zip(&rule, BinaryOp::name(self), a, b))
    }
    fn grad_lhs<T: GradTensor>(&self, g: &T, a: &T, b: &T, y: &T) -> Grad<T> {
        with_rule!(*self, |rule| rule.grad_lhs(g, a, b, y))
    }
    fn grad_rhs<T: GradTensor>(&self, g: &T, a: &T, b: &T, y: &T) -> Grad<T> {
        with_rule!(*self, |rule| rule.grad_rhs(g, a, b, y))
    }
}

/// `f` of `a` and `b` element by element, both broadcast to their common shape, or a
/// shape error naming `op` and both shapes.
pub(crate) fn zip(f: &impl Zip, op: &'static str, a: &Array2<f64>, b: &Array2<f64>) -> Result<Array2<f64>> {
    let shape = broadcast_shape(op, a.dim(), b.dim())?;
    let a = a.broadcast(shape).expect("checked by broadcast_shape");
    let b = b.broadcast(shape).expect("checked by broadcast_shape");
    Ok(kernels::map2(
        &a,
        &b,
        #[inline(always)]
        |x, y| f.value(x, y),
    ))
}

/// `a + b`: `dy/da = dy/db = 1`.
struct Add;
impl Zip for Add {
    #[inline(always)]
    fn value(&self, a: f64, b: f64) -> f64 {
        a + b
    }
    fn grad_lhs<T: GradTensor>(&self, _: &T, _: &T, _: &T, _: &T) -> Grad<T> {
        Grad::Pass
    }
    fn grad_rhs<T: GradTensor>(&self, _: &T, _: &T, _: &T, _: &T) -> Grad<T> {
        Grad::Pass
    }
}

/// `a - b`: `dy/da = 1`, `dy/db = -1`.
struct Sub;
impl Zip for Sub {
    #[inline(always)]
    fn value(&self, a: f64, b: f64) -> f64 {
        a - b
    }
    fn grad_lhs<T: GradTensor>(&self, _: &T, _: &T, _: &T, _: &T) -> Grad<T> {
        Grad::Pass
    }
    fn grad_rhs<T: GradTensor>(&self, g: &T, _: &T, _: &T, _: &T) -> Grad<T> {
        Grad::New(g.neg())
    }
}

/// `a b`: `dy/da = b`, `dy/db = a`.
struct Mul;
impl Zip for Mul {
    #[inline(always)]
    fn value(&self, a: f64, b: f64) -> f64 {
        a * b
    }
    fn grad_lhs<T: GradTensor>(&self, g: &T, _: &T, b: &T, _: &T) -> Grad<T> {
        Grad::New(mul(g, b))
    }
    fn grad_rhs<T: GradTensor>(&self, g: &T, a: &T, _: &T, _: &T) -> Grad<T> {
        Grad::New(mul(g, a))
    }
}

/// `a / b`: `dy/da = 1 / b`, `dy/db = -a / b^2 = -y / b`.
struct Div;
impl Zip for Div {
    #[inline(always)]
    fn value(&self, a: f64, b: f64) -> f64 {
        a / b
    }
    fn grad_lhs<T: GradTensor>(&self, g: &T, _: &T, b: &T, _: &T) -> Grad<T> {
        Grad::New(div(g, b))
    }
    fn grad_rhs<T: GradTensor>(&self, g: &T, _: &T, b: &T, y: &T) -> Grad<T> {
        Grad::New(div(&mul(g, y), b).neg())
    }
}
