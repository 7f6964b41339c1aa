//! In-memory data sets, shuffled mini-batches and train/validation/test splits.
//!
//! Two layouts cover the models of this workspace:
//!
//! * [`Rows`]: i.i.d. examples, one row per example, in one or more aligned arrays
//!   (inputs, targets, ...). A [`RowBatch`] holds the same arrays restricted to the
//!   batch's rows.
//! * [`Sequences`]: variable-length sequences, each a `T_i x D` array (row = time
//!   step), with an optional 0/1 observation mask of the same shape. A [`SeqBatch`]
//!   is **time-major**: `steps[t]` is the `B x D` matrix of every sequence's value at
//!   step `t` (row `b` = the batch's `b`-th sequence), padded with zeros after a
//!   sequence ends, and `masks[t]` is `B x D` with 1 where the value is observed.
//!   This is the shape a recurrent cell consumes: one `B x D` input per step.
//!
//! Batches are drawn by [`Dataset::batches`]: the order of examples is a fresh
//! permutation per call, drawn from the caller's seeded [`ChaCha8Rng`], so a run is
//! reproducible from its seed and a checkpointed RNG resumes the same order.

use crate::{Error, Result};
use autodiff::finite::{first_non_finite, first_non_finite_observed};
use autodiff::ndarray::{Array2, Axis, s};
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// A collection of examples that can be gathered into batches.
pub trait Dataset: Sync {
    /// What one mini-batch looks like.
    type Batch: Shard + Send + Sync;
    /// Number of examples.
    fn len(&self) -> usize;
    /// Whether there are no examples (never true for the constructors of this crate).
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The batch of the examples at `indices`, in that order.
    fn batch(&self, indices: &[usize]) -> Self::Batch;

    /// The mini-batches of one epoch: `ceil(len / size)` batches (the last may be
    /// smaller), in a random order from `rng` when `shuffle`, else in order.
    fn batches<'d>(
        &'d self,
        size: usize,
        shuffle: bool,
        rng: &mut ChaCha8Rng,
    ) -> Result<impl ExactSizeIterator<Item = Self::Batch> + 'd> {
        let order = batch_order(self.len(), size, shuffle, rng)?;
        Ok(order.into_iter().map(move |idx| self.batch(&idx)))
    }
}

/// A batch that can be cut into shards for data-parallel gradients.
pub trait Shard: Sized {
    /// Number of examples in the batch.
    fn rows(&self) -> usize;
    /// Up to `parts` non-empty consecutive pieces covering every example once, in order.
    fn split(&self, parts: usize) -> Vec<Self>;
}

/// The example indices of each batch of one epoch.
pub fn batch_order(n: usize, size: usize, shuffle: bool, rng: &mut ChaCha8Rng) -> Result<Vec<Vec<usize>>> {
    if size == 0 {
        return Err(Error::config("batch size", "must be positive"));
    }
    if n == 0 {
        return Err(Error::Empty { what: "batches".into() });
    }
    let mut order: Vec<usize> = (0..n).collect();
    if shuffle {
        order.shuffle(rng);
    }
    Ok(order.chunks(size).map(<[usize]>::to_vec).collect())
}

/// Row ranges of `n` rows cut into at most `parts` pieces whose sizes differ by at most 1.
pub(crate) fn shard_ranges(n: usize, parts: usize) -> Vec<std::ops::Range<usize>> {
    let parts = parts.clamp(1, n.max(1));
    let (q, r) = (n / parts, n % parts);
    let mut start = 0;
    (0..parts)
        .map(|k| {
            let len = q + usize::from(k < r);
            start += len;
            start - len..start
        })
        .filter(|range| !range.is_empty())
        .collect()
}

/// Fails on the first NaN or infinity, naming `what`, the row and the column.
fn check_finite(what: &dyn Fn() -> String, a: &Array2<f64>, mask: Option<&Array2<f64>>) -> Result<()> {
    let bad = match mask {
        Some(m) => first_non_finite_observed(a, m),
        None => first_non_finite(a),
    };
    match bad {
        Some(((row, col), value)) => Err(Error::NonFiniteData { what: what(), row, col, value }),
        None => Ok(()),
    }
}

