//! An ODE solve inside a model's graph: [`odeint_tape`] takes tape values and returns
//! tape values, and the enclosing tape's backward pass computes the gradient by the
//! [`Gradient`] method chosen, as `odeint_adjoint` in torchdiffeq and
//! `diffeqsolve(..., adjoint=...)` in diffrax.
//!
//! | method | how | memory | gradient |
//! |---|---|---|---|
//! | [`Gradient::Backprop`] | every stage recorded on the tape | grows with the steps | exact; differentiable again |
//! | [`Gradient::Backsolve`] | one node; the adjoint ODE solved backwards | independent of the steps | approximate (solver tolerance) |
//! | [`Gradient::Checkpointed`] (default) | one node; steps replayed from `c` checkpoints | at most `c` states | exact (equal to backprop up to rounding) |
//!
//! The checkpointed method is the default, as in diffrax: it is the gradient of the
//! computed solution (discretise-then-optimise), so it is exactly what backprop gives,
//! without backprop's memory. The backsolve adjoint differentiates the true ODE and
//! re-solves it backwards: its gradient carries the errors of two solves, which at
//! loose tolerances can be far from the gradient of the forward solution
//! (`tests/tape_op.rs` measures how far on one problem).
//!
//! Every method gives the gradient with respect to the initial state, every
//! parameter of the field (through the session) and, when the times are a tape value,
//! the output times: `dL/dt_k = g_k . f(t_k, y_k)` for `k >= 1` and
//! `dL/dt_0 = -a_0 . f(t_0, y_0)`, with `g_k = dL/dy(t_k)` and `a_0` the gradient
//! reaching `y_0` through the later outputs (the derivatives of the flow of the ODE;
//! the backsolve adjoint integrates the same quantity as its time adjoint).

use crate::adjoint::{AdjointOptions, adjoint_backward};
use crate::checkpoint::{Action, walk};
use crate::func::{ArrayField, SessionField};
use crate::options::check_times;
use crate::replay::replay_step;
use crate::solve::{solve, solve_traced};
use crate::trace::Trace;
use crate::{
    ButcherTableau, NeuralOdeFunc, OdeError, OdeFunc, Result, Solution, SolveOptions, Stats, WithParams,
    odeint_session,
};
use autodiff::{Function, ParamId, ParamStore, Session, Tape, TapeSession, Tensor, Var, Vjp};
use ndarray::{Array2, Axis, s};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How the enclosing tape's backward pass differentiates a solve.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Gradient {
    /// Backpropagation through every stage of the solver, recorded on the tape: memory
    /// grows with the number of steps, and the gradient can be differentiated again
    /// with [`Tape::grad`] (unless the times are a tape value, whose rule is
    /// first-order).
    Backprop,
    /// The backsolve adjoint (Chen et al. 2018, Algorithm 1) with its own solver
    /// settings and optional seminorm: one tape node, memory independent of the
    /// number of steps, gradients accurate to the solvers' tolerances.
    Backsolve(AdjointOptions),
    /// Backpropagation through the solver's steps replayed from at most `checkpoints`
    /// stored states besides the initial one (binomial checkpointing, diffrax's
    /// `RecursiveCheckpointAdjoint`): one tape node, exact. `None` takes diffrax's
    /// default, `ceil(sqrt(2 max_steps))`.
    Checkpointed {
        /// Most solver states stored at once (at least 1).
        checkpoints: Option<usize>,
    },
}

impl Default for Gradient {
    /// Checkpointed, with diffrax's default number of checkpoints.
    fn default() -> Self {
        Gradient::Checkpointed { checkpoints: None }
    }
}

