//! What a continuous flow integrates: any field `f(t, z)` evaluated on a session,
//! the learned [`FieldNet`] or a field built from another model (the probability
//! flow of a diffusion model, say).

use super::net::FieldNet;
use autodiff::{ParamId, Session};

/// A vector field `dz/dt = f(t, z)` on `dim` columns, evaluated row by row: row `b`
/// of the output may depend on row `b` of `z` only (the trace of the Jacobian is
/// taken per row, from gradients of column sums).
pub trait Field {
    /// The width of the state `z`.
    fn dim(&self) -> usize;
    /// `f(t, z)` for `t` of `1 x 1` and `z` of `batch x dim`.
    fn eval<S: Session>(&self, s: &S, t: &S::T, z: &S::T) -> autodiff::Result<S::T>;
    /// The parameters `f` reads.
    fn params(&self) -> Vec<ParamId>;
}

impl Field for FieldNet {
    fn dim(&self) -> usize {
        FieldNet::dim(self)
    }
    fn eval<S: Session>(&self, s: &S, t: &S::T, z: &S::T) -> autodiff::Result<S::T> {
        self.forward(s, t, z)
    }
    fn params(&self) -> Vec<ParamId> {
        FieldNet::params(self)
    }
}
