//! Per-sample time grids on the tape: each row of a batch has its own increasing
//! output times (different counts allowed), by the two strategies of
//! [`odeint_per_sample`](crate::odeint_per_sample), with every [`Gradient`] method.
//!
//! * [`GridStrategy::Union`]: one [`odeint_tape`] of the whole batch on the sorted
//!   union of all times, then a gather of each row's own times (a tape op, so the
//!   gradient flows back through it). The rows share the initial time.
//! * [`GridStrategy::Independent`]: one [`odeint_tape`] per row on its own grid, with
//!   its own step sizes; rows may start at their own initial times. The solves run
//!   one after another on the tape (a tape is single-threaded).

use crate::{
    Gradient, GridStrategy, NeuralOdeFunc, OdeError, OdeStats, Result, SolveOptions, TapeSolution, Times,
    odeint_tape,
};
use autodiff::{TapeSession, Tensor, Var};
use ndarray::Axis;

/// The states of each row at its own times, on the tape.
#[derive(Debug, Clone)]
pub struct PerSampleTape<'t> {
    /// `ys[i]` is `n_i x D`: row `k` is sample `i` at its `k`-th time.
    pub ys: Vec<Var<'t>>,
    solutions: Vec<TapeSolution<'t>>,
}

impl PerSampleTape<'_> {
    /// The work of every solve, summed (backward parts once the backward pass ran).
    pub fn stats(&self) -> OdeStats {
        self.solutions.iter().map(TapeSolution::stats).fold(OdeStats::default(), |mut acc, s| {
            acc.forward += s.forward;
            acc.backward += s.backward;
            acc.checkpoints = acc.checkpoints.max(s.checkpoints);
            acc.recomputed_steps += s.recomputed_steps;
            acc
        })
    }
}

/// Where the rows start: one time for all, or one per row.
#[derive(Debug, Clone, Copy)]
pub enum Starts<'a> {
    /// Every row starts at this time.
    Shared(f64),
    /// Row `i` starts at `t0[i]` (independent solves only).
    PerRow(&'a [f64]),
}

fn check(rows: usize, starts: Starts<'_>, times: &[Vec<f64>]) -> Result<()> {
    if times.len() != rows {
        return Err(OdeError::Shape {
            what: "per-sample times (one list per row of y0)",
            expected: (rows, 1),
            got: (times.len(), 1),
        });
    }
    if let Starts::PerRow(t0) = starts
        && t0.len() != rows
    {
        return Err(OdeError::Shape {
            what: "per-row initial times",
            expected: (rows, 1),
            got: (t0.len(), 1),
        });
    }
    for (i, ts) in times.iter().enumerate() {
        let t0 = match starts {
            Starts::Shared(t) => t,
            Starts::PerRow(t0) => t0[i],
        };
        if !t0.is_finite() {
            return Err(OdeError::Times(format!("sample {i}: initial time {t0} is not finite")));
        }
        let mut prev = t0;
        for (k, &t) in ts.iter().enumerate() {
            if !(t.is_finite() && (t > prev || (k == 0 && t == t0))) {
                return Err(OdeError::Times(format!(
                    "sample {i}: t[{k}] = {t} must be finite, >= t0 = {t0} and strictly increasing"
                )));
            }
            prev = t;
        }
    }
    Ok(())
}

/// Solves a batch whose rows have their own output times, on the tape.
pub fn odeint_tape_per_sample<'t, F>(
    func: &F,
    s: &TapeSession<'t, '_>,
    y0: &Var<'t>,
    starts: Starts<'_>,
    times: &[Vec<f64>],
    opts: &SolveOptions,
    gradient: &Gradient,
    strategy: GridStrategy,
) -> Result<PerSampleTape<'t>>
where
    F: NeuralOdeFunc + Clone + 'static,
{
    let rows = y0.shape().0;
    check(rows, starts, times)?;
    match (strategy, starts) {
        (GridStrategy::Union, Starts::PerRow(_)) => Err(OdeError::Options {
            name: "grid strategy",
            reason: "the union grid needs one initial time for all rows; use GridStrategy::Independent"
                .into(),
        }),
        (GridStrategy::Union, Starts::Shared(t0)) => {
            let mut grid: Vec<f64> = std::iter::once(t0).chain(times.iter().flatten().copied()).collect();
            grid.sort_by(f64::total_cmp);
            grid.dedup();
            let sol = odeint_tape(func, s, y0, Times::Values(&grid), opts, gradient)?;
            let all = Var::concat_along(&sol.ys.iter().collect::<Vec<_>>(), Axis(0))?;
            let ys = times
                .iter()
                .enumerate()
                .map(|(i, ts)| {
                    let index: Vec<usize> =
                        ts.iter().map(|t| grid.partition_point(|g| g < t) * rows + i).collect();
                    all.gather_rows(&index)
                })
                .collect::<autodiff::Result<_>>()?;
            Ok(PerSampleTape { ys, solutions: vec![sol] })
        }
        (GridStrategy::Independent, _) => {
            let mut out = PerSampleTape { ys: Vec::with_capacity(rows), solutions: Vec::new() };
            for (i, ts) in times.iter().enumerate() {
                let t0 = match starts {
                    Starts::Shared(t) => t,
                    Starts::PerRow(t0) => t0[i],
                };
                let grid: Vec<f64> =
                    std::iter::once(t0).chain(ts.iter().copied().skip_while(|&t| t == t0)).collect();
                let row = y0.gather_rows(&[i])?;
                let sol = odeint_tape(func, s, &row, Times::Values(&grid), opts, gradient)
                    .map_err(|e| e.with_sample(i))?;
                // Drop the initial state unless the row asked for it.
                let skip = usize::from(ts.first() != Some(&t0));
                let picked: Vec<&Var<'t>> = sol.ys[skip..].iter().collect();
                out.ys.push(match picked.len() {
                    0 => row.slice_along(Axis(0), 0..0)?,
                    _ => Var::concat_along(&picked, Axis(0))?,
                });
                out.solutions.push(sol);
            }
            Ok(out)
        }
    }
}