/// Output times of a solve on the tape: plain values, or a `1 x n` tape value whose
/// gradient is wanted.
#[derive(Debug, Clone, Copy)]
pub enum Times<'a, 't> {
    /// Times that are not differentiated.
    Values(&'a [f64]),
    /// Times on the tape (a `1 x n` row).
    Tracked(Var<'t>),
}

impl<'a> From<&'a [f64]> for Times<'a, '_> {
    fn from(ts: &'a [f64]) -> Self {
        Times::Values(ts)
    }
}

impl<'a> From<&'a Vec<f64>> for Times<'a, '_> {
    fn from(ts: &'a Vec<f64>) -> Self {
        Times::Values(ts)
    }
}

impl<'a, const N: usize> From<&'a [f64; N]> for Times<'a, '_> {
    fn from(ts: &'a [f64; N]) -> Self {
        Times::Values(ts)
    }
}

impl<'t> From<Var<'t>> for Times<'_, 't> {
    fn from(ts: Var<'t>) -> Self {
        Times::Tracked(ts)
    }
}

/// Work of a solve on the tape, filled in by the forward solve and, for the
/// one-node methods, by the backward pass when it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OdeStats {
    /// The forward solve.
    pub forward: Stats,
    /// The backward pass: the adjoint solves, or the replayed steps (each replay
    /// counted as one accepted step). Zero for backprop, whose backward pass is the
    /// tape's.
    pub backward: Stats,
    /// Most solver states stored at once for the backward pass, besides the initial
    /// state (checkpointed only).
    pub checkpoints: usize,
    /// Steps advanced through again to reach a state the backward pass needed.
    pub recomputed_steps: usize,
}

/// The work of a solve, shared by the caller and the gradient rule, which may run on
/// another thread (parallel per-row solves).
#[derive(Debug, Clone, Default)]
pub(crate) struct SharedStats(Arc<Mutex<OdeStats>>);

impl SharedStats {
    pub(crate) fn get(&self) -> OdeStats {
        *self.0.lock().expect("solve statistics: a rule panicked while holding them")
    }
    fn set(&self, stats: OdeStats) {
        *self.0.lock().expect("solve statistics: a rule panicked while holding them") = stats;
    }
}

/// The states at the output times, on the tape.
#[derive(Debug, Clone)]
pub struct TapeSolution<'t> {
    /// The output times.
    pub ts: Vec<f64>,
    /// `ys[k]` is the state at `ts[k]`, shaped like `y0`.
    pub ys: Vec<Var<'t>>,
    stats: SharedStats,
}

impl TapeSolution<'_> {
    /// The work done so far: the forward solve, and the backward pass once the tape's
    /// backward has run.
    pub fn stats(&self) -> OdeStats {
        self.stats.get()
    }

    pub(crate) fn stats_handle(&self) -> SharedStats {
        self.stats.clone()
    }
}

/// Solves `y' = f(t, y)` from `y0` on the tape, returning the states at `ts` as tape
/// values; `func`'s parameters come from the session. See the [crate docs](crate#gradients).
///
/// Errors of the forward solve are returned here; errors of a backward solve (a step
/// size that underflows, say) are returned by the tape's backward pass, naming this
/// operation.
pub fn odeint_tape<'t, 'a, F>(
    func: &F,
    s: &TapeSession<'t, '_>,
    y0: &Var<'t>,
    ts: impl Into<Times<'a, 't>>,
    opts: &SolveOptions,
    gradient: &Gradient,
) -> Result<TapeSolution<'t>>
where
    F: NeuralOdeFunc + Clone + Send + Sync + 'static,
{
    let ts = ts.into();
    let times: Vec<f64> = match ts {
        Times::Values(v) => v.to_vec(),
        Times::Tracked(v) => {
            if v.shape().0 != 1 {
                return Err(OdeError::Shape {
                    what: "output times (a 1 x n row)",
                    expected: (1, v.shape().1),
                    got: v.shape(),
                });
            }
            v.value().row(0).to_vec()
        }
    };
    check_times(&times)?;
    let tracked_times = match ts {
        Times::Tracked(v) if v.is_tracked() => Some(v),
        _ => None,
    };
    let stats = SharedStats::default();
    let ys = match gradient {
        Gradient::Backprop => backprop(func, s, y0, &times, tracked_times, opts, &stats)?,
        one_node => {
            let store = Arc::new(s.store().snapshot(&func.params())?);
            let node = solve_one_node(func, &store, &y0.value(), &times, opts, one_node, &stats)?;
            record(func, s, y0, tracked_times, node)?
        }
    };
    Ok(TapeSolution { ts: times, ys, stats })
}

