//! [`SeqBatch`]: a time-major, zero-padded batch of sequences with its masks.

use crate::{Error, Result};
use autodiff::data::{Shard, require_finite, shard_ranges};
use ndarray::{Array2, Axis, s};

/// A time-major batch of `B` sequences padded to `T` steps (see the [module
/// docs](crate::batch)). Built by [`SeqBatch::new`] (checked) or drawn from
/// [`Sequences`](crate::Sequences); its fields are read through methods so that the
/// derived step masks and lengths always agree with the values.
#[derive(Debug, Clone, PartialEq)]
pub struct SeqBatch {
    steps: Vec<Array2<f64>>,
    masks: Vec<Array2<f64>>,
    present: Vec<Array2<f64>>,
    lengths: Vec<usize>,
    indices: Vec<usize>,
}

/// One time step of a [`SeqBatch`], as a model's pass reads it.
#[derive(Debug, Clone, Copy)]
pub struct SeqStep<'a> {
    /// Every sequence's value at this step (`B x D`; 0 where padded or unobserved).
    pub x: &'a Array2<f64>,
    /// The observation mask (`B x 1` or `B x D`, 0/1).
    pub mask: &'a Array2<f64>,
    /// The step mask (`B x 1`): 1 where the row's step is present.
    pub present: &'a Array2<f64>,
}

impl SeqBatch {
    /// A batch from its steps (`xs[t]` is `B x D`, finite where observed) and
    /// observation masks (`masks[t]` is `B x 1` or `B x D`, holding only 0 and 1). The
    /// rows are examples `0..B`.
    pub fn new(steps: Vec<Array2<f64>>, masks: Vec<Array2<f64>>) -> Result<Self> {
        let what = "SeqBatch::new";
        let Some(first) = steps.first() else {
            return Err(Error::config(what, "the batch has no time steps"));
        };
        let (b, d) = first.dim();
        if masks.len() != steps.len() {
            return Err(Error::config(what, format!("{} steps but {} masks", steps.len(), masks.len())));
        }
        for (t, (x, m)) in steps.iter().zip(&masks).enumerate() {
            if x.dim() != (b, d) {
                return Err(Error::config(
                    what,
                    format!("step {t} is {:?}, step 0 is {:?}", x.dim(), (b, d)),
                ));
            }
            if m.nrows() != b || (m.ncols() != 1 && m.ncols() != d) {
                return Err(Error::config(
                    what,
                    format!("mask {t} is {:?}; expected {b} x 1 or {b} x {d}", m.dim()),
                ));
            }
            if let Some(v) = m.iter().find(|&&v| v != 0.0 && v != 1.0) {
                return Err(Error::config(what, format!("mask {t} holds {v}; masks are 0/1")));
            }
            // Observed entries only: what an unobserved one holds is never read as data.
            let observed = m.broadcast(x.dim()).expect("checked: B x 1 or B x D").to_owned();
            require_finite(|| format!("SeqBatch::new step {t}"), x, Some(&observed))?;
        }
        Ok(Self::assemble(steps, masks, (0..b).collect()))
    }

    /// A batch in which every entry of every step is observed.
    pub fn fully_observed(steps: Vec<Array2<f64>>) -> Result<Self> {
        let b = steps.first().map_or(0, Array2::nrows);
        let masks = vec![Array2::ones((b, 1)); steps.len()];
        Self::new(steps, masks)
    }

    /// Derives the step masks and lengths of checked parts.
    pub(crate) fn assemble(steps: Vec<Array2<f64>>, masks: Vec<Array2<f64>>, indices: Vec<usize>) -> Self {
        let present: Vec<Array2<f64>> = masks.iter().map(any_observed).collect();
        let lengths =
            (0..indices.len()).map(|i| present.iter().filter(|m| m[(i, 0)] != 0.0).count()).collect();
        SeqBatch { steps, masks, present, lengths, indices }
    }

    /// Number of sequences `B`.
    pub fn batch_size(&self) -> usize {
        self.indices.len()
    }

    /// Number of (padded) time steps `T`.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether the batch has no time steps (never true for a built batch).
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Number of features `D`.
    pub fn dim(&self) -> usize {
        self.steps[0].ncols()
    }

    /// The values, `T` matrices of `B x D`.
    pub fn steps(&self) -> &[Array2<f64>] {
        &self.steps
    }

    /// The observation masks, `T` matrices of `B x 1` or `B x D`.
    pub fn masks(&self) -> &[Array2<f64>] {
        &self.masks
    }

    /// The step masks, `T` matrices of `B x 1`: 1 where a row's step is present.
    pub fn step_masks(&self) -> &[Array2<f64>] {
        &self.present
    }

    /// Number of present steps of each sequence.
    pub fn lengths(&self) -> &[usize] {
        &self.lengths
    }

