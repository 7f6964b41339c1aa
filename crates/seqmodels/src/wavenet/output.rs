//! What a WaveNet models at each step, and how the observed value enters the network
//! as input: a class among quantised levels (audio), or independent binary entries
//! (a piano roll).

use crate::{Error, Result};
use autodiff::Tensor;
use dists::{Bernoulli, Categorical, class_indices, one_hot};
use ndarray::{Array2, Axis};
use rand::Rng;

/// The distribution of each step given the past, and the observation it is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum WaveNetOutput {
    /// One of `levels` classes per step: the observation is `B x 1`, holding the class
    /// as a number (a mu-law level, see [`dists::MuLaw`]); it enters the network
    /// one-hot, and the output is a softmax over the levels (van den Oord et al. 2016,
    /// Sec. 2.2).
    Categorical {
        /// Number of classes (256 for 8-bit mu-law audio).
        levels: usize,
    },
    /// `dim` independent Bernoulli entries per step (a piano roll): the observation is
    /// `B x dim` of 0/1 and enters the network as it is.
    Bernoulli {
        /// Entries per step.
        dim: usize,
    },
}

impl WaveNetOutput {
    /// Observation width `D`: 1 for classes, `dim` for binary entries.
    pub fn x_dim(&self) -> usize {
        match *self {
            WaveNetOutput::Categorical { .. } => 1,
            WaveNetOutput::Bernoulli { dim } => dim,
        }
    }

    /// Width of the network's input and of its logits: `levels` or `dim`.
    pub fn channels(&self) -> usize {
        match *self {
            WaveNetOutput::Categorical { levels } => levels,
            WaveNetOutput::Bernoulli { dim } => dim,
        }
    }

    /// Fails on a width of zero, or fewer than two levels.
    pub(crate) fn check(&self) -> Result<()> {
        match *self {
            WaveNetOutput::Categorical { levels } if levels < 2 => Err(Error::config(
                "WaveNet",
                format!("a categorical output needs 2 or more levels, got {levels}"),
            )),
            WaveNetOutput::Bernoulli { dim: 0 } => {
                Err(Error::config("WaveNet", "a Bernoulli output needs dim >= 1"))
            }
            _ => Ok(()),
        }
    }

    /// The network's input for observations `x` (`N x D`): one-hot classes, or the
    /// binary entries themselves (checked to be 0/1).
    pub(crate) fn encode(&self, x: &Array2<f64>) -> Result<Array2<f64>> {
        match *self {
            WaveNetOutput::Categorical { levels } => Ok(one_hot(&class_indices(x, levels)?, levels)?),
            WaveNetOutput::Bernoulli { .. } => match x.iter().find(|&&v| v != 0.0 && v != 1.0) {
                Some(v) => {
                    Err(Error::config("WaveNet", format!("a Bernoulli output models 0/1 entries, got {v}")))
                }
                None => Ok(x.clone()),
            },
        }
    }

    /// `ln p(x_n)` of each row (`N x 1`) under `logits`, counting what `mask` (`N x 1`
    /// or `N x D`, 0/1) observes: a class counts when its row's mask is on.
    pub(crate) fn log_prob<T: Tensor>(&self, logits: &T, x: &Array2<f64>, mask: &Array2<f64>) -> Result<T> {
        match *self {
            WaveNetOutput::Categorical { levels } => {
                let lp = Categorical::from_logits(logits.clone())?.log_prob(&class_indices(x, levels)?)?;
                Ok(lp.mask(&crate::batch::any_observed(mask))?)
            }
            WaveNetOutput::Bernoulli { .. } => {
                let lp = Bernoulli::from_logits(logits.clone())?.log_prob(&logits.constant(x.clone()))?;
                Ok(lp.mask(mask)?.sum_axis(Axis(1)))
            }
        }
    }

    /// A draw of every row (`B x D`), from one uniform per row (classes) or per entry
    /// (binary), taken from `rng` in row order.
    pub(crate) fn sample<R: Rng + ?Sized>(&self, logits: &Array2<f64>, rng: &mut R) -> Result<Array2<f64>> {
        Ok(match *self {
            WaveNetOutput::Categorical { .. } => {
                let classes = Categorical::from_logits(logits.clone())?.sample(rng);
                Array2::from_shape_fn((classes.len(), 1), |(r, _)| classes[r] as f64)
            }
            WaveNetOutput::Bernoulli { .. } => Bernoulli::from_logits(logits.clone())?.sample(rng),
        })
    }
}
