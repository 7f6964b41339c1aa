//! Irregularly sampled series: each with its own observation times, values and
//! per-dimension masks, and the batch a continuous-time model reads.
//!
//! A batch lays its rows on the sorted union of their observation times (Rubanova et
//! al. 2019, Sec. 3.4): step `j` of the batch is the union's `j`-th time, row `b`
//! holds its value there if it was observed then, and its mask says which
//! dimensions were. It is a [`SeqBatch`] on that grid plus the grid's times, so
//! everything the padded batch says about masks, present steps and shards holds here.

use super::SeqBatch;
use super::observed::keep_observed;
use crate::{Error, Result};
use autodiff::data::{Dataset, Shard, check_indices, shard_ranges};
use ndarray::{Array2, Axis};

/// One series: increasing `times` (`n`), `values` and 0/1 `masks` (`n x D`).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Observation times, strictly increasing.
    pub times: Vec<f64>,
    /// The values at those times (0 where unobserved).
    pub values: Array2<f64>,
    /// 1 where a value was observed.
    pub masks: Array2<f64>,
}

impl Series {
    /// A fully observed series.
    pub fn observed(times: Vec<f64>, values: Array2<f64>) -> Self {
        let masks = Array2::ones(values.dim());
        Series { times, values, masks }
    }

    /// The observations at the indices `keep` (sorted, distinct) only.
    pub fn subsample(&self, keep: &[usize]) -> Series {
        Series {
            times: keep.iter().map(|&k| self.times[k]).collect(),
            values: self.values.select(Axis(0), keep),
            masks: self.masks.select(Axis(0), keep),
        }
    }
}

/// A data set of irregularly sampled series of `D` dimensions.
#[derive(Debug, Clone, PartialEq)]
pub struct IrregularSeries {
    series: Vec<Series>,
}

impl IrregularSeries {
    /// Checks every series: at least one observation, finite strictly increasing
    /// times, `n x D` values and masks with the same `D` throughout, masks of 0 and 1,
    /// finite observed values. Unobserved values may be anything (NaN) and become 0.
    pub fn new(mut series: Vec<Series>) -> Result<Self> {
        let what = "IrregularSeries";
        let Some(dim) = series.first().map(|s| s.values.ncols()) else {
            return Err(Error::config(what, "no series"));
        };
        for (i, s) in series.iter_mut().enumerate() {
            let n = s.times.len();
            if n == 0 {
                return Err(Error::config(what, format!("series {i} has no observations")));
            }
            if s.values.dim() != (n, dim) || s.masks.dim() != (n, dim) {
                return Err(Error::config(
                    what,
                    format!(
                        "series {i}: {n} times need {n} x {dim} values and masks, got {:?} and {:?}",
                        s.values.dim(),
                        s.masks.dim()
                    ),
                ));
            }
            if let Some(k) = s.times.iter().position(|t| !t.is_finite()) {
                return Err(Error::config(what, format!("series {i}: time {k} is {}", s.times[k])));
            }
            if let Some(k) = s.times.windows(2).position(|w| w[1] <= w[0]) {
                return Err(Error::config(
                    what,
                    format!(
                        "series {i}: times not strictly increasing at {k}: {} then {}",
                        s.times[k],
                        s.times[k + 1]
                    ),
                ));
            }
            keep_observed(what, &format!("series {i}"), &mut s.values, &s.masks)?;
        }
        Ok(IrregularSeries { series })
    }

    /// Number of dimensions `D`.
    pub fn dim(&self) -> usize {
        self.series[0].values.ncols()
    }

    /// The series.
    pub fn series(&self) -> &[Series] {
        &self.series
    }

    /// The series at `indices` as a new data set (for splits); an index past the end
    /// is [`autodiff::Error::Index`].
    pub fn subset(&self, indices: &[usize]) -> Result<Self> {
        check_indices("IrregularSeries::subset", indices, self.series.len())?;
        IrregularSeries::new(indices.iter().map(|&i| self.series[i].clone()).collect())
    }
}

impl Dataset for IrregularSeries {
    type Batch = IrregularBatch;

    fn len(&self) -> usize {
        self.series.len()
    }

    fn batch(&self, indices: &[usize]) -> IrregularBatch {
        let rows: Vec<&Series> = indices.iter().map(|&i| &self.series[i]).collect();
        IrregularBatch::assemble(&rows, indices.to_vec())
    }
}

/// A batch of irregular series on the union of their times (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct IrregularBatch {
    times: Vec<f64>,
    grid: SeqBatch,
}

