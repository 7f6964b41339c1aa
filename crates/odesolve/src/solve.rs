//! The drivers: fixed steps, and adaptive steps with Hairer's control and dense output.

use crate::controller::StepDecision;
use crate::func::{ArrayField, Field, SessionField};
use crate::norm::Scale;
use crate::options::{InitialStep, check_times};
use crate::state::first_nonfinite_row;
use crate::stepper::Workspace;
use crate::trace::{Trace, TracedStep};
use crate::{
    ButcherTableau, FixedStep, NeuralOdeFunc, OdeError, OdeFunc, Result, Sample, Solution, SolveOptions,
    State, Stats,
};
use autodiff::Session;
use ndarray::Array2;

/// Hairer's unit roundoff `UROUND`.
const UROUND: f64 = 2.3e-16;
/// Consecutive rejections caused by non-finite stages before giving up.
const MAX_NONFINITE_REJECTS: usize = 30;

/// Solves `y' = f(t, y)`, `y(ts[0]) = y0`, returning the state at every time in `ts`
/// (strictly increasing or strictly decreasing), on plain arrays.
pub fn odeint<F: OdeFunc + ?Sized>(
    f: &F,
    y0: &Array2<f64>,
    ts: &[f64],
    opts: &SolveOptions,
) -> Result<Solution<Array2<f64>>> {
    solve(&ArrayField(f), y0, ts, opts)
}

/// Solves with a [`NeuralOdeFunc`] in a session. On a [`TapeSession`](autodiff::TapeSession)
/// every stage is recorded, so a loss of the outputs can be backpropagated through the
/// solver (discretise-then-optimise); step-size decisions are taken on the values and
/// are not differentiated.
pub fn odeint_session<S: Session, F: NeuralOdeFunc>(
    func: &F,
    session: &S,
    y0: &S::T,
    ts: &[f64],
    opts: &SolveOptions,
) -> Result<Solution<S::T>>
where
    S::T: State,
{
    solve(&SessionField { func, session }, y0, ts, opts)
}

fn nonfinite_error(what: &'static str, t: f64, h: f64, a: &Array2<f64>) -> Option<OdeError> {
    first_nonfinite_row(a).map(|r| OdeError::NonFinite { what, t, h, sample: Sample(Some(r)) })
}

/// The generic driver behind every public solve.
pub(crate) fn solve<T: State, F: Field<T>>(
    f: &F,
    y0: &T,
    ts: &[f64],
    opts: &SolveOptions,
) -> Result<Solution<T>> {
    solve_traced(f, y0, ts, opts, None)
}

/// [`solve`], recording into `trace` (when given) every accepted step and the
/// outputs it produced, so that the steps can be replayed exactly.
pub(crate) fn solve_traced<T: State, F: Field<T>>(
    f: &F,
    y0: &T,
    ts: &[f64],
    opts: &SolveOptions,
    mut trace: Option<&mut Trace>,
) -> Result<Solution<T>> {
    opts.validate()?;
    let dir = check_times(ts)?;
    if let Some(e) = nonfinite_error("state", ts[0], 0.0, &y0.array()) {
        return Err(e);
    }
    let tab = opts.method.tableau();
    let mode = match (opts.fixed, tab.error_weights()) {
        (Some(fixed), _) => Some(fixed),
        (None, None) => Some(FixedStep::Grid),
        (None, Some(_)) => None,
    };
    let mut sol = Solution { ts: ts.to_vec(), ys: vec![y0.clone()], stats: Stats::default() };
    if ts.len() == 1 {
        return Ok(sol);
    }
    if let Some(trace) = trace.as_deref_mut() {
        *trace = Trace::keeping(trace.keep_states);
    }
    match mode {
        Some(fixed) => fixed_steps(f, &tab, fixed, ts, opts, &mut sol, trace)?,
        None => adaptive(f, &tab, dir, ts, opts, &mut sol, trace)?,
    }
    Ok(sol)
}