/// A one-node method's solve on plain arrays: the outputs stacked (`(n B) x D`, see
/// [`stack`]) and the rule that differentiates them.
pub(crate) struct OneNode {
    pub name: &'static str,
    pub value: Array2<f64>,
    pub rule: Box<dyn Vjp + Send + Sync>,
}

/// Solves on plain arrays for the backsolve or checkpointed method, keeping what its
/// rule needs; `store` holds the field's parameters as they are now.
pub(crate) fn solve_one_node<F>(
    func: &F,
    store: &Arc<ParamStore>,
    y0: &Array2<f64>,
    times: &[f64],
    opts: &SolveOptions,
    gradient: &Gradient,
    stats: &SharedStats,
) -> Result<OneNode>
where
    F: NeuralOdeFunc + Clone + Send + Sync + 'static,
{
    let field = WithParams { func, store };
    match gradient {
        Gradient::Backprop => unreachable!("backprop records every stage; it is not one node"),
        Gradient::Backsolve(adjoint) => {
            let sol = solve(&ArrayField(&field), y0, times, opts)?;
            stats.set(OdeStats { forward: sol.stats, ..OdeStats::default() });
            let value = stack(&sol.ys);
            let rule = BacksolveRule {
                func: func.clone(),
                store: store.clone(),
                sol,
                adjoint: adjoint.clone(),
                stats: stats.clone(),
            };
            Ok(OneNode { name: "odeint_tape (backsolve adjoint)", value, rule: Box::new(rule) })
        }
        Gradient::Checkpointed { checkpoints } => {
            let free = checkpoints.unwrap_or_else(|| (2.0 * opts.max_steps as f64).sqrt().ceil() as usize);
            if free == 0 {
                return Err(OdeError::Options { name: "checkpoints", reason: "must be at least 1".into() });
            }
            // When every step's start state fits in the slots the forward solve keeps
            // them, and the backward pass recomputes nothing.
            let mut trace = Trace::keeping(free);
            let sol = solve_traced(&ArrayField(&field), y0, times, opts, Some(&mut trace))?;
            stats.set(OdeStats { forward: sol.stats, ..OdeStats::default() });
            let value = stack(&sol.ys);
            let rule = CheckpointedRule {
                func: func.clone(),
                store: store.clone(),
                tableau: opts.method.tableau(),
                trace,
                y0: y0.clone(),
                sol,
                free,
                stats: stats.clone(),
            };
            Ok(OneNode { name: "odeint_tape (checkpointed)", value, rule: Box::new(rule) })
        }
    }
}

/// The outputs one under another: `(n B) x D`, block `k` the state at `t_k`.
fn stack(ys: &[Array2<f64>]) -> Array2<f64> {
    let views: Vec<_> = ys.iter().map(|y| y.view()).collect();
    ndarray::concatenate(Axis(0), &views).expect("every output has y0's shape")
}

/// Records the one-node solve on the tape and cuts its stacked value into the outputs.
fn record<'t, F: NeuralOdeFunc>(
    func: &F,
    s: &TapeSession<'t, '_>,
    y0: &Var<'t>,
    times: Option<Var<'t>>,
    node: OneNode,
) -> Result<Vec<Var<'t>>> {
    let stacked = record_node(func, s, y0, times, node)?;
    let b = y0.shape().0;
    let n = stacked.shape().0 / b;
    Ok((0..n).map(|k| stacked.slice_along(Axis(0), k * b..(k + 1) * b)).collect::<autodiff::Result<_>>()?)
}