/// I.i.d. examples: aligned arrays with one row per example.
#[derive(Debug, Clone, PartialEq)]
pub struct Rows {
    arrays: Vec<Array2<f64>>,
}

/// A mini-batch of [`Rows`]: each array restricted to the batch's rows.
#[derive(Debug, Clone, PartialEq)]
pub struct RowBatch {
    /// The arrays, in the order given to [`Rows::new`], each `B x width`.
    pub arrays: Vec<Array2<f64>>,
    /// Which examples of the data set the rows are.
    pub indices: Vec<usize>,
}

impl Rows {
    /// Aligned arrays (e.g. `vec![x, y]`); all must have the same, positive number of
    /// rows and only finite values.
    pub fn new(arrays: Vec<Array2<f64>>) -> Result<Self> {
        let Some(n) = arrays.first().map(Array2::nrows) else {
            return Err(Error::Empty { what: "Rows::new (no arrays)".into() });
        };
        if n == 0 {
            return Err(Error::Empty { what: "Rows::new".into() });
        }
        for (k, a) in arrays.iter().enumerate() {
            if a.nrows() != n {
                return Err(Error::Mismatch {
                    what: "Rows::new".into(),
                    reason: format!("array 0 has {n} rows but array {k} has {}", a.nrows()),
                });
            }
            check_finite(&|| format!("Rows::new array {k}"), a, None)?;
        }
        Ok(Rows { arrays })
    }

    /// The arrays.
    pub fn arrays(&self) -> &[Array2<f64>] {
        &self.arrays
    }

    /// The examples at `indices` as a new data set (for splits).
    pub fn subset(&self, indices: &[usize]) -> Result<Self> {
        Rows::new(self.batch(indices).arrays)
    }
}

impl Dataset for Rows {
    type Batch = RowBatch;

    fn len(&self) -> usize {
        self.arrays[0].nrows()
    }
    fn batch(&self, indices: &[usize]) -> RowBatch {
        RowBatch {
            arrays: self.arrays.iter().map(|a| a.select(Axis(0), indices)).collect(),
            indices: indices.to_vec(),
        }
    }
}

impl Shard for RowBatch {
    fn rows(&self) -> usize {
        self.indices.len()
    }
    fn split(&self, parts: usize) -> Vec<Self> {
        shard_ranges(self.rows(), parts)
            .into_iter()
            .map(|r| RowBatch {
                arrays: self.arrays.iter().map(|a| a.slice(s![r.clone(), ..]).to_owned()).collect(),
                indices: self.indices[r].to_vec(),
            })
            .collect()
    }
}

/// Variable-length sequences of `D`-dimensional observations (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct Sequences {
    values: Vec<Array2<f64>>,
    masks: Option<Vec<Array2<f64>>>,
}