fn fixed_steps<T: State, F: Field<T>>(
    f: &F,
    tab: &ButcherTableau,
    fixed: FixedStep,
    ts: &[f64],
    opts: &SolveOptions,
    sol: &mut Solution<T>,
    mut trace: Option<&mut Trace>,
) -> Result<()> {
    let mut y = sol.ys[0].clone();
    let mut ws: Option<Workspace<T>> = None;
    for (out, w) in ts.windows(2).enumerate() {
        let span = w[1] - w[0];
        let n = match fixed {
            FixedStep::Grid => 1,
            // Tolerate rounding in span / h so a step size that divides the span exactly
            // does not get one extra step.
            FixedStep::Size(h) => ((span.abs() / h) * (1.0 - 1e-12)).ceil().max(1.0) as usize,
        };
        let h = span / n as f64;
        for i in 0..n {
            let t = w[0] + i as f64 * h;
            if sol.stats.nsteps() >= opts.max_steps {
                return Err(OdeError::MaxStepsExceeded {
                    max_steps: opts.max_steps,
                    t,
                    h,
                    sample: Sample(None),
                });
            }
            // k_1 = f(t, y), unless an FSAL method carries it over from the last step.
            let ws = match &mut ws {
                Some(ws) if tab.fsal() => ws,
                Some(ws) => {
                    sol.stats.nfev += 1;
                    f.call_into(t, &y, &mut ws.ks[0])?;
                    ws
                }
                None => {
                    sol.stats.nfev += 1;
                    let k1 = f.call(t, &y)?;
                    ws.insert(Workspace::new(tab, &y, k1))
                }
            };
            ws.step(tab, f, t, &y, h)?;
            sol.stats.nfev += tab.stages() - 1;
            sol.stats.naccept += 1;
            if let Some(e) = nonfinite_error("state", t + h, h, &ws.y1.array()) {
                return Err(e);
            }
            if let Some(trace) = trace.as_deref_mut() {
                // Every output time is the end of the interval's last step.
                let outputs = if i + 1 == n { vec![(out + 1, None)] } else { Vec::new() };
                trace.push(TracedStep { t, h, outputs }, &y.array());
            }
            ws.advance(&mut y);
        }
        sol.ys.push(y.clone());
    }
    Ok(())
}

/// The first step (see [`InitialStep`]): one whose Euler error and second-derivative
/// estimate are about `0.01` in the weighted norm, Hairer's `HINIT` (*Solving ODEs I*,
/// II.4) or torchdiffeq's version of it. Costs one evaluation.
fn initial_step<T: State, F: Field<T>>(
    f: &F,
    scale: &Scale,
    rule: InitialStep,
    order: usize,
    t0: f64,
    y0: &T,
    f0: &T,
    hmax: f64,
    dir: f64,
) -> Result<f64> {
    // Hairer sums the squares over the entries; torchdiffeq takes their mean.
    let norm = |(sumsq, n): (f64, usize)| match rule {
        InitialStep::Hairer => sumsq.sqrt(),
        InitialStep::Torchdiffeq => (sumsq / n.max(1) as f64).sqrt(),
    };
    let (y, fv) = (y0.array(), f0.array());
    let (sf, sy) = (scale.sumsq(&y, &y, |r, c| fv[[r, c]]), scale.sumsq(&y, &y, |r, c| y[[r, c]]));
    let (d0, d1) = (norm(sy), norm(sf));
    // Each rule's own arithmetic, so that Hairer's step counts stay his to the bit.
    let h = match rule {
        InitialStep::Hairer if sf.0 <= 1e-10 || sy.0 <= 1e-10 => 1e-6f64.min(hmax),
        InitialStep::Hairer => ((sy.0 / sf.0).sqrt() * 0.01).min(hmax),
        InitialStep::Torchdiffeq if d1 < 1e-5 || d0 < 1e-5 => 1e-6,
        InitialStep::Torchdiffeq => 0.01 * d0 / d1,
    }
    .copysign(dir);
    let y1 = y0.lincomb(h, &[1.0], std::slice::from_ref(f0))?;
    let f1 = f.call(t0 + h, &y1)?;
    let f1v = f1.array();
    let d2 = norm(scale.sumsq(&y, &y, |r, c| f1v[[r, c]] - fv[[r, c]])) / h.abs();
    let der12 = d2.max(d1);
    let exponent = match rule {
        InitialStep::Hairer => order,
        InitialStep::Torchdiffeq => order + 1,
    };
    let h1 =
        if der12 <= 1e-15 { (h.abs() * 1e-3).max(1e-6) } else { (0.01 / der12).powf(1.0 / exponent as f64) };
    let h = (100.0 * h.abs()).min(h1).min(hmax);
    Ok(if h.is_finite() { h.copysign(dir) } else { 1e-6f64.min(hmax).copysign(dir) })
}

