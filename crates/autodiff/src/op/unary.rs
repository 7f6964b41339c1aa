//! Element-wise functions of one value, each with its value rule and its gradient rule.
//!
//! Where the derivative is cheapest in terms of the output `y` (exp, tanh, sigmoid,
//! sqrt) the rule uses `y`; piecewise-constant factors (the step of ReLU, the sign of
//! `abs`, the window of `clamp`) enter as constants, whose own derivative is zero
//! almost everywhere.

use super::{Fused, Grad, GradTensor, OneInput, div, mul};
use crate::Result;
use crate::fast::kernels;
use crate::fast::math::{exp, sigmoid, softplus, tanh};
use ndarray::Array2;

/// An element-wise function `y = f(x)`.
pub(crate) trait Map {
    /// `f` of one element. Implementations are `#[inline(always)]`: a call left out
    /// of line is compiled for the baseline and stops the loop's vectorisation (a
    /// softplus left to the inliner's judgement was 6% of the VRNN step).
    fn value(&self, x: f64) -> f64;
    /// `dL/dx = g f'(x)`, given `g = dL/dy`, `x` and `y`.
    fn grad<T: GradTensor>(&self, g: &T, x: &T, y: &T) -> Grad<T>;
}

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
    /// `x` for `x > 0`, `e^x - 1` otherwise (the ELU of Clevert et al. 2016, with
    /// `alpha = 1`), evaluated as `max(x, 0) + (e^{min(x, 0)} - 1)`, which never
    /// overflows; its derivative at 0 is taken as 1, as in PyTorch (the function is
    /// continuously differentiable there)
    Elu,
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
    /// `min(max(x, lo), hi)`; gradient 1 strictly inside, 0 outside. [`Tensor::clamp`]
    /// refuses `lo > hi`; built directly with `lo > hi`, entries below `lo` become
    /// `lo` and the others `hi` (no panic).
    ///
    /// [`Tensor::clamp`]: crate::Tensor::clamp
    Clamp(f64, f64),
}

/// Runs `$body` with `$rule` bound to the [`Map`] that `$op` names: the one list from
/// variants to rules. (A macro, because `$body` is generic code that each rule type
/// instantiates anew; a closure cannot be generic.)
#[rustfmt::skip]
macro_rules! with_rule {
    ($op:expr, |$rule:ident| $body:expr) => {
        match $op {
            UnaryOp::Neg => { let $rule = Neg; $body }
            UnaryOp::Exp => { let $rule = Exp; $body }
            UnaryOp::Log => { let $rule = Log; $body }
            UnaryOp::Sqrt => { let $rule = Sqrt; $body }
            UnaryOp::Powf(p) => { let $rule = Powf(p); $body }
            UnaryOp::Tanh => { let $rule = Tanh; $body }
            UnaryOp::Sigmoid => { let $rule = Sigmoid; $body }
            UnaryOp::Relu => { let $rule = Relu; $body }
            UnaryOp::Softplus => { let $rule = Softplus; $body }
            UnaryOp::LogSigmoid => { let $rule = LogSigmoid; $body }
            UnaryOp::Elu => { let $rule = Elu; $body }
            UnaryOp::Abs => { let $rule = Abs; $body }
            UnaryOp::Square => { let $rule = Square; $body }
            UnaryOp::Sin => { let $rule = Sin; $body }
            UnaryOp::Cos => { let $rule = Cos; $body }
            UnaryOp::Scale(c) => { let $rule = Scale(c); $body }
            UnaryOp::AddScalar(c) => { let $rule = AddScalar(c); $body }
            UnaryOp::Clamp(lo, hi) => { let $rule = Clamp(lo, hi); $body }
        }
    };
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
            UnaryOp::Elu => "elu",
            UnaryOp::Abs => "abs",
            UnaryOp::Square => "square",
            UnaryOp::Sin => "sin",
            UnaryOp::Cos => "cos",
            UnaryOp::Scale(_) => "scale",
            UnaryOp::AddScalar(_) => "add_scalar",
            UnaryOp::Clamp(..) => "clamp",
        }
    }
}

impl UnaryOp {
    /// Applies the function to every element of `x` in place.
    pub(crate) fn apply_in_place(&self, x: &mut Array2<f64>) {
        with_rule!(*self, |rule| kernels::map_in_place(
            x,
            #[inline(always)]
            |v| rule.value(v)
        ))
    }
}

impl OneInput for UnaryOp {
    fn value(&self, x: &Array2<f64>) -> Result<Array2<f64>> {
        // One loop per function (a `match` inside the loop would block vectorisation).
        Ok(with_rule!(*self, |rule| kernels::map(
            x,
            #[inline(always)]
            |v| rule.value(v)
        )))
    }
    fn grad<T: GradTensor>(&self, g: &T, x: &T, y: &T) -> Grad<T> {
        with_rule!(*self, |rule| rule.grad(g, x, y))
    }
}

