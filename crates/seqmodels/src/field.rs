//! The learned vector field of the continuous-time models: `dh/dt = f(h)`, an MLP of
//! the state alone (autonomous, as in the Latent ODE and ODE-RNN papers and their
//! code: the dynamics do not depend on absolute time, so series observed at shifted
//! times share them).

use autodiff::{Mlp, ParamId, Session, Tensor};
use odesolve::NeuralOdeFunc;

/// An autonomous MLP field `dh/dt = f(h)`, or, [`holding`](MlpField::holding) the
/// state's last columns, `d[h, c]/dt = [f(h), 0]`. Without held columns it computes
/// what the [`Mlp`] itself does as a field (`odesolve` implements `NeuralOdeFunc`
/// for `Mlp`); the models keep this type for the held columns of the Latent ODE
/// code's ODE-RNN.
#[derive(Debug, Clone, PartialEq)]
pub struct MlpField {
    net: Mlp,
    held: usize,
}

impl MlpField {
    /// The field given by `net` (its input and output widths are the state's).
    pub fn new(net: Mlp) -> Self {
        MlpField { net, held: 0 }
    }

    /// A field that moves the state's first columns by `net` (its widths are theirs)
    /// and holds the `held` columns after them: the Latent ODE code's ODE-RNN, whose
    /// state is `[mean, std]` and whose ODE evolves only the mean.
    pub fn holding(net: Mlp, held: usize) -> Self {
        MlpField { net, held }
    }

    /// The network.
    pub fn net(&self) -> &Mlp {
        &self.net
    }
}

impl NeuralOdeFunc for MlpField {
    fn eval<S: Session>(&self, s: &S, _t: &S::T, h: &S::T) -> autodiff::Result<S::T> {
        if self.held == 0 {
            return self.net.forward(s, h);
        }
        let width = h.shape().1;
        let moving =
            width.checked_sub(self.held).filter(|&w| w > 0).ok_or_else(|| autodiff::Error::Invalid {
                op: "MlpField",
                reason: format!("holds {} columns of a state of {width}", self.held),
            })?;
        let moving = h.slice_cols(0..moving)?;
        self.net.forward(s, &moving)?.pad_cols(width, 0)
    }
    fn params(&self) -> Vec<ParamId> {
        self.net.params()
    }
}
