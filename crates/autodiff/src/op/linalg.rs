//! Matrix products, with either operand optionally transposed.
//!
//! Carrying the transposes as flags keeps the backward pass free of copies: the
//! gradient of `C = A B` is `dA = G B^T` and `dB = A^T G`, which are again products
//! with transpose flags, so the rule is closed under differentiation.

use crate::fast::kernels;
use crate::{Error, Result, Shape, Tensor};
use ndarray::{Array2, ArrayView2};

/// `op(A) op(B)` where `op` transposes when its flag is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatMul {
    /// Transpose the left operand first.
    pub ta: bool,
    /// Transpose the right operand first.
    pub tb: bool,
}

fn oriented(a: &Array2<f64>, t: bool) -> ArrayView2<'_, f64> {
    if t { a.t() } else { a.view() }
}

impl MatMul {
    /// The shape of the product, or a shape error with both operands' (transposed) shapes.
    pub fn output_shape(&self, a: Shape, b: Shape) -> Result<Shape> {
        let a = if self.ta { (a.1, a.0) } else { a };
        let b = if self.tb { (b.1, b.0) } else { b };
        if a.1 == b.0 { Ok((a.0, b.1)) } else { Err(Error::Shape { op: "matmul", lhs: a, rhs: b }) }
    }

    /// The value rule.
    pub fn forward(&self, a: &Array2<f64>, b: &Array2<f64>) -> Result<Array2<f64>> {
        self.output_shape(a.dim(), b.dim())?;
        Ok(kernels::matmul(&oriented(a, self.ta), &oriented(b, self.tb)))
    }

    /// The gradient rule for `C = op(A) op(B)`: `(dL/dA, dL/dB)`, each only if needed.
    pub fn vjp<T: Tensor>(&self, g: &T, a: &T, b: &T, need: (bool, bool)) -> (Option<T>, Option<T>) {
        const SHAPES: &str = "matmul vjp: shapes agree by construction";
        let mm = |x: &T, y: &T, ta, tb| x.matmul_t(y, ta, tb).expect(SHAPES);
        let (da, db) = match (self.ta, self.tb) {
            // C = A B: dA = G B^T, dB = A^T G
            (false, false) => ((g, b, false, true), (a, g, true, false)),
            // C = A B^T: dA = G B, dB = G^T A
            (false, true) => ((g, b, false, false), (g, a, true, false)),
            // C = A^T B: dA = B G^T, dB = A G
            (true, false) => ((b, g, false, true), (a, g, false, false)),
            // C = A^T B^T: dA = B^T G^T, dB = G^T A^T
            (true, true) => ((b, g, true, true), (g, a, true, true)),
        };
        (need.0.then(|| mm(da.0, da.1, da.2, da.3)), need.1.then(|| mm(db.0, db.1, db.2, db.3)))
    }
}
