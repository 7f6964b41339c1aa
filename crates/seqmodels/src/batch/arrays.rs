//! Data sets as padded arrays by name: the layout NumPy and PyTorch users keep
//! (`np.savez(path, values=..., masks=..., lengths=...)`), so a data set moves to
//! and from a `.npz` file (`trainers::npy`) in one call each way.
//!
//! * `values`, `masks`: `N x T x D`, sequence `i` in rows `0..lengths[i]` of slab `i`,
//!   zeros after it (and where a mask is 0);
//! * `lengths`: `N`, each at least 1 and at most `T`;
//! * `times` (irregular series only): `N x T`, each row's observation times in its
//!   first `lengths[i]` entries.
//!
//! Reading checks every shape and length and names the array at fault; the values
//! then go through the data sets' own constructors, which check them.

use super::{IrregularSeries, Sequences, Series};
use crate::{Error, Result};
use ndarray::{Array2, Array3, ArrayD, Axis, Ix1, Ix2, Ix3, s};
use std::collections::BTreeMap;

/// Arrays by name, each of any rank (as `trainers::npy::read_npz` returns them).
pub type Arrays = BTreeMap<String, ArrayD<f64>>;

const WHAT: &str = "data set arrays";

fn get<'a>(arrays: &'a Arrays, name: &str) -> Result<&'a ArrayD<f64>> {
    arrays.get(name).ok_or_else(|| Error::config(WHAT, format!("no array `{name}`")))
}

fn with_rank<D: ndarray::Dimension>(arrays: &Arrays, name: &str) -> Result<ndarray::Array<f64, D>> {
    let a = get(arrays, name)?;
    a.clone().into_dimensionality::<D>().map_err(|_| {
        Error::config(
            WHAT,
            format!("`{name}` has shape {:?}, expected rank {}", a.shape(), D::NDIM.unwrap_or(0)),
        )
    })
}

/// `lengths` as counts between 1 and `t_max`, one per slab.
fn lengths(arrays: &Arrays, n: usize, t_max: usize) -> Result<Vec<usize>> {
    let raw = with_rank::<Ix1>(arrays, "lengths")?;
    if raw.len() != n {
        return Err(Error::config(WHAT, format!("`lengths` has {} entries for {n} sequences", raw.len())));
    }
    raw.iter()
        .enumerate()
        .map(|(i, &l)| {
            if l.fract() == 0.0 && (1.0..=t_max as f64).contains(&l) {
                Ok(l as usize)
            } else {
                Err(Error::config(
                    WHAT,
                    format!("`lengths[{i}]` is {l}; lengths are whole numbers in 1..={t_max}"),
                ))
            }
        })
        .collect()
}

/// `values` and `masks` (`N x T x D`, the same shape) and `lengths`, checked.
fn padded(arrays: &Arrays) -> Result<(Array3<f64>, Array3<f64>, Vec<usize>)> {
    let values = with_rank::<Ix3>(arrays, "values")?;
    let masks = with_rank::<Ix3>(arrays, "masks")?;
    if masks.dim() != values.dim() {
        return Err(Error::config(
            WHAT,
            format!("`masks` is {:?} but `values` is {:?}", masks.dim(), values.dim()),
        ));
    }
    let (n, t_max, _) = values.dim();
    Ok((values, masks, lengths(arrays, n, t_max)?))
}

/// Sequences of `T_i x D` blocks as one zero-padded `N x T x D` array.
fn pad(blocks: &[&Array2<f64>]) -> Array3<f64> {
    let t_max = blocks.iter().map(|b| b.nrows()).max().unwrap_or(0);
    let d = blocks.first().map_or(0, |b| b.ncols());
    let mut out = Array3::zeros((blocks.len(), t_max, d));
    for (i, b) in blocks.iter().enumerate() {
        out.slice_mut(s![i, ..b.nrows(), ..]).assign(b);
    }
    out
}

fn lengths_array(lengths: impl Iterator<Item = usize>) -> ArrayD<f64> {
    lengths.map(|l| l as f64).collect::<ndarray::Array1<f64>>().into_dyn()
}

impl Sequences {
    /// The data set as `values`, `masks` and `lengths` (see the module docs).
    pub fn to_arrays(&self) -> Arrays {
        let values: Vec<&Array2<f64>> = self.values().iter().collect();
        let ones: Vec<Array2<f64>>;
        let masks: Vec<&Array2<f64>> = match self.masks() {
            Some(m) => m.iter().collect(),
            None => {
                ones = values.iter().map(|v| Array2::ones(v.dim())).collect();
                ones.iter().collect()
            }
        };
        Arrays::from([
            ("values".to_owned(), pad(&values).into_dyn()),
            ("masks".to_owned(), pad(&masks).into_dyn()),
            ("lengths".to_owned(), lengths_array(values.iter().map(|v| v.nrows()))),
        ])
    }

    /// A data set from `values`, `masks` and `lengths` (see the module docs), checked
    /// as [`Sequences::with_masks`] checks.
    pub fn from_arrays(arrays: &Arrays) -> Result<Self> {
        let (values, masks, lengths) = padded(arrays)?;
        let cut = |a: &Array3<f64>, i: usize| a.index_axis(Axis(0), i).slice(s![..lengths[i], ..]).to_owned();
        let n = lengths.len();
        Sequences::with_masks(
            (0..n).map(|i| cut(&values, i)).collect(),
            (0..n).map(|i| cut(&masks, i)).collect(),
        )
    }
}

impl IrregularSeries {
    /// The data set as `times`, `values`, `masks` and `lengths` (see the module docs).
    pub fn to_arrays(&self) -> Arrays {
        let series = self.series();
        let t_max = series.iter().map(|s| s.times.len()).max().unwrap_or(0);
        let mut times = Array2::zeros((series.len(), t_max));
        for (i, s) in series.iter().enumerate() {
            times.row_mut(i).slice_mut(s![..s.times.len()]).assign(&ndarray::ArrayView1::from(&s.times));
        }
        Arrays::from([
            ("times".to_owned(), times.into_dyn()),
            ("values".to_owned(), pad(&series.iter().map(|s| &s.values).collect::<Vec<_>>()).into_dyn()),
            ("masks".to_owned(), pad(&series.iter().map(|s| &s.masks).collect::<Vec<_>>()).into_dyn()),
            ("lengths".to_owned(), lengths_array(series.iter().map(|s| s.times.len()))),
        ])
    }

    /// A data set from `times`, `values`, `masks` and `lengths` (see the module docs),
    /// checked as [`IrregularSeries::new`] checks.
    pub fn from_arrays(arrays: &Arrays) -> Result<Self> {
        let (values, masks, lengths) = padded(arrays)?;
        let times = with_rank::<Ix2>(arrays, "times")?;
        if times.dim() != (values.dim().0, values.dim().1) {
            return Err(Error::config(
                WHAT,
                format!("`times` is {:?} but `values` is {:?}", times.dim(), values.dim()),
            ));
        }
        let series = lengths
            .iter()
            .enumerate()
            .map(|(i, &n)| Series {
                times: times.row(i).slice(s![..n]).to_vec(),
                values: values.index_axis(Axis(0), i).slice(s![..n, ..]).to_owned(),
                masks: masks.index_axis(Axis(0), i).slice(s![..n, ..]).to_owned(),
            })
            .collect();
        IrregularSeries::new(series)
    }
}
