//! The adjoint method (Chen, Rubanova, Bettencourt and Duvenaud 2018, "Neural Ordinary
//! Differential Equations", Algorithm 1 and Appendix B).
//!
//! For a loss `L` of the states `y(t_i)` at output times `t_0 < ... < t_N`, the adjoint
//! `a(t) = dL/dy(t)` obeys a linear ODE backwards in time. Integrating, from `t_N`
//! down to `t_0`, the augmented state `z = [y, a, a_theta, a_t]` gives every gradient in
//! one backward solve whose memory does not depend on the number of steps: `y` is
//! recomputed backwards instead of being stored, and each evaluation records `f` on a
//! fresh small tape only to take one vector-Jacobian product.
//!
//! The augmented system is assembled from four named parts ([`AugmentedLayout`] places
//! them side by side in one row):
//!
//! | part | dynamics |
//! |---|---|
//! | state | $\dot y = f(t, y, \theta)$ |
//! | state adjoint | $\dot a = -a^\top \partial f / \partial y$ |
//! | parameter adjoint | $\dot a_\theta = -a^\top \partial f / \partial \theta$ |
//! | time adjoint | $\dot a_t = -a^\top \partial f / \partial t$ |
//!
//! All three products come from one backward sweep of `sum(f * a)` on the tape.
//! At each output time `t_i` the adjoint jumps, `a <- a + dL/dy(t_i)` (Appendix B), the
//! time gradient is `dL/dt_i = dL/dy(t_i) . f(t_i, y(t_i))` for `i >= 1`, and
//! `a_t <- a_t - dL/dt_i`; at the end `dL/dy_0 = a(t_0)`, `dL/dtheta = a_theta(t_0)`
//! and `dL/dt_0 = a_t(t_0)`.

use crate::func::{Field, check_shape};
use crate::solve::solve;
use crate::{ErrorNorm, NeuralOdeFunc, OdeError, OdeFunc, Result, Solution, SolveOptions, Stats, WithParams};
use autodiff::{ParamId, ParamStore, Tape, Tensor};
use ndarray::{Array2, s};
use std::cell::Cell;
use std::ops::Range;

/// Settings of the backward (adjoint) solve. The default is torchdiffeq's: Dopri5 with
/// rtol 1e-7, atol 1e-9, the full norm, forward states kept at output times.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdjointOptions {
    /// Method and tolerances of the backward solve (its `norm` is replaced when
    /// `seminorm` is set).
    pub solver: SolveOptions,
    /// Leave the parameter and time adjoints out of the error norm (Kidger et al. 2021):
    /// they are integrals that never feed back into the dynamics, so their error need
    /// not limit the step size.
    pub seminorm: bool,
    /// Replace the backward-recomputed `y` by the forward solution at every output time
    /// (as torchdiffeq does), which stops reconstruction error from accumulating.
    pub keep_forward_states: bool,
}

impl Default for AdjointOptions {
    fn default() -> Self {
        Self::new(SolveOptions::default())
    }
}

impl AdjointOptions {
    /// The given backward solver settings, full norm, forward states kept.
    pub fn new(solver: SolveOptions) -> Self {
        AdjointOptions { solver, seminorm: false, keep_forward_states: true }
    }
}

/// Gradients returned by [`adjoint_backward`].
#[derive(Debug, Clone)]
pub struct AdjointGradients {
    /// `dL/dy_0`, shaped like `y_0`.
    pub y0: Array2<f64>,
    /// `dL/dtheta` for every parameter of the right-hand side.
    pub params: Vec<(ParamId, Array2<f64>)>,
    /// `dL/dt_i` for every output time.
    pub times: Vec<f64>,
    /// Work of the backward solves.
    pub stats: Stats,
    /// Largest tape (in nodes) recorded by one vector-Jacobian product: the adjoint's
    /// memory beyond a few rows of state, whatever the number of steps.
    pub max_tape_nodes: usize,
}

impl AdjointGradients {
    /// The gradient with respect to one parameter.
    pub fn param(&self, id: ParamId) -> Option<&Array2<f64>> {
        self.params.iter().find(|(p, _)| *p == id).map(|(_, g)| g)
    }
}