impl IrregularBatch {
    /// The batch of `series` (checked as [`IrregularSeries::new`] does); rows are
    /// examples `0..B`.
    pub fn new(series: Vec<Series>) -> Result<Self> {
        let data = IrregularSeries::new(series)?;
        Ok(data.batch(&(0..data.len()).collect::<Vec<_>>()))
    }

    /// Lays checked rows on the union of their times.
    fn assemble(rows: &[&Series], indices: Vec<usize>) -> Self {
        let mut times: Vec<f64> = rows.iter().flat_map(|s| s.times.iter().copied()).collect();
        times.sort_by(f64::total_cmp);
        times.dedup();
        let (b, d) = (rows.len(), rows[0].values.ncols());
        let mut steps = vec![Array2::zeros((b, d)); times.len()];
        let mut masks = vec![Array2::zeros((b, d)); times.len()];
        for (row, s) in rows.iter().enumerate() {
            for (k, t) in s.times.iter().enumerate() {
                let j = times.partition_point(|u| u < t);
                steps[j].row_mut(row).assign(&s.values.row(k));
                masks[j].row_mut(row).assign(&s.masks.row(k));
            }
        }
        IrregularBatch { times, grid: SeqBatch::assemble(steps, masks, indices) }
    }

    /// The union of the rows' observation times (`T`, increasing).
    pub fn times(&self) -> &[f64] {
        &self.times
    }

    /// The values and masks on the union grid (step `j` at `times()[j]`).
    pub fn grid(&self) -> &SeqBatch {
        &self.grid
    }

    /// Number of series `B`.
    pub fn batch_size(&self) -> usize {
        self.grid.batch_size()
    }

    /// Number of dimensions `D`.
    pub fn dim(&self) -> usize {
        self.grid.dim()
    }

    /// Number of observed entries (values), the weight of a per-value loss.
    pub fn observed_values(&self) -> usize {
        self.grid.masks().iter().map(|m| m.iter().filter(|&&v| v != 0.0).count()).sum()
    }

    /// What a recurrent reader sees at step `j`: `[x_j, m_j]` (`B x 2D`), the values
    /// and the per-dimension mask (masked dimensions are fed as the reference code
    /// does: value 0 and mask 0).
    pub fn observation(&self, j: usize) -> Array2<f64> {
        let (b, d) = (self.batch_size(), self.dim());
        let mask = &self.grid.masks()[j];
        let mask = mask.broadcast((b, d)).expect("a mask is B x 1 or B x D");
        ndarray::concatenate(Axis(1), &[self.grid.steps()[j].view(), mask]).expect("B rows each")
    }

    /// Each row's last observed step (an index into [`times`](IrregularBatch::times)),
    /// `None` for a row with no observed step.
    pub fn last_steps(&self) -> Vec<Option<usize>> {
        let present = self.grid.step_masks();
        (0..self.batch_size())
            .map(|r| (0..present.len()).rev().find(|&j| present[j][(r, 0)] != 0.0))
            .collect()
    }

    /// Row `b` as a series: its own times, values and masks.
    pub fn row(&self, b: usize) -> Series {
        let present: Vec<usize> =
            (0..self.times.len()).filter(|&j| self.grid.step_masks()[j][(b, 0)] != 0.0).collect();
        let d = self.dim();
        let pick = |v: &[Array2<f64>]| {
            Array2::from_shape_fn((present.len(), d), |(k, c)| {
                let m = &v[present[k]];
                if m.ncols() == 1 { m[(b, 0)] } else { m[(b, c)] }
            })
        };
        Series {
            times: present.iter().map(|&j| self.times[j]).collect(),
            values: pick(self.grid.steps()),
            masks: pick(self.grid.masks()),
        }
    }

    /// The same rows with only their observations strictly before `t`: what a model
    /// conditions on when it is asked to predict from `t` on (extrapolation). An
    /// error names the first row left with no observation.
    pub fn before(&self, t: f64) -> Result<Self> {
        self.keep("IrregularBatch::before", |u| u < t, &format!("before t = {t}"))
    }

    /// The same rows with only their observations at `t` or later: what is left to
    /// predict after conditioning on [`before`](IrregularBatch::before)`(t)`.
    pub fn since(&self, t: f64) -> Result<Self> {
        self.keep("IrregularBatch::since", |u| u >= t, &format!("from t = {t} on"))
    }

