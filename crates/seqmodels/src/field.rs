//! The learned vector field of the continuous-time models: `dh/dt = f(h)`, an MLP of
//! the state alone (autonomous, as in the Latent ODE and ODE-RNN papers and their
//! code: the dynamics do not depend on absolute time, so series observed at shifted
//! times share them).

use autodiff::{Mlp, ParamId, Session};
use odesolve::NeuralOdeFunc;

/// An autonomous MLP field `dh/dt = f(h)`.
#[derive(Debug, Clone, PartialEq)]
pub struct MlpField(Mlp);

impl MlpField {
    /// The field given by `net` (its input and output widths are the state's).
    pub fn new(net: Mlp) -> Self {
        MlpField(net)
    }

    /// The network.
    pub fn net(&self) -> &Mlp {
        &self.0
    }
}

impl NeuralOdeFunc for MlpField {
    fn eval<S: Session>(&self, s: &S, _t: &S::T, h: &S::T) -> autodiff::Result<S::T> {
        self.0.forward(s, h)
    }
    fn params(&self) -> Vec<ParamId> {
        self.0.params()
    }
}
