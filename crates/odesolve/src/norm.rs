//! Hairer's scaled error norm.
//!
//! With $s_i = \mathrm{atol}_i + \mathrm{rtol}_i \max(|y_{0,i}|, |y_{1,i}|)$ the error
//! of a step is $\sqrt{\frac1n \sum_i (\mathrm{err}_i / s_i)^2}$ over the `n` included
//! entries (`dopri5.f`, and *Solving ODEs I*, II.4, eq. (4.11)). The step is accepted
//! when it is at most 1.

use crate::{ErrorNorm, OdeError, Result, SolveOptions};
use ndarray::Array2;

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
        Ok(Scale { atol: opts.atol.expand("atol", cols)?, rtol: opts.rtol.expand("rtol", cols)?, include })
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

    /// The root mean square form of [`sumsq`](Self::sumsq).
    pub(crate) fn rms(&self, a: &Array2<f64>, b: &Array2<f64>, v: impl Fn(usize, usize) -> f64) -> f64 {
        let (sum, n) = self.sumsq(a, b, v);
        if n == 0 { 0.0 } else { (sum / n as f64).sqrt() }
    }
}
