//! The augmented ODE a continuous flow solves: the sample, its log-determinant and,
//! when asked, the two regularisers of Finlay et al. (2020), all in one state.

use super::field::Field;
use autodiff::{ParamId, Session, Tensor};
use ndarray::{Array2, Axis, array};
use odesolve::NeuralOdeFunc;
use std::sync::Arc;

/// The end time `T` of a flow: the solve runs on `u in [0, 1]` with the field
/// scaled by `T - t_0` (`dz/du = (T - t_0) f(t_0 + u (T - t_0), z)`, the same
/// trajectory as `dz/dt = f(t, z)` on `[t_0, T]`, with `t_0 = 0` for a flow), so a
/// learned `T` is one more parameter of the field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum EndTime {
    /// A constant `T`.
    Fixed(f64),
    /// `T = s^2` with `s` the parameter (FFJORD's `sqrt_end_time`): positive
    /// without a constraint.
    Learned(ParamId),
}

impl EndTime {
    /// `T` as a `1 x 1` value of the session.
    pub(crate) fn value<S: Session>(&self, s: &S) -> autodiff::Result<S::T> {
        Ok(match *self {
            EndTime::Fixed(t) => s.constant(array![[t]]),
            EndTime::Learned(id) => s.param(id)?.square(),
        })
    }
}

/// What a solve uses for `tr(df/dz)`: every diagonal entry, or the probes drawn for
/// this solve (`K` arrays, `batch x dim`), fixed for all of its evaluations.
#[derive(Debug, Clone)]
pub(crate) enum Divergence {
    Exact,
    Probes(Arc<Vec<Array2<f64>>>),
}

/// `[z, l, (E, J)]' = T [f, tr(df/dz), (|f|^2, |df/dz|_F^2)]` in the time `u` of
/// [`EndTime`]. Integrated from the data end, `l` is the log-determinant of the map
/// (Chen et al. 2018, Theorem 1: `d ln p(z(t)) / dt = -tr(df/dz)`, so
/// `ln p(x) = ln p(z(T)) + l(T)`); `E` and `J` are the kinetic energy
/// `int_0^T |f|^2 dt` and the Jacobian's Frobenius norm `int_0^T |df/dz|_F^2 dt`
/// (Finlay et al. 2020, eqs. 4 and 5), estimated from the same vector-Jacobian
/// products as the trace when it is.
#[derive(Debug, Clone)]
pub(crate) struct Dynamics<F> {
    pub(crate) field: F,
    /// `t_0`, where the data are.
    pub(crate) start: f64,
    pub(crate) end_time: EndTime,
    pub(crate) divergence: Divergence,
    /// Whether the state carries `E` and `J`.
    pub(crate) regularise: bool,
}

impl<F: Field> Dynamics<F> {
    /// Columns of the state besides the sample: `l`, and `E`, `J` when regularising.
    pub(crate) fn extra_columns(&self) -> usize {
        if self.regularise { 3 } else { 1 }
    }

    /// `tr(df/dz)` per row (`batch x 1`), and `|df/dz|_F^2` when regularising, with
    /// `f` recorded from the tracked `z`. Each term is a vector-Jacobian product
    /// `v^T df/dz`: rows are independent samples, so the gradient of a column sum is
    /// every row's own product.
    fn trace_and_frobenius<S: Session>(
        &self,
        s: &S,
        f: &S::T,
        z: &S::T,
    ) -> autodiff::Result<(S::T, Option<S::T>)> {
        let wrt = std::slice::from_ref(z);
        let mut traces = Vec::new();
        let mut norms = Vec::new();
        let mut keep = |vjp: &S::T, trace: S::T| {
            traces.push(trace);
            if self.regularise {
                norms.push(vjp.square().sum_axis(Axis(1)));
            }
        };
        let weight = match &self.divergence {
            Divergence::Exact => {
                // Row i of the Jacobian: its diagonal entry, and all of it for the
                // Frobenius norm.
                for i in 0..self.field.dim() {
                    let row = s.grad(&f.slice_cols(i..i + 1)?.sum(), wrt)?.remove(0);
                    keep(&row, row.slice_cols(i..i + 1)?);
                }
                1.0
            }
            Divergence::Probes(probes) => {
                for e in probes.iter() {
                    let e = s.constant(e.clone());
                    let vjp = s.grad(&f.mul(&e)?.sum(), wrt)?.remove(0);
                    keep(&vjp, vjp.mul(&e)?.sum_axis(Axis(1)));
                }
                1.0 / probes.len() as f64
            }
        };
        let total = |terms: Vec<S::T>| -> autodiff::Result<Option<S::T>> {
            let mut it = terms.into_iter();
            let Some(first) = it.next() else { return Ok(None) };
            Ok(Some(it.try_fold(first, |acc, t| acc.add(&t))?.scale(weight)))
        };
        let trace = total(traces)?.expect("a field has at least one dimension and a solve one probe");
        Ok((trace, total(norms)?))
    }
}

impl<F: Field> NeuralOdeFunc for Dynamics<F> {
    fn eval<S: Session>(&self, s: &S, u: &S::T, y: &S::T) -> autodiff::Result<S::T> {
        let scale = self.end_time.value(s)?.add_scalar(-self.start);
        let t = u.mul(&scale)?.add_scalar(self.start);
        let z = s.track(y.slice_cols(0..self.field.dim())?);
        let f = self.field.eval(s, &t, &z)?;
        let (trace, frobenius) = self.trace_and_frobenius(s, &f, &z)?;
        let mut columns = vec![f.clone(), trace];
        if let Some(frobenius) = frobenius {
            columns.push(f.square().sum_axis(Axis(1)));
            columns.push(frobenius);
        }
        let refs: Vec<&S::T> = columns.iter().collect();
        S::T::concat_cols(&refs)?.mul(&scale)
    }

    fn params(&self) -> Vec<ParamId> {
        let mut ids = self.field.params();
        if let EndTime::Learned(id) = self.end_time {
            ids.push(id);
        }
        ids
    }

    fn needs_tape(&self) -> bool {
        true
    }
}
