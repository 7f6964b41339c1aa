//! What the stepper needs from a state: a linear combination of stages and its value.
//!
//! One implementation of the Runge-Kutta stage combination serves both plain arrays
//! (in place, with `scaled_add`: the fast path) and tape values (recorded with `scale`
//! and `add`, so the solve can be differentiated).

use crate::Result;
use autodiff::{Tensor, Var};
use ndarray::Array2;
use std::borrow::Cow;

/// Most stages combined in one fused pass on arrays.
pub(crate) const MAX_FUSED: usize = 8;

/// A value the solvers can step: a [`Tensor`] with a fast linear combination.
pub trait State: Tensor {
    /// `self + h * sum_j w_j k_j`, skipping zero weights (`w` may be shorter than `ks`).
    fn lincomb(&self, h: f64, w: &[f64], ks: &[Self]) -> Result<Self>;
    /// [`lincomb`](State::lincomb) written into `out` (reusing its storage when it can).
    fn lincomb_into(&self, h: f64, w: &[f64], ks: &[Self], out: &mut Self) -> Result<()>;
    /// The value as a plain array, borrowed when possible.
    fn array(&self) -> Cow<'_, Array2<f64>>;
}

/// `out += h sum_j w_j k_j`: one fused pass over contiguous entries (the stages of every
/// built-in method fit in `MAX_FUSED`), else one `scaled_add` per stage.
fn add_terms(out: &mut Array2<f64>, h: f64, w: &[f64], ks: &[Array2<f64>]) {
    let mut terms: [(f64, &[f64]); MAX_FUSED] = [(0.0, &[]); MAX_FUSED];
    let mut n = 0;
    let mut fused = w.len() <= MAX_FUSED;
    for (&wj, k) in w.iter().zip(ks) {
        if wj != 0.0 && fused {
            match k.as_slice() {
                Some(sl) if sl.len() == out.len() => {
                    terms[n] = (h * wj, sl);
                    n += 1;
                }
                _ => fused = false,
            }
        }
    }
    match out.as_slice_mut() {
        Some(o) if fused => {
            for (i, oi) in o.iter_mut().enumerate() {
                let mut acc = 0.0;
                for (c, k) in &terms[..n] {
                    acc += c * k[i];
                }
                *oi += acc;
            }
        }
        _ => {
            for (&wj, k) in w.iter().zip(ks) {
                if wj != 0.0 {
                    out.scaled_add(h * wj, k);
                }
            }
        }
    }
}

impl State for Array2<f64> {
    fn lincomb(&self, h: f64, w: &[f64], ks: &[Self]) -> Result<Self> {
        let mut out = self.clone();
        add_terms(&mut out, h, w, ks);
        Ok(out)
    }
    fn lincomb_into(&self, h: f64, w: &[f64], ks: &[Self], out: &mut Self) -> Result<()> {
        if out.dim() != self.dim() {
            *out = self.clone();
        } else if let (Some(o), Some(src)) = (out.as_slice_mut(), self.as_slice()) {
            o.copy_from_slice(src);
        } else {
            out.assign(self);
        }
        add_terms(out, h, w, ks);
        Ok(())
    }
    fn array(&self) -> Cow<'_, Array2<f64>> {
        Cow::Borrowed(self)
    }
}

impl State for Var<'_> {
    fn lincomb(&self, h: f64, w: &[f64], ks: &[Self]) -> Result<Self> {
        let mut acc: Option<Self> = None;
        for (&wj, k) in w.iter().zip(ks) {
            if wj != 0.0 {
                let term = k.scale(h * wj);
                acc = Some(match acc {
                    Some(a) => a.add(&term)?,
                    None => term,
                });
            }
        }
        Ok(match acc {
            Some(a) => self.add(&a)?,
            None => *self,
        })
    }
    fn lincomb_into(&self, h: f64, w: &[f64], ks: &[Self], out: &mut Self) -> Result<()> {
        *out = self.lincomb(h, w, ks)?;
        Ok(())
    }
    fn array(&self) -> Cow<'_, Array2<f64>> {
        Cow::Owned(self.value())
    }
}

/// The first row holding a NaN or an infinity.
pub(crate) fn first_nonfinite_row(a: &Array2<f64>) -> Option<usize> {
    autodiff::finite::first_non_finite(a).map(|((row, _), _)| row)
}
