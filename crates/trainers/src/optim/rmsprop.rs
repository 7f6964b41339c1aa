//! RMSprop (Hinton's lecture 6e; the centred form of Graves 2013, Eq. 38-45), as
//! `torch.optim.RMSprop`.

use super::{UpdateRule, check_range};
use crate::Result;
use serde::{Deserialize, Serialize};

/// Hyper-parameters of RMSprop (PyTorch defaults: lr 1e-2, alpha 0.99, eps 1e-8, no
/// momentum, not centred).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RmsProp {
    /// Learning rate $\gamma$.
    pub lr: f64,
    /// Smoothing constant $\alpha$ of the squared-gradient average.
    pub alpha: f64,
    /// $\epsilon$ added to the root mean square.
    pub eps: f64,
    /// L2 penalty $\lambda$ added to the gradient.
    pub weight_decay: f64,
    /// Momentum $\mu$ (0: none).
    pub momentum: f64,
    /// Normalise by an estimate of the variance instead of the raw second moment.
    pub centered: bool,
}

impl Default for RmsProp {
    fn default() -> Self {
        RmsProp { lr: 1e-2, alpha: 0.99, eps: 1e-8, weight_decay: 0.0, momentum: 0.0, centered: false }
    }
}

impl UpdateRule for RmsProp {
    const KIND: &'static str = "rmsprop";

    fn buffer_names(&self) -> &'static [&'static str] {
        match (self.centered, self.momentum != 0.0) {
            (false, false) => &["square_avg"],
            (false, true) => &["square_avg", "momentum_buffer"],
            (true, false) => &["square_avg", "grad_avg"],
            (true, true) => &["square_avg", "grad_avg", "momentum_buffer"],
        }
    }
    fn lr(&self) -> f64 {
        self.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }
    fn validate(&self) -> Result<()> {
        check_range("RmsProp.lr", self.lr, 0.0, f64::MAX)?;
        check_range("RmsProp.alpha", self.alpha, 0.0, f64::MAX)?;
        check_range("RmsProp.eps", self.eps, 0.0, f64::MAX)?;
        check_range("RmsProp.weight_decay", self.weight_decay, 0.0, f64::MAX)?;
        check_range("RmsProp.momentum", self.momentum, 0.0, f64::MAX)
    }

    fn update(&self, _t: u64, p: &mut f64, g: f64, buf: &mut [f64]) {
        let a = self.alpha;
        let g = g + self.weight_decay * *p;
        let (v, rest) = buf.split_first_mut().expect("square_avg is always kept");
        *v = a * *v + (1.0 - a) * g * g;
        let (var, rest) = match (self.centered, rest) {
            (true, [gbar, rest @ ..]) => {
                *gbar = a * *gbar + (1.0 - a) * g;
                (*v - *gbar * *gbar, rest)
            }
            (_, rest) => (*v, rest),
        };
        let step = g / (var.sqrt() + self.eps);
        match rest {
            [b] => {
                *b = self.momentum * *b + step;
                *p -= self.lr * *b;
            }
            _ => *p -= self.lr * step,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::Optim;
    use crate::optim::test_support::{assert_close, trajectory};

    #[test]
    fn plain_rmsprop() {
        let mut opt = Optim::new(RmsProp { lr: 0.1, alpha: 0.75, eps: 0.0, ..RmsProp::default() }).unwrap();
        let got = trajectory(&mut opt, [1.0, 1.0], &[[2.0, -1.0], [2.0, 3.0]]);
        // t=1: v = 0.25 g^2 -> (1, 0.25); step g / sqrt(v) = (2, -2); w = (0.8, 1.2).
        // t=2: v = 0.75 (1, 0.25) + 0.25 (4, 9) = (1.75, 2.4375);
        //      w = (0.8 - 0.2 / sqrt(1.75), 1.2 - 0.3 / sqrt(2.4375)).
        let w2 = [0.8 - 0.2 / 1.75f64.sqrt(), 1.2 - 0.3 / 2.4375f64.sqrt()];
        assert_close(&got, &[[0.8, 1.2], w2]);
    }

    #[test]
    fn centered_with_momentum() {
        let cfg =
            RmsProp { lr: 0.1, alpha: 0.5, eps: 0.0, momentum: 0.5, centered: true, ..RmsProp::default() };
        let mut opt = Optim::new(cfg).unwrap();
        let got = trajectory(&mut opt, [0.0, 0.0], &[[2.0, 4.0], [4.0, 0.0]]);
        // t=1: v = 0.5 g^2 = (2, 8); gbar = 0.5 g = (1, 2); var = v - gbar^2 = (1, 4);
        //      b = g / sqrt(var) = (2, 2); w = -0.1 b = (-0.2, -0.2).
        // t=2, entry 0: v = 1 + 8 = 9, gbar = 0.5 + 2 = 2.5, var = 9 - 6.25 = 2.75;
        //      b = 0.5*2 + 4 / sqrt(2.75); w = -0.2 - 0.1 b.
        // entry 1: v = 4, gbar = 1, var = 3; b = 0.5*2 + 0 = 1; w = -0.3.
        let w2 = [-0.2 - 0.1 * (1.0 + 4.0 / 2.75f64.sqrt()), -0.3];
        assert_close(&got, &[[-0.2, -0.2], w2]);
    }
}
