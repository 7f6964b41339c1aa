//! Early stopping on a validation metric, keeping the best parameters (Keras's
//! `EarlyStopping(restore_best_weights=True)`, Lightning's `min_delta`/`patience`).

use crate::optim::{check_count, check_range};
use crate::{Error, Result};
use autodiff::ParamStore;

/// Whether smaller or larger values of the metric are better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Lower is better (losses).
    Min,
    /// Higher is better (accuracies, ELBOs).
    Max,
}

/// What [`EarlyStopping::observe`] concluded from one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A new best (by more than `min_delta`); the parameters were saved.
    Improved,
    /// No improvement for this many evaluations in a row, fewer than the patience.
    Waiting(usize),
    /// No improvement for `patience` evaluations: stop training.
    Stop,
}

/// Tracks the best value of a metric and the parameters that achieved it.
#[derive(Debug, Clone)]
pub struct EarlyStopping {
    patience: usize,
    min_delta: f64,
    mode: Mode,
    best: Option<(f64, usize)>,
    evaluations: usize,
    bad: usize,
    snapshot: Option<ParamStore>,
}

impl EarlyStopping {
    /// Stops after `patience` evaluations without an improvement larger than
    /// `min_delta >= 0` in the direction of `mode`.
    pub fn new(patience: usize, min_delta: f64, mode: Mode) -> Result<Self> {
        check_count("EarlyStopping.patience", patience as u64)?;
        check_range("EarlyStopping.min_delta", min_delta, 0.0, f64::MAX)?;
        Ok(EarlyStopping { patience, min_delta, mode, best: None, evaluations: 0, bad: 0, snapshot: None })
    }

    /// Records one evaluation of the metric for the parameters in `store`. A NaN
    /// value never counts as an improvement.
    pub fn observe(&mut self, value: f64, store: &ParamStore) -> Verdict {
        let index = self.evaluations;
        self.evaluations += 1;
        let better = match self.best {
            _ if value.is_nan() => false,
            None => true,
            Some((best, _)) => match self.mode {
                Mode::Min => value < best - self.min_delta,
                Mode::Max => value > best + self.min_delta,
            },
        };
        if better {
            self.best = Some((value, index));
            self.bad = 0;
            self.snapshot = Some(store.clone());
            return Verdict::Improved;
        }
        self.bad += 1;
        if self.bad >= self.patience { Verdict::Stop } else { Verdict::Waiting(self.bad) }
    }

    /// The best value so far and the index (from 0) of the evaluation that gave it.
    pub fn best(&self) -> Option<(f64, usize)> {
        self.best
    }

    /// Copies the best parameters back into `store`; `false` if nothing was observed.
    pub fn restore_best(&self, store: &mut ParamStore) -> Result<bool> {
        let Some(best) = &self.snapshot else { return Ok(false) };
        store.load_named(&best.to_named()).map_err(Error::autodiff("EarlyStopping::restore_best"))?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::test_support::assert_config_error;
    use autodiff::ndarray::array;

    #[test]
    fn stops_after_patience_and_restores_the_best() {
        let mut store = ParamStore::new();
        let id = store.add("w", array![[0.0]]).unwrap();
        let mut es = EarlyStopping::new(2, 0.1, Mode::Min).unwrap();
        let mut verdicts = Vec::new();
        // 1.0 is best; 0.95 improves by less than min_delta; 0.5 is better; then two misses.
        for (i, v) in [1.0, 0.95, 0.5, 0.45, f64::NAN].into_iter().enumerate() {
            store.get_mut(id).unwrap()[(0, 0)] = i as f64;
            verdicts.push(es.observe(v, &store));
        }
        assert_eq!(
            verdicts,
            [Verdict::Improved, Verdict::Waiting(1), Verdict::Improved, Verdict::Waiting(1), Verdict::Stop]
        );
        assert_eq!(es.best(), Some((0.5, 2)));
        assert!(es.restore_best(&mut store).unwrap());
        assert_eq!(store.get(id).unwrap()[(0, 0)], 2.0);
    }

    #[test]
    fn max_mode_and_bad_settings() {
        let store = ParamStore::new();
        let mut es = EarlyStopping::new(1, 0.0, Mode::Max).unwrap();
        assert_eq!(es.observe(0.5, &store), Verdict::Improved);
        assert_eq!(es.observe(0.7, &store), Verdict::Improved);
        assert_eq!(es.observe(0.7, &store), Verdict::Stop);
        assert_config_error(EarlyStopping::new(0, 0.0, Mode::Min), "EarlyStopping.patience", "got 0");
        assert_config_error(EarlyStopping::new(1, -0.1, Mode::Min), "EarlyStopping.min_delta", "-0.1");
        assert_config_error(EarlyStopping::new(1, f64::NAN, Mode::Max), "EarlyStopping.min_delta", "NaN");
    }
}
