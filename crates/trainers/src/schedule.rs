//! Learning-rate schedules: pure functions of the step count.
//!
//! A [`Schedule`] maps the number of optimizer steps taken so far, $t = 0, 1, \dots$,
//! to a learning rate. Being stateless, it needs nothing in a checkpoint: resuming at
//! step $t$ gives the same rate. (Call it with the epoch instead of the step for
//! per-epoch schedules; [`Trainer`](crate::Trainer) uses the step.)

use crate::Result;
use crate::optim::{check_count, check_positive, check_range};
use serde::{Deserialize, Serialize};

/// A learning-rate schedule; see each variant for its formula.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Schedule {
    /// $\gamma_t = \gamma_0$.
    Constant {
        /// The rate.
        lr: f64,
    },
    /// $\gamma_t = \gamma_0 \cdot g^{\lfloor t / s \rfloor}$ (PyTorch's `StepLR`).
    Step {
        /// Initial rate $\gamma_0$.
        lr: f64,
        /// Steps $s$ between decays.
        every: u64,
        /// Factor $g$ per decay.
        gamma: f64,
    },
    /// $\gamma_t = \max(\gamma_0 g^t, \gamma_{\min})$ (`ExponentialLR` with a floor).
    Exponential {
        /// Initial rate $\gamma_0$.
        lr: f64,
        /// Factor $g$ per step.
        gamma: f64,
        /// The floor $\gamma_{\min}$.
        min_lr: f64,
    },
    /// Cosine annealing from $\gamma_0$ to $\gamma_{\min}$ over a period of $T$ steps
    /// (Loshchilov & Hutter 2017, SGDR, Eq. 5):
    /// $\gamma_t = \gamma_{\min} + \tfrac12(\gamma_0 - \gamma_{\min})(1 + \cos(\pi t_{cur}/T_i))$.
    /// With `restarts`, the rate jumps back to $\gamma_0$ after each period and the
    /// next period is `period_mult` times longer (`CosineAnnealingWarmRestarts`);
    /// without, it stays at $\gamma_{\min}$ after $T$ steps.
    Cosine {
        /// Initial rate $\gamma_0$.
        lr: f64,
        /// Final rate $\gamma_{\min}$.
        min_lr: f64,
        /// First period $T_0$ in steps.
        period: u64,
        /// Whether to restart after each period.
        restarts: bool,
        /// Growth factor $T_{i+1} = m T_i$ of the periods (1 keeps them equal).
        period_mult: u64,
    },
    /// Linear warm-up from `start_factor` times the inner schedule's first rate up to
    /// it over `steps` steps: $\gamma_t = \mathrm{inner}(0) \cdot (f + (1-f) t / w)$
    /// for $t < w$, then $\gamma_t = \mathrm{inner}(t - w)$: the inner schedule's
    /// clock starts when warm-up ends.
    Warmup {
        /// Warm-up length $w$ in steps.
        steps: u64,
        /// Starting fraction $f$ of the rate.
        start_factor: f64,
        /// The schedule that follows.
        then: Box<Schedule>,
    },
}

impl Schedule {
    /// A constant rate.
    pub fn constant(lr: f64) -> Self {
        Schedule::Constant { lr }
    }

    /// Cosine annealing over `period` steps, then flat at `min_lr`.
    pub fn cosine(lr: f64, min_lr: f64, period: u64) -> Self {
        Schedule::Cosine { lr, min_lr, period, restarts: false, period_mult: 1 }
    }

    /// This schedule after a linear warm-up of `steps` steps starting at `start_factor`.
    pub fn with_warmup(self, steps: u64, start_factor: f64) -> Self {
        Schedule::Warmup { steps, start_factor, then: Box::new(self) }
    }