/// `-x`: `dy/dx = -1`.
struct Neg;
impl Map for Neg {
    #[inline(always)]
    fn value(&self, x: f64) -> f64 {
        -x
    }
    fn grad<T: GradTensor>(&self, g: &T, _: &T, _: &T) -> Grad<T> {
        Grad::New(g.neg())
    }
}

/// `e^x`: `dy/dx = e^x = y`.
struct Exp;
impl Map for Exp {
    #[inline(always)]
    fn value(&self, x: f64) -> f64 {
        exp(x)
    }
    fn grad<T: GradTensor>(&self, g: &T, _: &T, y: &T) -> Grad<T> {
        Grad::New(mul(g, y))
    }
}

/// `ln x`: `dy/dx = 1 / x`.
struct Log;
impl Map for Log {
    #[inline(always)]
    fn value(&self, x: f64) -> f64 {
        x.ln()
    }
    fn grad<T: GradTensor>(&self, g: &T, x: &T, _: &T) -> Grad<T> {
        Grad::New(div(g, x))
    }
}

/// `sqrt x`: `dy/dx = 1 / (2 sqrt x) = 1 / 2y`.
struct Sqrt;
impl Map for Sqrt {
    #[inline(always)]
    fn value(&self, x: f64) -> f64 {
        x.sqrt()
    }
    fn grad<T: GradTensor>(&self, g: &T, _: &T, y: &T) -> Grad<T> {
        Grad::New(div(g, y).scale(0.5))
    }
}

/// `x^p`: `dy/dx = p x^(p-1)`.
struct Powf(f64);
impl Map for Powf {
    /// Squares and cubes by multiplication (within an ulp of `powf`): libm's `pow`
    /// was 8% of the ode_demo iteration, whose field reads `y^3` (and its gradient
    /// `3 y^2`).
    #[inline(always)]
    fn value(&self, x: f64) -> f64 {
        let p = self.0;
        if p == 2.0 {
            x * x
        } else if p == 3.0 {
            x * x * x
        } else {
            x.powf(p)
        }
    }
    fn grad<T: GradTensor>(&self, g: &T, x: &T, _: &T) -> Grad<T> {
        Grad::New(x.powf(self.0 - 1.0).scale(self.0).times(g))
    }
}

/// `tanh x`: `dy/dx = 1 - y^2`, computed in one fused pass.
struct Tanh;
impl Map for Tanh {
    #[inline(always)]
    fn value(&self, x: f64) -> f64 {
        tanh(x)
    }
    fn grad<T: GradTensor>(&self, g: &T, _: &T, y: &T) -> Grad<T> {
        Grad::New(g.fused(Fused::Tanh, y))
    }
}

/// `sigmoid x`: `dy/dx = y (1 - y)`, computed in one fused pass.
struct Sigmoid;
impl Map for Sigmoid {
    #[inline(always)]
    fn value(&self, x: f64) -> f64 {
        sigmoid(x)
    }
    fn grad<T: GradTensor>(&self, g: &T, _: &T, y: &T) -> Grad<T> {
        Grad::New(g.fused(Fused::Sigmoid, y))
    }
}

/// `max(x, 0)`: `dy/dx` is the step `[x > 0]`.
struct Relu;
impl Map for Relu {
    #[inline(always)]
    fn value(&self, x: f64) -> f64 {
        x.max(0.0)
    }
    fn grad<T: GradTensor>(&self, g: &T, x: &T, _: &T) -> Grad<T> {
        Grad::New(x.map_constant(|v| if v > 0.0 { 1.0 } else { 0.0 }).times(g))
    }
}

/// `ln(1 + e^x)`: `dy/dx = sigmoid(x)`.
struct Softplus;
impl Map for Softplus {
    #[inline(always)]
    fn value(&self, x: f64) -> f64 {
        softplus(x)
    }
    fn grad<T: GradTensor>(&self, g: &T, x: &T, _: &T) -> Grad<T> {
        Grad::New(x.sigmoid().times(g))
    }
}

/// ELU, `max(x, 0) + (e^{min(x, 0)} - 1)`: `dy/dx = e^{min(x, 0)}`, computed in one
/// fused pass. (The order of the operations is that of the composition
/// `relu(x) + (exp(-relu(-x)) - 1)` this op replaced, so values and gradients are the
/// same to the bit, except the derivative at exactly 0, which the composition took
/// as 0.)
struct Elu;
impl Map for Elu {
    #[inline(always)]
    fn value(&self, x: f64) -> f64 {
        x.max(0.0) + (exp(-(-x).max(0.0)) + -1.0)
    }
    fn grad<T: GradTensor>(&self, g: &T, x: &T, _: &T) -> Grad<T> {
        Grad::New(g.fused(Fused::Elu, x))
    }
}

