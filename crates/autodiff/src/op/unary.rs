//! Element-wise functions of one value: each with its value rule and its gradient rule.
//!
//! Gradient rules are written with [`Tensor`] operations, so on the tape they are
//! themselves recorded and can be differentiated again (Hessian-vector products).
//! Where the derivative is cheapest in terms of the output `y` (exp, tanh, sigmoid,
//! sqrt) the rule uses `y`; piecewise-constant factors (the step of ReLU, the sign of
//! `abs`, the window of `clamp`) enter as constants, whose own derivative is zero
//! almost everywhere.

use crate::Tensor;
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
    /// `1 / (1 + e^-x)`, evaluated without overflow for either sign
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

/// `ln(1 + e^x)` without overflow (for x = 800 it returns 800, not infinity).
pub fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// `1 / (1 + e^-x)` without overflow for either sign.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
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
            UnaryOp::Neg => x.mapv(|v| -v),
            UnaryOp::Exp => x.mapv(f64::exp),
            UnaryOp::Log => x.mapv(f64::ln),
            UnaryOp::Sqrt => x.mapv(f64::sqrt),
            UnaryOp::Powf(p) => x.mapv(|v| v.powf(p)),
            UnaryOp::Tanh => x.mapv(f64::tanh),
            UnaryOp::Sigmoid => x.mapv(sigmoid),
            UnaryOp::Relu => x.mapv(|v| v.max(0.0)),
            UnaryOp::Softplus => x.mapv(softplus),
            UnaryOp::LogSigmoid => x.mapv(|v| -softplus(-v)),
            UnaryOp::Abs => x.mapv(f64::abs),
            UnaryOp::Square => x.mapv(|v| v * v),
            UnaryOp::Sin => x.mapv(f64::sin),
            UnaryOp::Cos => x.mapv(f64::cos),
            UnaryOp::Scale(c) => x.mapv(|v| c * v),
            UnaryOp::AddScalar(c) => x.mapv(|v| v + c),
            UnaryOp::Clamp(lo, hi) => x.mapv(|v| v.clamp(lo, hi)),
        }
    }

    /// The gradient rule: given `g = dL/dy` for `y = f(x)`, returns `dL/dx`.
    pub fn vjp<T: Tensor>(&self, g: T, x: &T, y: &T) -> T {
        let mul = |a: T, b: &T| a.mul(b).expect("unary vjp: g and x share a shape");
        match *self {
            UnaryOp::Neg => g.neg(),
            UnaryOp::Exp => mul(g, y),
            UnaryOp::Log => g.div(x).expect("unary vjp: g and x share a shape"),
            UnaryOp::Sqrt => g.div(y).expect("unary vjp: g and y share a shape").scale(0.5),
            UnaryOp::Powf(p) => mul(g, &x.powf(p - 1.0)).scale(p),
            UnaryOp::Tanh => mul(g, &y.square().neg().add_scalar(1.0)),
            UnaryOp::Sigmoid => mul(mul(g, y), &y.neg().add_scalar(1.0)),
            UnaryOp::Relu => mul(g, &x.map_constant(|v| if v > 0.0 { 1.0 } else { 0.0 })),
            UnaryOp::Softplus => mul(g, &x.sigmoid()),
            UnaryOp::LogSigmoid => mul(g, &x.neg().sigmoid()),
            UnaryOp::Abs => mul(g, &x.map_constant(|v| if v == 0.0 { 0.0 } else { v.signum() })),
            UnaryOp::Square => mul(g, x).scale(2.0),
            UnaryOp::Sin => mul(g, &x.cos()),
            UnaryOp::Cos => mul(g, &x.sin()).neg(),
            UnaryOp::Scale(c) => g.scale(c),
            UnaryOp::AddScalar(_) => g,
            UnaryOp::Clamp(lo, hi) => mul(g, &x.map_constant(|v| if v > lo && v < hi { 1.0 } else { 0.0 })),
        }
    }
}