    /// Checks every setting: initial rates finite and positive, floors finite and in
    /// `[0, lr]` (cosine) or `>= 0`, factors finite and positive, periods positive,
    /// `start_factor` in `[0, 1]`. The error names the field and its value
    /// (`Schedule::Step.every`). [`Trainer`](crate::Trainer) calls this before training.
    pub fn validate(&self) -> Result<()> {
        match self {
            Schedule::Constant { lr } => check_positive("Schedule::Constant.lr", *lr),
            Schedule::Step { lr, every, gamma } => {
                check_positive("Schedule::Step.lr", *lr)?;
                check_count("Schedule::Step.every", *every)?;
                check_positive("Schedule::Step.gamma", *gamma)
            }
            Schedule::Exponential { lr, gamma, min_lr } => {
                check_positive("Schedule::Exponential.lr", *lr)?;
                check_positive("Schedule::Exponential.gamma", *gamma)?;
                check_range("Schedule::Exponential.min_lr", *min_lr, 0.0, f64::MAX)
            }
            Schedule::Cosine { lr, min_lr, period, period_mult, .. } => {
                check_positive("Schedule::Cosine.lr", *lr)?;
                check_range("Schedule::Cosine.min_lr", *min_lr, 0.0, *lr)?;
                check_count("Schedule::Cosine.period", *period)?;
                check_count("Schedule::Cosine.period_mult", *period_mult)
            }
            Schedule::Warmup { start_factor, then, .. } => {
                check_range("Schedule::Warmup.start_factor", *start_factor, 0.0, 1.0)?;
                then.validate()
            }
        }
    }

    /// The learning rate after `t` optimizer steps. A schedule that fails
    /// [`validate`](Schedule::validate) with a zero period gives NaN (which
    /// [`Optimizer::set_lr`](crate::Optimizer::set_lr) refuses) rather than
    /// dividing by zero or cycling forever.
    pub fn lr(&self, t: u64) -> f64 {
        match self {
            Schedule::Constant { lr } => *lr,
            Schedule::Step { lr, every, gamma } => match t.checked_div(*every) {
                Some(decays) => lr * gamma.powf(decays as f64),
                None => f64::NAN,
            },
            Schedule::Exponential { lr, gamma, min_lr } => (lr * gamma.powf(t as f64)).max(*min_lr),
            Schedule::Cosine { lr, min_lr, period, restarts, period_mult } => {
                let (t_cur, t_i) = match restarts {
                    false if t >= *period => return *min_lr,
                    false => (t, *period),
                    true if *period == 0 || *period_mult == 0 => return f64::NAN,
                    true => position_in_cycle(t, *period, *period_mult),
                };
                min_lr
                    + 0.5 * (lr - min_lr) * (1.0 + (std::f64::consts::PI * t_cur as f64 / t_i as f64).cos())
            }
            Schedule::Warmup { steps, start_factor, then } => match t < *steps {
                true => then.lr(0) * (start_factor + (1.0 - start_factor) * t as f64 / *steps as f64),
                false => then.lr(t - steps),
            },
        }
    }
}

