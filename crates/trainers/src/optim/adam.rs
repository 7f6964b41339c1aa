//! Adam and its variants AdamW and Adamax, as `torch.optim.Adam`, `AdamW`, `Adamax`.
//!
//! Adam is Algorithm 1 of Kingma & Ba (2015), "Adam: A Method for Stochastic
//! Optimization"; Adamax is their Algorithm 2 (Section 7.1), the infinity-norm
//! variant, with PyTorch's `eps` inside the max; AdamW is Loshchilov & Hutter (2019),
//! "Decoupled Weight Decay Regularization", Algorithm 2: the decay multiplies the
//! parameter instead of entering the gradient, so it is not rescaled by the moments.

use super::{UpdateRule, check_positive, check_range};
use crate::Result;
use serde::{Deserialize, Serialize};

/// Hyper-parameters of Adam (PyTorch defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8,
/// no weight decay). Weight decay here is the L2 penalty added to the gradient.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Adam {
    /// Learning rate $\gamma$.
    pub lr: f64,
    /// Decay rates $(\beta_1, \beta_2)$ of the first and second moments.
    pub betas: (f64, f64),
    /// $\epsilon$ added to $\sqrt{\hat v}$.
    pub eps: f64,
    /// L2 penalty $\lambda$ added to the gradient.
    pub weight_decay: f64,
}

/// Hyper-parameters of AdamW (PyTorch defaults: Adam's, with decoupled weight decay 1e-2).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamW {
    /// The Adam part (its `weight_decay` is the decoupled decay $\lambda$).
    pub adam: Adam,
}

/// Hyper-parameters of Adamax (PyTorch defaults: lr 2e-3, betas (0.9, 0.999), eps
/// 1e-8, no weight decay).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Adamax {
    /// The shared fields; `lr` is the step size $\gamma$, `betas.1` the decay of the
    /// infinity norm $u$.
    pub adam: Adam,
}

impl Default for Adam {
    fn default() -> Self {
        Adam { lr: 1e-3, betas: (0.9, 0.999), eps: 1e-8, weight_decay: 0.0 }
    }
}

impl Default for AdamW {
    fn default() -> Self {
        AdamW { adam: Adam { weight_decay: 1e-2, ..Adam::default() } }
    }
}

impl Default for Adamax {
    fn default() -> Self {
        Adamax { adam: Adam { lr: 2e-3, ..Adam::default() } }
    }
}

impl Adam {
    fn validate(&self, kind: &str) -> Result<()> {
        check_range(&format!("{kind}.lr"), self.lr, 0.0, f64::MAX)?;
        check_range(&format!("{kind}.betas.0"), self.betas.0, 0.0, 1.0 - f64::EPSILON)?;
        check_range(&format!("{kind}.betas.1"), self.betas.1, 0.0, 1.0 - f64::EPSILON)?;
        // PyTorch accepts 0, but then a zero gradient's first update is 0 / 0.
        check_positive(&format!("{kind}.eps"), self.eps)?;
        check_range(&format!("{kind}.weight_decay"), self.weight_decay, 0.0, f64::MAX)
    }

    /// One Adam update of `p` with an already weight-decayed gradient `g`.
    #[inline(always)]
    fn moments_step(&self, c: AdamCorrections, p: &mut f64, g: f64, m: &mut f64, v: &mut f64) {
        let (b1, b2) = self.betas;
        *m = b1 * *m + (1.0 - b1) * g;
        *v = b2 * *v + (1.0 - b2) * g * g;
        let m_hat = *m / c.first;
        let v_hat = *v / c.second;
        *p -= self.lr * m_hat / (v_hat.sqrt() + self.eps);
    }
}

/// Adam's bias corrections at update `t`: `1 - beta_1^t` and `1 - beta_2^t`.
#[derive(Debug, Clone, Copy)]
pub struct AdamCorrections {
    first: f64,
    second: f64,
}

/// Implements the learning-rate accessors of a rule that wraps an [`Adam`] as `adam`.
macro_rules! adam_lr {
    () => {
        fn lr(&self) -> f64 {
            self.adam.lr
        }
        fn set_lr(&mut self, lr: f64) {
            self.adam.lr = lr;
        }
    };
}

impl UpdateRule for Adam {
    const KIND: &'static str = "adam";

    fn buffer_names(&self) -> &'static [&'static str] {
        &["exp_avg", "exp_avg_sq"]
    }
    fn lr(&self) -> f64 {
        self.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }
    fn validate(&self) -> Result<()> {
        Adam::validate(self, "Adam")
    }
    type Step = AdamCorrections;
    fn at_step(&self, t: u64) -> AdamCorrections {
        AdamCorrections {
            first: 1.0 - self.betas.0.powf(t as f64),
            second: 1.0 - self.betas.1.powf(t as f64),
        }
    }
    #[inline(always)]
    fn update(&self, c: AdamCorrections, p: &mut f64, g: f64, buf: &mut [f64]) {
        let [m, v] = buf else { unreachable!("Optim allocates one slot per buffer name") };
        let g = g + self.weight_decay * *p;
        self.moments_step(c, p, g, m, v);
    }
}

impl UpdateRule for AdamW {
    const KIND: &'static str = "adamw";

    fn buffer_names(&self) -> &'static [&'static str] {
        &["exp_avg", "exp_avg_sq"]
    }
    adam_lr!();
    fn validate(&self) -> Result<()> {
        self.adam.validate("AdamW")
    }
    type Step = AdamCorrections;
    fn at_step(&self, t: u64) -> AdamCorrections {
        self.adam.at_step(t)
    }
    #[inline(always)]
    fn update(&self, c: AdamCorrections, p: &mut f64, g: f64, buf: &mut [f64]) {
        let [m, v] = buf else { unreachable!("Optim allocates one slot per buffer name") };
        *p *= 1.0 - self.adam.lr * self.adam.weight_decay;
        self.adam.moments_step(c, p, g, m, v);
    }
}