/// Records a node whose value and rule are already computed, on `y0`, the field's
/// parameters and (when tracked) the output times: the inputs its rule's gradients
/// are in the order of.
pub(crate) fn record_node<'t, F: NeuralOdeFunc>(
    func: &F,
    s: &TapeSession<'t, '_>,
    y0: &Var<'t>,
    times: Option<Var<'t>>,
    node: OneNode,
) -> autodiff::Result<Var<'t>> {
    let params: Vec<Var<'t>> =
        func.params().into_iter().map(|id| s.param(id)).collect::<autodiff::Result<_>>()?;
    let mut inputs: Vec<&Var<'t>> = vec![y0];
    inputs.extend(params.iter());
    if let Some(t) = &times {
        inputs.push(t);
    }
    let OneNode { name, value, rule } = node;
    Var::apply(&Precomputed { name, result: RefCell::new(Some((value, rule))) }, &inputs)
}

/// A value with its gradient rule, as [`Function::forward`] returns them.
type ValueAndRule = (Array2<f64>, Box<dyn Vjp>);

/// A [`Function`] whose value and rule were computed before it was applied, so that
/// the solve's errors keep their type (a `Function` can only return the tape's).
struct Precomputed {
    name: &'static str,
    result: RefCell<Option<ValueAndRule>>,
}

impl Function for Precomputed {
    fn name(&self) -> &'static str {
        self.name
    }
    fn forward(&self, _inputs: &[&Array2<f64>]) -> autodiff::Result<ValueAndRule> {
        self.result.borrow_mut().take().ok_or(autodiff::Error::Invalid {
            op: self.name,
            reason: "applied twice (internal invariant)".into(),
        })
    }
}

/// A backward-pass failure as the tape's error.
fn tape_error(e: OdeError) -> autodiff::Error {
    match e {
        OdeError::Autodiff(e) => e,
        e => autodiff::Error::Invalid { op: "odeint_tape backward", reason: e.to_string() },
    }
}

/// Block `k` of `B` rows of a stacked gradient.
fn block(g: &Array2<f64>, k: usize, b: usize) -> Array2<f64> {
    g.slice(s![k * b..(k + 1) * b, ..]).to_owned()
}

/// The gradient rules' results in input order: `y0`, each parameter, the times.
fn input_grads(
    need: &[bool],
    dy0: Array2<f64>,
    params: Vec<Array2<f64>>,
    times: Option<Array2<f64>>,
) -> Vec<Option<Array2<f64>>> {
    let mut out = vec![need[0].then_some(dy0)];
    out.extend(params.into_iter().zip(&need[1..]).map(|(g, &n)| n.then_some(g)));
    if let Some(t) = times {
        out.push(need.last().copied().unwrap_or(false).then_some(t));
    }
    out
}

/// `dL/dt_k` from the output gradients and the field at the outputs (see the module docs).
fn time_grads<F: OdeFunc>(
    field: &F,
    sol: &Solution<Array2<f64>>,
    g: &Array2<f64>,
    a0: &Array2<f64>,
) -> Result<Array2<f64>> {
    let b = sol.ys[0].nrows();
    let mut out = Array2::zeros((1, sol.ts.len()));
    out[[0, 0]] = -(a0 * &field.eval_array(sol.ts[0], &sol.ys[0])?).iter().sum::<f64>();
    for k in 1..sol.ts.len() {
        out[[0, k]] = (&block(g, k, b) * &field.eval_array(sol.ts[k], &sol.ys[k])?).iter().sum::<f64>();
    }
    Ok(out)
}

/// The backsolve adjoint's rule: [`adjoint_backward`] on the stored forward solution.
struct BacksolveRule<F> {
    func: F,
    store: Arc<ParamStore>,
    sol: Solution<Array2<f64>>,
    adjoint: AdjointOptions,
    stats: SharedStats,
}