/// `ln sigmoid(x) = -softplus(-x)`: `dy/dx = 1 - sigmoid(x) = sigmoid(-x)`.
struct LogSigmoid;
impl Map for LogSigmoid {
    #[inline(always)]
    fn value(&self, x: f64) -> f64 {
        -softplus(-x)
    }
    fn grad<T: GradTensor>(&self, g: &T, x: &T, _: &T) -> Grad<T> {
        Grad::New(x.neg().sigmoid().times(g))
    }
}

/// `|x|`: `dy/dx` is the sign of `x` (0 at 0).
struct Abs;
impl Map for Abs {
    #[inline(always)]
    fn value(&self, x: f64) -> f64 {
        x.abs()
    }
    fn grad<T: GradTensor>(&self, g: &T, x: &T, _: &T) -> Grad<T> {
        Grad::New(x.map_constant(|v| if v == 0.0 { 0.0 } else { v.signum() }).times(g))
    }
}

/// `x^2`: `dy/dx = 2x`.
struct Square;
impl Map for Square {
    #[inline(always)]
    fn value(&self, x: f64) -> f64 {
        x * x
    }
    fn grad<T: GradTensor>(&self, g: &T, x: &T, _: &T) -> Grad<T> {
        Grad::New(x.scale(2.0).times(g))
    }
}

/// `sin x`: `dy/dx = cos x`.
struct Sin;
impl Map for Sin {
    #[inline(always)]
    fn value(&self, x: f64) -> f64 {
        x.sin()
    }
    fn grad<T: GradTensor>(&self, g: &T, x: &T, _: &T) -> Grad<T> {
        Grad::New(x.cos().times(g))
    }
}

/// `cos x`: `dy/dx = -sin x`.
struct Cos;
impl Map for Cos {
    #[inline(always)]
    fn value(&self, x: f64) -> f64 {
        x.cos()
    }
    fn grad<T: GradTensor>(&self, g: &T, x: &T, _: &T) -> Grad<T> {
        Grad::New(x.sin().neg().times(g))
    }
}

/// `c x`: `dy/dx = c`.
struct Scale(f64);
impl Map for Scale {
    #[inline(always)]
    fn value(&self, x: f64) -> f64 {
        self.0 * x
    }
    fn grad<T: GradTensor>(&self, g: &T, _: &T, _: &T) -> Grad<T> {
        Grad::New(g.scale(self.0))
    }
}

/// `x + c`: `dy/dx = 1`, so the gradient is `g` itself.
struct AddScalar(f64);
impl Map for AddScalar {
    #[inline(always)]
    fn value(&self, x: f64) -> f64 {
        x + self.0
    }
    fn grad<T: GradTensor>(&self, _: &T, _: &T, _: &T) -> Grad<T> {
        Grad::Pass
    }
}

/// `min(max(x, lo), hi)`: `dy/dx` is the window `[lo < x < hi]`.
struct Clamp(f64, f64);
impl Map for Clamp {
    #[inline(always)]
    fn value(&self, x: f64) -> f64 {
        // Not `f64::clamp`, which panics when lo > hi; NaN entries stay NaN.
        if x < self.0 {
            self.0
        } else if x > self.1 {
            self.1
        } else {
            x
        }
    }
    fn grad<T: GradTensor>(&self, g: &T, x: &T, _: &T) -> Grad<T> {
        let (lo, hi) = (self.0, self.1);
        Grad::New(x.map_constant(|v| if v > lo && v < hi { 1.0 } else { 0.0 }).times(g))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Tape, Tensor};

    /// The ELU op gives the values and gradients of the composition it replaced,
    /// `relu(x) + (exp(-relu(-x)) - 1)`, to the bit (away from 0, where the
    /// composition's derivative was 0 and the op's is 1), on both sides, far out
    /// (`e^x` underflowing) and on an array long enough for the vector path.
    #[test]
    fn elu_equals_its_former_composition_bitwise() {
        let x = Array2::from_shape_fn((37, 19), |(i, j)| ((i * 19 + j) as f64 * 0.731).sin() * 6.0 - 1.0);
        let mut x = x.mapv(|v| if v == 0.0 { 0.5 } else { v });
        x[(0, 0)] = -800.0;
        x[(0, 1)] = 800.0;
        let composed = |v: &Array2<f64>| v.relu().add(&v.neg().relu().neg().exp().add_scalar(-1.0)).unwrap();
        let bits = |a: &Array2<f64>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&x.elu()), bits(&composed(&x)));
        let grad_of = |f: &dyn for<'t> Fn(&crate::Var<'t>) -> crate::Var<'t>| {
            let tape = Tape::new();
            let v = tape.leaf(x.clone());
            let g = tape.backward(f(&v).mul(&v.constant(x.mapv(f64::cos))).unwrap().sum()).unwrap();
            g.wrt(&v).unwrap().unwrap().clone()
        };
        let want = grad_of(&|v| v.relu().add(&v.neg().relu().neg().exp().add_scalar(-1.0)).unwrap());
        assert_eq!(bits(&grad_of(&|v| v.elu())), bits(&want));
    }
}
