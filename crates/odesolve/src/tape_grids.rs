//! Per-sample time grids on the tape: each row of a batch has its own increasing
//! output times (different counts allowed), by the two strategies of
//! [`odeint_per_sample`](crate::odeint_per_sample), with every [`Gradient`] method.
//!
//! * [`GridStrategy::Union`]: one [`odeint_tape`] of the whole batch on the sorted
//!   union of all times, then a gather of each row's own times (a tape op, so the
//!   gradient flows back through it). The rows share the initial time.
//! * [`GridStrategy::Independent`]: one solve per row on its own grid, with its own
//!   step sizes; rows may start at their own initial times. With the one-node
//!   methods (checkpointed, backsolve) the rows are solved in parallel with rayon, on
//!   plain arrays, and recorded as one node whose rule runs the rows' gradient rules
//!   in parallel too. Backprop records every stage on the tape, which is
//!   single-threaded, so its rows are solved one after another.

use crate::tape_op::{OneNode, SharedStats, record_node, solve_one_node};
use crate::{
    Gradient, GridStrategy, NeuralOdeFunc, OdeError, OdeStats, Result, SolveOptions, Times, odeint_tape,
};
use autodiff::{Session, TapeSession, Tensor, Var, Vjp};
use ndarray::{Array2, Axis, s};
use rayon::prelude::*;
use std::sync::Arc;

/// The states of each row at its own times, on the tape.
#[derive(Debug, Clone)]
pub struct PerSampleTape<'t> {
    /// `ys[i]` is `n_i x D`: row `k` is sample `i` at its `k`-th time.
    pub ys: Vec<Var<'t>>,
    stats: Vec<SharedStats>,
}

impl PerSampleTape<'_> {
    /// The work of every solve, summed (backward parts once the backward pass ran).
    pub fn stats(&self) -> OdeStats {
        self.stats.iter().map(SharedStats::get).fold(OdeStats::default(), |mut acc, s| {
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
    F: NeuralOdeFunc + Clone + Send + Sync + 'static,
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
            Ok(PerSampleTape { ys, stats: vec![sol.stats_handle()] })
        }
        (GridStrategy::Independent, _) => {
            let grids: Vec<Vec<f64>> = times
                .iter()
                .enumerate()
                .map(|(i, ts)| {
                    let t0 = match starts {
                        Starts::Shared(t) => t,
                        Starts::PerRow(t0) => t0[i],
                    };
                    std::iter::once(t0).chain(ts.iter().copied().skip_while(|&t| t == t0)).collect()
                })
                .collect();
            // A row's outputs leave out its initial state unless it asked for it.
            let skips: Vec<usize> =
                times.iter().zip(&grids).map(|(ts, g)| usize::from(ts.first() != Some(&g[0]))).collect();
            match gradient {
                Gradient::Backprop => rows_in_sequence(func, s, y0, &grids, &skips, opts),
                one_node => rows_in_parallel(func, s, y0, &grids, &skips, opts, one_node),
            }
        }
    }
}

/// Backprop, one row after another on the tape.
fn rows_in_sequence<'t, F>(
    func: &F,
    s: &TapeSession<'t, '_>,
    y0: &Var<'t>,
    grids: &[Vec<f64>],
    skips: &[usize],
    opts: &SolveOptions,
) -> Result<PerSampleTape<'t>>
where
    F: NeuralOdeFunc + Clone + Send + Sync + 'static,
{
    let mut out = PerSampleTape { ys: Vec::with_capacity(grids.len()), stats: Vec::new() };
    for (i, (grid, &skip)) in grids.iter().zip(skips).enumerate() {
        let row = y0.gather_rows(&[i])?;
        let sol = odeint_tape(func, s, &row, Times::Values(grid), opts, &Gradient::Backprop)
            .map_err(|e| e.with_sample(i))?;
        let picked: Vec<&Var<'t>> = sol.ys[skip..].iter().collect();
        out.ys.push(match picked.len() {
            0 => row.slice_along(Axis(0), 0..0)?,
            _ => Var::concat_along(&picked, Axis(0))?,
        });
        out.stats.push(sol.stats_handle());
    }
    Ok(out)
}

