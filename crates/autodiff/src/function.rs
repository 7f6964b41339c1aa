//! Differentiable functions with a hand-written gradient: PyTorch's
//! `torch.autograd.Function`.
//!
//! Composing ops records one tape node per op, and each node's value is a new
//! array. For a small, hot block of element-wise math (a GRU's gates, a fused loss)
//! that means many passes over memory forward and as many backward. A [`Function`]
//! computes the whole block in one pass and returns, with its value, a [`Vjp`]: the
//! gradient rule holding whatever it saved from the forward pass. The tape records a
//! single node for it.
//!
//! The rule works on plain arrays, so a function is differentiable once:
//! [`Tape::backward`](crate::Tape::backward) (and so [`gradcheck`](crate::gradcheck()))
//! runs it, while [`Tape::grad`](crate::Tape::grad) (gradients of gradients) returns
//! an error naming the function, like PyTorch's `once_differentiable`. Check every
//! function's rule with [`gradcheck`](crate::gradcheck()).

use crate::Result;
use ndarray::Array2;
use std::fmt;
use std::rc::Rc;

/// The gradient rule of one application of a [`Function`].
pub trait Vjp {
    /// `dL/d(input_i)` for every input `i` with `need[i]` (`None` for the others),
    /// given `g = dL/dy`. Each gradient has its input's shape. A rule that can fail
    /// (one that runs a solver, say) returns the error, and
    /// [`Tape::backward`](crate::Tape::backward) returns it, naming the function.
    fn vjp(&self, g: &Array2<f64>, need: &[bool]) -> Result<Vec<Option<Array2<f64>>>>;
}

/// A function of several matrices with its own gradient rule.
pub trait Function {
    /// A name for error messages.
    fn name(&self) -> &'static str;
    /// The value, and the gradient rule (holding what it needs from this pass).
    /// Applied to plain arrays the rule is dropped unused.
    fn forward(&self, inputs: &[&Array2<f64>]) -> Result<(Array2<f64>, Box<dyn Vjp>)>;
}

/// A recorded application: the rule and the function's name.
#[derive(Clone)]
pub(crate) struct Recorded {
    pub(crate) name: &'static str,
    pub(crate) rule: Rc<dyn Vjp>,
}

impl fmt::Debug for Recorded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Function({})", self.name)
    }
}