/// A time-major, zero-padded mini-batch of [`Sequences`] (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct SeqBatch {
    /// `steps[t]` is `B x D`: every sequence's value at time step `t` (0 after its end
    /// and where unobserved).
    pub steps: Vec<Array2<f64>>,
    /// `masks[t]` is `B x D`: 1 where `steps[t]` holds an observed value, else 0.
    pub masks: Vec<Array2<f64>>,
    /// Length of each sequence of the batch.
    pub lengths: Vec<usize>,
    /// Which sequences of the data set the rows are.
    pub indices: Vec<usize>,
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
        let Some(dim) = values.first().map(Array2::ncols) else {
            return Err(Error::Empty { what: "Sequences::new".into() });
        };
        let mismatch = |reason: String| Err(Error::Mismatch { what: "Sequences".into(), reason });
        if let Some(m) = &masks
            && m.len() != values.len()
        {
            return mismatch(format!("{} sequences but {} masks", values.len(), m.len()));
        }
        for (i, v) in values.iter_mut().enumerate() {
            if v.nrows() == 0 {
                return mismatch(format!("sequence {i} has no time steps"));
            }
            if v.ncols() != dim {
                return mismatch(format!("sequence 0 has {dim} features but sequence {i} has {}", v.ncols()));
            }
            let mask = masks.as_ref().map(|m| &m[i]);
            if let Some(m) = mask {
                if m.dim() != v.dim() {
                    return mismatch(format!("sequence {i} is {:?} but its mask is {:?}", v.dim(), m.dim()));
                }
                if let Some(((r, c), x)) = m.indexed_iter().find(|(_, x)| **x != 0.0 && **x != 1.0) {
                    return mismatch(format!("mask of sequence {i} holds {x} at ({r}, {c}); masks are 0/1"));
                }
            }
            check_finite(&|| format!("sequence {i}"), v, mask)?;
            if let Some(m) = mask {
                v.zip_mut_with(m, |x, &m| *x = if m == 0.0 { 0.0 } else { *x });
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

    /// The sequences at `indices` as a new data set (for splits).
    pub fn subset(&self, indices: &[usize]) -> Result<Self> {
        let pick = |v: &Vec<Array2<f64>>| indices.iter().map(|&i| v[i].clone()).collect::<Vec<_>>();
        Self::build(pick(&self.values), self.masks.as_ref().map(pick))
    }
}

impl Dataset for Sequences {
    type Batch = SeqBatch;

    fn len(&self) -> usize {
        self.values.len()
    }

    fn batch(&self, indices: &[usize]) -> SeqBatch {
        let lengths: Vec<usize> = indices.iter().map(|&i| self.values[i].nrows()).collect();
        let t_max = lengths.iter().copied().max().unwrap_or(0);
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
        SeqBatch { steps, masks, lengths, indices: indices.to_vec() }
    }
}

impl Shard for SeqBatch {
    fn rows(&self) -> usize {
        self.lengths.len()
    }
    fn split(&self, parts: usize) -> Vec<Self> {
        shard_ranges(self.rows(), parts)
            .into_iter()
            .map(|r| {
                // Each shard is padded only to its own longest sequence.
                let t_max = self.lengths[r.clone()].iter().copied().max().unwrap_or(0);
                let cut = |v: &Vec<Array2<f64>>| {
                    v[..t_max].iter().map(|a| a.slice(s![r.clone(), ..]).to_owned()).collect()
                };
                SeqBatch {
                    steps: cut(&self.steps),
                    masks: cut(&self.masks),
                    lengths: self.lengths[r.clone()].to_vec(),
                    indices: self.indices[r].to_vec(),
                }
            })
            .collect()
    }
}

/// Example indices of a train/validation/test split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Training examples.
    pub train: Vec<usize>,
    /// Validation examples.
    pub val: Vec<usize>,
    /// Test examples.
    pub test: Vec<usize>,
}