impl UpdateRule for Adamax {
    const KIND: &'static str = "adamax";

    fn buffer_names(&self) -> &'static [&'static str] {
        &["exp_avg", "exp_inf"]
    }
    adam_lr!();
    fn validate(&self) -> Result<()> {
        self.adam.validate("Adamax")
    }
    type Step = AdamCorrections;
    fn at_step(&self, t: u64) -> AdamCorrections {
        self.adam.at_step(t)
    }
    #[inline(always)]
    fn update(&self, c: AdamCorrections, p: &mut f64, g: f64, buf: &mut [f64]) {
        let [m, u] = buf else { unreachable!("Optim allocates one slot per buffer name") };
        let Adam { lr, betas: (b1, b2), eps, weight_decay } = self.adam;
        let g = g + weight_decay * *p;
        *m = b1 * *m + (1.0 - b1) * g;
        *u = (b2 * *u).max(g.abs() + eps);
        *p -= lr * *m / (c.first * *u);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::Optim;
    use crate::optim::test_support::{assert_close, trajectory};

    #[test]
    fn adam_first_updates() {
        let adam = Adam { lr: 0.1, betas: (0.5, 0.75), eps: f64::MIN_POSITIVE, weight_decay: 0.0 };
        let mut opt = Optim::new(adam).unwrap();
        let got = trajectory(&mut opt, [1.0, 1.0], &[[2.0, -1.0], [4.0, 1.0]]);
        // t=1: m = 0.5 g, v = 0.25 g^2; bias corrections 1 - 0.5 = 0.5 and 1 - 0.75 = 0.25
        //      give m_hat = g, v_hat = g^2, so the step is lr * sign(g): w = (0.9, 1.1).
        // t=2, entry 0: m = 0.5*1 + 0.5*4 = 2.5, v = 0.75*1 + 0.25*16 = 4.75;
        //      m_hat = 2.5 / 0.75 = 10/3, v_hat = 4.75 / 0.4375 = 76/7;
        //      w = 0.9 - 0.1 (10/3) / sqrt(76/7).
        // entry 1: m = -0.25 + 0.5 = 0.25, v = 0.1875 + 0.25 = 0.4375;
        //      m_hat = 1/3, v_hat = 1; w = 1.1 - 0.1/3.
        let w2 = [0.9 - 0.1 * (10.0 / 3.0) / (76.0f64 / 7.0).sqrt(), 1.1 - 0.1 / 3.0];
        assert_close(&got, &[[0.9, 1.1], w2]);
    }

    #[test]
    fn adam_weight_decay_enters_the_gradient() {
        let adam = Adam { lr: 0.1, betas: (0.5, 0.75), eps: f64::MIN_POSITIVE, weight_decay: 1.0 };
        let mut opt = Optim::new(adam).unwrap();
        // g' = g + w = (-0.5 + 1, 0 + 2) = (0.5, 2): both positive, so the first
        // (sign) step moves both entries down by lr.
        let got = trajectory(&mut opt, [1.0, 2.0], &[[-0.5, 0.0]]);
        assert_close(&got, &[[0.9, 1.9]]);
    }

    #[test]
    fn adamw_decouples_weight_decay() {
        let adam = Adam { lr: 0.1, betas: (0.5, 0.75), eps: f64::MIN_POSITIVE, weight_decay: 0.5 };
        let mut opt = Optim::new(AdamW { adam }).unwrap();
        let got = trajectory(&mut opt, [1.0, -2.0], &[[3.0, -0.5], [3.0, -0.5]]);
        // t=1: w *= 1 - 0.1*0.5 = 0.95 -> (0.95, -1.9); Adam's first step is lr * sign(g):
        //      w = (0.85, -1.8).
        // t=2: w *= 0.95 -> (0.8075, -1.71); a constant gradient keeps m_hat = g and
        //      v_hat = g^2, so again lr * sign(g): w = (0.7075, -1.61).
        assert_close(&got, &[[0.85, -1.8], [0.7075, -1.61]]);
    }

    #[test]
    fn adamax_first_updates() {
        let adam = Adam { lr: 0.1, betas: (0.5, 0.75), eps: f64::MIN_POSITIVE, weight_decay: 0.0 };
        let mut opt = Optim::new(Adamax { adam }).unwrap();
        let got = trajectory(&mut opt, [0.0, 0.0], &[[2.0, -1.0], [1.0, 4.0]]);
        // t=1: m = 0.5 g, u = |g|; step 0.1 * m / (0.5 u) = 0.1 sign(g): w = (-0.1, 0.1).
        // t=2, entry 0: m = 0.5 + 0.5 = 1, u = max(0.75*2, 1) = 1.5, correction 1 - 0.25 = 0.75:
        //      w = -0.1 - 0.1 * 1 / (0.75 * 1.5) = -0.1 - 0.4/4.5.
        // entry 1: m = -0.25 + 2 = 1.75, u = max(0.75, 4) = 4: w = 0.1 - 0.1 * 1.75 / 3.
        assert_close(&got, &[[-0.1, 0.1], [-0.1 - 0.4 / 4.5, 0.1 - 0.175 / 3.0]]);
    }

    #[test]
    fn bad_betas_are_rejected() {
        let err = Optim::new(Adam { betas: (1.0, 0.9), ..Adam::default() }).unwrap_err();
        assert!(err.to_string().contains("Adam.betas.0"), "{err}");
    }
}