impl<F: NeuralOdeFunc> Vjp for BacksolveRule<F> {
    fn vjp(&self, g: &Array2<f64>, need: &[bool]) -> autodiff::Result<Vec<Option<Array2<f64>>>> {
        let b = self.sol.ys[0].nrows();
        let grad_ys: Vec<Array2<f64>> = (0..self.sol.ts.len()).map(|k| block(g, k, b)).collect();
        let adj = adjoint_backward(&self.func, &self.store, &self.sol, &grad_ys, &self.adjoint)
            .map_err(tape_error)?;
        let mut stats = self.stats.get();
        stats.backward += adj.stats;
        self.stats.set(stats);
        let params = self
            .func
            .params()
            .iter()
            .map(|id| match adj.param(*id) {
                Some(g) => Ok(g.clone()),
                None => Ok(Array2::zeros(self.store.shape(*id)?)),
            })
            .collect::<autodiff::Result<_>>()?;
        let has_times = need.len() > 1 + self.func.params().len();
        let times = has_times
            .then(|| Array2::from_shape_vec((1, adj.times.len()), adj.times.clone()).expect("one per time"));
        Ok(input_grads(need, adj.y0, params, times))
    }
}

/// The checkpointed rule: the traced steps replayed from checkpoints on fresh tapes,
/// in the order of the binomial [`schedule`].
struct CheckpointedRule<F> {
    func: F,
    store: Arc<ParamStore>,
    tableau: ButcherTableau,
    trace: Trace,
    y0: Array2<f64>,
    sol: Solution<Array2<f64>>,
    free: usize,
    stats: SharedStats,
}

/// Gradients accumulated while reversing the steps.
struct Reversal {
    /// `dL/dy_i` for the state the reversal has reached.
    adjoint: Array2<f64>,
    params: Vec<Array2<f64>>,
    work: Stats,
}

impl<F: NeuralOdeFunc> CheckpointedRule<F> {
    fn field(&self) -> WithParams<'_, F> {
        WithParams { func: &self.func, store: &self.store }
    }

    /// Step `i`'s vector-Jacobian product from its start state `y`: the adjoint of the
    /// state after it, plus the gradients of the outputs inside it, pulled back to `y`
    /// and to the parameters.
    fn reverse_step(&self, i: usize, y: &Array2<f64>, g: &Array2<f64>, acc: &mut Reversal) -> Result<()> {
        let step = &self.trace.steps[i];
        let tape = Tape::new();
        let session = tape.session(&self.store);
        let y = tape.leaf(y.clone());
        let replayed =
            replay_step(&self.tableau, &SessionField { func: &self.func, session: &session }, step, &y)?;
        let b = self.y0.nrows();
        let mut loss = replayed.end.mul(&tape.constant(acc.adjoint.clone()))?.sum();
        for (k, yk) in &replayed.outputs {
            loss = loss.add(&yk.mul(&tape.constant(block(g, *k, b)))?.sum())?;
        }
        let grads = tape.backward(loss)?;
        acc.adjoint = grads.wrt(&y)?.cloned().unwrap_or_else(|| Array2::zeros(y.shape()));
        for (slot, id) in acc.params.iter_mut().zip(self.func.params()) {
            if let Some(gp) = grads.param(id) {
                *slot += gp;
            }
        }
        acc.work.nfev += replayed.nfev;
        acc.work.naccept += 1;
        Ok(())
    }

    /// Runs the schedule (or, with every state kept, reverses the steps directly).
    fn reverse_all(&self, g: &Array2<f64>) -> Result<(Reversal, OdeStats)> {
        let ids: Vec<ParamId> = self.func.params();
        let mut acc = Reversal {
            adjoint: Array2::zeros(self.y0.dim()),
            params: ids
                .iter()
                .map(|id| Ok(Array2::zeros(self.store.shape(*id)?)))
                .collect::<autodiff::Result<_>>()?,
            work: Stats::default(),
        };
        let n = self.trace.steps.len();
        let mut stats = self.stats.get();
        if self.trace.kept_all() {
            for i in (0..n).rev() {
                self.reverse_step(i, &self.trace.states[i], g, &mut acc)?;
            }
            stats.checkpoints = n;
            return Ok((acc, stats));
        }
        let field = self.field();
        let mut stored: HashMap<usize, Array2<f64>> = HashMap::from([(0, self.y0.clone())]);
        let mut working: Option<(usize, Array2<f64>)> = None;
        walk(n, self.free, &mut |action| -> Result<()> {
            match action {
                Action::Advance { from, to } => {
                    let mut y = stored.get(&from).expect("the schedule advances from a stored state").clone();
                    for step in &self.trace.steps[from..to] {
                        let r = replay_step(&self.tableau, &ArrayField(&field), step, &y)?;
                        acc.work.nfev += r.nfev;
                        stats.recomputed_steps += 1;
                        y = r.end;
                    }
                    working = Some((to, y));
                }
                Action::Store { at } => {
                    let (i, y) = working.take().expect("the schedule stores the state it advanced to");
                    assert_eq!(i, at, "checkpoint schedule: stored state {i} as {at}");
                    stored.insert(at, y);
                    // State 0 is the input, held anyway; the others are the checkpoints.
                    stats.checkpoints = stats.checkpoints.max(stored.len() - 1);
                }
                Action::Free { at } => {
                    stored.remove(&at);
                }
                Action::Reverse { step } => {
                    let y = match working.take() {
                        Some((i, y)) if i == step => y,
                        _ => stored.get(&step).expect("the schedule reverses a held state").clone(),
                    };
                    self.reverse_step(step, &y, g, &mut acc)?;
                }
            }
            Ok(())
        })?;
        Ok((acc, stats))
    }
}