fn adaptive<T: State, F: Field<T>>(
    f: &F,
    tab: &ButcherTableau,
    dir: f64,
    ts: &[f64],
    opts: &SolveOptions,
    sol: &mut Solution<T>,
    mut trace: Option<&mut Trace>,
) -> Result<()> {
    let (t0, tend) = (ts[0], ts[ts.len() - 1]);
    let e = tab.error_weights().expect("adaptive mode needs error weights");
    let cols = sol.ys[0].shape().1;
    let scale = Scale::new(opts, cols)?;
    let hmax = opts.max_step.unwrap_or((tend - t0).abs()).abs();
    let mut y = sol.ys[0].clone();
    let mut x = t0;
    let k1 = f.call(x, &y)?;
    sol.stats.nfev += 1;
    if let Some(e) = nonfinite_error("derivative", x, 0.0, &k1.array()) {
        return Err(e);
    }
    let mut h = match opts.first_step {
        Some(h0) => h0.abs().min(hmax).copysign(dir),
        None => {
            sol.stats.nfev += 1;
            initial_step(f, &scale, opts.initial_step, tab.order(), x, &y, &k1, hmax, dir)?
        }
    };
    let mut ws = Workspace::new(tab, &y, k1);
    let mut ctrl = opts.controller.init(tab.error_order().unwrap_or(tab.order() - 1));
    let mut next_out = 1;
    let mut nonfinite: Option<(usize, OdeError)> = None;
    loop {
        if sol.stats.nsteps() >= opts.max_steps {
            return Err(OdeError::MaxStepsExceeded {
                max_steps: opts.max_steps,
                t: x,
                h,
                sample: Sample(None),
            });
        }
        if 0.1 * h.abs() <= x.abs() * UROUND || h == 0.0 {
            return Err(match nonfinite {
                Some((_, e)) => e,
                None => OdeError::StepSizeUnderflow { t: x, h, sample: Sample(None) },
            });
        }
        let mut last = false;
        if (x + 1.01 * h - tend) * dir > 0.0 {
            h = tend - x;
            last = true;
        }
        ws.step(tab, f, x, &y, h)?;
        sol.stats.nfev += tab.stages() - 1;
        let (yv, y1v) = (y.array(), ws.y1.array());
        let kv: Vec<_> = ws.ks[..tab.stages()].iter().map(State::array).collect();
        let err = scale.error_rms(h, e, &kv, &yv, &y1v);
        let StepDecision { accept, next_h } = ctrl.adapt(h, err, hmax);
        if err.is_finite() {
            nonfinite = None;
        } else {
            // A trial stage left the domain of f (or overflowed): shrink and retry, and
            // remember which sample it was in case shrinking does not help.
            let bad = kv.iter().chain([&y1v]).find_map(|k| nonfinite_error("derivative", x, h, k));
            let streak = nonfinite.map_or(0, |(n, _)| n) + 1;
            let e =
                bad.unwrap_or(OdeError::NonFinite { what: "error estimate", t: x, h, sample: Sample(None) });
            if streak > MAX_NONFINITE_REJECTS {
                return Err(e);
            }
            nonfinite = Some((streak, e));
        }
        if !accept {
            sol.stats.nreject += 1;
            if next_h.abs() < opts.min_step {
                return Err(OdeError::StepSizeUnderflow { t: x, h: next_h, sample: Sample(None) });
            }
            h = next_h;
            continue;
        }
        sol.stats.naccept += 1;
        let xph = if last { tend } else { x + h };
        if let Some(e) = nonfinite_error("state", xph, h, &y1v) {
            return Err(e);
        }
        drop((yv, y1v, kv));
        // f(t + h, y_1): the last stage of an FSAL method, else one more evaluation (which
        // is the next step's first stage anyway). Dense output weights address it last.
        if !tab.fsal() {
            sol.stats.nfev += 1;
            let last_slot = ws.ks.len() - 1;
            f.call_into(xph, &ws.y1, &mut ws.ks[last_slot])?;
        }
        // Dense output for every requested time inside (x, x + h]; the step itself is
        // never shortened to hit an output time.
        let mut outputs = Vec::new();
        while next_out < ts.len() && (ts[next_out] - xph) * dir <= 0.0 {
            let tout = ts[next_out];
            let theta = (tout != xph).then(|| (tout - x) / h);
            sol.ys.push(step_output(tab, &y, &ws, h, theta)?);
            outputs.push((next_out, theta));
            next_out += 1;
        }
        if let Some(trace) = trace.as_deref_mut() {
            trace.push(TracedStep { t: x, h, outputs }, &y.array());
        }
        ws.advance(&mut y);
        x = xph;
        if last {
            return Ok(());
        }
        if next_h.abs() < opts.min_step {
            return Err(OdeError::StepSizeUnderflow { t: x, h: next_h, sample: Sample(None) });
        }
        h = next_h;
    }
}

