//! [`Sequences`]: a data set of variable-length sequences, batched as [`SeqBatch`]es.

use super::SeqBatch;
use super::observed::keep_observed;
use crate::{Error, Result};
use autodiff::data::{Dataset, check_indices, require_finite};
use ndarray::Array2;

/// Variable-length sequences of `D`-dimensional observations, each a `T_i x D` array
/// (row = time step), with optional 0/1 observation masks of the same shapes.
#[derive(Debug, Clone, PartialEq)]
pub struct Sequences {
    values: Vec<Array2<f64>>,
    masks: Option<Vec<Array2<f64>>>,
}

impl Sequences {
    /// Fully observed sequences, each `T_i x D` with `T_i >= 1`, all with the same `D`
    /// and only finite values.
    pub fn new(values: Vec<Array2<f64>>) -> Result<Self> {
        Self::build(values, None)
    }

    /// Sequences with 0/1 observation masks of the same shapes. Values where the mask
    /// is 0 are ignored (they may be NaN, as missing values often are) and become 0.
    pub fn with_masks(values: Vec<Array2<f64>>, masks: Vec<Array2<f64>>) -> Result<Self> {
        Self::build(values, Some(masks))
    }

    fn build(mut values: Vec<Array2<f64>>, masks: Option<Vec<Array2<f64>>>) -> Result<Self> {
        let what = "Sequences";
        let Some(dim) = values.first().map(Array2::ncols) else {
            return Err(Error::config(what, "no sequences"));
        };
        if let Some(m) = &masks
            && m.len() != values.len()
        {
            return Err(Error::config(what, format!("{} sequences but {} masks", values.len(), m.len())));
        }
        for (i, v) in values.iter_mut().enumerate() {
            if v.nrows() == 0 {
                return Err(Error::config(what, format!("sequence {i} has no time steps")));
            }
            if v.ncols() != dim {
                return Err(Error::config(
                    what,
                    format!("sequence 0 has {dim} features but sequence {i} has {}", v.ncols()),
                ));
            }
            let mask = masks.as_ref().map(|m| &m[i]);
            if let Some(m) = mask {
                if m.dim() != v.dim() {
                    return Err(Error::config(
                        what,
                        format!("sequence {i} is {:?} but its mask is {:?}", v.dim(), m.dim()),
                    ));
                }
                keep_observed(what, &format!("sequence {i}"), v, m)?;
            } else {
                require_finite(|| format!("sequence {i}"), v, None)?;
            }
        }
        Ok(Sequences { values, masks })
    }

    /// Number of features `D`.
    pub fn dim(&self) -> usize {
        self.values[0].ncols()
    }

    /// The sequences, each `T_i x D` (unobserved entries set to 0).
    pub fn values(&self) -> &[Array2<f64>] {
        &self.values
    }

    /// The observation masks, if the sequences have any (`None`: fully observed).
    pub fn masks(&self) -> Option<&[Array2<f64>]> {
        self.masks.as_deref()
    }

    /// The sequences at `indices` as a new data set (for splits); an index past the
    /// end is [`autodiff::Error::Index`].
    pub fn subset(&self, indices: &[usize]) -> Result<Self> {
        check_indices("Sequences::subset", indices, self.values.len())?;
        let pick = |v: &Vec<Array2<f64>>| indices.iter().map(|&i| v[i].clone()).collect::<Vec<_>>();
        Self::build(pick(&self.values), self.masks.as_ref().map(pick))
    }
}

impl Dataset for Sequences {
    type Batch = SeqBatch;

    fn len(&self) -> usize {
        self.values.len()
    }

    fn lengths(&self) -> Option<Vec<usize>> {
        Some(self.values.iter().map(Array2::nrows).collect())
    }

    fn batch(&self, indices: &[usize]) -> SeqBatch {
        let t_max = indices.iter().map(|&i| self.values[i].nrows()).max().unwrap_or(0);
        let (b, d) = (indices.len(), self.dim());
        let mut steps = vec![Array2::zeros((b, d)); t_max];
        let mut masks = vec![Array2::zeros((b, d)); t_max];
        for (row, &i) in indices.iter().enumerate() {
            for (t, x) in self.values[i].outer_iter().enumerate() {
                steps[t].row_mut(row).assign(&x);
                match &self.masks {
                    Some(m) => masks[t].row_mut(row).assign(&m[i].row(t)),
                    None => masks[t].row_mut(row).fill(1.0),
                }
            }
        }
        // The constructor checked every value and mask that goes in.
        SeqBatch::assemble(steps, masks, indices.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use autodiff::data::Shard;
    use ndarray::array;

    #[test]
    fn sequence_batches_are_time_major_padded_and_masked() {
        let a = array![[1.0], [2.0], [3.0]];
        let b = array![[10.0]];
        let c = array![[5.0], [f64::NAN]];
        let masks = vec![Array2::ones((3, 1)), Array2::ones((1, 1)), array![[1.0], [0.0]]];
        let data = Sequences::with_masks(vec![a, b, c], masks).unwrap();
        let batch = data.batch(&[1, 0, 2]);
        // Sequence 2's second step is unobserved, so it has one present step.
        assert_eq!(batch.lengths(), [1, 3, 1]);
        assert_eq!(batch.len(), 3);
        // Step t, row r = sequence indices[r] at time t; padding and missing values are 0.
        assert_eq!(batch.steps()[0], array![[10.0], [1.0], [5.0]]);
        assert_eq!(batch.steps()[1], array![[0.0], [2.0], [0.0]]);
        assert_eq!(batch.masks()[1], array![[0.0], [1.0], [0.0]]);
        assert_eq!(batch.masks()[2], array![[0.0], [1.0], [0.0]]);
        let shards = batch.split(2);
        assert_eq!(shards[0].indices(), [1, 0]);
        // The second shard holds only sequence 2, present for one step: one step long.
        assert_eq!(shards[1].steps(), [array![[5.0]]]);
    }

    #[test]
    fn sequence_errors_name_the_sequence() {
        let err =
            Sequences::new(vec![array![[1.0, 2.0]], array![[0.0, 1.0], [f64::INFINITY, 0.0]]]).unwrap_err();
        assert_eq!(err.to_string(), "sequence 1: non-finite value inf at row 1, column 0");
        let err = Sequences::new(vec![array![[1.0, 2.0]], array![[1.0]]]).unwrap_err();
        assert!(err.to_string().contains("sequence 1 has 1"), "{err}");
        assert!(Sequences::new(vec![]).is_err());
        let err = Sequences::with_masks(vec![array![[1.0]]], vec![array![[2.0]]]).unwrap_err();
        assert!(err.to_string().contains("holds 2 at (0, 0)"), "{err}");
    }
}