impl<F: NeuralOdeFunc> Vjp for CheckpointedRule<F> {
    fn vjp(&self, g: &Array2<f64>, need: &[bool]) -> autodiff::Result<Vec<Option<Array2<f64>>>> {
        let (acc, mut stats) = self.reverse_all(g).map_err(tape_error)?;
        stats.backward += acc.work;
        self.stats.set(stats);
        let b = self.y0.nrows();
        let has_times = need.len() > 1 + acc.params.len();
        let times = has_times
            .then(|| time_grads(&self.field(), &self.sol, g, &acc.adjoint))
            .transpose()
            .map_err(tape_error)?;
        let dy0 = &acc.adjoint + &block(g, 0, b);
        Ok(input_grads(need, dy0, acc.params, times))
    }
}

/// Backprop through the solver, with the time derivatives attached as two small
/// nodes when the times are a tape value.
fn backprop<'t, F: NeuralOdeFunc>(
    func: &F,
    s: &TapeSession<'t, '_>,
    y0: &Var<'t>,
    times: &[f64],
    tracked: Option<Var<'t>>,
    opts: &SolveOptions,
    stats: &SharedStats,
) -> Result<Vec<Var<'t>>> {
    let field = WithParams { func, store: s.store() };
    let start = match tracked {
        Some(t) => {
            let f0 = field.eval_array(times[0], &y0.value())?;
            Var::apply(&TimeDerivative { index: 0, sign: -1.0, f: f0, n: times.len() }, &[y0, &t])?
        }
        None => *y0,
    };
    let sol = odeint_session(func, s, &start, times, opts)?;
    stats.set(OdeStats { forward: sol.stats, ..OdeStats::default() });
    let mut ys = sol.ys;
    // The output at t_0 is y0 itself, not the node that carries dL/dt_0.
    ys[0] = *y0;
    if let Some(t) = tracked {
        for (k, y) in ys.iter_mut().enumerate().skip(1) {
            let fk = field.eval_array(times[k], &y.value())?;
            *y = Var::apply(&TimeDerivative { index: k, sign: 1.0, f: fk, n: times.len() }, &[&*y, &t])?;
        }
    }
    Ok(ys)
}

/// The identity on a state, whose rule also sends `sign g . f` to entry `index` of
/// the times: how backprop learns `dL/dt_k`.
#[derive(Clone)]
struct TimeDerivative {
    index: usize,
    sign: f64,
    f: Array2<f64>,
    n: usize,
}