/// The augmented state of the adjoint method, assembled from four named parts laid side
/// by side in one `1 x width` row (so the generic solver and its error norm see one
/// state):
///
/// | part | accessor | dynamics (backwards from `t_N`) |
/// |---|---|---|
/// | state | [`state`](Self::state) | $\dot y = f(t, y, \theta)$ |
/// | state adjoint | [`adjoint`](Self::adjoint) | $\dot a = -a^\top \partial f / \partial y$ |
/// | parameter adjoint | [`param`](Self::param) | $\dot a_\theta = -a^\top \partial f / \partial \theta$ |
/// | time adjoint | [`time`](Self::time) | $\dot a_t = -a^\top \partial f / \partial t$ |
///
/// The three vector-Jacobian products come from one backward sweep of `sum(f * a)` on
/// a fresh tape per evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct AugmentedLayout {
    shape: (usize, usize),
    params: Vec<(ParamId, (usize, usize))>,
}

impl AugmentedLayout {
    /// The layout for states of `shape` and the parameters `ids` (shapes from `store`).
    /// An id of another store is [`OdeError::Autodiff`](crate::OdeError::Autodiff) naming it.
    pub fn new(shape: (usize, usize), store: &ParamStore, ids: Vec<ParamId>) -> Result<Self> {
        let params = ids.into_iter().map(|id| Ok((id, store.shape(id)?))).collect::<Result<_>>()?;
        Ok(AugmentedLayout { shape, params })
    }
    fn n(&self) -> usize {
        self.shape.0 * self.shape.1
    }
    /// Columns of the state part `y` (row-major `batch x dim`):
    /// $\dot y = f(t, y, \theta)$, recomputed backwards instead of stored.
    pub fn state(&self) -> Range<usize> {
        0..self.n()
    }
    /// Columns of the state adjoint `a = dL/dy(t)`: $\dot a = -a^\top \partial f/\partial y$,
    /// jumping by `dL/dy(t_i)` at every output time.
    pub fn adjoint(&self) -> Range<usize> {
        self.n()..2 * self.n()
    }
    /// Columns of the adjoint of parameter `k` (in `NeuralOdeFunc::params` order,
    /// row-major): $\dot a_\theta = -a^\top \partial f/\partial\theta$, zero at `t_N`, so
    /// $a_\theta(t_0) = \int_{t_0}^{t_N} a^\top \partial f/\partial\theta \, dt = dL/d\theta$.
    pub fn param(&self, k: usize) -> Range<usize> {
        let start = 2 * self.n() + self.params[..k].iter().map(|(_, (r, c))| r * c).sum::<usize>();
        let (r, c) = self.params[k].1;
        start..start + r * c
    }
    /// Column of the time adjoint: $\dot a_t = -a^\top \partial f/\partial t$, starting at
    /// $-dL/dt_N$ and decreased by $dL/dt_i$ at each output time, so that $a_t(t_0) = dL/dt_0$.
    pub fn time(&self) -> usize {
        let k = self.params.len();
        if k == 0 { 2 * self.n() } else { self.param(k - 1).end }
    }
    /// Number of columns of the augmented row.
    pub fn width(&self) -> usize {
        self.time() + 1
    }
    fn block(&self, z: &Array2<f64>, r: Range<usize>, shape: (usize, usize)) -> Array2<f64> {
        z.slice(s![0, r]).to_owned().into_shape_with_order(shape).expect("layout sizes match")
    }
    fn put(&self, z: &mut Array2<f64>, r: Range<usize>, v: &Array2<f64>) {
        z.slice_mut(s![0, r]).iter_mut().zip(v.iter()).for_each(|(d, x)| *d = *x);
    }
    /// The seminorm mask: the state and its adjoint count, the integrals do not.
    fn seminorm(&self) -> Vec<bool> {
        (0..self.width()).map(|j| j < 2 * self.n()).collect()
    }
}

/// The augmented dynamics of the four parts, evaluated with one vector-Jacobian product.
struct AdjointSystem<'a, F> {
    func: &'a F,
    store: &'a ParamStore,
    layout: AugmentedLayout,
    max_nodes: Cell<usize>,
}

