//! [`Loss`]: a scalar objective reported as a sum and the weight that normalises it.
//!
//! A training loss is almost always a mean: over the rows of a batch, over the
//! present time steps of ragged sequences, or over the observed entries of a masked
//! series. Reporting it as the pair $(S, W)$, the sum of the per-unit terms and the
//! number (or total weight) of units, instead of the ratio $S / W$, is what lets a
//! batch be cut into shards whose results combine exactly, whatever the reduction:
//!
//! $$ L = \frac{\sum_k S_k}{\sum_k W_k}, \qquad \nabla L = \frac{\sum_k \nabla S_k}{\sum_k W_k}. $$
//!
//! Combining the ratios $S_k / W_k$ with weights would need the weights to be known in
//! advance, and they are not when shards hold different numbers of steps or observed
//! values. A data-parallel trainer differentiates each shard's $S_k$ and divides once
//! after adding them.
//!
//! ```
//! use autodiff::{Loss, Tensor};
//! use autodiff::ndarray::array;
//!
//! let err = array![[1.0, 2.0], [3.0, 4.0]];
//! let mask = array![[1.0, 0.0], [1.0, 1.0]];
//! let loss = Loss::masked_mean(&err, &mask)?;
//! assert_eq!((loss.sum.item()?, loss.weight), (8.0, 3.0));
//! assert_eq!(loss.value()?, 8.0 / 3.0);
//! # Ok::<(), autodiff::Error>(())
//! ```

use crate::{Error, Result, Tensor};
use ndarray::Array2;

/// A loss as the sum of its terms (`1 x 1`) and the weight it is divided by.
#[derive(Debug, Clone, Copy)]
pub struct Loss<T> {
    /// $S$: the sum of the per-unit terms, `1 x 1`.
    pub sum: T,
    /// $W$: the number of units (rows, steps, observed values) or their total weight.
    pub weight: f64,
}

impl<T: Tensor> Loss<T> {
    /// A loss `sum / weight`. `sum` must be `1 x 1` and `weight` finite and
    /// non-negative (a shard with nothing observed has weight 0).
    pub fn new(sum: T, weight: f64) -> Result<Self> {
        if sum.shape() != (1, 1) {
            return Err(Error::NotScalar(sum.shape()));
        }
        if !(weight.is_finite() && weight >= 0.0) {
            return Err(Error::Invalid {
                op: "Loss::new",
                reason: format!("weight {weight} is not finite and >= 0"),
            });
        }
        Ok(Loss { sum, weight })
    }

    /// The mean of every entry of `terms`: their sum, weighted by their count.
    pub fn mean(terms: &T) -> Self {
        let (r, c) = terms.shape();
        Loss { sum: terms.sum(), weight: (r * c) as f64 }
    }

    /// The mean of the entries of `terms` where the 0/1 `mask` (broadcasting) is 1,
    /// weighted by the number of those entries.
    pub fn masked_mean(terms: &T, mask: &Array2<f64>) -> Result<Self> {
        let sum = terms.masked_sum(mask)?;
        let full = mask.broadcast(terms.shape()).ok_or(Error::Shape {
            op: "masked_mean",
            lhs: terms.shape(),
            rhs: mask.dim(),
        })?;
        Ok(Loss { sum, weight: full.iter().filter(|&&m| m != 0.0).count() as f64 })
    }

    /// The same loss multiplied by `c` (the weight is unchanged).
    pub fn scale(&self, c: f64) -> Self {
        Loss { sum: self.sum.scale(c), weight: self.weight }
    }

    /// The normalised loss `sum / weight` as a `1 x 1` value (differentiable on a tape).
    /// Zero weight gives a typed error rather than a NaN.
    pub fn normalised(&self) -> Result<T> {
        Ok(self.sum.scale(1.0 / self.positive_weight()?))
    }

    /// The number `sum / weight`.
    pub fn value(&self) -> Result<f64> {
        Ok(self.sum.item()? / self.positive_weight()?)
    }

    fn positive_weight(&self) -> Result<f64> {
        match self.weight > 0.0 {
            true => Ok(self.weight),
            false => Err(Error::Invalid { op: "Loss", reason: "weight 0: nothing to average over".into() }),
        }
    }
}
