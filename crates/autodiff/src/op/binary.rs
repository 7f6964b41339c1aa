//! Element-wise arithmetic of two values with broadcasting.
//!
//! The value rule broadcasts both operands to a common shape (see [`crate::shape`]);
//! the gradient rule computes the element-wise partial derivative at the broadcast
//! shape and then sums it back to each operand's own shape.

use crate::shape::broadcast_shape;
use crate::{Result, Shape, Tensor};
use ndarray::{Array2, Zip};

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

    fn apply(&self, x: f64, y: f64) -> f64 {
        match self {
            BinaryOp::Add => x + y,
            BinaryOp::Sub => x - y,
            BinaryOp::Mul => x * y,
            BinaryOp::Div => x / y,
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
        Ok(Zip::from(&a).and(&b).map_collect(|&x, &y| self.apply(x, y)))
    }

    /// The gradient rule for `y = a op b`: `(dL/da, dL/db)`, each computed only when
    /// `need` asks for it and summed back to its operand's shape.
    pub fn vjp<T: Tensor>(&self, g: T, a: &T, b: &T, y: &T, need: (bool, bool)) -> (Option<T>, Option<T>) {
        const SHAPES: &str = "binary vjp: operands broadcast by construction";
        let back = |d: T, to: &T| d.sum_to(to.shape()).expect(SHAPES);
        match self {
            BinaryOp::Add => (need.0.then(|| back(g.clone(), a)), need.1.then(|| back(g.clone(), b))),
            BinaryOp::Sub => (need.0.then(|| back(g.clone(), a)), need.1.then(|| back(g.neg(), b))),
            BinaryOp::Mul => (
                need.0.then(|| back(g.mul(b).expect(SHAPES), a)),
                need.1.then(|| back(g.mul(a).expect(SHAPES), b)),
            ),
            BinaryOp::Div => (
                need.0.then(|| back(g.div(b).expect(SHAPES), a)),
                // d(a/b)/db = -a/b^2 = -y/b
                need.1.then(|| back(g.mul(y).expect(SHAPES).div(b).expect(SHAPES).neg(), b)),
            ),
        }
    }
}
