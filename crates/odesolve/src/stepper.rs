//! The one generic explicit Runge-Kutta step, for every tableau and every state type.

use crate::func::Field;
use crate::{ButcherTableau, Result, State};

/// The stages and result of the current step, kept across steps so that plain arrays
/// are reused instead of reallocated.
pub(crate) struct Workspace<T> {
    /// `k_1 .. k_s`, plus for a non-FSAL method one slot for `f(t + h, y_1)` (the dense
    /// output's last weight and the next step's `k_1`). `ks[0]` must hold `f(t, y)`.
    pub ks: Vec<T>,
    /// The input of the stage being evaluated.
    stage: T,
    /// The new state.
    pub y1: T,
}

impl<T: State> Workspace<T> {
    /// Buffers for `tab`, shaped like `y`, with `k1 = f(t, y)`.
    pub fn new(tab: &ButcherTableau, y: &T, k1: T) -> Self {
        let n = if tab.fsal() { tab.stages() } else { tab.stages() + 1 };
        let mut ks = vec![k1.clone(); n];
        ks[0] = k1;
        Workspace { ks, stage: y.clone(), y1: y.clone() }
    }

    /// Fills `ks[1..s]` and `y1` for a step of size `h` from `(t, y)`; costs `s - 1`
    /// evaluations. For an FSAL method `ks[s - 1] = f(t + h, y_1)`.
    pub fn step<F: Field<T>>(&mut self, tab: &ButcherTableau, f: &F, t: f64, y: &T, h: f64) -> Result<()> {
        let s = tab.stages();
        for i in 1..s {
            let (done, rest) = self.ks.split_at_mut(i);
            if tab.fsal() && i == s - 1 {
                // The last stage of an FSAL method is f(t + h, y_1), at t + h exactly.
                y.lincomb_into(h, tab.a(i), done, &mut self.y1)?;
                f.call_into(t + h, &self.y1, &mut rest[0])?;
            } else {
                y.lincomb_into(h, tab.a(i), done, &mut self.stage)?;
                f.call_into(t + tab.c()[i] * h, &self.stage, &mut rest[0])?;
            }
        }
        if !tab.fsal() {
            y.lincomb_into(h, tab.b(), &self.ks[..s], &mut self.y1)?;
        }
        Ok(())
    }

    /// After an accepted step: `y <- y_1`, and `ks[0] <- f(t + h, y_1)` taken from the
    /// last slot (the FSAL stage, or the slot the caller filled).
    pub fn advance(&mut self, y: &mut T) {
        let last = self.ks.len() - 1;
        self.ks.swap(0, last);
        std::mem::swap(y, &mut self.y1);
    }
}
