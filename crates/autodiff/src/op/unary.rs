//! Element-wise functions of one value: each with its value rule and its gradient rule.
//!
//! Gradient rules are written with [`Tensor`] operations, so on the tape they are
//! themselves recorded and can be differentiated again (Hessian-vector products).
//! Where the derivative is cheapest in terms of the output `y` (exp, tanh, sigmoid,
//! sqrt) the rule uses `y`; piecewise-constant factors (the step of ReLU, the sign of
//! `abs`, the window of `clamp`) enter as constants, whose own derivative is zero
//! almost everywhere.

use crate::Tensor;
use crate::fast::kernels;
use crate::fast::math::{exp, sigmoid, softplus, tanh};
use crate::op::BinaryOp;
use ndarray::Array2;

/// An element-wise function of one value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UnaryOp {
    /// `-x`
    Neg,
    /// `e^x`
    Exp,
    /// `ln x`
    Log,
    /// `sqrt x`
    Sqrt,
    /// `x^p` for a constant real `p`
    Powf(f64),
    /// `tanh x`
    Tanh,
    /// `1 / (1 + e^-x)`, saturating to exactly 0 and 1 without overflow
    Sigmoid,
    /// `max(x, 0)`; its derivative at 0 is taken as 0, as in PyTorch
    Relu,
    /// `ln(1 + e^x)`, evaluated as `max(x, 0) + ln(1 + e^-|x|)`
    Softplus,
    /// `ln sigmoid(x) = -softplus(-x)`
    LogSigmoid,
    /// `|x|`; its derivative at 0 is taken as 0
    Abs,
    /// `x^2`
    Square,
    /// `sin x`
    Sin,
    /// `cos x`
    Cos,
    /// `c x` for a constant `c`
    Scale(f64),
    /// `x + c` for a constant `c`
    AddScalar(f64),
    /// `min(max(x, lo), hi)`; gradient 1 strictly inside, 0 outside
    Clamp(f64, f64),
}

impl UnaryOp {
    /// Short name for error messages and debugging.
    pub fn name(&self) -> &'static str {
        match self {
            UnaryOp::Neg => "neg",
            UnaryOp::Exp => "exp",
            UnaryOp::Log => "log",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Powf(_) => "powf",
            UnaryOp::Tanh => "tanh",
            UnaryOp::Sigmoid => "sigmoid",
            UnaryOp::Relu => "relu",
            UnaryOp::Softplus => "softplus",
            UnaryOp::LogSigmoid => "log_sigmoid",
            UnaryOp::Abs => "abs",
            UnaryOp::Square => "square",
            UnaryOp::Sin => "sin",
            UnaryOp::Cos => "cos",
            UnaryOp::Scale(_) => "scale",
            UnaryOp::AddScalar(_) => "add_scalar",
            UnaryOp::Clamp(..) => "clamp",
        }
    }

    /// The value rule: `f` applied to every element.
    pub fn forward(&self, x: &Array2<f64>) -> Array2<f64> {
        match *self {
            UnaryOp::Neg => kernels::map(x, |v| -v),
            UnaryOp::Exp => kernels::map(x, exp),
            UnaryOp::Log => kernels::map(x, f64::ln),
            UnaryOp::Sqrt => kernels::map(x, f64::sqrt),
            UnaryOp::Powf(p) => kernels::map(x, |v| v.powf(p)),
            UnaryOp::Tanh => kernels::map(x, tanh),
            UnaryOp::Sigmoid => kernels::map(x, sigmoid),
            UnaryOp::Relu => kernels::map(x, |v| v.max(0.0)),
            UnaryOp::Softplus => kernels::map(x, softplus),
            UnaryOp::LogSigmoid => kernels::map(x, |v| -softplus(-v)),
            UnaryOp::Abs => kernels::map(x, f64::abs),
            UnaryOp::Square => kernels::map(x, |v| v * v),
            UnaryOp::Sin => kernels::map(x, f64::sin),
            UnaryOp::Cos => kernels::map(x, f64::cos),
            UnaryOp::Scale(c) => kernels::map(x, |v| c * v),
            UnaryOp::AddScalar(c) => kernels::map(x, |v| v + c),
            UnaryOp::Clamp(lo, hi) => kernels::map(x, |v| v.clamp(lo, hi)),
        }
    }

    /// The gradient rule: given `g = dL/dy` for `y = f(x)`, returns `dL/dx`.
    pub fn vjp<T: Tensor>(&self, g: T, x: &T, y: &T) -> T {
        const SHAPES: &str = "unary vjp: g, x and y share a shape";
        let mul = |a: &T, b: &T| a.mul(b).expect(SHAPES);
        // `g` times a factor computed from `x` for this purpose only: both released.
        let times = |g: &T, factor: T| {
            let d = mul(g, &factor);
            factor.release();
            d
        };
        let d = match *self {
            UnaryOp::AddScalar(_) => return g,
            UnaryOp::Neg => g.neg(),
            UnaryOp::Exp => mul(&g, y),
            UnaryOp::Log => g.div(x).expect(SHAPES),
            UnaryOp::Sqrt => g.div(y).expect(SHAPES).scale(0.5),
            UnaryOp::Powf(p) => times(&g, x.powf(p - 1.0)).scale(p),
            UnaryOp::Tanh => g.binary(BinaryOp::TanhGrad, y).expect(SHAPES),
            UnaryOp::Sigmoid => g.binary(BinaryOp::SigmoidGrad, y).expect(SHAPES),
            UnaryOp::Relu => times(&g, x.map_constant(|v| if v > 0.0 { 1.0 } else { 0.0 })),
            UnaryOp::Softplus => times(&g, x.sigmoid()),
            UnaryOp::LogSigmoid => times(&g, x.neg().sigmoid()),
            UnaryOp::Abs => times(&g, x.map_constant(|v| if v == 0.0 { 0.0 } else { v.signum() })),
            UnaryOp::Square => mul(&g, x).scale(2.0),
            UnaryOp::Sin => times(&g, x.cos()),
            UnaryOp::Cos => times(&g, x.sin()).neg(),
            UnaryOp::Scale(c) => g.scale(c),
            UnaryOp::Clamp(lo, hi) => times(&g, x.map_constant(|v| if v > lo && v < hi { 1.0 } else { 0.0 })),
        };
        g.release();
        d
    }
}
