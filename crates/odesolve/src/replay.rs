//! Replaying one traced step, on any state type: on a fresh tape to take the step's
//! vector-Jacobian product, or on plain arrays to advance a checkpoint.

use crate::func::Field;
use crate::solve::step_output;
use crate::stepper::Workspace;
use crate::trace::TracedStep;
use crate::{ButcherTableau, Result, State};

/// What replaying a step gives: the state at its end, its outputs (by output index),
/// and the right-hand side evaluations it took.
pub(crate) struct Replayed<T> {
    pub end: T,
    pub outputs: Vec<(usize, T)>,
    pub nfev: usize,
}

/// Runs `step` again from `y` (its start state). The stages are those of the
/// original step: the same tableau, start and size, and `k_1 = f(t, y)` recomputed
/// (an FSAL method had carried it over, with the same value). A non-FSAL method's
/// dense output also reads `f(t + h, y_1)`, evaluated only when the step has one.
pub(crate) fn replay_step<T: State, F: Field<T>>(
    tab: &ButcherTableau,
    f: &F,
    step: &TracedStep,
    y: &T,
) -> Result<Replayed<T>> {
    let k1 = f.call(step.t, y)?;
    let mut ws = Workspace::new(tab, y, k1);
    ws.step(tab, f, step.t, y, step.h)?;
    let mut nfev = tab.stages();
    let dense = step.outputs.iter().any(|(_, theta)| theta.is_some());
    if dense && !tab.fsal() {
        let last = ws.ks.len() - 1;
        ws.ks[last] = f.call(step.t + step.h, &ws.y1)?;
        nfev += 1;
    }
    let outputs = step
        .outputs
        .iter()
        .map(|&(k, theta)| Ok((k, step_output(tab, y, &ws, step.h, theta)?)))
        .collect::<Result<_>>()?;
    Ok(Replayed { end: ws.y1, outputs, nfev })
}
