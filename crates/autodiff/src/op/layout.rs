//! Operations that move elements without arithmetic: transpose, column blocks, and
//! row selection. Each one's gradient is another of them: slicing and zero-padding
//! columns are adjoint, and so are gathering rows and scatter-adding them.

use crate::kernels;
use crate::{Error, Result, Tensor};
use ndarray::{Array2, Axis, s};

/// Columns `start..end` of `x`.
pub fn slice_cols(x: &Array2<f64>, start: usize, end: usize) -> Result<Array2<f64>> {
    if start > end || end > x.ncols() {
        return Err(Error::Invalid {
            op: "slice_cols",
            reason: format!("column range {start}..{end} does not fit in {} columns", x.ncols()),
        });
    }
    Ok(kernels::copy(&x.slice(s![.., start..end])))
}

/// A `rows x width` matrix of zeros with `x` written into columns `offset..`.
pub fn pad_cols(x: &Array2<f64>, width: usize, offset: usize) -> Result<Array2<f64>> {
    if offset + x.ncols() > width {
        return Err(Error::Invalid {
            op: "pad_cols",
            reason: format!("{} columns at offset {offset} do not fit in width {width}", x.ncols()),
        });
    }
    let mut out = kernels::zeros((x.nrows(), width));
    out.slice_mut(s![.., offset..offset + x.ncols()]).assign(x);
    Ok(out)
}

/// The columns of all `parts` side by side; all parts must have the same rows.
pub fn concat_cols(parts: &[&Array2<f64>]) -> Result<Array2<f64>> {
    let Some(first) = parts.first() else {
        return Err(Error::Invalid { op: "concat_cols", reason: "no parts to concatenate".into() });
    };
    if let Some(bad) = parts.iter().find(|p| p.nrows() != first.nrows()) {
        return Err(Error::Shape { op: "concat_cols", lhs: first.dim(), rhs: bad.dim() });
    }
    let mut out = crate::pool::uninit((first.nrows(), parts.iter().map(|p| p.ncols()).sum()));
    let mut at = 0;
    for p in parts {
        out.slice_mut(s![.., at..at + p.ncols()]).assign(*p);
        at += p.ncols();
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

/// Gradients of `concat_cols`: the slice of `g` that each part occupied.
pub fn concat_cols_vjp<T: Tensor>(g: &T, widths: impl Iterator<Item = usize>) -> Vec<T> {
    let mut start = 0;
    widths
        .map(|w| {
            let part = g.slice_cols(start..start + w).expect("concat vjp: widths add up");
            start += w;
            part
        })
        .collect()
}
