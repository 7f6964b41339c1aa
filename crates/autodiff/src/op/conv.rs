//! The causal dilated convolution along time: WaveNet's layer (van den Oord et al.
//! 2016, Sec. 2.1).
//!
//! A batch of `B` sequences of `T` steps and `C` channels is one `T B x C` matrix,
//! **time-major**: row `t B + b` is sequence `b` at step `t` (the steps of a
//! `SeqBatch` stacked). Moving `s` steps back in time is then moving `s B` rows up,
//! which never crosses from one sequence into another, and zero-padding the first
//! `s B` rows is the causal padding before every sequence starts. Padding after a
//! shorter sequence ends cannot reach its earlier steps, because nothing looks ahead.
//!
//! With filter width `w`, dilation `d` and the filter `W` stored as `w` stacked
//! `C x C'` taps (`W_k` in rows `k C .. (k + 1) C`), tap `k` reads the input
//! `s_k = (w - 1 - k) d` steps back, so the last tap is the present step:
//!
//! $$ y_t = \sum_{k=0}^{w-1} x_{t - s_k} W_k, \qquad x_{t'} = 0 \text{ for } t' < 0. $$
//!
//! Writing $S_s$ for the shift of `s` steps (`(S_s x)_t = x_{t-s}`, zero-filled),
//! $y = \sum_k (S_{s_k} x) W_k$ is linear in each input, and the adjoint of a shift
//! back is a shift forward, $S_s^\top = S_{-s}$ (zero-filled at the end):
//!
//! $$ \bar x = \sum_k S_{-s_k}\big(\bar y\, W_k^\top\big), \qquad
//!    \bar W_k = (S_{s_k} x)^\top \bar y = \sum_{t \ge s_k} x_{t - s_k}^\top \bar y_t . $$
//!
//! The first is the same convolution run backwards in time with transposed taps; the
//! second correlates each tap's view of the input with the incoming gradient.

use super::{Grad, GradTensor, SHAPES, TwoInputs};
use crate::fast::{kernels, pool};
use crate::{Error, Result};
use ndarray::{Array2, Axis, s};

/// The geometry of a causal dilated convolution over a time-major batch (see
/// [`Tensor::causal_conv`](crate::Tensor::causal_conv)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CausalConv {
    /// Filter width `w`: the number of taps.
    pub width: usize,
    /// Dilation `d`: the steps between consecutive taps.
    pub dilation: usize,
    /// Sequences in the batch, `B`: the rows of one time step.
    pub batch: usize,
}

impl CausalConv {
    /// How many rows tap `k` reads back: `s_k B` with `s_k = (w - 1 - k) d`.
    fn shift_rows(&self, k: usize) -> usize {
        (self.width - 1 - k) * self.dilation * self.batch
    }

    /// The receptive field in steps, `(w - 1) d + 1`: how far back an output sees.
    pub fn receptive_field(&self) -> usize {
        (self.width - 1) * self.dilation + 1
    }

    /// Checks the geometry against `x` (`T B x C`) and the filter (`w C x C'`).
    fn check(&self, x: &Array2<f64>, filter: &Array2<f64>) -> Result<()> {
        let bad = |reason: String| Err(Error::Invalid { op: "causal_conv", reason });
        let CausalConv { width, dilation, batch } = *self;
        if width == 0 || dilation == 0 || batch == 0 {
            return bad(format!("width {width}, dilation {dilation} and batch {batch} must be positive"));
        }
        if !x.nrows().is_multiple_of(batch) {
            return bad(format!("{} input rows are not whole steps of {batch} sequences", x.nrows()));
        }
        if filter.nrows() != width * x.ncols() {
            return Err(Error::Shape { op: "causal_conv", lhs: x.dim(), rhs: filter.dim() });
        }
        Ok(())
    }
}

impl TwoInputs for CausalConv {
    fn name(&self) -> &'static str {
        "causal_conv"
    }

    /// `y = x W_{w-1}`, then each earlier tap's product added `s_k B` rows down.
    fn value(&self, x: &Array2<f64>, filter: &Array2<f64>) -> Result<Array2<f64>> {
        self.check(x, filter)?;
        let (n, c) = x.dim();
        let tap = |k: usize| filter.slice(s![k * c..(k + 1) * c, ..]);
        let mut y = kernels::matmul(&x.view(), &tap(self.width - 1));
        for k in 0..self.width - 1 {
            let shift = self.shift_rows(k);
            if shift >= n {
                continue; // this tap sees only the padding before the start
            }
            let part = kernels::matmul(&x.slice(s![..n - shift, ..]), &tap(k));
            let mut block = y.slice_mut(s![shift.., ..]);
            block += &part;
            pool::recycle(part);
        }
        Ok(y)
    }

    /// `x_bar = sum_k S_{-s_k}(g W_k^T)`: one product `g W^T` gives every tap's
    /// `g W_k^T` as a block of columns, and each block moves `s_k B` rows up.
    fn grad_lhs<T: GradTensor>(&self, g: &T, x: &T, filter: &T, _: &T) -> Grad<T> {
        let (n, c) = x.shape();
        let back = g.matmul_t(filter, false, true).expect(SHAPES);
        let mut sum: Option<T> = None;
        for k in 0..self.width {
            let shift = self.shift_rows(k);
            if shift >= n {
                continue;
            }
            let term = back
                .slice_along(Axis(0), shift..n)
                .and_then(|b| b.slice_along(Axis(1), k * c..(k + 1) * c))
                .and_then(|b| b.pad_along(Axis(0), n, 0))
                .expect(SHAPES);
            sum = Some(match sum {
                None => term,
                Some(acc) => acc.add(&term).expect(SHAPES),
            });
        }
        Grad::New(sum.expect("the last tap reads the present step"))
    }

    /// `W_bar_k = x[..n - s_k]^T g[s_k..]`, stacked over the taps.
    fn grad_rhs<T: GradTensor>(&self, g: &T, x: &T, filter: &T, _: &T) -> Grad<T> {
        let (n, c) = x.shape();
        let taps: Vec<T> = (0..self.width)
            .map(|k| {
                let shift = self.shift_rows(k);
                if shift >= n {
                    return x.constant(Array2::zeros((c, filter.shape().1)));
                }
                let seen = x.slice_along(Axis(0), 0..n - shift).expect(SHAPES);
                seen.matmul_t(&g.slice_along(Axis(0), shift..n).expect(SHAPES), true, false).expect(SHAPES)
            })
            .collect();
        Grad::New(T::concat_rows(&taps.iter().collect::<Vec<_>>()).expect(SHAPES))
    }
}