/// The state at `x + theta h` inside an accepted step from `(x, y)` whose stages are in
/// `ws`: the step's end when `theta` is `None`, else the method's dense output.
pub(crate) fn step_output<T: State>(
    tab: &ButcherTableau,
    y: &T,
    ws: &Workspace<T>,
    h: f64,
    theta: Option<f64>,
) -> Result<T> {
    match theta {
        None => Ok(ws.y1.clone()),
        Some(theta) => y.lincomb(h, &tab.dense_weights(theta), &ws.ks),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::func::FnOde;
    use ndarray::array;

    /// `y' = -y * [1, 2, 3] + sin t` (by column) from a `2 x 3` start.
    fn first_step(rule: InitialStep) -> f64 {
        let f = FnOde(|t: f64, y: &Array2<f64>| Ok(-y * &array![[1.0, 2.0, 3.0]] + t.sin()));
        let y0 = array![[1.0, -2.0, 0.5], [0.3, 4.0, -1.0]];
        let opts = SolveOptions::default().tol(1e-5, 1e-6);
        let scale = Scale::new(&opts, 3).expect("valid tolerances");
        let field = ArrayField(&f);
        let f0 = field.call(0.0, &y0).expect("a derivative");
        initial_step(&field, &scale, rule, 5, 0.0, &y0, &f0, 10.0, 1.0).expect("a step")
    }

    #[test]
    fn torchdiffeq_rule_gives_torchdiffeqs_first_step() {
        // torchdiffeq 0.2.5's `_select_initial_step(f, 0, y0, order=5, rtol=1e-5,
        // atol=1e-6, _rms_norm)` on this problem, in float64: 0.05133611167408457.
        let h = first_step(InitialStep::Torchdiffeq);
        assert!((h - 0.05133611167408457).abs() < 1e-15, "{h}");
        // Hairer's sums over six entries and exponent 1/5 give a smaller step.
        assert!(first_step(InitialStep::Hairer) < h);
    }
}
