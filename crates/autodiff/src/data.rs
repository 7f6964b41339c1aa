//! What a data set and a mini-batch are, so that models and training loops agree.
//!
//! A [`Dataset`] gathers examples into batches; a [`Shard`] is a batch that can be
//! cut into consecutive pieces for data-parallel gradients. The traits live here,
//! in the crate every other crate sees, so that a model crate can own its batch type
//! and any training loop can consume it.
//!
//! [`Rows`] is the layout of i.i.d. examples: one row per example in one or more
//! aligned arrays (inputs, targets, ...), batched as a [`RowBatch`].
//!
//! Batches are drawn by [`Dataset::batches`]: the order of examples is a fresh
//! permutation per call, drawn from the caller's seeded [`ChaCha8Rng`], so a run is
//! reproducible from its seed and a checkpointed RNG resumes the same order.
//!
//! ```
//! use autodiff::data::{Dataset, Rows, Shard};
//! use ndarray::Array2;
//! use rand::SeedableRng;
//!
//! let x = Array2::from_shape_fn((10, 2), |(i, j)| (i + j) as f64);
//! let data = Rows::new(vec![x])?;
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
//! let sizes: Vec<usize> = data.batches(4, true, &mut rng)?.map(|b| b.rows()).collect();
//! assert_eq!(sizes, [4, 4, 2]);
//! # Ok::<(), autodiff::Error>(())
//! ```

use crate::finite::{first_non_finite, first_non_finite_observed};
use crate::{Error, Result};
use ndarray::{Array2, Axis, s};
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use std::ops::Range;

/// A collection of examples that can be gathered into batches.
pub trait Dataset: Sync {
    /// What one mini-batch looks like.
    type Batch: Shard + Send + Sync;
    /// Number of examples.
    fn len(&self) -> usize;
    /// Whether there are no examples (never true for the validated constructors).
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The batch of the examples at `indices`, in that order.
    ///
    /// # Panics
    /// If an index is not below [`len`](Dataset::len): the orders of [`batch_order`]
    /// and [`bucketed_batch_order`] never hold one. To select examples by indices from
    /// elsewhere, use a data set's `subset`, which returns [`Error::Index`] instead.
    fn batch(&self, indices: &[usize]) -> Self::Batch;
    /// The length of every example, for data sets of variable-length examples that a
    /// batch pads to its longest member (sequences); `None` (the default) when every
    /// example costs the same. [`bucketed_batch_order`] reads it.
    fn lengths(&self) -> Option<Vec<usize>> {
        None
    }
    /// The most examples a batch of this data set may hold, if there is a limit (a
    /// data set of stream chunks makes batches of one chunk); a training loop refuses
    /// a larger batch size before it starts. `None` (the default): no limit.
    fn max_batch_size(&self) -> Option<usize> {
        None
    }

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
        return Err(Error::Data { what: "batches".into(), reason: "the batch size must be positive".into() });
    }
    if n == 0 {
        return Err(Error::Data { what: "batches".into(), reason: "the data set is empty".into() });
    }
    let mut order: Vec<usize> = (0..n).collect();
    if shuffle {
        order.shuffle(rng);
    }
    Ok(order.chunks(size).map(<[usize]>::to_vec).collect())
}

/// The example indices of each batch of one epoch, grouped by length (bucketing, as
/// PyTorch users do with a length-grouped sampler): the examples are shuffled, sorted
/// by `lengths` (stably, so equal lengths keep their shuffled order), cut into batches
/// of `size`, and the batches shuffled. Every batch then holds examples of similar
/// lengths, so little of it is padding, and each epoch still draws a fresh order
/// from `rng`. Batches of the longest examples are as large as any other.
pub fn bucketed_batch_order(lengths: &[usize], size: usize, rng: &mut ChaCha8Rng) -> Result<Vec<Vec<usize>>> {
    if size == 0 {
        return Err(Error::Data { what: "batches".into(), reason: "the batch size must be positive".into() });
    }
    // Every example in one shuffled batch (an empty data set is `batch_order`'s error).
    let mut order = batch_order(lengths.len(), lengths.len().max(1), true, rng)?.concat();
    order.sort_by_key(|&i| lengths[i]);
    let mut batches: Vec<Vec<usize>> = order.chunks(size).map(<[usize]>::to_vec).collect();
    batches.shuffle(rng);
    Ok(batches)
}

/// The padded steps over the real steps of `batches` of examples of `lengths`: how
/// much of the work is padding when each batch is padded to its longest member (1 is
/// none). An example index past `lengths` is [`Error::Index`].
pub fn padding_ratio(lengths: &[usize], batches: &[Vec<usize>]) -> Result<f64> {
    for batch in batches {
        check_indices("padding_ratio", batch, lengths.len())?;
    }
    let padded: usize =
        batches.iter().map(|b| b.len() * b.iter().map(|&i| lengths[i]).max().unwrap_or(0)).sum();
    let real: usize = batches.iter().flatten().map(|&i| lengths[i]).sum();
    Ok(padded as f64 / real.max(1) as f64)
}

