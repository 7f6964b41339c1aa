//! What training does when a step goes non-finite: stop (the default), or roll back
//! to the last checkpoint with a lower learning rate, for runs left unattended.

use crate::trainer::FitSummary;
use crate::{EarlyStopping, Error, Result, Trainer};
use std::path::PathBuf;

/// The policy for a step whose loss, a gradient or an updated parameter is not
/// finite (the NaN guard's [`Error::NonFinite`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OnNan {
    /// Stop with the error; the store keeps the last good parameters (the default).
    Stop,
    /// Restore the latest checkpoint (parameters, optimizer moments, counters and
    /// generators), multiply the learning rate by `lr_factor` from then on, and go
    /// on; after `retries` roll-backs in one [`fit`](Trainer::fit), stop with the
    /// error. Only checkpoints written by the same `fit` are returned to: it writes
    /// one before its first step. Early stopping's record returns to that point too,
    /// and the [`FitSummary`] forgets the abandoned steps and epochs; `on_epoch`
    /// callbacks see a re-run epoch again, and the metrics log keeps the rows of the
    /// abandoned steps. Needs a checkpoint directory and a learning-rate
    /// [`Schedule`](crate::Schedule) (`Schedule::Constant` for a fixed rate), which
    /// the factor multiplies; the factor is kept in [`TrainState::lr_scale`] and in
    /// later checkpoints. With states carried from batch to batch (truncated
    /// backpropagation, `seqmodels::stream::Tbptt`), checkpoint at epoch ends
    /// (`Every::Epochs`), so that a roll-back restarts from a first chunk.
    ///
    /// [`TrainState::lr_scale`]: crate::TrainState::lr_scale
    RollBack {
        /// Factor on the learning rate per roll-back, in (0, 1).
        lr_factor: f64,
        /// Most roll-backs per `fit`.
        retries: u32,
    },
}

/// One roll-back: the step that failed and what was not finite.
#[derive(Debug, Clone, PartialEq)]
pub struct RolledBack {
    /// The optimizer step that failed.
    pub step: u64,
    /// The guard's description of what was not finite.
    pub what: String,
    /// The step of the checkpoint training went back to.
    pub to_step: u64,
}

impl OnNan {
    /// Fails for a factor outside (0, 1).
    pub(crate) fn validate(&self) -> Result<()> {
        match *self {
            OnNan::RollBack { lr_factor, .. } if !(lr_factor > 0.0 && lr_factor < 1.0) => {
                Err(Error::config("OnNan::RollBack", format!("lr_factor {lr_factor} is not in (0, 1)")))
            }
            OnNan::RollBack { retries: 0, .. } => {
                Err(Error::config("OnNan::RollBack", "retries 0 never rolls back: use OnNan::Stop"))
            }
            _ => Ok(()),
        }
    }
}

/// Where a roll-back returns to: the last checkpoint this `fit` wrote, with what the
/// trainer keeps in memory beside it (early stopping's record, the epochs reported).
#[derive(Debug, Clone)]
pub(crate) struct RollbackPoint {
    pub path: PathBuf,
    pub early: Option<EarlyStopping>,
    pub epochs_reported: usize,
}

impl Trainer<'_> {
    /// Whether a non-finite step can be rolled back now (the policy allows another).
    pub(crate) fn may_roll_back(&self, summary: &FitSummary) -> bool {
        matches!(self.nan_policy(), OnNan::RollBack { retries, .. } if summary.rollbacks.len() < retries as usize)
    }

    /// Restores `point` after step `step` failed with `what`, lowers the learning
    /// rate, forgets the abandoned steps and epochs of `summary`, and records the
    /// roll-back.
    pub(crate) fn roll_back(
        &mut self,
        point: Option<&RollbackPoint>,
        step: u64,
        what: String,
        summary: &mut FitSummary,
    ) -> Result<()> {
        let OnNan::RollBack { lr_factor, .. } = self.nan_policy() else {
            panic!("roll_back is only called under OnNan::RollBack");
        };
        let point = point.expect("under OnNan::RollBack a checkpoint is written before the first step");
        let scale = self.state().lr_scale * lr_factor;
        self.resume(&point.path).map_err(|e| Error::NonFinite {
            step,
            what: format!("{what}; rolling back to {} failed: {e}", point.path.display()),
        })?;
        self.set_lr_scale(scale);
        self.restore_early_stopping(point.early.clone());
        let to_step = self.state().step;
        summary.epoch_losses.truncate(point.epochs_reported);
        summary.step_losses.retain(|&(s, _)| s <= to_step);
        summary.rollbacks.push(RolledBack { step, what, to_step });
        Ok(())
    }
}
