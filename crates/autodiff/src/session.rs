//! Sessions: where a model's forward pass gets its parameters and constants.
//!
//! Model code is generic over [`Session`], so one implementation serves training and
//! inference:
//!
//! * [`TapeSession`] binds each parameter to a tracked leaf of a [`Tape`] (once per
//!   tape, however often it is used), so the loss can be differentiated;
//! * [`NoGrad`] hands out plain arrays: evaluation records nothing and allocates no
//!   nodes.
//!
//! A forward pass may itself differentiate ([`Session::grad`], PyTorch's
//! `torch.autograd.grad(..., create_graph=True)` inside a module): a continuous flow's
//! field takes the trace of its own Jacobian this way. On a tape the gradient is
//! recorded like any other value, so the loss can still be differentiated; a
//! [`NoGrad`] session keeps no graph and returns [`Error::NoTape`].

use crate::{Error, ParamId, ParamStore, Result, Tape, Tensor, Var};
use ndarray::Array2;
use std::cell::RefCell;

/// A source of parameters and constants for a forward pass.
pub trait Session {
    /// The value type operations run on.
    type T: Tensor;
    /// The current value of a parameter (tracked, when the session records); an id of
    /// another store than the session's is [`Error::ForeignHandle`].
    fn param(&self, id: ParamId) -> Result<Self::T>;
    /// A constant input (data, noise, masks).
    fn constant(&self, value: Array2<f64>) -> Self::T;
    /// The parameter store the session reads from.
    fn store(&self) -> &ParamStore;
    /// `x` as a value that [`grad`](Session::grad) can differentiate with respect to
    /// (PyTorch's `requires_grad_`): on a tape, an untracked value becomes a tracked
    /// leaf with the same value, and a tracked one is returned as it is.
    fn track(&self, x: Self::T) -> Self::T;
    /// Gradients of the `1 x 1` value `y` with respect to each of `wrt`, as values of
    /// this session that can be differentiated again ([`Tape::grad`]).
    fn grad(&self, y: &Self::T, wrt: &[Self::T]) -> Result<Vec<Self::T>>;
}

/// Records on a tape; parameters become tracked leaves.
#[derive(Debug)]
pub struct TapeSession<'t, 's> {
    tape: &'t Tape,
    store: &'s ParamStore,
    bound: RefCell<Vec<Option<Var<'t>>>>,
}

impl Tape {
    /// A session recording on this tape with parameters from `store`.
    pub fn session<'s>(&self, store: &'s ParamStore) -> TapeSession<'_, 's> {
        TapeSession { tape: self, store, bound: RefCell::new(vec![None; store.len()]) }
    }
}

impl<'t> TapeSession<'t, '_> {
    /// The tape this session records on.
    pub fn tape(&self) -> &'t Tape {
        self.tape
    }
}

impl<'t> Session for TapeSession<'t, '_> {
    type T = Var<'t>;

    fn param(&self, id: ParamId) -> Result<Var<'t>> {
        let value = self.store.get(id)?;
        let mut bound = self.bound.borrow_mut();
        if bound.len() <= id.index() {
            bound.resize(self.store.len(), None);
        }
        Ok(*bound[id.index()].get_or_insert_with(|| self.tape.param_leaf(id, value.clone())))
    }
    fn constant(&self, value: Array2<f64>) -> Var<'t> {
        self.tape.constant(value)
    }
    fn store(&self) -> &ParamStore {
        self.store
    }
    fn track(&self, x: Var<'t>) -> Var<'t> {
        if x.is_tracked() { x } else { self.tape.leaf(x.value()) }
    }
    fn grad(&self, y: &Var<'t>, wrt: &[Var<'t>]) -> Result<Vec<Var<'t>>> {
        self.tape.grad(*y, wrt)
    }
}

/// Evaluates on plain arrays: no tape, no gradients.
#[derive(Debug, Clone, Copy)]
pub struct NoGrad<'s> {
    store: &'s ParamStore,
}

impl<'s> NoGrad<'s> {
    /// A no-grad session reading parameters from `store`.
    pub fn new(store: &'s ParamStore) -> Self {
        NoGrad { store }
    }
}

impl Session for NoGrad<'_> {
    type T = Array2<f64>;

    fn param(&self, id: ParamId) -> Result<Array2<f64>> {
        Ok(self.store.get(id)?.clone())
    }
    fn constant(&self, value: Array2<f64>) -> Array2<f64> {
        value
    }
    fn store(&self) -> &ParamStore {
        self.store
    }
    fn track(&self, x: Array2<f64>) -> Array2<f64> {
        x
    }
    fn grad(&self, _y: &Array2<f64>, _wrt: &[Array2<f64>]) -> Result<Vec<Array2<f64>>> {
        Err(Error::NoTape { op: "Session::grad" })
    }
}
