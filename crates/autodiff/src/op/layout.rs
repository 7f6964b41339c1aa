//! Operations that move elements without arithmetic: transpose, blocks of rows or
//! columns, and row selection. Each one's gradient is another of them: slicing and
//! zero-padding are adjoint, and so are gathering rows and scatter-adding them.

use crate::fast::kernels;
use crate::{Error, Result, Tensor};
use ndarray::{Array2, Axis};

/// The name of an axis in error messages: rows or columns.
fn axis_name(axis: Axis) -> &'static str {
    if axis == Axis(0) { "rows" } else { "columns" }
}

/// Entries `start..end` of `x` along `axis` (a block of rows or of columns).
pub fn slice(x: &Array2<f64>, axis: Axis, start: usize, end: usize) -> Result<Array2<f64>> {
    let len = x.len_of(axis);
    if start > end || end > len {
        return Err(Error::Invalid {
            op: "slice",
            reason: format!("range {start}..{end} does not fit in {len} {}", axis_name(axis)),
        });
    }
    Ok(kernels::copy(&x.slice_axis(axis, (start..end).into())))
}

/// Zeros of length `len` along `axis` with `x` written from index `offset` on.
pub fn pad(x: &Array2<f64>, axis: Axis, len: usize, offset: usize) -> Result<Array2<f64>> {
    let n = x.len_of(axis);
    if offset + n > len {
        return Err(Error::Invalid {
            op: "pad",
            reason: format!("{n} {} at offset {offset} do not fit in {len}", axis_name(axis)),
        });
    }
    let mut shape = [x.nrows(), x.ncols()];
    shape[axis.index()] = len;
    let mut out = kernels::zeros((shape[0], shape[1]));
    out.slice_axis_mut(axis, (offset..offset + n).into()).assign(x);
    Ok(out)
}

/// All `parts` one after another along `axis`; they must agree along the other axis.
pub fn concat(parts: &[&Array2<f64>], axis: Axis) -> Result<Array2<f64>> {
    let Some(first) = parts.first() else {
        return Err(Error::Invalid { op: "concat", reason: "no parts to concatenate".into() });
    };
    let other = Axis(1 - axis.index());
    if let Some(bad) = parts.iter().find(|p| p.len_of(other) != first.len_of(other)) {
        return Err(Error::Shape { op: "concat", lhs: first.dim(), rhs: bad.dim() });
    }
    let mut shape = [first.nrows(), first.ncols()];
    shape[axis.index()] = parts.iter().map(|p| p.len_of(axis)).sum();
    let mut out = crate::fast::pool::uninit((shape[0], shape[1]));
    let mut at = 0;
    for p in parts {
        let n = p.len_of(axis);
        out.slice_axis_mut(axis, (at..at + n).into()).assign(*p);
        at += n;
    }
    Ok(out)
}

fn check_rows(op: &'static str, index: &[usize], len: usize) -> Result<()> {
    match index.iter().find(|&&i| i >= len) {
        Some(&bad) => Err(Error::Index { op, index: bad, len }),
        None => Ok(()),
    }
}

/// Rows `index[0], index[1], ...` of `x` (repeats allowed): mini-batch selection.
pub fn gather_rows(x: &Array2<f64>, index: &[usize]) -> Result<Array2<f64>> {
    check_rows("gather_rows", index, x.nrows())?;
    Ok(x.select(Axis(0), index))
}

/// A `nrows x cols` matrix of zeros to which row `k` of `x` is added at row `index[k]`.
pub fn scatter_add_rows(x: &Array2<f64>, index: &[usize], nrows: usize) -> Result<Array2<f64>> {
    if index.len() != x.nrows() {
        return Err(Error::Invalid {
            op: "scatter_add_rows",
            reason: format!("{} indices for {} rows", index.len(), x.nrows()),
        });
    }
    check_rows("scatter_add_rows", index, nrows)?;
    let mut out = Array2::zeros((nrows, x.ncols()));
    for (row, &i) in x.rows().into_iter().zip(index) {
        let mut target = out.row_mut(i);
        target += &row;
    }
    Ok(out)
}

/// Gradients of `concat`: the block of `g` that each part occupied along `axis`.
pub fn concat_vjp<T: Tensor>(g: &T, axis: Axis, lens: impl Iterator<Item = usize>) -> Vec<T> {
    let mut start = 0;
    lens.map(|n| {
        let part = g.slice_along(axis, start..start + n).expect("concat vjp: lengths add up");
        start += n;
        part
    })
    .collect()
}
