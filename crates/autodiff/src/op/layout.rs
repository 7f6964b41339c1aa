//! Operations that move elements without arithmetic: transpose, blocks of rows or
//! columns, and row selection. Each one's gradient is another of them: slicing and
//! zero-padding are adjoint, and so are gathering rows and scatter-adding them.

use super::{Grad, GradTensor, OneInput, SHAPES};
use crate::fast::kernels;
use crate::{Error, Result};
use ndarray::{Array2, Axis};
use std::rc::Rc;

/// The name of an axis in error messages: rows or columns.
fn axis_name(axis: Axis) -> &'static str {
    if axis == Axis(0) { "rows" } else { "columns" }
}

/// `x^T`; its gradient is `g^T`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Transpose;

impl OneInput for Transpose {
    fn value(&self, x: &Array2<f64>) -> Result<Array2<f64>> {
        Ok(kernels::copy(&x.t()))
    }
    fn grad<T: GradTensor>(&self, g: &T, _: &T, _: &T) -> Grad<T> {
        Grad::New(g.transpose())
    }
}

/// Entries `start..end` along `axis` (a block of rows or of columns).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slice {
    pub(crate) axis: Axis,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

impl OneInput for Slice {
    fn value(&self, x: &Array2<f64>) -> Result<Array2<f64>> {
        let Slice { axis, start, end } = *self;
        let len = x.len_of(axis);
        if start > end || end > len {
            return Err(Error::Invalid {
                op: "slice",
                reason: format!("range {start}..{end} does not fit in {len} {}", axis_name(axis)),
            });
        }
        Ok(kernels::copy(&x.slice_axis(axis, (start..end).into())))
    }
    /// The slice's entries get `g`, the others nothing: `g` zero-padded back to `x`.
    fn grad<T: GradTensor>(&self, _: &T, _: &T, _: &T) -> Grad<T> {
        Grad::Padded { axis: self.axis, offset: self.start }
    }
}

/// Zeros of length `len` along `axis` with the input written from index `offset` on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pad {
    pub(crate) axis: Axis,
    pub(crate) len: usize,
    pub(crate) offset: usize,
}

impl OneInput for Pad {
    fn value(&self, x: &Array2<f64>) -> Result<Array2<f64>> {
        let Pad { axis, len, offset } = *self;
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
    /// Only the block where `x` was written depends on it: the slice of `g` there.
    fn grad<T: GradTensor>(&self, g: &T, x: &T, _: &T) -> Grad<T> {
        let n = x.shape_of(self.axis);
        Grad::New(g.slice_along(self.axis, self.offset..self.offset + n).expect(SHAPES))
    }
}

/// All parts one after another along `axis`; they must agree along the other axis.
///
/// The result is the sum of the parts, each zero-padded to its place: a tape records
/// those [`Pad`]s (see [`Concat::placements`]), and each part's gradient is its pad's.
/// (The only op of a list of inputs, so it has no trait of its own.)
#[derive(Debug, Clone, Copy)]
pub(crate) struct Concat {
    pub(crate) axis: Axis,
}

impl Concat {
    /// The value, or an error if there are no parts or they disagree.
    pub(crate) fn value(&self, parts: &[&Array2<f64>]) -> Result<Array2<f64>> {
        let axis = self.axis;
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
        for (p, place) in parts.iter().zip(self.placements(parts)) {
            let mut block = out.slice_axis_mut(axis, (place.offset..place.offset + p.len_of(axis)).into());
            crate::fast::kernels::assign(&mut block, &p.view());
        }
        Ok(out)
    }

    /// Where each of `parts` goes in the result: the pad that puts it there.
    pub(crate) fn placements(&self, parts: &[&Array2<f64>]) -> impl Iterator<Item = Pad> {
        let axis = self.axis;
        let len = parts.iter().map(|p| p.len_of(axis)).sum();
        parts.iter().scan(0, move |offset, p| {
            let place = Pad { axis, len, offset: *offset };
            *offset += p.len_of(axis);
            Some(place)
        })
    }
}

fn check_rows(op: &'static str, index: &[usize], len: usize) -> Result<()> {
    match index.iter().find(|&&i| i >= len) {
        Some(&bad) => Err(Error::Index { op, index: bad, len }),
        None => Ok(()),
    }
}

/// Rows `index[0], index[1], ...` of the input (repeats allowed): mini-batch selection.
#[derive(Debug, Clone)]
pub(crate) struct GatherRows {
    pub(crate) index: Rc<[usize]>,
}

impl OneInput for GatherRows {
    fn value(&self, x: &Array2<f64>) -> Result<Array2<f64>> {
        check_rows("gather_rows", &self.index, x.nrows())?;
        Ok(x.select(Axis(0), &self.index))
    }
    /// Row `k` of `g` goes back to the row it was read from, `index[k]`.
    fn grad<T: GradTensor>(&self, g: &T, x: &T, _: &T) -> Grad<T> {
        Grad::New(g.scatter_add_rows(&self.index, x.shape().0).expect(SHAPES))
    }
}

/// `nrows` zero rows, to which row `k` of the input is added at row `index[k]`.
#[derive(Debug, Clone)]
pub(crate) struct ScatterAddRows {
    pub(crate) index: Rc<[usize]>,
    pub(crate) nrows: usize,
}

impl OneInput for ScatterAddRows {
    fn value(&self, x: &Array2<f64>) -> Result<Array2<f64>> {
        let index = &self.index;
        if index.len() != x.nrows() {
            return Err(Error::Invalid {
                op: "scatter_add_rows",
                reason: format!("{} indices for {} rows", index.len(), x.nrows()),
            });
        }
        check_rows("scatter_add_rows", index, self.nrows)?;
        let mut out = Array2::zeros((self.nrows, x.ncols()));
        for (row, &i) in x.rows().into_iter().zip(index.iter()) {
            let mut target = out.row_mut(i);
            target += &row;
        }
        Ok(out)
    }
    /// Row `k` of the input went to row `index[k]`: it gets that row of `g`.
    fn grad<T: GradTensor>(&self, g: &T, _: &T, _: &T) -> Grad<T> {
        Grad::New(g.gather_rows(&self.index).expect(SHAPES))
    }
}
