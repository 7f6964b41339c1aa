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
//!
//! A rule says what each input's contribution is (`op::Grad`); the sweep decides how
//! to add it. A contribution at a broadcast shape is summed back to its input's
//! shape (broadcasting in reverse). On arrays the sweep also saves memory traffic: a
//! `g` passed on unchanged is moved into one input rather than copied, a slice's
//! padded gradient is added into a block of its input's slot in place, and every
//! buffer that is spent (a `g` once its node is done, a contribution once added)
//! goes back to the pool for the next kernel of its size.

use crate::fast::{kernels, pool};
use crate::op::{Grad, Id, Op};
use crate::{Error, ParamGrads, ParamId, Result, Shape, Tape, Tensor, Var};
use ndarray::{Array2, Axis};

/// Gradients of a scalar loss with respect to the tracked leaves of its tape.
#[derive(Debug, Clone)]
pub struct Gradients {
    /// The identity of the tape the loss was recorded on.
    tape: u64,
    leaves: Vec<(Id, Array2<f64>)>,
    params: ParamGrads,
}

impl Gradients {
    /// The gradient with respect to a tracked leaf created by [`Tape::leaf`], or
    /// `None` if the loss does not depend on it. A leaf of another tape than the
    /// loss's is [`Error::ForeignHandle`].
    pub fn wrt(&self, leaf: &Var<'_>) -> Result<Option<&Array2<f64>>> {
        if leaf.tape().identity() != self.tape {
            return Err(Error::ForeignHandle {
                op: "Gradients::wrt",
                what: format!("leaf #{}", leaf.id()),
                owner: "another tape than the loss".into(),
            });
        }
        Ok(self.leaves.iter().find(|(id, _)| *id == leaf.id()).map(|(_, g)| g))
    }

    /// The gradient with respect to a parameter, or `None` if the loss does not use it
    /// (as for a parameter of another store).
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

/// Adds the contribution `d` into the gradient slot of an input of shape `shape`,
/// first summing it over the axes where the input was broadcast. Whatever buffer is
/// spent serves the next kernel of its size (see `fast::pool`).
fn add(slot: &mut Option<Array2<f64>>, shape: Shape, d: Array2<f64>) {
    let d = if d.dim() == shape {
        d
    } else {
        let summed = d.sum_to(shape).expect("a contribution broadcasts from its input's shape");
        pool::recycle(d);
        summed
    };
    match slot {
        Some(acc) => {
            kernels::add_assign(acc, &d);
            pool::recycle(d);
        }
        None => *slot = Some(d),
    }
}

/// [`add`] for a contribution that is still needed elsewhere (a `g` passed to
/// several inputs): copied only if it lands in an empty slot as it is.
fn add_copy(slot: &mut Option<Array2<f64>>, shape: Shape, d: &Array2<f64>) {
    if d.dim() != shape {
        add(slot, shape, d.sum_to(shape).expect("a contribution broadcasts from its input's shape"));
    } else if let Some(acc) = slot {
        kernels::add_assign(acc, d);
    } else {
        *slot = Some(kernels::copy(&d.view()));
    }
}

/// Adds `g` into the block from `offset` on along `axis` of the gradient slot of an
/// input of shape `shape` (zeros elsewhere, if the slot is empty).
fn add_block(slot: &mut Option<Array2<f64>>, shape: Shape, g: &Array2<f64>, axis: Axis, offset: usize) {
    let acc = slot.get_or_insert_with(|| kernels::zeros(shape));
    let mut block = acc.slice_axis_mut(axis, (offset..offset + g.len_of(axis)).into());
    block += g;
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
        self.owns(&loss, "Tape::backward", || "the loss".into())?;
        check_loss(&loss)?;
        let mut grads: Vec<Option<Array2<f64>>> = vec![None; loss.id() + 1];
        grads[loss.id()] = Some(Array2::ones((1, 1)));
        let mut out = Gradients { tape: self.identity(), leaves: Vec::new(), params: ParamGrads::default() };
        // The inputs that a node's rule passes `g` itself to (kept from node to node
        // so that it allocates once).
        let mut passed: Vec<Id> = Vec::new();
        self.with_nodes(|nodes| {
            let shape = |j: Id| nodes.value(j).dim();
            for i in (0..=loss.id()).rev() {
                let Some(g) = grads[i].take().filter(|_| nodes.tracked(i)) else {
                    continue;
                };
                match nodes.op(i) {
                    Op::Leaf => out.leaves.push((i, g)),
                    Op::Param(p) => out.params.accumulate(*p, g)?,
                    Op::Function(f, inputs) => {
                        let need: Vec<bool> = inputs.iter().map(|&j| nodes.tracked(j)).collect();
                        let ds = f
                            .rule
                            .vjp(&g, &need)
                            .map_err(|e| Error::Function { name: f.name, reason: e.to_string() })?;
                        for (&j, d) in inputs.iter().zip(ds) {
                            d.into_iter().for_each(|d| add(&mut grads[j], shape(j), d));
                        }
                        pool::recycle(g);
                    }
                    op => {
                        let (value, tracked) = (|j| nodes.value(j), |j| nodes.tracked(j));
                        // Each contribution goes into its input's slot. (Inlined: this
                        // runs for every contribution of every node, and as a call it
                        // cost the 3,000-op chain benchmark 2% more instructions.)
                        op.grad(
                            &g,
                            nodes.value(i),
                            value,
                            tracked,
                            #[inline(always)]
                            |j, d| match d {
                                Grad::Pass => passed.push(j),
                                Grad::Padded { axis, offset } => {
                                    add_block(&mut grads[j], shape(j), &g, axis, offset)
                                }
                                Grad::New(d) => add(&mut grads[j], shape(j), d),
                            },
                        );
                        // `g` itself: moved into one input of its own shape, added to
                        // the other inputs it passes to (summed into broadcast ones).
                        let owner = passed.iter().position(|&j| shape(j) == g.dim());
                        let owner = owner.map(|k| passed.swap_remove(k));
                        for j in passed.drain(..) {
                            add_copy(&mut grads[j], shape(j), &g);
                        }
                        match owner {
                            Some(j) => add(&mut grads[j], shape(j), g),
                            None => pool::recycle(g),
                        }
                    }
                }
            }
            Ok::<(), Error>(())
        })?;
        out.leaves.reverse();
        Ok(out)
    }