/// The one-node methods: every row solved on plain arrays in parallel, recorded as
/// one node on `y0` and the field's parameters.
fn rows_in_parallel<'t, F>(
    func: &F,
    s: &TapeSession<'t, '_>,
    y0: &Var<'t>,
    grids: &[Vec<f64>],
    skips: &[usize],
    opts: &SolveOptions,
    gradient: &Gradient,
) -> Result<PerSampleTape<'t>>
where
    F: NeuralOdeFunc + Clone + Send + Sync + 'static,
{
    if grids.is_empty() {
        return Ok(PerSampleTape { ys: Vec::new(), stats: Vec::new() });
    }
    let ids = func.params();
    let store = Arc::new(s.store().snapshot(&ids)?);
    let y0v = y0.value();
    let stats: Vec<SharedStats> = grids.iter().map(|_| SharedStats::default()).collect();
    let nodes: Vec<OneNode> = grids
        .par_iter()
        .zip(&stats)
        .enumerate()
        .map(|(i, (grid, st))| {
            let row = y0v.slice(s![i..i + 1, ..]).to_owned();
            solve_one_node(func, &store, &row, grid, opts, gradient, st).map_err(|e| e.with_sample(i))
        })
        .collect::<Result<_>>()?;
    // Row i's outputs are its grid's states, one per time: a block of rows of the node.
    let lens: Vec<usize> = nodes.iter().map(|n| n.value.nrows()).collect();
    let values: Vec<_> = nodes.iter().map(|n| n.value.view()).collect();
    let value = ndarray::concatenate(Axis(0), &values).expect("every row's outputs are 1 x D states");
    let rule = RowRules {
        rules: nodes.into_iter().map(|n| n.rule).collect(),
        lens: lens.clone(),
        param_shapes: ids.iter().map(|&id| store.shape(id)).collect::<autodiff::Result<_>>()?,
    };
    let name = match gradient {
        Gradient::Backsolve(_) => "odeint_tape_per_sample (rows in parallel, backsolve adjoint)",
        _ => "odeint_tape_per_sample (rows in parallel, checkpointed)",
    };
    let all = record_node(func, s, y0, None, OneNode { name, value, rule: Box::new(rule) })?;
    let mut ys = Vec::with_capacity(grids.len());
    let mut start = 0;
    for (&len, &skip) in lens.iter().zip(skips) {
        ys.push(all.slice_along(Axis(0), start + skip..start + len)?);
        start += len;
    }
    Ok(PerSampleTape { ys, stats })
}

/// The rows' gradient rules side by side: each pulls its block of the output
/// gradient back to its row of `y0` and to the parameters, whose gradients add up.
struct RowRules {
    rules: Vec<Box<dyn Vjp + Send + Sync>>,
    lens: Vec<usize>,
    /// The shapes of the field's parameters (the node's inputs after `y0`).
    param_shapes: Vec<(usize, usize)>,
}

impl Vjp for RowRules {
    fn vjp(&self, g: &Array2<f64>, need: &[bool]) -> autodiff::Result<Vec<Option<Array2<f64>>>> {
        let starts: Vec<usize> =
            self.lens.iter().scan(0, |acc, &n| Some(std::mem::replace(acc, *acc + n))).collect();
        let per_row: Vec<Vec<Option<Array2<f64>>>> = self
            .rules
            .par_iter()
            .zip(starts.par_iter().zip(&self.lens))
            .map(|(rule, (&start, &len))| rule.vjp(&g.slice(s![start..start + len, ..]).to_owned(), need))
            .collect::<autodiff::Result<_>>()?;
        let mut out: Vec<Option<Array2<f64>>> = vec![None; need.len()];
        if need[0] {
            let dy0: Vec<_> = per_row
                .iter()
                .map(|r| r[0].as_ref().expect("a row's rule gives dL/dy0 when asked").view())
                .collect();
            out[0] = Some(ndarray::concatenate(Axis(0), &dy0).expect("one 1 x D gradient per row"));
        }
        for (k, &shape) in self.param_shapes.iter().enumerate() {
            if need[k + 1] {
                let mut total = Array2::zeros(shape);
                for r in &per_row {
                    if let Some(d) = &r[k + 1] {
                        total += d;
                    }
                }
                out[k + 1] = Some(total);
            }
        }
        Ok(out)
    }
}
