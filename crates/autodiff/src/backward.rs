//! Reverse-mode sweeps over a [`Tape`].
//!
//! Both sweeps walk the nodes from the loss back to the first node. Node `i` holds
//! the accumulated gradient `dL/dv_i` once every node after it has been visited
//! (they are the only ones that can use `v_i`), so each node's rule runs exactly
//! once and adds its contributions into its inputs' slots: a value used twice gets
//! both contributions.
//!
//! * [`Tape::backward`] computes on plain arrays and records nothing: the usual
//!   first-order pass, returning [`Gradients`] for every tracked leaf and parameter.
//! * [`Tape::grad`] runs the same rules on [`Var`]s, so the gradients are
//!   themselves recorded (PyTorch's `create_graph=True`) and can be differentiated
//!   again: Hessian-vector products, gradient penalties, FFJORD's trace estimator.

use crate::op::{Id, Op};
use crate::{Error, ParamGrads, ParamId, Result, Tape, Tensor, Var};
use ndarray::Array2;

/// Gradients of a scalar loss with respect to the tracked leaves of its tape.
#[derive(Debug, Clone, Default)]
pub struct Gradients {
    leaves: Vec<(Id, Array2<f64>)>,
    params: ParamGrads,
}

impl Gradients {
    /// The gradient with respect to a tracked leaf created by [`Tape::leaf`], or
    /// `None` if the loss does not depend on it.
    pub fn wrt(&self, leaf: &Var<'_>) -> Option<&Array2<f64>> {
        self.leaves.iter().find(|(id, _)| *id == leaf.id()).map(|(_, g)| g)
    }

    /// The gradient with respect to a parameter, or `None` if the loss does not use it.
    pub fn param(&self, id: ParamId) -> Option<&Array2<f64>> {
        self.params.get(id)
    }

    /// Every parameter gradient, by parameter.
    pub fn params(&self) -> impl Iterator<Item = (ParamId, &Array2<f64>)> {
        self.params.iter()
    }

    /// Takes the parameter gradients out (what an optimizer steps with).
    pub fn into_params(self) -> ParamGrads {
        self.params
    }
}

/// Adds a gradient contribution into an input's slot.
fn accumulate(slot: &mut Option<Array2<f64>>, d: Array2<f64>) {
    match slot {
        Some(acc) => {
            *acc += &d;
            // Spent: its buffer serves the next kernel (see `pool`).
            crate::fast::pool::recycle(d);
        }
        None => *slot = Some(d),
    }
}

fn check_loss(loss: &Var<'_>) -> Result<()> {
    match loss.shape() {
        (1, 1) if loss.is_tracked() => Ok(()),
        (1, 1) => Err(Error::NotTracked),
        other => Err(Error::NotScalar(other)),
    }
}

impl Tape {
    /// Gradients of the `1 x 1` value `loss` with respect to every tracked leaf and
    /// parameter it depends on. Records nothing on the tape.
    pub fn backward(&self, loss: Var<'_>) -> Result<Gradients> {
        check_loss(&loss)?;
        let mut grads: Vec<Option<Array2<f64>>> = vec![None; loss.id() + 1];
        grads[loss.id()] = Some(Array2::ones((1, 1)));
        let mut out = Gradients::default();
        self.with_nodes(|node| {
            for i in (0..=loss.id()).rev() {
                let (y, op, tracked) = node(i);
                let Some(g) = grads[i].take().filter(|_| tracked) else {
                    continue;
                };
                match op {
                    Op::Leaf => out.leaves.push((i, g)),
                    Op::Param(p) => out.params.set(*p, g),
                    // A slice's gradient is the input's shape with `g` in the slice
                    // and zeros elsewhere: add `g` in place instead of building that.
                    // (A sequence sliced into T steps would otherwise cost T full-size
                    // arrays.)
                    &Op::Slice { x, axis, start } => {
                        let (input, _, _) = node(x);
                        let slot = grads[x].get_or_insert_with(|| crate::fast::kernels::zeros(input.dim()));
                        let mut block = slot.slice_axis_mut(axis, (start..start + g.len_of(axis)).into());
                        block += &g;
                        crate::fast::pool::recycle(g);
                    }
                    Op::Function(f, inputs) => {
                        let need: Vec<bool> = inputs.iter().map(|&j| node(j).2).collect();
                        let ds = f
                            .rule
                            .vjp(&g, &need)
                            .map_err(|e| Error::Function { name: f.name, reason: e.to_string() })?;
                        for (&j, d) in inputs.iter().zip(ds) {
                            d.into_iter().for_each(|d| accumulate(&mut grads[j], d));
                        }
                    }
                    _ => op.vjp(g, y, |j| node(j).0, |j| node(j).2, |j, d| accumulate(&mut grads[j], d)),
                }
            }
            Ok::<(), Error>(())
        })?;
        out.leaves.reverse();
        Ok(out)
    }

    /// Gradients of the `1 x 1` value `loss` with respect to each of `wrt` (leaves
    /// or intermediate values), recorded on this tape so they can be differentiated
    /// again. A value the loss does not depend on gets a zero gradient.
    pub fn grad<'t>(&'t self, loss: Var<'t>, wrt: &[Var<'t>]) -> Result<Vec<Var<'t>>> {
        check_loss(&loss)?;
        for w in wrt {
            if !std::ptr::eq(w.tape(), self) {
                return Err(Error::Invalid {
                    op: "grad",
                    reason: "a value in `wrt` belongs to another tape".into(),
                });
            }
        }
        let mut grads: Vec<Option<Var<'t>>> = vec![None; loss.id() + 1];
        grads[loss.id()] = Some(self.constant(Array2::ones((1, 1))));
        for i in (0..=loss.id()).rev() {
            let (op, tracked) = self.inspect(i, |_, op, t| (op.clone(), t));
            let Some(g) = grads[i].filter(|_| tracked) else {
                continue;
            };
            if let Op::Function(f, _) = &op {
                return Err(Error::Invalid {
                    op: "grad",
                    reason: format!(
                        "function `{}` has a first-order gradient only (use Tape::backward)",
                        f.name
                    ),
                });
            }
            let need = |j: Id| self.inspect(j, |_, _, t| t);
            let mut contributions = Vec::new();
            op.vjp(g, &self.var(i), |j| self.var(j), need, |j, d| contributions.push((j, d)));
            for (j, d) in contributions {
                grads[j] = Some(match grads[j] {
                    Some(acc) => acc.add(&d).expect("grad: contributions match their input's shape"),
                    None => d,
                });
            }
        }
        Ok(wrt
            .iter()
            .map(|w| {
                match w.id() < grads.len() {
                    true => grads[w.id()],
                    false => None,
                }
                .unwrap_or_else(|| self.constant(Array2::zeros(w.shape())))
            })
            .collect())
    }
}

impl<'t> Var<'t> {
    /// Shorthand for [`Tape::backward`] on this value's tape.
    pub fn backward(&self) -> Result<Gradients> {
        self.tape().backward(*self)
    }
}
