//! KL annealing: the weight $\beta_t$ of the KL term of an ELBO, as a function of the
//! step count (Bowman et al. 2016 for the linear warm-up; Fu et al. 2019, "Cyclical
//! Annealing Schedule", Eq. 4-5, for the cyclical one).

use crate::optim::{check_count, check_range};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// A schedule for the KL weight; see each variant for its formula.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum KlAnneal {
    /// $\beta_t = \beta$.
    Constant {
        /// The weight.
        weight: f64,
    },
    /// $\beta_t = \beta_0 + (\beta_1 - \beta_0)\min(1, t / T)$: a linear ramp.
    Linear {
        /// Start weight $\beta_0$ (the SRNN reference code starts at 0.2).
        start: f64,
        /// End weight $\beta_1$ (usually 1).
        end: f64,
        /// Ramp length $T$ in steps.
        steps: u64,
    },
    /// Fu et al. (2019): within each cycle of $C$ steps, with $\tau = (t \bmod C)/C$,
    /// $\beta_t = \beta_{\max} \min(1, \tau / R)$: a ramp over the first fraction $R$
    /// of the cycle, then flat. After `cycles` cycles (if given) it stays at $\beta_{\max}$.
    Cyclical {
        /// Cycle length $C$ in steps (the paper's $\lceil T/M \rceil$).
        period: u64,
        /// Fraction $R$ of each cycle spent increasing (the paper uses 0.5).
        ratio: f64,
        /// Maximum weight $\beta_{\max}$.
        max: f64,
        /// Number of cycles $M$, after which the weight stays at `max`.
        cycles: Option<u64>,
    },
}

impl KlAnneal {
    /// Checks the settings: weights finite and `>= 0`, lengths positive, `ratio` in
    /// `(0, 1]`. The error names the field and its value (`KlAnneal::Linear.steps`).
    pub fn validate(&self) -> Result<()> {
        match self {
            KlAnneal::Constant { weight } => check_range("KlAnneal::Constant.weight", *weight, 0.0, f64::MAX),
            KlAnneal::Linear { start, end, steps } => {
                check_range("KlAnneal::Linear.start", *start, 0.0, f64::MAX)?;
                check_range("KlAnneal::Linear.end", *end, 0.0, f64::MAX)?;
                check_count("KlAnneal::Linear.steps", *steps)
            }
            KlAnneal::Cyclical { period, ratio, max, cycles } => {
                check_count("KlAnneal::Cyclical.period", *period)?;
                if !(*ratio > 0.0 && *ratio <= 1.0) {
                    return Err(Error::config(
                        "KlAnneal::Cyclical.ratio",
                        format!("must be in (0, 1], got {ratio}"),
                    ));
                }
                check_range("KlAnneal::Cyclical.max", *max, 0.0, f64::MAX)?;
                cycles.map_or(Ok(()), |m| check_count("KlAnneal::Cyclical.cycles", m))
            }
        }
    }

    /// The KL weight after `t` optimizer steps (NaN for a zero cyclical period).
    pub fn weight(&self, t: u64) -> f64 {
        match self {
            KlAnneal::Constant { weight } => *weight,
            KlAnneal::Linear { start, end, steps } => {
                start + (end - start) * (t as f64 / *steps as f64).min(1.0)
            }
            KlAnneal::Cyclical { period, ratio, max, cycles } => {
                if cycles.is_some_and(|m| t >= m.saturating_mul(*period)) {
                    return *max;
                }
                // A zero period (refused by `validate`) gives NaN, not a division by zero.
                let Some(t_cur) = t.checked_rem(*period) else { return f64::NAN };
                let tau = t_cur as f64 / *period as f64;
                max * (tau / ratio).min(1.0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::test_support::assert_config_error;

    #[test]
    fn linear_ramp() {
        let a = KlAnneal::Linear { start: 0.2, end: 1.0, steps: 4 };
        let got: Vec<f64> = (0..6).map(|t| a.weight(t)).collect();
        // 0.2 + 0.8 t / 4, capped at t = 4.
        let want = [0.2, 0.4, 0.6, 0.8, 1.0, 1.0];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-15, "{got:?}");
        }
    }

    #[test]
    fn cyclical_follows_fu_et_al() {
        let a = KlAnneal::Cyclical { period: 4, ratio: 0.5, max: 1.0, cycles: Some(2) };
        a.validate().unwrap();
        let got: Vec<f64> = (0..10).map(|t| a.weight(t)).collect();
        // tau = (t mod 4) / 4 = 0, 1/4, 1/2, 3/4; beta = min(1, 2 tau) = 0, 0.5, 1, 1; twice; then 1.
        assert_eq!(got, [0.0, 0.5, 1.0, 1.0, 0.0, 0.5, 1.0, 1.0, 1.0, 1.0]);
    }

    #[test]
    fn invalid_settings_are_named() {
        let cyclical = |period, ratio, max, cycles| KlAnneal::Cyclical { period, ratio, max, cycles };
        assert_config_error(cyclical(4, 0.0, 1.0, None).validate(), "KlAnneal::Cyclical.ratio", "got 0");
        assert_config_error(cyclical(0, 0.5, 1.0, None).validate(), "KlAnneal::Cyclical.period", "got 0");
        assert_config_error(cyclical(4, 0.5, f64::NAN, None).validate(), "KlAnneal::Cyclical.max", "NaN");
        assert_config_error(cyclical(4, 0.5, 1.0, Some(0)).validate(), "KlAnneal::Cyclical.cycles", "got 0");
        let linear = KlAnneal::Linear { start: 0.0, end: 1.0, steps: 0 };
        assert_config_error(linear.validate(), "KlAnneal::Linear.steps", "got 0");
        let linear = KlAnneal::Linear { start: -0.5, end: 1.0, steps: 3 };
        assert_config_error(linear.validate(), "KlAnneal::Linear.start", "-0.5");
        let constant = KlAnneal::Constant { weight: f64::INFINITY };
        assert_config_error(constant.validate(), "KlAnneal::Constant.weight", "inf");
        // `weight` used to divide by the zero period.
        assert!(cyclical(0, 0.5, 1.0, None).weight(3).is_nan());
    }
}
