//! Element-wise arithmetic of two values with broadcasting.
//!
//! The value rule broadcasts both operands to a common shape (see [`crate::shape`]);
//! the gradient rule computes the element-wise partial derivative at the broadcast
//! shape and then sums it back to each operand's own shape.

use crate::fast::kernels;
use crate::shape::broadcast_shape;
use crate::{Result, Shape, Tensor};
use ndarray::Array2;

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
    /// `a (1 - b^2)`: the gradient of `tanh` (`a` the incoming gradient, `b = tanh x`),
    /// fused so the backward pass makes one array instead of four.
    TanhGrad,
    /// `a b (1 - b)`: the gradient of the sigmoid (`b = sigmoid x`), fused likewise.
    SigmoidGrad,
}

impl BinaryOp {
    /// Short name for error messages.
    pub fn name(&self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::TanhGrad => "tanh_grad",
            BinaryOp::SigmoidGrad => "sigmoid_grad",
        }
    }

    /// The shape of `a op b`, or a shape error naming this op and both shapes.
    pub fn output_shape(&self, a: Shape, b: Shape) -> Result<Shape> {
        broadcast_shape(self.name(), a, b)
    }

    /// The value rule, broadcasting both operands.
    pub fn forward(&self, a: &Array2<f64>, b: &Array2<f64>) -> Result<Array2<f64>> {
        let shape = self.output_shape(a.dim(), b.dim())?;
        let a = a.broadcast(shape).expect("shape checked by output_shape");
        let b = b.broadcast(shape).expect("shape checked by output_shape");
        // One loop per op (a `match` inside the loop would block vectorisation).
        Ok(match self {
            BinaryOp::Add => kernels::map2(&a, &b, |x, y| x + y),
            BinaryOp::Sub => kernels::map2(&a, &b, |x, y| x - y),
            BinaryOp::Mul => kernels::map2(&a, &b, |x, y| x * y),
            BinaryOp::Div => kernels::map2(&a, &b, |x, y| x / y),
            BinaryOp::TanhGrad => kernels::map2(&a, &b, |x, y| x * (1.0 - y * y)),
            BinaryOp::SigmoidGrad => kernels::map2(&a, &b, |x, y| x * y * (1.0 - y)),
        })
    }

    /// The gradient rule for `y = a op b`: `(dL/da, dL/db)`, each computed only when
    /// `need` asks for it and summed back to its operand's shape.
    pub fn vjp<T: Tensor>(&self, g: T, a: &T, b: &T, y: &T, need: (bool, bool)) -> (Option<T>, Option<T>) {
        const SHAPES: &str = "binary vjp: operands broadcast by construction";
        // Sums `d` back to `to`'s shape where `to` was broadcast (releasing the full-size `d`).
        let back = |d: T, to: &T| {
            if d.shape() == to.shape() {
                return d;
            }
            let summed = d.sum_to(to.shape()).expect(SHAPES);
            d.release();
            summed
        };
        let mul = |x: &T, y: &T| x.mul(y).expect(SHAPES);
        let grads = match self {
            BinaryOp::Add | BinaryOp::Sub => {
                // The right operand first, reading `g` (a broadcast operand only needs its
                // sum, not a copy of `g`), so that `g` itself can move into the left one.
                let db = need.1.then(|| {
                    let d = g.sum_to(b.shape()).expect(SHAPES);
                    if *self == BinaryOp::Sub { d.neg() } else { d }
                });
                return (need.0.then(|| back(g, a)), db);
            }
            BinaryOp::Mul => (need.0.then(|| back(mul(&g, b), a)), need.1.then(|| back(mul(&g, a), b))),
            BinaryOp::Div => (
                need.0.then(|| back(g.div(b).expect(SHAPES), a)),
                // d(a/b)/db = -a/b^2 = -y/b
                need.1.then(|| back(mul(&g, y).div(b).expect(SHAPES).neg(), b)),
            ),
            // y = a (1 - b^2): dy/da = 1 - b^2, dy/db = -2 a b
            BinaryOp::TanhGrad => (
                need.0.then(|| back(g.binary(BinaryOp::TanhGrad, b).expect(SHAPES), a)),
                need.1.then(|| back(mul(&mul(&g, a), b).scale(-2.0), b)),
            ),
            // y = a b (1 - b): dy/da = b (1 - b), dy/db = a (1 - 2b)
            BinaryOp::SigmoidGrad => (
                need.0.then(|| back(g.binary(BinaryOp::SigmoidGrad, b).expect(SHAPES), a)),
                need.1.then(|| back(mul(&mul(&g, a), &b.scale(-2.0).add_scalar(1.0)), b)),
            ),
        };
        g.release();
        grads
    }
}
