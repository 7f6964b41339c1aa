//! Matrix products, with either operand optionally transposed, and the affine map
//! `x W + b` of a layer.
//!
//! Carrying the transposes as flags keeps the backward pass free of copies: the
//! gradient of `C = A B` is `dA = G B^T` and `dB = A^T G`, which are again products
//! with transpose flags, so the rule is closed under differentiation.

use super::{Grad, GradTensor, OneInput, SHAPES, TwoInputs, UnaryOp};
use crate::fast::kernels;
use crate::{Error, Result};
use ndarray::{Array2, ArrayView2};

/// `C = op(A) op(B)`, where `op` transposes when its flag is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MatMul {
    /// Transpose the left operand first.
    pub(crate) ta: bool,
    /// Transpose the right operand first.
    pub(crate) tb: bool,
}

fn oriented(a: &Array2<f64>, t: bool) -> ArrayView2<'_, f64> {
    if t { a.t() } else { a.view() }
}

/// With `dL/dC = G`, the gradients are `dL/d op(A) = G op(B)^T` and
/// `dL/d op(B) = op(A)^T G`; an operand that was transposed gets the transpose of its
/// `op`'s gradient, which is again one product with flags.
impl TwoInputs for MatMul {
    fn name(&self) -> &'static str {
        "matmul"
    }
    fn value(&self, a: &Array2<f64>, b: &Array2<f64>) -> Result<Array2<f64>> {
        let (a, b) = (oriented(a, self.ta), oriented(b, self.tb));
        if a.ncols() != b.nrows() {
            return Err(Error::Shape { op: "matmul", lhs: a.dim(), rhs: b.dim() });
        }
        Ok(kernels::matmul(&a, &b))
    }
    fn grad_lhs<T: GradTensor>(&self, g: &T, _: &T, b: &T, _: &T) -> Grad<T> {
        // dA = G op(B)^T, or its transpose op(B) G^T.
        let d = if self.ta { b.matmul_t(g, self.tb, true) } else { g.matmul_t(b, false, !self.tb) };
        Grad::New(d.expect(SHAPES))
    }
    fn grad_rhs<T: GradTensor>(&self, g: &T, a: &T, _: &T, _: &T) -> Grad<T> {
        // dB = op(A)^T G, or its transpose G^T op(A).
        let d = if self.tb { g.matmul_t(a, true, self.ta) } else { a.matmul_t(g, !self.ta, false) };
        Grad::New(d.expect(SHAPES))
    }
}

/// `act(x W + b + c)` for a bias row `b` (`1 x out`), an optional addend `c`
/// (`batch x out`: a recurrent cell's `h U`) and an optional activation: the
/// product, with the bias and the addend added and the activation applied in place.
/// A layer's `matmul`, `add` and activation keep three arrays of `batch x out` on
/// the tape where this keeps one (a cell's two sums and activation, four); on the
/// Latent ODE's spirals, whose tape outgrows the caches, that memory is what a step
/// waits for. Only activations whose gradient rule can read the output in place of
/// the input are fused (tanh and sigmoid read `y`; ReLU's step `[x > 0]` is
/// `[y > 0]`). The arithmetic is the separate ops' in the same order, so values and
/// gradients are theirs to the bit: the product's rules (through [`MatMul`]) applied
/// to the activation's gradient, the bias's column sum of it, and the addend's copy
/// of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Affine {
    act: Option<UnaryOp>,
}

impl Affine {
    /// The product's rules, for the input (`x`) and the weight (`W`).
    pub(crate) const PRODUCT: MatMul = MatMul { ta: false, tb: false };

    /// The op for `act`, if its gradient can be had from the output.
    pub(crate) fn new(act: Option<UnaryOp>) -> Result<Self> {
        match act {
            None | Some(UnaryOp::Tanh | UnaryOp::Sigmoid | UnaryOp::Relu) => Ok(Affine { act }),
            Some(other) => Err(Error::Invalid {
                op: "dense",
                reason: format!(
                    "`{}` is not fused (only tanh, sigmoid and relu, whose gradient the output gives): \
                     apply it to `affine`'s result",
                    other.name()
                ),
            }),
        }
    }

    pub(crate) fn value(
        &self,
        x: &Array2<f64>,
        w: &Array2<f64>,
        b: &Array2<f64>,
        plus: Option<&Array2<f64>>,
    ) -> Result<Array2<f64>> {
        if x.ncols() != w.nrows() {
            return Err(Error::Shape { op: "affine", lhs: x.dim(), rhs: w.dim() });
        }
        if b.dim() != (1, w.ncols()) {
            return Err(Error::Shape { op: "affine bias", lhs: b.dim(), rhs: (1, w.ncols()) });
        }
        let out_shape = (x.nrows(), w.ncols());
        if let Some(c) = plus.filter(|c| c.dim() != out_shape) {
            return Err(Error::Shape { op: "affine addend", lhs: c.dim(), rhs: out_shape });
        }
        let mut out = kernels::matmul(&x.view(), &w.view());
        kernels::add_row_assign(&mut out, b);
        if let Some(c) = plus {
            kernels::add_assign(&mut out, c);
        }
        if let Some(act) = self.act {
            act.apply_in_place(&mut out);
        }
        Ok(out)
    }

    /// `dL/d(x W + b)` from `g = dL/dy` and the output `y`; `None` when it is `g`
    /// itself (no activation).
    pub(crate) fn pre_activation_grad<T: GradTensor>(&self, g: &T, y: &T) -> Option<T> {
        self.act.map(|act| match act.grad(g, y, y) {
            Grad::New(d) => d,
            _ => unreachable!("a fused activation's rule makes a new value"),
        })
    }
}
