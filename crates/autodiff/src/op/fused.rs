//! Gradients fused into one pass: a speed-up that is the crate's own business.
//!
//! The gradient of `tanh` written with public ops, `g * (1 - y^2)`, makes four arrays
//! in four passes over memory; `tanh_grad(g, y)` makes one. The same holds for the
//! sigmoid's `g y (1 - y)` and the ELU's `g e^{min(x, 0)}`. They are ops of their own
//! so that [`Tape::grad`] can record them, and so have their own gradient rules (what
//! Hessian-vector products through these functions run), checked in this file's tests.
//! Nothing outside the gradient rules needs them, so they are not part of
//! [`Tensor`]: rules reach them through [`GradTensor`].
//!
//! [`Tape::grad`]: crate::Tape::grad

use super::binary::{Zip, zip};
use super::{Grad, SHAPES, TwoInputs, mul};
use crate::{Result, Tensor};
use ndarray::Array2;

/// What gradient rules compute with: every [`Tensor`] op, and the fused ones.
pub(crate) trait GradTensor: Tensor {
    /// `op(self, rhs)`, broadcasting; `rhs` is the op's `b` below.
    fn fused(&self, op: Fused, rhs: &Self) -> Self;
    /// `self * g` for a factor `self` made for this product only. On arrays of one
    /// shape the product is written into the factor's buffer, so the rule makes one
    /// array, not two: a spent factor dropped outside the pool would be returned to
    /// the system and faulted in again by the next allocation of its size. (A
    /// broadcast `g`, as in log-sum-exp's rule, takes the plain product, and the
    /// factor goes back to the pool.)
    fn times(self, g: &Self) -> Self;
    /// Drops a value a rule made for itself and no longer needs: an array goes
    /// back to the pool (dropped, it would be returned to the system and faulted in
    /// again by the next allocation of its size); a value on a tape stays there.
    fn recycle(self);
}

impl GradTensor for Array2<f64> {
    fn fused(&self, op: Fused, rhs: &Self) -> Self {
        op.value(self, rhs).expect(SHAPES)
    }
    fn times(mut self, g: &Self) -> Self {
        if self.dim() != g.dim() {
            let product = mul(&self, g);
            crate::fast::pool::recycle(self);
            return product;
        }
        crate::fast::kernels::mul_assign(&mut self, g);
        self
    }
    fn recycle(self) {
        crate::fast::pool::recycle(self);
    }
}

/// A fused gradient of two values, named by the function it is the gradient of: `a`
/// the incoming gradient, `b` the output of that function (its input for the ELU).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fused {
    /// `a (1 - b^2)`, the gradient of `b = tanh x`.
    Tanh,
    /// `a b (1 - b)`, the gradient of `b = sigmoid x`.
    Sigmoid,
    /// `a e^{min(b, 0)}`, the gradient of `elu b` (note: `b` is the ELU's input).
    Elu,
}

impl TwoInputs for Fused {
    fn name(&self) -> &'static str {
        match self {
            Fused::Tanh => "tanh_grad",
            Fused::Sigmoid => "sigmoid_grad",
            Fused::Elu => "elu_grad",
        }
    }
    fn value(&self, a: &Array2<f64>, b: &Array2<f64>) -> Result<Array2<f64>> {
        match self {
            Fused::Tanh => zip(&TanhGrad, self.name(), a, b),
            Fused::Sigmoid => zip(&SigmoidGrad, self.name(), a, b),
            Fused::Elu => zip(&EluGrad, self.name(), a, b),
        }
    }
    fn grad_lhs<T: GradTensor>(&self, g: &T, a: &T, b: &T, y: &T) -> Grad<T> {
        match self {
            Fused::Tanh => TanhGrad.grad_lhs(g, a, b, y),
            Fused::Sigmoid => SigmoidGrad.grad_lhs(g, a, b, y),
            Fused::Elu => EluGrad.grad_lhs(g, a, b, y),
        }
    }
    fn grad_rhs<T: GradTensor>(&self, g: &T, a: &T, b: &T, y: &T) -> Grad<T> {
        match self {
            Fused::Tanh => TanhGrad.grad_rhs(g, a, b, y),
            Fused::Sigmoid => SigmoidGrad.grad_rhs(g, a, b, y),
            Fused::Elu => EluGrad.grad_rhs(g, a, b, y),
        }
    }
}