impl<F: NeuralOdeFunc> Field<Array2<f64>> for AdjointSystem<'_, F> {
    fn call(&self, t: f64, z: &Array2<f64>) -> Result<Array2<f64>> {
        let l = &self.layout;
        let y = l.block(z, l.state(), l.shape);
        let a = l.block(z, l.adjoint(), l.shape);
        let tape = Tape::new();
        let s = tape.session(self.store);
        let tv = tape.leaf(ndarray::array![[t]]);
        let yv = tape.leaf(y.clone());
        let f = check_shape(&yv, self.func.eval(&s, &tv, &yv)?)?;
        let mut out = Array2::zeros((1, l.width()));
        l.put(&mut out, l.state(), &f.value());
        let loss = f.mul(&tape.constant(a))?.sum();
        if loss.is_tracked() {
            let g = tape.backward(loss)?;
            if let Some(gy) = g.wrt(&yv)? {
                l.put(&mut out, l.adjoint(), &gy.mapv(|x| -x));
            }
            for (k, (id, _)) in l.params.iter().enumerate() {
                if let Some(gp) = g.param(*id) {
                    l.put(&mut out, l.param(k), &gp.mapv(|x| -x));
                }
            }
            out[[0, l.time()]] = -g.wrt(&tv)?.map_or(0.0, |gt| gt[[0, 0]]);
        }
        self.max_nodes.set(self.max_nodes.get().max(tape.len()));
        Ok(out)
    }
}

/// Gradients of a loss through a forward solution `sol` of `func` (computed on plain
/// arrays, e.g. by [`odeint`](crate::odeint) with [`WithParams`]), given
/// `grad_ys[i] = dL/dy(t_i)` for every output time.
pub fn adjoint_backward<F: NeuralOdeFunc>(
    func: &F,
    store: &ParamStore,
    sol: &Solution<Array2<f64>>,
    grad_ys: &[Array2<f64>],
    opts: &AdjointOptions,
) -> Result<AdjointGradients> {
    let n = sol.ts.len();
    if n == 0 {
        return Err(OdeError::Times("adjoint: the forward solution has no output times".into()));
    }
    if grad_ys.len() != n || sol.ys.len() != n {
        return Err(OdeError::Shape {
            what: "adjoint: one gradient per output time",
            expected: (n, 1),
            got: (grad_ys.len(), 1),
        });
    }
    let shape = sol.ys[0].dim();
    if let Some(g) = grad_ys.iter().find(|g| g.dim() != shape) {
        return Err(OdeError::Shape { what: "adjoint: dL/dy(t_i)", expected: shape, got: g.dim() });
    }
    let layout = AugmentedLayout::new(shape, store, func.params())?;
    let mut solver = opts.solver.clone();
    solver.norm = if opts.seminorm { ErrorNorm::Seminorm(layout.seminorm()) } else { ErrorNorm::Rms };
    let system = AdjointSystem { func, store, layout: layout.clone(), max_nodes: Cell::new(0) };
    let forward = WithParams { func, store };
    let dl_dt = |i: usize| -> Result<f64> {
        let fi = forward.eval_array(sol.ts[i], &sol.ys[i])?;
        Ok((&fi * &grad_ys[i]).iter().sum())
    };

    let mut times = vec![0.0; n];
    let mut z = Array2::zeros((1, layout.width()));
    layout.put(&mut z, layout.state(), &sol.ys[n - 1]);
    layout.put(&mut z, layout.adjoint(), &grad_ys[n - 1]);
    let mut stats = Stats::default();
    for i in (1..n).rev() {
        times[i] = dl_dt(i)?;
        z[[0, layout.time()]] -= times[i];
        let back = solve(&system, &z, &[sol.ts[i], sol.ts[i - 1]], &solver)?;
        stats += back.stats;
        z = back.ys.into_iter().next_back().expect("two output times");
        if opts.keep_forward_states {
            layout.put(&mut z, layout.state(), &sol.ys[i - 1]);
        }
        let a = layout.block(&z, layout.adjoint(), shape) + &grad_ys[i - 1];
        layout.put(&mut z, layout.adjoint(), &a);
    }
    times[0] = z[[0, layout.time()]];
    let params = layout
        .params
        .iter()
        .enumerate()
        .map(|(k, (id, shp))| (*id, layout.block(&z, layout.param(k), *shp)))
        .collect();
    Ok(AdjointGradients {
        y0: layout.block(&z, layout.adjoint(), shape),
        params,
        times,
        stats,
        max_tape_nodes: system.max_nodes.get(),
    })
}
