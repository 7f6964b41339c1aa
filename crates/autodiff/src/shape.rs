//! Shapes of 2-D values and the broadcasting rule.
//!
//! Every value is a matrix with `rows x cols`; a scalar is `1 x 1`. Two shapes
//! broadcast when, on each axis, the lengths are equal or one of them is 1 (NumPy's
//! rule restricted to two axes). The gradient of a broadcast is a sum over the axes
//! that were stretched, which is what [`Tensor::sum_to`](crate::Tensor::sum_to) does.

use crate::{Error, Result};

/// `(rows, cols)` of a 2-D value.
pub type Shape = (usize, usize);

fn axis_broadcast(a: usize, b: usize) -> Option<usize> {
    match (a, b) {
        _ if a == b => Some(a),
        (1, n) | (n, 1) => Some(n),
        _ => None,
    }
}

/// The shape that `lhs` and `rhs` broadcast to, or a shape error naming `op`.
pub fn broadcast_shape(op: &'static str, lhs: Shape, rhs: Shape) -> Result<Shape> {
    match (axis_broadcast(lhs.0, rhs.0), axis_broadcast(lhs.1, rhs.1)) {
        (Some(r), Some(c)) => Ok((r, c)),
        _ => Err(Error::Shape { op, lhs, rhs }),
    }
}

/// Checks that `from` can be stretched to `to` (each axis equal, or 1 in `from`).
pub fn check_stretch(op: &'static str, from: Shape, to: Shape) -> Result<()> {
    let ok = |f: usize, t: usize| f == t || f == 1;
    if ok(from.0, to.0) && ok(from.1, to.1) { Ok(()) } else { Err(Error::Shape { op, lhs: from, rhs: to }) }
}
