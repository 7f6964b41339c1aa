//! Binomial checkpointing: reversing `n` steps while holding at most `c` of their
//! states besides the initial one (Griewank 1992; Griewank and Walther 2000,
//! "Algorithm 799: revolve").
//!
//! To reverse steps `a..b` from the state at `a` with `s` free slots, advance `j`
//! steps to `m = a + j`, store the state there, reverse `m..b` with `s - 1` slots,
//! free it, and reverse `a..m` with `s` slots; with no free slot, each step is
//! reached by advancing from `a` again. With `s` slots and at most `r` forward
//! evaluations of each step, `beta(s, r) = C(s + r, s)` steps can be reversed, and
//! `beta(s, r) = beta(s, r - 1) + beta(s - 1, r)` says how to split: the first part
//! (advanced through once already) gets `r - 1` repetitions, the second one slot less.
//! This module picks the smallest `r` with `beta(s, r) >= b - a` and the longest first
//! part that this allows, `min(b - a - 1, beta(s, r - 1))` (the second part then fits
//! in `beta(s - 1, r)`).
//!
//! The step count is known because the forward pass ran first (it stores no state,
//! only the step sizes, unless every state fits in the `c` slots, in which case it
//! keeps them and nothing is recomputed). diffrax and equinox instead place their
//! checkpoints online while the forward pass runs (Stumm and Walther 2010): the
//! orders agree for one slot, and in general this schedule advances once more through
//! the steps before its first checkpoint.

/// One action of a reversal schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Advance the working state from the stored state at `from` to state `to`.
    Advance { from: usize, to: usize },
    /// Store the working state (state `at`).
    Store { at: usize },
    /// Free the stored state at `at`.
    Free { at: usize },
    /// Take the vector-Jacobian product of step `step` (from state `step`, which is
    /// the working state or a stored one).
    Reverse { step: usize },
}

/// `C(s + r, s)`, saturating.
fn beta(s: usize, r: usize) -> u128 {
    let mut v: u128 = 1;
    for i in 1..=s.min(r) as u128 {
        v = v.saturating_mul(s.max(r) as u128 + i) / i;
    }
    v
}

/// Length of the first part when reversing `len >= 2` steps with `free >= 1` slots.
fn split(len: usize, free: usize) -> usize {
    let l = len as u128;
    let r = (1..).find(|&r| beta(free, r) >= l).expect("beta grows without bound in r");
    beta(free, r - 1).min(l - 1) as usize
}

/// Hands `visit` the actions that reverse steps `0..n` holding at most `free` states
/// besides state 0, which the caller holds throughout; stops at `visit`'s first
/// error. The actions are produced as they are taken (their number grows like
/// `n r`), so the schedule itself takes no memory beyond the recursion.
pub(crate) fn walk<E>(
    n: usize,
    free: usize,
    visit: &mut impl FnMut(Action) -> Result<(), E>,
) -> Result<(), E> {
    reverse(0, n, free, visit)
}

fn reverse<E>(
    a: usize,
    b: usize,
    free: usize,
    visit: &mut impl FnMut(Action) -> Result<(), E>,
) -> Result<(), E> {
    match b - a {
        0 => Ok(()),
        1 => visit(Action::Reverse { step: a }),
        _ if free == 0 => {
            for i in (a..b).rev() {
                if i > a {
                    visit(Action::Advance { from: a, to: i })?;
                }
                visit(Action::Reverse { step: i })?;
            }
            Ok(())
        }
        len => {
            let m = a + split(len, free);
            visit(Action::Advance { from: a, to: m })?;
            visit(Action::Store { at: m })?;
            reverse(m, b, free - 1, visit)?;
            visit(Action::Free { at: m })?;
            reverse(a, m, free, visit)
        }
    }
}

/// The whole schedule as a list (for tests).
#[cfg(test)]
pub(crate) fn schedule(n: usize, free: usize) -> Vec<Action> {
    let mut out = Vec::new();
    walk(n, free, &mut |a| {
        out.push(a);
        Ok::<(), ()>(())
    })
    .expect("collecting cannot fail");
    out
}

/// The order in which a schedule evaluates steps, as the golden tables count it:
/// each step advanced through and each step reversed counts once.
#[cfg(test)]
pub(crate) fn evaluation_order(actions: &[Action]) -> Vec<usize> {
    let mut order = Vec::new();
    for action in actions {
        match *action {
            Action::Advance { from, to } => order.extend(from..to),
            Action::Reverse { step } => order.push(step),
            Action::Store { .. } | Action::Free { .. } => {}
        }
    }
    order
}

/// The most states stored at once besides state 0.
#[cfg(test)]
pub(crate) fn max_stored(actions: &[Action]) -> usize {
    let (mut now, mut most) = (0usize, 0usize);
    for action in actions {
        match action {
            Action::Store { .. } => {
                now += 1;
                most = most.max(now);
            }
            Action::Free { .. } => now -= 1,
            _ => {}
        }
    }
    most
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(free: usize, n: usize) -> Vec<usize> {
        evaluation_order(&schedule(n, free))
    }

    #[test]
    fn one_slot_reproduces_the_online_golden_orders() {
        // equinox's test_backward_checkpointed, c = 1 (REFERENCE.md).
        assert_eq!(order(1, 3), [0, 1, 2, 0, 1, 0]);
        assert_eq!(order(1, 5), [0, 1, 2, 3, 4, 0, 1, 2, 3, 0, 1, 2, 0, 1, 0]);
    }

    #[test]
    fn the_documented_orders_for_more_slots() {
        // The online schedule's (2, 5) order is 3,4,3,0,1,2,1,0: the same reversal,
        // after a forward pass that had already stored state 3.
        assert_eq!(order(2, 5), [0, 1, 2, 3, 4, 3, 0, 1, 2, 1, 0]);
        // The online (4, 8) order is 7,6,5,0,1,2,3,4,3,2,1,0: the same reversal, after
        // a forward pass that had stored states 5, 6 and 7.
        assert_eq!(order(4, 8), [0, 1, 2, 3, 4, 5, 6, 7, 6, 5, 0, 1, 2, 3, 4, 3, 2, 1, 0]);
        // Enough slots: every step advanced through once, then reversed.
        assert_eq!(order(8, 4), [0, 1, 2, 3, 2, 1, 0]);
        assert_eq!(order(0, 3), [0, 1, 2, 0, 1, 0]);
    }

    #[test]
    fn every_step_is_reversed_once_in_reverse_order_within_the_slots() {
        for n in 1..60 {
            for free in 0..6 {
                let actions = schedule(n, free);
                let reversed: Vec<usize> = actions
                    .iter()
                    .filter_map(|a| match a {
                        Action::Reverse { step } => Some(*step),
                        _ => None,
                    })
                    .collect();
                assert_eq!(reversed, (0..n).rev().collect::<Vec<_>>(), "n {n}, slots {free}");
                assert!(max_stored(&actions) <= free, "n {n}, slots {free}");
                // Binomial bound: no step is advanced through more than r times (with no
                // slot, step i is advanced through n - 1 - i times).
                let order = evaluation_order(&actions);
                let r = match free {
                    0 => n - 1,
                    _ => (0..).find(|&r| beta(free, r) >= n as u128).unwrap(),
                };
                for i in 0..n {
                    let evals = order.iter().filter(|&&s| s == i).count();
                    assert!(evals <= r + 1, "step {i} of {n} evaluated {evals} times, r {r}");
                }
            }
        }
    }
}
