//! The record of a solve that lets its steps be replayed exactly: each accepted step's
//! start and size, and which outputs fell inside it.
//!
//! Step sizes are decided on values and are not differentiated, so replaying step `i`
//! from its start state with the same size recomputes the same stages: a gradient
//! taken through the replays equals the gradient through the original solve.

use ndarray::Array2;

/// One accepted step.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TracedStep {
    /// Start time.
    pub t: f64,
    /// Size (negative when integrating backwards).
    pub h: f64,
    /// The outputs this step produced: the output's index, and `Some(theta)` for a
    /// dense output at `t + theta h`, `None` for the step's end.
    pub outputs: Vec<(usize, Option<f64>)>,
}

/// The accepted steps of one solve, in order, and their start states while there
/// are at most `keep_states` of them.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Trace {
    pub steps: Vec<TracedStep>,
    /// The start state of every step, or empty once the steps outnumber `keep_states`.
    pub states: Vec<Array2<f64>>,
    pub keep_states: usize,
}

impl Trace {
    /// A trace that keeps the start states while there are at most `keep_states` steps.
    pub fn keeping(keep_states: usize) -> Self {
        Trace { keep_states, ..Trace::default() }
    }

    /// Records an accepted step that started from `y`.
    pub fn push(&mut self, step: TracedStep, y: &Array2<f64>) {
        self.steps.push(step);
        if self.steps.len() <= self.keep_states {
            self.states.push(y.clone());
        } else if !self.states.is_empty() {
            // Too many to keep: the backward pass recomputes from checkpoints instead.
            self.states = Vec::new();
        }
    }

    /// Whether every step's start state was kept.
    pub fn kept_all(&self) -> bool {
        self.states.len() == self.steps.len()
    }
}
