//! Per-sample time grids: a batch whose samples are observed at different times.
//!
//! torchdiffeq solves one batch on one time grid (its issues #43, #91 and #122 ask for
//! more). Here each sample `i` (row `i` of `y0`, all starting at `t0`) has its own
//! increasing observation times, and two strategies return the same states:
//!
//! * [`GridStrategy::Union`] solves the whole batch once, with output at the sorted
//!   union of all times, and picks each sample's own times: one step size for the batch
//!   (the controller's norm covers every sample), the cheapest when the samples have
//!   similar dynamics;
//! * [`GridStrategy::Independent`] solves each sample alone, in parallel with rayon, each
//!   with its own step sizes and its own output times.
//!
//! The right-hand side must act row by row (sample `i`'s derivative depends on row `i`
//! only), as batched models do; both strategies then agree to the solver tolerance.

use crate::{OdeError, OdeFunc, Result, SolveOptions, Stats, odeint};
use ndarray::{Array2, Axis};
use rayon::prelude::*;

/// How [`odeint_per_sample`] organises the work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GridStrategy {
    /// One batched solve over the sorted union of all observation times.
    Union,
    /// One solve per sample, in parallel.
    Independent,
}

/// States of each sample at its own times.
#[derive(Debug, Clone)]
pub struct PerSampleSolution {
    /// `ys[i]` is `n_i x dim`: row `k` is sample `i` at `times[i][k]`.
    pub ys: Vec<Array2<f64>>,
    /// Work done, summed over solves.
    pub stats: Stats,
}

fn check(y0: &Array2<f64>, t0: f64, times: &[Vec<f64>]) -> Result<()> {
    if times.len() != y0.nrows() {
        return Err(OdeError::Shape {
            what: "per-sample times (one list per row of y0)",
            expected: (y0.nrows(), 1),
            got: (times.len(), 1),
        });
    }
    for (i, ts) in times.iter().enumerate() {
        let mut prev = t0;
        for (k, &t) in ts.iter().enumerate() {
            let ok = t.is_finite() && (t > prev || (k == 0 && t == t0));
            if !ok {
                return Err(OdeError::Times(format!(
                    "sample {i}: t[{k}] = {t} must be finite, >= t0 = {t0} and strictly increasing"
                )));
            }
            prev = t;
        }
    }
    Ok(())
}

/// Solves a batch whose samples have their own observation times (all after `t0`).
pub fn odeint_per_sample<F: OdeFunc + Sync + ?Sized>(
    f: &F,
    y0: &Array2<f64>,
    t0: f64,
    times: &[Vec<f64>],
    opts: &SolveOptions,
    strategy: GridStrategy,
) -> Result<PerSampleSolution> {
    check(y0, t0, times)?;
    let dim = y0.ncols();
    let pick = |ys: &[Array2<f64>], grid: &[f64], ts: &[f64], row: usize| {
        let mut out = Array2::zeros((ts.len(), dim));
        for (k, t) in ts.iter().enumerate() {
            let j = grid.partition_point(|g| g < t);
            out.row_mut(k).assign(&ys[j].row(row));
        }
        out
    };
    match strategy {
        GridStrategy::Union => {
            let mut grid: Vec<f64> = std::iter::once(t0).chain(times.iter().flatten().copied()).collect();
            grid.sort_by(f64::total_cmp);
            grid.dedup();
            let sol = odeint(f, y0, &grid, opts)?;
            let ys = times.iter().enumerate().map(|(i, ts)| pick(&sol.ys, &grid, ts, i)).collect();
            Ok(PerSampleSolution { ys, stats: sol.stats })
        }
        GridStrategy::Independent => {
            let parts: Vec<Result<(Array2<f64>, Stats)>> = times
                .par_iter()
                .enumerate()
                .map(|(i, ts)| {
                    let grid: Vec<f64> =
                        std::iter::once(t0).chain(ts.iter().copied().skip_while(|&t| t == t0)).collect();
                    let row = y0.index_axis(Axis(0), i).insert_axis(Axis(0)).to_owned();
                    let sol = odeint(f, &row, &grid, opts).map_err(|e| e.with_sample(i))?;
                    Ok((pick(&sol.ys, &grid, ts, 0), sol.stats))
                })
                .collect();
            let mut out = PerSampleSolution { ys: Vec::with_capacity(times.len()), stats: Stats::default() };
            for p in parts {
                let (ys, st) = p?;
                out.ys.push(ys);
                out.stats += st;
            }
            Ok(out)
        }
    }
}
