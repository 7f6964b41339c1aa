//! What training does when a step goes non-finite: stop (the default), or roll back
//! to the last checkpoint with a lower learning rate, for runs left unattended.

use crate::trainer::FitSummary;
use crate::{Error, Result, Trainer, checkpoint};

/// The policy for a step whose loss, a gradient or an updated parameter is not
/// finite (the NaN guard's [`Error::NonFinite`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OnNan {
    /// Stop with the error; the store keeps the last good parameters (the default).
    Stop,
    /// Restore the latest checkpoint (parameters, optimizer moments, counters and
    /// generators), multiply the learning rate by `lr_factor` from then on, and go
    /// on; after `retries` roll-backs in one [`fit`](Trainer::fit), stop with the
    /// error. Needs a checkpoint directory (the trainer writes a checkpoint before
    /// the first step, so there is always one to return to) and a learning-rate
    /// [`Schedule`](crate::Schedule) (`Schedule::Constant` for a fixed rate), which
    /// the factor multiplies; the factor is kept in [`TrainState::lr_scale`] and in
    /// later checkpoints. The metrics log keeps the rows of the abandoned steps.
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
            _ => Ok(()),
        }
    }
}

impl Trainer<'_> {
    /// Whether a non-finite step can be rolled back now (the policy allows another).
    pub(crate) fn may_roll_back(&self, summary: &FitSummary) -> bool {
        matches!(self.nan_policy(), OnNan::RollBack { retries, .. } if summary.rollbacks.len() < retries as usize)
    }

    /// Restores the latest checkpoint after step `step` failed with `what`, lowers the
    /// learning rate, and records the roll-back.
    pub(crate) fn roll_back(&mut self, step: u64, what: String, summary: &mut FitSummary) -> Result<()> {
        let OnNan::RollBack { lr_factor, .. } = self.nan_policy() else {
            panic!("roll_back is only called under OnNan::RollBack");
        };
        let dir =
            self.checkpoint_location().expect("OnNan::RollBack is validated to have a checkpoint directory");
        let Some(path) = checkpoint::latest(dir)? else {
            return Err(Error::NonFinite { step, what: format!("{what} (no checkpoint to roll back to)") });
        };
        let scale = self.state().lr_scale * lr_factor;
        self.resume(&path)?;
        self.set_lr_scale(scale);
        summary.rollbacks.push(RolledBack { step, what, to_step: self.state().step });
        Ok(())
    }
}