    /// Which examples of the data set the rows are.
    pub fn indices(&self) -> &[usize] {
        &self.indices
    }

    /// The steps in time order, each with its masks.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = SeqStep<'_>> {
        (0..self.len()).map(|t| SeqStep {
            x: &self.steps[t],
            mask: &self.masks[t],
            present: &self.present[t],
        })
    }

    /// Fails unless the steps have `dim` features: the check a model makes on entry.
    pub fn expect_dim(&self, what: &'static str, dim: usize) -> Result<()> {
        if self.dim() != dim {
            return Err(Error::config(
                what,
                format!("the model expects {dim} features per step, got {}", self.dim()),
            ));
        }
        Ok(())
    }

    /// Every row repeated `k` times as row blocks (row `j B + b` is row `b`): `K`
    /// particles of every sequence, run as one batch of `K B` rows.
    pub fn repeat(&self, k: usize) -> Result<Self> {
        if k == 0 {
            return Err(Error::config("SeqBatch::repeat", "needs at least one copy"));
        }
        let rep = |v: &[Array2<f64>]| v.iter().map(|a| repeat_rows(a, k)).collect();
        let indices = (0..k).flat_map(|_| self.indices.iter().copied()).collect();
        Ok(Self::assemble(rep(&self.steps), rep(&self.masks), indices))
    }
}

impl Shard for SeqBatch {
    fn rows(&self) -> usize {
        self.batch_size()
    }

    fn split(&self, parts: usize) -> Vec<Self> {
        shard_ranges(self.rows(), parts)
            .into_iter()
            .map(|r| {
                // Each shard is padded only to its own last present step.
                let extent = (0..self.len())
                    .rev()
                    .find(|&t| self.present[t].slice(s![r.clone(), ..]).iter().any(|&m| m != 0.0))
                    .map_or(1, |t| t + 1);
                let cut = |v: &[Array2<f64>]| {
                    v[..extent].iter().map(|a| a.slice(s![r.clone(), ..]).to_owned()).collect()
                };
                Self::assemble(cut(&self.steps), cut(&self.masks), self.indices[r.clone()].to_vec())
            })
            .collect()
    }
}

/// The `B x 1` step mask of an observation mask: 1 where any entry of the row is 1.
pub(crate) fn any_observed(m: &Array2<f64>) -> Array2<f64> {
    if m.ncols() == 1 {
        return m.clone();
    }
    m.map_axis(Axis(1), |r| if r.iter().any(|&v| v != 0.0) { 1.0 } else { 0.0 }).insert_axis(Axis(1))
}

/// The rows of `a` repeated `k` times as blocks (row `j B + b` is row `b`).
pub fn repeat_rows(a: &Array2<f64>, k: usize) -> Array2<f64> {
    let views: Vec<_> = (0..k).map(|_| a.view()).collect();
    ndarray::concatenate(Axis(0), &views).expect("copies of one array share their width")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn step_masks_and_lengths_are_derived_once_from_wide_masks() {
        let xs = vec![array![[1.0, 2.0], [3.0, 4.0]], array![[5.0, 0.0], [0.0, 0.0]]];
        let masks = vec![array![[1.0, 1.0], [1.0, 0.0]], array![[1.0, 0.0], [0.0, 0.0]]];
        let batch = SeqBatch::new(xs, masks).unwrap();
        assert_eq!(batch.step_masks(), [array![[1.0], [1.0]], array![[1.0], [0.0]]]);
        assert_eq!(batch.lengths(), [2, 1]);
        let shards = batch.split(2);
        assert_eq!(shards[1].len(), 1, "the second row ends after one step, so its shard does too");
        assert_eq!(shards[1].indices(), [1]);
        let rep = batch.repeat(2).unwrap();
        assert_eq!((rep.batch_size(), rep.lengths()), (4, &[2, 1, 2, 1][..]));
    }

    #[test]
    fn bad_batches_name_the_step() {
        let err =
            SeqBatch::new(vec![Array2::zeros((2, 3)), Array2::zeros((1, 3))], vec![Array2::ones((2, 1)); 2])
                .unwrap_err();
        assert!(err.to_string().contains("step 1 is (1, 3)"), "{err}");
        let err = SeqBatch::new(vec![Array2::zeros((2, 3))], vec![array![[1.0], [0.5]]]).unwrap_err();
        assert!(err.to_string().contains("mask 0 holds 0.5"), "{err}");
        let err = SeqBatch::new(vec![Array2::zeros((2, 3))], vec![Array2::ones((2, 2))]).unwrap_err();
        assert!(err.to_string().contains("expected 2 x 1 or 2 x 3"), "{err}");
        assert!(SeqBatch::new(vec![], vec![]).is_err());
        assert!(SeqBatch::fully_observed(vec![Array2::zeros((2, 1))]).unwrap().repeat(0).is_err());
    }
}