/// Row ranges of `n` rows cut into at most `parts` pieces whose sizes differ by at
/// most 1: the cut every [`Shard::split`] of this workspace makes.
pub fn shard_ranges(n: usize, parts: usize) -> Vec<Range<usize>> {
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

/// Fails with [`Error::Index`] naming `op` at the first of `indices` that is not
/// below `len` (for `subset` and other selections of examples by index).
pub fn check_indices(op: &'static str, indices: &[usize], len: usize) -> Result<()> {
    match indices.iter().find(|&&i| i >= len) {
        Some(&index) => Err(Error::Index { op, index, len }),
        None => Ok(()),
    }
}

/// Fails on the first NaN or infinity of `a` (among the entries where `mask` is
/// non-zero, when given), naming `what`, the row and the column.
///
/// # Panics
/// If `mask` is given and does not broadcast to `a`'s shape (callers check shapes
/// first).
pub fn require_finite(
    what: impl FnOnce() -> String,
    a: &Array2<f64>,
    mask: Option<&Array2<f64>>,
) -> Result<()> {
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
        let invalid = |reason: String| Err(Error::Data { what: "Rows::new".into(), reason });
        let Some(n) = arrays.first().map(Array2::nrows) else {
            return invalid("no arrays".into());
        };
        if n == 0 {
            return invalid("the arrays have no rows".into());
        }
        for (k, a) in arrays.iter().enumerate() {
            if a.nrows() != n {
                return invalid(format!("array 0 has {n} rows but array {k} has {}", a.nrows()));
            }
            require_finite(|| format!("Rows::new array {k}"), a, None)?;
        }
        Ok(Rows { arrays })
    }

    /// The arrays.
    pub fn arrays(&self) -> &[Array2<f64>] {
        &self.arrays
    }

    /// The examples at `indices` as a new data set (for splits); an index past the
    /// end is [`Error::Index`].
    pub fn subset(&self, indices: &[usize]) -> Result<Self> {
        check_indices("Rows::subset", indices, self.len())?;
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
    let invalid = |reason: String| Err(Error::Data { what: "split".into(), reason });
    let ok = |f: f64| (0.0..1.0).contains(&f);
    if !ok(val_frac) || !ok(test_frac) {
        return invalid(format!("fractions must be in [0, 1), got {val_frac} and {test_frac}"));
    }
    let n_val = (val_frac * n as f64).round() as usize;
    let n_test = (test_frac * n as f64).round() as usize;
    if n_val + n_test >= n {
        return invalid(format!("{n} examples leave none for training with {n_val} + {n_test} held out"));
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
    use ndarray::array;
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
        assert!(data.batches(0, false, &mut rng()).is_err());
    }

    #[test]
    fn bucketed_batches_partition_the_examples_by_length_and_cut_the_padding() {
        // 200 lengths from 1 to 100 in a scrambled order.
        let lengths: Vec<usize> = (0..200).map(|i| (i * 37) % 100 + 1).collect();
        let order = bucketed_batch_order(&lengths, 16, &mut rng()).unwrap();
        let mut seen: Vec<usize> = order.concat();
        seen.sort_unstable();
        assert_eq!(seen, (0..200).collect::<Vec<_>>(), "every example once");
        assert!(order.iter().all(|b| !b.is_empty() && b.len() <= 16));
        // Sorted then cut: a batch spans at most the lengths of 16 neighbours (8 here,
        // every length appearing twice), and consecutive batches are shuffled.
        for b in &order {
            let (lo, hi) =
                (b.iter().map(|&i| lengths[i]).min().unwrap(), b.iter().map(|&i| lengths[i]).max().unwrap());
            assert!(hi - lo <= 8, "{lo}..{hi}");
        }
        let firsts: Vec<usize> = order.iter().map(|b| lengths[b[0]]).collect();
        assert!(firsts.windows(2).any(|w| w[0] > w[1]), "batches not in length order");
        assert_eq!(order, bucketed_batch_order(&lengths, 16, &mut rng()).unwrap(), "reproducible");
        let plain = batch_order(200, 16, true, &mut rng()).unwrap();
        let (bucketed, shuffled) =
            (padding_ratio(&lengths, &order).unwrap(), padding_ratio(&lengths, &plain).unwrap());
        assert!(bucketed < 1.1 && shuffled > 1.5, "{bucketed} vs {shuffled}");
        assert_eq!(padding_ratio(&[3, 3], &[vec![0, 1]]), Ok(1.0));
        assert!(bucketed_batch_order(&lengths, 0, &mut rng()).is_err());
        assert!(bucketed_batch_order(&[], 4, &mut rng()).is_err());
    }

    #[test]
    fn row_errors_name_the_place() {
        let err = Rows::new(vec![Array2::zeros((3, 1)), Array2::zeros((2, 1))]).unwrap_err();
        assert!(err.to_string().contains("array 1 has 2"), "{err}");
        let err = Rows::new(vec![array![[1.0, 2.0], [3.0, f64::NAN]]]).unwrap_err();
        assert_eq!(err.to_string(), "Rows::new array 0: non-finite value NaN at row 1, column 1");
        assert!(Rows::new(vec![Array2::zeros((0, 2))]).unwrap_err().to_string().contains("no rows"));
        assert!(Rows::new(vec![]).unwrap_err().to_string().contains("no arrays"));
        let rows = Rows::new(vec![Array2::zeros((3, 1))]).unwrap();
        let err = rows.subset(&[0, 3]).unwrap_err();
        assert_eq!(err, Error::Index { op: "Rows::subset", index: 3, len: 3 });
        assert_eq!(err.to_string(), "Rows::subset: index 3 out of bounds for length 3");
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
