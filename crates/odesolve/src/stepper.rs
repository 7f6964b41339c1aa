//! The one generic explicit Runge-Kutta step, for every tableau and every state type.

use crate::func::Field;
use crate::{ButcherTableau, Result, State};

/// One step's stages and result.
pub(crate) struct Step<T> {
    /// `k_1 .. k_s`; for an FSAL method `k_s = f(t + h, y_1)`.
    pub ks: Vec<T>,
    /// The new state.
    pub y1: T,
}

/// Advances `y` at `t` by `h`, given `k1 = f(t, y)`; costs `s - 1` evaluations.
pub(crate) fn rk_step<T: State, F: Field<T>>(
    tab: &ButcherTableau,
    f: &F,
    t: f64,
    y: &T,
    k1: T,
    h: f64,
) -> Result<Step<T>> {
    let s = tab.stages();
    let mut ks = Vec::with_capacity(s);
    ks.push(k1);
    let mut fsal_input = None;
    for i in 1..s {
        let yi = y.lincomb(h, tab.a(i), &ks)?;
        // The last stage of an FSAL method is evaluated at t + h exactly.
        let ti = if tab.fsal() && i == s - 1 { t + h } else { t + tab.c()[i] * h };
        ks.push(f.call(ti, &yi)?);
        if tab.fsal() && i == s - 1 {
            fsal_input = Some(yi);
        }
    }
    let y1 = match fsal_input {
        Some(y1) => y1,
        None => y.lincomb(h, tab.b(), &ks)?,
    };
    Ok(Step { ks, y1 })
}