impl Function for TimeDerivative {
    fn name(&self) -> &'static str {
        "odeint_tape (time derivative)"
    }
    fn forward(&self, inputs: &[&Array2<f64>]) -> autodiff::Result<(Array2<f64>, Box<dyn Vjp>)> {
        Ok((inputs[0].clone(), Box::new(self.clone())))
    }
}

impl Vjp for TimeDerivative {
    fn vjp(&self, g: &Array2<f64>, need: &[bool]) -> autodiff::Result<Vec<Option<Array2<f64>>>> {
        let dt = need[1].then(|| {
            let mut row = Array2::zeros((1, self.n));
            row[[0, self.index]] = self.sign * (g * &self.f).iter().sum::<f64>();
            row
        });
        Ok(vec![need[0].then(|| g.clone()), dt])
    }
}

/// The work of a solve in a session: the forward solve's at once, and for a solve on
/// a tape with a one-node method, the backward pass's once the tape's backward has
/// run (a caller reports both per training step, as FFJORD reports its NFE).
#[derive(Debug, Clone)]
pub struct SolveWork(SharedStats);

impl SolveWork {
    /// The work done so far (see [`OdeStats`]).
    pub fn get(&self) -> OdeStats {
        self.0.get()
    }
}

/// A session a model can solve in: on a tape with [`odeint_tape`] (the gradient
/// method as given), on plain arrays with [`odeint`](crate::odeint) (no gradient, so
/// the method is ignored). Model code generic over `S: OdeSession` runs a solve in
/// training and in evaluation alike.
pub trait OdeSession: Session {
    /// Whether the session records a tape (training) rather than computing plain
    /// values (evaluation): a model may solve with other settings in each.
    const RECORDS: bool;

    /// The states at `ts` (the first is `y0`) and the forward solve's work.
    fn odeint<F: NeuralOdeFunc + Clone + Send + Sync + 'static>(
        &self,
        func: &F,
        y0: &Self::T,
        ts: &[f64],
        opts: &SolveOptions,
        gradient: &Gradient,
    ) -> Result<(Vec<Self::T>, Stats)> {
        let (ys, work) = self.odeint_with_work(func, y0, ts, opts, gradient)?;
        Ok((ys, work.get().forward))
    }

    /// The states at `ts` and a handle on the solve's work, forward and backward.
    fn odeint_with_work<F: NeuralOdeFunc + Clone + Send + Sync + 'static>(
        &self,
        func: &F,
        y0: &Self::T,
        ts: &[f64],
        opts: &SolveOptions,
        gradient: &Gradient,
    ) -> Result<(Vec<Self::T>, SolveWork)>;
}

impl<'t> OdeSession for TapeSession<'t, '_> {
    const RECORDS: bool = true;

    fn odeint_with_work<F: NeuralOdeFunc + Clone + Send + Sync + 'static>(
        &self,
        func: &F,
        y0: &Var<'t>,
        ts: &[f64],
        opts: &SolveOptions,
        gradient: &Gradient,
    ) -> Result<(Vec<Var<'t>>, SolveWork)> {
        let sol = odeint_tape(func, self, y0, ts, opts, gradient)?;
        Ok((sol.ys, SolveWork(sol.stats)))
    }
}

impl OdeSession for autodiff::NoGrad<'_> {
    const RECORDS: bool = false;

    fn odeint_with_work<F: NeuralOdeFunc + Clone + Send + Sync + 'static>(
        &self,
        func: &F,
        y0: &Array2<f64>,
        ts: &[f64],
        opts: &SolveOptions,
        _gradient: &Gradient,
    ) -> Result<(Vec<Array2<f64>>, SolveWork)> {
        let sol = crate::odeint(&WithParams { func, store: self.store() }, y0, ts, opts)?;
        let work = SharedStats::default();
        work.set(OdeStats { forward: sol.stats, ..OdeStats::default() });
        Ok((sol.ys, SolveWork(work)))
    }
}