/// `a (1 - b^2)`: `dy/da = 1 - b^2` (itself this op), `dy/db = -2 a b`.
struct TanhGrad;
impl Zip for TanhGrad {
    #[inline(always)]
    fn value(&self, a: f64, b: f64) -> f64 {
        a * (1.0 - b * b)
    }
    fn grad_lhs<T: GradTensor>(&self, g: &T, _: &T, b: &T, _: &T) -> Grad<T> {
        Grad::New(g.fused(Fused::Tanh, b))
    }
    fn grad_rhs<T: GradTensor>(&self, g: &T, a: &T, b: &T, _: &T) -> Grad<T> {
        Grad::New(mul(&mul(g, a), b).scale(-2.0))
    }
}

/// `a b (1 - b)`: `dy/da = b (1 - b)` (itself this op), `dy/db = a (1 - 2b)`.
struct SigmoidGrad;
impl Zip for SigmoidGrad {
    #[inline(always)]
    fn value(&self, a: f64, b: f64) -> f64 {
        a * b * (1.0 - b)
    }
    fn grad_lhs<T: GradTensor>(&self, g: &T, _: &T, b: &T, _: &T) -> Grad<T> {
        Grad::New(g.fused(Fused::Sigmoid, b))
    }
    fn grad_rhs<T: GradTensor>(&self, g: &T, a: &T, b: &T, _: &T) -> Grad<T> {
        Grad::New(mul(&mul(g, a), &b.scale(-2.0).add_scalar(1.0)))
    }
}

/// `a e^{min(b, 0)}`: `dy/da = e^{min(b, 0)}` (itself this op), `dy/db = a e^b` for
/// `b < 0` and 0 above (the step is a constant of the rule, as ReLU's is).
struct EluGrad;
impl Zip for EluGrad {
    #[inline(always)]
    fn value(&self, a: f64, b: f64) -> f64 {
        a * crate::fast::math::exp(-(-b).max(0.0))
    }
    fn grad_lhs<T: GradTensor>(&self, g: &T, _: &T, b: &T, _: &T) -> Grad<T> {
        Grad::New(g.fused(Fused::Elu, b))
    }
    fn grad_rhs<T: GradTensor>(&self, g: &T, a: &T, b: &T, _: &T) -> Grad<T> {
        let below = b.map_constant(|v| if v < 0.0 { 1.0 } else { 0.0 });
        Grad::New(mul(&mul(g, a).fused(Fused::Elu, b), &below))
    }
}

#[cfg(test)]
mod tests {
    //! The fused rules against central differences, with broadcasting, as
    //! `tests/gradients.rs` checks the public ops.

    use super::*;
    use crate::testing::matrix;
    use crate::{GradCheck, gradcheck};
    use proptest::prelude::*;

    /// An `r x c` operand and a partner of one of its four broadcast shapes, in
    /// either order; the `b` operand is kept away from 0.
    fn operands() -> impl Strategy<Value = (Array2<f64>, Array2<f64>)> {
        (1..=5usize, 1..=5usize, 0..4usize, any::<bool>()).prop_flat_map(|(r, c, kind, swap)| {
            let (pr, pc) = [(r, c), (r, 1), (1, c), (1, 1)][kind];
            (matrix(r, c, -2.0, 2.0), matrix(pr, pc, -2.0, 2.0)).prop_map(move |(a, b)| {
                let (a, b) = if swap { (b, a) } else { (a, b) };
                (a, b.mapv(|v| if v.abs() < 0.3 { v + 0.6 } else { v }))
            })
        })
    }

    fn check(op: Fused, a: &Array2<f64>, b: &Array2<f64>) -> std::result::Result<(), TestCaseError> {
        gradcheck(|v| Ok(v[0].fused(op, &v[1])), &[a.clone(), b.clone()], &GradCheck::default())
            .map(|_| ())
            .map_err(|e| TestCaseError::fail(format!("{}: {e}", op.name())))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn fused_gradients((a, b) in operands()) {
            check(Fused::Tanh, &a, &b)?;
            check(Fused::Sigmoid, &a, &b)?;
            check(Fused::Elu, &a, &b)?;
        }
    }
}
