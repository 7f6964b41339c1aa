//! What the stepper needs from a state: a linear combination of stages and its value.
//!
//! One implementation of the Runge-Kutta stage combination serves both plain arrays
//! (in place, with `scaled_add`: the fast path) and tape values (recorded with `scale`
//! and `add`, so the solve can be differentiated).

use crate::Result;
use autodiff::{Tensor, Var};
use ndarray::Array2;
use std::borrow::Cow;

/// A value the solvers can step: a [`Tensor`] with a fast linear combination.
pub trait State: Tensor {
    /// `self + h * sum_j w_j k_j`, skipping zero weights (`w` may be shorter than `ks`).
    fn lincomb(&self, h: f64, w: &[f64], ks: &[Self]) -> Result<Self>;
    /// The value as a plain array, borrowed when possible.
    fn array(&self) -> Cow<'_, Array2<f64>>;
}

impl State for Array2<f64> {
    fn lincomb(&self, h: f64, w: &[f64], ks: &[Self]) -> Result<Self> {
        let mut out = self.clone();
        for (&wj, k) in w.iter().zip(ks) {
            if wj != 0.0 {
                out.scaled_add(h * wj, k);
            }
        }
        Ok(out)
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
    fn array(&self) -> Cow<'_, Array2<f64>> {
        Cow::Owned(self.value())
    }
}

/// The first row holding a NaN or an infinity.
pub(crate) fn first_nonfinite_row(a: &Array2<f64>) -> Option<usize> {
    a.rows().into_iter().position(|r| r.iter().any(|x| !x.is_finite()))
}
