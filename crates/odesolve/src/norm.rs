//! Hairer's scaled error norm.
//!
//! With $s_i = \mathrm{atol}_i + \mathrm{rtol}_i \max(|y_{0,i}|, |y_{1,i}|)$ the error
//! of a step is $\sqrt{\frac1n \sum_i (\mathrm{err}_i / s_i)^2}$ over the `n` included
//! entries (`dopri5.f`, and *Solving ODEs I*, II.4, eq. (4.11)). The step is accepted
//! when it is at most 1.

use crate::state::MAX_FUSED;
use crate::{ErrorNorm, OdeError, Result, SolveOptions};
use ndarray::Array2;
use std::borrow::Cow;

/// Per-column tolerances and the columns that count.
#[derive(Debug, Clone)]
pub(crate) struct Scale {
    atol: Vec<f64>,
    rtol: Vec<f64>,
    include: Vec<bool>,
}

impl Scale {
    pub(crate) fn new(opts: &SolveOptions, cols: usize) -> Result<Self> {
        let include = match &opts.norm {
            ErrorNorm::Rms => vec![true; cols],
            ErrorNorm::Seminorm(m) if m.len() == cols => m.clone(),
            ErrorNorm::Seminorm(m) => {
                return Err(OdeError::Options {
                    name: "norm",
                    reason: format!("seminorm mask of {} columns for a state with {cols}", m.len()),
                });
            }
        };
        let (atol, rtol) = (opts.atol.expand("atol", cols)?, opts.rtol.expand("rtol", cols)?);
        if let Some(c) = (0..cols).find(|&c| include[c] && atol[c] + rtol[c] == 0.0) {
            return Err(OdeError::Options {
                name: "atol",
                reason: format!("rtol and atol are both 0 for column {c}: its error scale is 0"),
            });
        }
        Ok(Scale { atol, rtol, include })
    }

    /// `(sum of (v_i / s_i)^2, n)` over included entries, where `v` is produced per entry
    /// and `s_i` uses `max(|a_i|, |b_i|)`.
    pub(crate) fn sumsq(
        &self,
        a: &Array2<f64>,
        b: &Array2<f64>,
        v: impl Fn(usize, usize) -> f64,
    ) -> (f64, usize) {
        let (rows, cols) = a.dim();
        let (mut sum, mut n) = (0.0, 0);
        for r in 0..rows {
            for c in 0..cols {
                if self.include[c] {
                    let sk = self.atol[c] + self.rtol[c] * a[[r, c]].abs().max(b[[r, c]].abs());
                    let x = v(r, c) / sk;
                    sum += x * x;
                    n += 1;
                }
            }
        }
        (sum, n)
    }

    /// Hairer's error norm of `h sum_j e_j k_j` for the step from `y0` to `y1`.
    pub(crate) fn error_rms(
        &self,
        h: f64,
        e: &[f64],
        ks: &[Cow<'_, Array2<f64>>],
        y0: &Array2<f64>,
        y1: &Array2<f64>,
    ) -> f64 {
        // Zero weights are skipped (not multiplied) so a NaN in an unused stage is ignored;
        // the nonzero terms go to a fixed-size table (no allocation per step).
        let mut terms: [(f64, &[f64]); MAX_FUSED] = [(0.0, &[]); MAX_FUSED];
        let mut n_terms = 0;
        let mut fused = true;
        for (w, k) in e.iter().zip(ks).filter(|(w, _)| **w != 0.0) {
            match k.as_slice() {
                Some(sl) if n_terms < MAX_FUSED => {
                    terms[n_terms] = (*w, sl);
                    n_terms += 1;
                }
                _ => fused = false,
            }
        }
        match (fused, y0.as_slice(), y1.as_slice()) {
            (true, Some(a), Some(b)) => {
                let terms = &terms[..n_terms];
                let cols = y0.ncols();
                let (mut sum, mut n) = (0.0, 0usize);
                for i in 0..a.len() {
                    let c = i % cols;
                    if self.include[c] {
                        let v: f64 = terms.iter().map(|(w, k)| w * k[i]).sum();
                        let x = h * v / (self.atol[c] + self.rtol[c] * a[i].abs().max(b[i].abs()));
                        sum += x * x;
                        n += 1;
                    }
                }
                if n == 0 { 0.0 } else { (sum / n as f64).sqrt() }
            }
            _ => self.rms(y0, y1, |r, c| {
                h * e.iter().zip(ks).map(|(w, k)| if *w != 0.0 { w * k[[r, c]] } else { 0.0 }).sum::<f64>()
            }),
        }
    }

    /// The root mean square form of [`sumsq`](Self::sumsq).
    pub(crate) fn rms(&self, a: &Array2<f64>, b: &Array2<f64>, v: impl Fn(usize, usize) -> f64) -> f64 {
        let (sum, n) = self.sumsq(a, b, v);
        if n == 0 { 0.0 } else { (sum / n as f64).sqrt() }
    }
}