/// `(t_cur, T_i)`: the position of step `t` within its cycle and the cycle's length,
/// for cycles of lengths `T_0, m T_0, m^2 T_0, ...` (both `T_0` and `m` positive,
/// or this never ends).
fn position_in_cycle(mut t: u64, period: u64, mult: u64) -> (u64, u64) {
    let mut len = period;
    while t >= len {
        t -= len;
        len = len.saturating_mul(mult);
    }
    (t, len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::test_support::assert_config_error;

    #[test]
    fn step_and_exponential() {
        let s = Schedule::Step { lr: 1.0, every: 3, gamma: 0.5 };
        let got: Vec<f64> = (0..7).map(|t| s.lr(t)).collect();
        assert_eq!(got, [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25]);
        let e = Schedule::Exponential { lr: 1.0, gamma: 0.5, min_lr: 0.2 };
        // 1, 0.5, 0.25, then 0.125 is below the floor.
        assert_eq!((0..5).map(|t| e.lr(t)).collect::<Vec<_>>(), [1.0, 0.5, 0.25, 0.2, 0.2]);
    }

    #[test]
    fn cosine_with_and_without_restarts() {
        let c = Schedule::cosine(1.0, 0.0, 4);
        // 0.5 (1 + cos(pi t / 4)) at t = 0, 2, 4 is 1, 0.5, 0; then flat.
        assert_eq!(c.lr(0), 1.0);
        assert!((c.lr(2) - 0.5).abs() < 1e-15);
        assert_eq!(c.lr(4), 0.0);
        assert_eq!(c.lr(100), 0.0);
        let r = Schedule::Cosine { lr: 1.0, min_lr: 0.0, period: 2, restarts: true, period_mult: 2 };
        // Cycles [0, 2) and [2, 6): restart to 1 at t = 2; t = 4 is the middle of the second.
        assert_eq!(r.lr(2), 1.0);
        assert!((r.lr(1) - 0.5).abs() < 1e-15);
        assert!((r.lr(4) - 0.5).abs() < 1e-15);
        assert_eq!(r.lr(6), 1.0);
    }

    #[test]
    fn warmup_composes() {
        let s = Schedule::Step { lr: 1.0, every: 2, gamma: 0.1 }.with_warmup(4, 0.0);
        s.validate().unwrap();
        let got: Vec<f64> = (0..8).map(|t| s.lr(t)).collect();
        // 0, 1/4, 2/4, 3/4 ramping to inner(0) = 1; then the inner clock starts at 0.
        let want = [0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 0.1, 0.1];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-15, "{got:?}");
        }
    }

    #[test]
    fn invalid_settings_are_named() {
        let step = Schedule::Step { lr: 1.0, every: 0, gamma: 0.5 };
        assert_config_error(step.validate(), "Schedule::Step.every", "got 0");
        assert_config_error(Schedule::cosine(1.0, 2.0, 5).validate(), "Schedule::Cosine.min_lr", "got 2");
        assert_config_error(Schedule::constant(f64::NAN).validate(), "Schedule::Constant.lr", "NaN");
        assert_config_error(Schedule::constant(0.0).validate(), "Schedule::Constant.lr", "got 0");
        let step = Schedule::Step { lr: 1.0, every: 2, gamma: 0.0 };
        assert_config_error(step.validate(), "Schedule::Step.gamma", "got 0");
        let exp = Schedule::Exponential { lr: f64::INFINITY, gamma: 0.5, min_lr: 0.0 };
        assert_config_error(exp.validate(), "Schedule::Exponential.lr", "inf");
        let exp = Schedule::Exponential { lr: 1.0, gamma: 0.5, min_lr: -1.0 };
        assert_config_error(exp.validate(), "Schedule::Exponential.min_lr", "-1");
        let restarts = Schedule::Cosine { lr: 1.0, min_lr: 0.0, period: 0, restarts: true, period_mult: 1 };
        assert_config_error(restarts.validate(), "Schedule::Cosine.period", "got 0");
        let restarts = Schedule::Cosine { lr: 1.0, min_lr: 0.0, period: 3, restarts: true, period_mult: 0 };
        assert_config_error(restarts.validate(), "Schedule::Cosine.period_mult", "got 0");
        let warm = Schedule::constant(1.0).with_warmup(3, 1.5);
        assert_config_error(warm.validate(), "Schedule::Warmup.start_factor", "1.5");
        let warm = Schedule::constant(-1.0).with_warmup(3, 0.5);
        assert_config_error(warm.validate(), "Schedule::Constant.lr", "-1");
    }

    #[test]
    fn zero_periods_give_nan_instead_of_panicking_or_hanging() {
        // Each of these used to divide by zero or loop forever in `lr`.
        assert!(Schedule::Step { lr: 1.0, every: 0, gamma: 0.5 }.lr(3).is_nan());
        for (period, period_mult) in [(0, 1), (3, 0)] {
            let s = Schedule::Cosine { lr: 1.0, min_lr: 0.0, period, restarts: true, period_mult };
            assert!(s.lr(5).is_nan(), "{s:?}");
        }
    }
}
