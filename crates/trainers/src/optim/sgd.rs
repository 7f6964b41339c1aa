//! Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2
//! weight decay, as `torch.optim.SGD` (Sutskever et al. 2013 for Nesterov's form).

use super::{UpdateRule, check_range};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Hyper-parameters of SGD (PyTorch's names and defaults, except that `lr` has none
/// there; 1e-3 here).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sgd {
    /// Learning rate $\gamma$.
    pub lr: f64,
    /// Momentum $\mu$ (0 turns momentum off and keeps no buffer).
    pub momentum: f64,
    /// Dampening $\tau$ of the momentum buffer.
    pub dampening: f64,
    /// L2 penalty $\lambda$ added to the gradient.
    pub weight_decay: f64,
    /// Nesterov momentum (needs `momentum > 0` and `dampening == 0`).
    pub nesterov: bool,
}

impl Default for Sgd {
    fn default() -> Self {
        Sgd { lr: 1e-3, momentum: 0.0, dampening: 0.0, weight_decay: 0.0, nesterov: false }
    }
}

impl UpdateRule for Sgd {
    const KIND: &'static str = "sgd";

    fn buffer_names(&self) -> &'static [&'static str] {
        if self.momentum == 0.0 { &[] } else { &["momentum_buffer"] }
    }
    fn lr(&self) -> f64 {
        self.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }
    fn validate(&self) -> Result<()> {
        check_range("Sgd.lr", self.lr, 0.0, f64::MAX)?;
        check_range("Sgd.momentum", self.momentum, 0.0, f64::MAX)?;
        // PyTorch accepts any dampening; only a finite one makes sense.
        check_range("Sgd.dampening", self.dampening, f64::MIN, f64::MAX)?;
        check_range("Sgd.weight_decay", self.weight_decay, 0.0, f64::MAX)?;
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err(Error::config("Sgd.nesterov", "needs momentum > 0 and dampening = 0"));
        }
        Ok(())
    }

    type Step = u64;
    fn at_step(&self, t: u64) -> u64 {
        t
    }
    #[inline(always)]
    fn update(&self, t: u64, p: &mut f64, g: f64, buf: &mut [f64]) {
        let mut g = g + self.weight_decay * *p;
        if let [b] = buf {
            // PyTorch starts the buffer at the first gradient itself, undamped.
            *b = if t == 1 { g } else { self.momentum * *b + (1.0 - self.dampening) * g };
            g = if self.nesterov { g + self.momentum * *b } else { *b };
        }
        *p -= self.lr * g;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::Optim;
    use crate::optim::test_support::{assert_close, trajectory};

    #[test]
    fn plain_sgd_with_weight_decay() {
        let mut opt = Optim::new(Sgd { lr: 0.1, weight_decay: 0.5, ..Sgd::default() }).unwrap();
        let got = trajectory(&mut opt, [1.0, -2.0], &[[0.5, 1.0], [0.25, -1.0]]);
        // t=1: g' = g + 0.5 w = (0.5 + 0.5, 1 - 1) = (1, 0); w = (1 - 0.1, -2) = (0.9, -2).
        // t=2: g' = (0.25 + 0.45, -1 - 1) = (0.7, -2); w = (0.9 - 0.07, -2 + 0.2) = (0.83, -1.8).
        assert_close(&got, &[[0.9, -2.0], [0.83, -1.8]]);
    }

    #[test]
    fn momentum_with_dampening() {
        let sgd = Sgd { lr: 0.1, momentum: 0.9, dampening: 0.5, ..Sgd::default() };
        let mut opt = Optim::new(sgd).unwrap();
        let got = trajectory(&mut opt, [0.0, 0.0], &[[1.0, -2.0], [1.0, 2.0], [0.0, 0.0]]);
        // t=1: b = g = (1, -2) (no dampening on the first step); w = -0.1 b = (-0.1, 0.2).
        // t=2: b = 0.9 (1, -2) + 0.5 (1, 2) = (1.4, -0.8); w = (-0.1 - 0.14, 0.2 + 0.08) = (-0.24, 0.28).
        // t=3: b = 0.9 (1.4, -0.8) = (1.26, -0.72); w = (-0.24 - 0.126, 0.28 + 0.072) = (-0.366, 0.352).
        assert_close(&got, &[[-0.1, 0.2], [-0.24, 0.28], [-0.366, 0.352]]);
    }

    #[test]
    fn nesterov() {
        let mut opt = Optim::new(Sgd { lr: 0.1, momentum: 0.5, nesterov: true, ..Sgd::default() }).unwrap();
        let got = trajectory(&mut opt, [0.0, 1.0], &[[2.0, 0.0], [2.0, 4.0]]);
        // t=1: b = (2, 0); step g + 0.5 b = (3, 0); w = (-0.3, 1).
        // t=2: b = 0.5 (2, 0) + (2, 4) = (3, 4); step (2, 4) + 0.5 (3, 4) = (3.5, 6); w = (-0.65, 0.4).
        assert_close(&got, &[[-0.3, 1.0], [-0.65, 0.4]]);
    }

    #[test]
    fn nesterov_needs_momentum() {
        let err = Optim::new(Sgd { nesterov: true, ..Sgd::default() }).unwrap_err();
        assert!(err.to_string().contains("Sgd.nesterov"), "{err}");
    }
}