    /// Gradients of the `1 x 1` value `loss` with respect to each of `wrt` (leaves
    /// or intermediate values), recorded on this tape so they can be differentiated
    /// again. A value the loss does not depend on gets a zero gradient. Only the
    /// nodes on a path from `wrt` to the loss are differentiated: a field's weights
    /// get no recorded gradient when it is differentiated with respect to its state.
    pub fn grad<'t>(&'t self, loss: Var<'t>, wrt: &[Var<'t>]) -> Result<Vec<Var<'t>>> {
        self.owns(&loss, "Tape::grad", || "the loss".into())?;
        check_loss(&loss)?;
        for (k, w) in wrt.iter().enumerate() {
            self.owns(w, "Tape::grad", || format!("`wrt[{k}]`"))?;
        }
        // A node passes gradient only to earlier nodes, so the sweep can stop at the
        // earliest of `wrt`: a field differentiating itself inside a long recorded
        // solve then walks its own evaluation, not the whole tape.
        let first = wrt.iter().map(|w| w.id()).min().unwrap_or(loss.id());
        let leads = self.leads_to(first, loss.id(), wrt);
        let leads = |j: Id| j >= first && leads[j - first];
        let mut grads: Vec<Option<Var<'t>>> = vec![None; loss.id() + 1];
        grads[loss.id()] = Some(self.constant(Array2::ones((1, 1))));
        for i in (first + 1..=loss.id()).rev() {
            let Some(g) = grads[i].filter(|_| leads(i)) else {
                continue;
            };
            let op = self.inspect(i, |_, op, _| op.clone());
            if let Op::Function(f, _) = &op {
                return Err(Error::Invalid {
                    op: "grad",
                    reason: format!(
                        "function `{}` has a first-order gradient only (use Tape::backward)",
                        f.name
                    ),
                });
            }
            op.grad(
                &g,
                &self.var(i),
                |j| self.var(j),
                leads,
                |j, d| {
                    let d = d.into_value(&g, self.var(j).shape());
                    grads[j] = Some(match grads[j] {
                        Some(acc) => acc.add(&d).expect("grad: contributions match their input's shape"),
                        None => d,
                    });
                },
            );
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

    /// Which of the nodes `first..=last` lead to a tracked one of `wrt`: a
    /// tracked value of `wrt`, or a node with such an input. Only they need a
    /// gradient in [`grad`](Self::grad): the parameters of a field differentiated
    /// with respect to its state, and everything computed from them alone, are left
    /// out, where `backward` would give them gradients nobody asked for (as
    /// `torch.autograd.grad` leaves them out).
    fn leads_to(&self, first: Id, last: Id, wrt: &[Var<'_>]) -> Vec<bool> {
        let mut leads = vec![false; last + 1 - first];
        self.with_nodes(|nodes| {
            for w in wrt.iter().filter(|w| w.id() <= last) {
                leads[w.id() - first] = nodes.tracked(w.id());
            }
            for i in first + 1..=last {
                if leads[i - first] || !nodes.tracked(i) {
                    continue;
                }
                let mut any = false;
                nodes.op(i).for_each_input(|j| any |= j >= first && leads[j - first]);
                leads[i - first] = any;
            }
        });
        leads
    }
}

impl<'t> Var<'t> {
    /// Shorthand for [`Tape::backward`] on this value's tape.
    pub fn backward(&self) -> Result<Gradients> {
        self.tape().backward(*self)
    }
}