/// A random split of `n` examples: `round(val_frac n)` for validation,
/// `round(test_frac n)` for test, the rest for training (each list sorted).
/// Fractions must be in `[0, 1)` and leave at least one training example.
pub fn split(n: usize, val_frac: f64, test_frac: f64, rng: &mut ChaCha8Rng) -> Result<Split> {
    let ok = |f: f64| (0.0..1.0).contains(&f);
    if !ok(val_frac) || !ok(test_frac) {
        return Err(Error::config(
            "split",
            format!("fractions must be in [0, 1), got {val_frac} and {test_frac}"),
        ));
    }
    let n_val = (val_frac * n as f64).round() as usize;
    let n_test = (test_frac * n as f64).round() as usize;
    if n_val + n_test >= n {
        return Err(Error::config(
            "split",
            format!("{n} examples leave none for training with {n_val} + {n_test} held out"),
        ));
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(rng);
    let sorted = |s: &[usize]| {
        let mut v = s.to_vec();
        v.sort_unstable();
        v
    };
    Ok(Split {
        val: sorted(&order[..n_val]),
        test: sorted(&order[n_val..n_val + n_test]),
        train: sorted(&order[n_val + n_test..]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use autodiff::ndarray::array;
    use rand::SeedableRng;

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(7)
    }

    #[test]
    fn row_batches_cover_every_example_once_and_shuffle_reproducibly() {
        let x = Array2::from_shape_fn((10, 2), |(i, j)| (10 * i + j) as f64);
        let y = Array2::from_shape_fn((10, 1), |(i, _)| i as f64);
        let data = Rows::new(vec![x, y]).unwrap();
        let batches: Vec<RowBatch> = data.batches(4, true, &mut rng()).unwrap().collect();
        assert_eq!(batches.iter().map(Shard::rows).collect::<Vec<_>>(), [4, 4, 2]);
        let mut seen: Vec<usize> = batches.iter().flat_map(|b| b.indices.clone()).collect();
        assert_ne!(seen, (0..10).collect::<Vec<_>>(), "shuffled");
        for b in &batches {
            // Row k of every array belongs to example indices[k].
            for (k, &i) in b.indices.iter().enumerate() {
                assert_eq!(b.arrays[0][(k, 1)], (10 * i + 1) as f64);
                assert_eq!(b.arrays[1][(k, 0)], i as f64);
            }
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
        let again: Vec<RowBatch> = data.batches(4, true, &mut rng()).unwrap().collect();
        assert_eq!(batches, again);
    }

    #[test]
    fn row_errors_name_the_place() {
        let err = Rows::new(vec![Array2::zeros((3, 1)), Array2::zeros((2, 1))]).unwrap_err();
        assert!(err.to_string().contains("array 1 has 2"), "{err}");
        let err = Rows::new(vec![array![[1.0, 2.0], [3.0, f64::NAN]]]).unwrap_err();
        assert_eq!(err.to_string(), "Rows::new array 0: non-finite value NaN at row 1, column 1");
        assert!(matches!(Rows::new(vec![Array2::zeros((0, 2))]), Err(Error::Empty { .. })));
        assert!(matches!(Rows::new(vec![]), Err(Error::Empty { .. })));
    }

    #[test]
    fn sequence_batches_are_time_major_padded_and_masked() {
        let a = array![[1.0], [2.0], [3.0]];
        let b = array![[10.0]];
        let c = array![[5.0], [f64::NAN]];
        let masks = vec![Array2::ones((3, 1)), Array2::ones((1, 1)), array![[1.0], [0.0]]];
        let data = Sequences::with_masks(vec![a, b, c], masks).unwrap();
        let batch = data.batch(&[1, 0, 2]);
        assert_eq!(batch.lengths, [1, 3, 2]);
        assert_eq!(batch.steps.len(), 3);
        // Step t, row r = sequence indices[r] at time t; padding and missing values are 0.
        assert_eq!(batch.steps[0], array![[10.0], [1.0], [5.0]]);
        assert_eq!(batch.steps[1], array![[0.0], [2.0], [0.0]]);
        assert_eq!(batch.masks[1], array![[0.0], [1.0], [0.0]]);
        assert_eq!(batch.masks[2], array![[0.0], [1.0], [0.0]]);
        let shards = batch.split(2);
        assert_eq!(shards[0].indices, [1, 0]);
        // The second shard holds only sequence 2 (length 2): padded to 2 steps, not 3.
        assert_eq!(shards[1].steps, vec![array![[5.0]], array![[0.0]]]);
    }

    #[test]
    fn sequence_errors_name_the_sequence() {
        let err =
            Sequences::new(vec![array![[1.0, 2.0]], array![[0.0, 1.0], [f64::INFINITY, 0.0]]]).unwrap_err();
        assert_eq!(err.to_string(), "sequence 1: non-finite value inf at row 1, column 0");
        let err = Sequences::new(vec![array![[1.0, 2.0]], array![[1.0]]]).unwrap_err();
        assert!(err.to_string().contains("sequence 1 has 1"), "{err}");
        assert!(Sequences::new(vec![]).is_err());
    }

    #[test]
    fn splits_partition_the_indices() {
        let s = split(10, 0.2, 0.1, &mut rng()).unwrap();
        assert_eq!((s.train.len(), s.val.len(), s.test.len()), (7, 2, 1));
        let mut all: Vec<usize> = s.train.iter().chain(&s.val).chain(&s.test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert!(split(2, 0.5, 0.5, &mut rng()).is_err());
        assert_eq!(shard_ranges(5, 2), [0..3, 3..5]);
        assert_eq!(shard_ranges(1, 4), vec![0..1]);
    }
}
