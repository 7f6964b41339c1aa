//! RMSprop (Hinton's lecture 6e; the centred form of Graves 2013, Eq. 38-45), as
//! `torch.optim.RMSprop`, with the two settings by which TensorFlow 1's
//! `tf.train.RMSPropOptimizer` differs ([`RmsProp::tensorflow`]).

use super::{UpdateRule, check_positive, check_range};
use crate::Result;
use serde::{Deserialize, Serialize};

/// Hyper-parameters of RMSprop (PyTorch defaults: lr 1e-2, alpha 0.99, eps 1e-8, no
/// momentum, not centred, the average starting at 0, `eps` outside the root).
///
/// TensorFlow 1 starts the squared-gradient average at 1, not 0, and adds `eps` under
/// the square root. The first matters: from 0, the first step divides `g` by
/// `sqrt((1 - alpha) g^2)`, a step of `lr / sqrt(1 - alpha)` whatever the gradient's
/// size (about `3.2 lr` at `alpha = 0.9`), which momentum then accumulates; from 1,
/// small gradients take steps of about `lr g` until the average has learned their
/// scale. (TensorFlow also keeps the learning rate inside its momentum buffer, which
/// is the same update while the rate is constant.)
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
    /// The value the squared-gradient average starts from (0 in PyTorch, 1 in
    /// TensorFlow 1).
    #[serde(default)]
    pub initial_square_avg: f64,
    /// Divide by `sqrt(v + eps)` (TensorFlow) instead of `sqrt(v) + eps` (PyTorch).
    #[serde(default)]
    pub eps_in_sqrt: bool,
}

impl RmsProp {
    /// TensorFlow 1's `tf.train.RMSPropOptimizer(lr, decay = 0.9, momentum, eps)`: the
    /// average starting at 1, `eps` under the root (the WaveNet reference
    /// implementation trains with `eps = 1e-5`).
    pub fn tensorflow(lr: f64, momentum: f64, eps: f64) -> Self {
        RmsProp {
            lr,
            alpha: 0.9,
            eps,
            momentum,
            initial_square_avg: 1.0,
            eps_in_sqrt: true,
            ..RmsProp::default()
        }
    }
}

impl Default for RmsProp {
    fn default() -> Self {
        RmsProp {
            lr: 1e-2,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false,
            initial_square_avg: 0.0,
            eps_in_sqrt: false,
        }
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
        // PyTorch only asks alpha >= 0; above 1 the average weighs g^2 negatively.
        check_range("RmsProp.alpha", self.alpha, 0.0, 1.0)?;
        // PyTorch accepts 0, but then a zero gradient's update is 0 / 0.
        check_positive("RmsProp.eps", self.eps)?;
        check_range("RmsProp.weight_decay", self.weight_decay, 0.0, f64::MAX)?;
        check_range("RmsProp.momentum", self.momentum, 0.0, f64::MAX)?;
        check_range("RmsProp.initial_square_avg", self.initial_square_avg, 0.0, f64::MAX)
    }

    type Step = u64;
    fn at_step(&self, t: u64) -> u64 {
        t
    }
    #[inline(always)]
    fn update(&self, t: u64, p: &mut f64, g: f64, buf: &mut [f64]) {
        let a = self.alpha;
        let g = g + self.weight_decay * *p;
        let (v, rest) = buf.split_first_mut().expect("square_avg is always kept");
        // Buffers start at zero; the average's own starting value enters here.
        let previous = if t == 1 { self.initial_square_avg } else { *v };
        *v = a * previous + (1.0 - a) * g * g;
        let (var, rest) = match (self.centered, rest) {
            (true, [gbar, rest @ ..]) => {
                *gbar = a * *gbar + (1.0 - a) * g;
                (*v - *gbar * *gbar, rest)
            }
            (_, rest) => (*v, rest),
        };
        let root = if self.eps_in_sqrt { (var + self.eps).sqrt() } else { var.sqrt() + self.eps };
        let step = g / root;
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
        let mut opt =
            Optim::new(RmsProp { lr: 0.1, alpha: 0.75, eps: f64::MIN_POSITIVE, ..RmsProp::default() })
                .unwrap();
        let got = trajectory(&mut opt, [1.0, 1.0], &[[2.0, -1.0], [2.0, 3.0]]);
        // t=1: v = 0.25 g^2 -> (1, 0.25); step g / sqrt(v) = (2, -2); w = (0.8, 1.2).
        // t=2: v = 0.75 (1, 0.25) + 0.25 (4, 9) = (1.75, 2.4375);
        //      w = (0.8 - 0.2 / sqrt(1.75), 1.2 - 0.3 / sqrt(2.4375)).
        let w2 = [0.8 - 0.2 / 1.75f64.sqrt(), 1.2 - 0.3 / 2.4375f64.sqrt()];
        assert_close(&got, &[[0.8, 1.2], w2]);
    }

    #[test]
    fn tensorflow_conventions() {
        let mut opt = Optim::new(RmsProp::tensorflow(0.1, 0.5, 0.25)).unwrap();
        let got = trajectory(&mut opt, [1.0, 1.0], &[[2.0, 0.0], [1.0, 1.0]]);
        // t=1: v = 0.9 * 1 + 0.1 g^2 = (1.3, 0.9); b = g / sqrt(v + 0.25) = (2 / sqrt(1.55), 0);
        //      w = 1 - 0.1 b.
        // t=2: v = 0.9 (1.3, 0.9) + 0.1 = (1.27, 0.91);
        //      b = 0.5 b1 + 1 / sqrt(v + 0.25); w = w1 - 0.1 b.
        let b1 = 2.0 / 1.55f64.sqrt();
        let w1 = [1.0 - 0.1 * b1, 1.0];
        let b2 = [0.5 * b1 + 1.0 / 1.52f64.sqrt(), 1.0 / 1.16f64.sqrt()];
        assert_close(&got, &[w1, [w1[0] - 0.1 * b2[0], 1.0 - 0.1 * b2[1]]]);
    }

    #[test]
    fn settings_saved_before_the_tensorflow_options_still_load() {
        let old = serde_json::json!({
            "lr": 0.01, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0, "centered": false
        });
        assert_eq!(serde_json::from_value::<RmsProp>(old).unwrap(), RmsProp::default());
    }

    #[test]
    fn centered_with_momentum() {
        let cfg = RmsProp {
            lr: 0.1,
            alpha: 0.5,
            eps: f64::MIN_POSITIVE,
            momentum: 0.5,
            centered: true,
            ..RmsProp::default()
        };
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
