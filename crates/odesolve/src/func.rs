//! Right-hand sides `f(t, y)`: on plain arrays, or generic over a [`Session`] for
//! neural networks whose parameters live in a [`ParamStore`].

use crate::{OdeError, Result, State};
use autodiff::{Mlp, NoGrad, ParamId, ParamStore, Session, Tape, Tensor};
use ndarray::{Array2, array};

/// A right-hand side evaluated on plain arrays (the fast path: no tape).
///
/// `y` is `batch x dim` (rows are samples); the result must have the same shape.
pub trait OdeFunc {
    /// `f(t, y)`.
    fn eval_array(&self, t: f64, y: &Array2<f64>) -> Result<Array2<f64>>;

    /// `f(t, y)` written into `out` (which has `y`'s shape). Override it to evaluate
    /// without allocating; the default calls [`eval_array`](OdeFunc::eval_array).
    fn eval_into(&self, t: f64, y: &Array2<f64>, out: &mut Array2<f64>) -> Result<()> {
        *out = self.eval_array(t, y)?;
        Ok(())
    }
}

/// A closure as an [`OdeFunc`].
#[derive(Debug, Clone, Copy)]
pub struct FnOde<F>(pub F);

impl<F: Fn(f64, &Array2<f64>) -> Result<Array2<f64>>> OdeFunc for FnOde<F> {
    fn eval_array(&self, t: f64, y: &Array2<f64>) -> Result<Array2<f64>> {
        (self.0)(t, y)
    }
}

/// A right-hand side with trainable parameters, written once against [`Session`]:
/// it runs on a tape (backprop through the solver, vector-Jacobian products for the
/// adjoint) or on plain arrays through [`NoGrad`].
///
/// A field may differentiate inside its own evaluation with [`Session::grad`] (a
/// continuous flow's `tr(df/dz)` is one). Every gradient method then works: its rules
/// run such a field on tapes, and differentiate the recorded inner gradients again.
/// Such a field says so with [`needs_tape`](NeuralOdeFunc::needs_tape), so that the
/// solves that need only values evaluate it on a scratch tape instead of [`NoGrad`].
pub trait NeuralOdeFunc {
    /// `f(t, y)`; `t` is a `1 x 1` value so that `df/dt` can be taken on the tape.
    fn eval<S: Session>(&self, s: &S, t: &S::T, y: &S::T) -> autodiff::Result<S::T>;
    /// The parameters `f` reads (their gradients are what the adjoint returns).
    fn params(&self) -> Vec<ParamId>;
    /// Whether [`eval`](NeuralOdeFunc::eval) calls [`Session::grad`], which a
    /// [`NoGrad`] session cannot answer. False unless overridden.
    fn needs_tape(&self) -> bool {
        false
    }
}

/// An MLP is an autonomous field, `f(t, y) = mlp(y)` (its input and output widths are
/// the state's), the common case that needs no wrapper: pass `&mlp` to any solve.
impl NeuralOdeFunc for Mlp {
    fn eval<S: Session>(&self, s: &S, _t: &S::T, y: &S::T) -> autodiff::Result<S::T> {
        self.forward(s, y)
    }
    fn params(&self) -> Vec<ParamId> {
        Mlp::params(self)
    }
}

/// A [`NeuralOdeFunc`] bound to a parameter store, usable wherever an [`OdeFunc`] is.
#[derive(Debug, Clone, Copy)]
pub struct WithParams<'a, F> {
    /// The right-hand side.
    pub func: &'a F,
    /// Its parameters.
    pub store: &'a ParamStore,
}

impl<F: NeuralOdeFunc> OdeFunc for WithParams<'_, F> {
    fn eval_array(&self, t: f64, y: &Array2<f64>) -> Result<Array2<f64>> {
        if self.func.needs_tape() {
            // Values only, but the field differentiates inside: a tape of one evaluation.
            let tape = Tape::new();
            let s = tape.session(self.store);
            let f = self.func.eval(&s, &tape.constant(array![[t]]), &tape.constant(y.clone()))?;
            return Ok(f.value());
        }
        let s = NoGrad::new(self.store);
        Ok(self.func.eval(&s, &array![[t]], y)?)
    }
}

/// What the generic stepper calls: `f(t, y)` on values of type `T`, shape-checked.
pub(crate) trait Field<T: State> {
    fn call(&self, t: f64, y: &T) -> Result<T>;
    /// `f(t, y)` into `out`, reusing its storage where the value type allows.
    fn call_into(&self, t: f64, y: &T, out: &mut T) -> Result<()> {
        *out = self.call(t, y)?;
        Ok(())
    }
}

pub(crate) fn check_shape<T: Tensor>(y: &T, out: T) -> Result<T> {
    if out.shape() == y.shape() {
        Ok(out)
    } else {
        Err(OdeError::Shape { what: "right-hand side output", expected: y.shape(), got: out.shape() })
    }
}

/// An [`OdeFunc`] seen as a [`Field`] on arrays.
pub(crate) struct ArrayField<'a, F: ?Sized>(pub &'a F);

impl<F: OdeFunc + ?Sized> Field<Array2<f64>> for ArrayField<'_, F> {
    fn call(&self, t: f64, y: &Array2<f64>) -> Result<Array2<f64>> {
        check_shape(y, self.0.eval_array(t, y)?)
    }
    fn call_into(&self, t: f64, y: &Array2<f64>, out: &mut Array2<f64>) -> Result<()> {
        self.0.eval_into(t, y, out)?;
        if out.dim() == y.dim() {
            Ok(())
        } else {
            Err(OdeError::Shape { what: "right-hand side output", expected: y.dim(), got: out.dim() })
        }
    }
}

/// A [`NeuralOdeFunc`] in a session, seen as a [`Field`] on the session's values.
pub(crate) struct SessionField<'a, F, S> {
    pub func: &'a F,
    pub session: &'a S,
}

impl<F: NeuralOdeFunc, S: Session> Field<S::T> for SessionField<'_, F, S>
where
    S::T: State,
{
    fn call(&self, t: f64, y: &S::T) -> Result<S::T> {
        let tv = self.session.constant(array![[t]]);
        check_shape(y, self.func.eval(self.session, &tv, y)?)
    }
}