    /// The rows' observations at the times `wanted` accepts; `what` and `which`
    /// name the caller and the times in the error for a row left empty.
    fn keep(&self, what: &'static str, wanted: impl Fn(f64) -> bool, which: &str) -> Result<Self> {
        let rows: Vec<Series> = (0..self.batch_size())
            .map(|b| {
                let row = self.row(b);
                let keep: Vec<usize> = (0..row.times.len()).filter(|&k| wanted(row.times[k])).collect();
                if keep.is_empty() {
                    return Err(Error::config(what, format!("row {b} has no observation {which}")));
                }
                Ok(row.subsample(&keep))
            })
            .collect::<Result<_>>()?;
        let refs: Vec<&Series> = rows.iter().collect();
        Ok(IrregularBatch::assemble(&refs, self.grid.indices().to_vec()))
    }
}

impl Shard for IrregularBatch {
    fn rows(&self) -> usize {
        self.batch_size()
    }

    /// Each shard on the union of its own rows' times only.
    fn split(&self, parts: usize) -> Vec<Self> {
        shard_ranges(self.rows(), parts)
            .into_iter()
            .map(|r| {
                let rows: Vec<Series> = r.clone().map(|b| self.row(b)).collect();
                let refs: Vec<&Series> = rows.iter().collect();
                IrregularBatch::assemble(&refs, self.grid.indices()[r].to_vec())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn two() -> Vec<Series> {
        vec![
            Series {
                times: vec![0.0, 0.5, 2.0],
                values: array![[1.0, 2.0], [3.0, f64::NAN], [5.0, 6.0]],
                masks: array![[1.0, 1.0], [1.0, 0.0], [1.0, 1.0]],
            },
            Series::observed(vec![0.5, 1.0], array![[7.0, 8.0], [9.0, 10.0]]),
        ]
    }

    #[test]
    fn rows_sit_on_the_union_of_their_times_and_come_back_out() {
        let batch = IrregularBatch::new(two()).unwrap();
        assert_eq!(batch.times(), [0.0, 0.5, 1.0, 2.0]);
        assert_eq!(batch.grid().steps()[1], array![[3.0, 0.0], [7.0, 8.0]]);
        assert_eq!(batch.grid().step_masks()[2], array![[0.0], [1.0]]);
        assert_eq!(batch.grid().lengths(), [3, 2]);
        assert_eq!(batch.last_steps(), [Some(3), Some(2)]);
        assert_eq!(batch.observed_values(), 5 + 4);
        let back = batch.row(0);
        assert_eq!(back.times, [0.0, 0.5, 2.0]);
        assert_eq!(back.values, array![[1.0, 2.0], [3.0, 0.0], [5.0, 6.0]]);
        let shards = batch.split(2);
        assert_eq!(shards[1].times(), [0.5, 1.0], "a shard keeps only its rows' times");
        assert_eq!(shards[1].grid().indices(), [1]);
        let prefix = batch.before(1.0).unwrap();
        assert_eq!(prefix.times(), [0.0, 0.5]);
        assert_eq!(prefix.row(0).times, [0.0, 0.5]);
        assert_eq!(prefix.row(1).values, array![[7.0, 8.0]]);
        assert_eq!(prefix.grid().indices(), batch.grid().indices());
        let err = batch.before(0.5).unwrap_err().to_string();
        assert!(err.contains("row 1 has no observation before t = 0.5"), "{err}");
        let rest = batch.since(1.0).unwrap();
        assert_eq!(rest.times(), [1.0, 2.0]);
        assert_eq!(rest.row(0).values, array![[5.0, 6.0]]);
        let err = batch.since(1.5).unwrap_err().to_string();
        assert!(err.contains("row 1 has no observation from t = 1.5 on"), "{err}");
    }

    #[test]
    fn bad_series_name_the_series_and_the_place() {
        let mut s = two();
        s[1].times = vec![0.5, 0.5];
        let err = IrregularSeries::new(s).unwrap_err();
        assert!(err.to_string().contains("series 1: times not strictly increasing at 0"), "{err}");
        let mut s = two();
        s[0].values[[2, 1]] = f64::INFINITY;
        let err = IrregularSeries::new(s).unwrap_err();
        assert_eq!(err.to_string(), "series 0: non-finite value inf at row 2, column 1");
        let mut s = two();
        s[1].masks[[0, 0]] = 0.5;
        assert!(IrregularSeries::new(s).unwrap_err().to_string().contains("holds 0.5"));
        assert!(IrregularSeries::new(vec![]).is_err());
    }
}
