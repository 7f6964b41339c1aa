//! # autodiff: a reverse-mode tape for 2-D `f64` arrays
//!
//! This crate is the foundation of latent-seq: it records computations on a
//! **tape** and differentiates them in reverse, like PyTorch's autograd, but small
//! enough to read in an afternoon.
//!
//! ## The design in one paragraph
//!
//! Every value is a matrix ([`ndarray::Array2<f64>`]), rows being the batch. That one
//! choice keeps shapes, broadcasting and matrix products simple while covering what
//! sequence models need (a time step is a `batch x features` matrix; a scalar loss is
//! `1 x 1`). A [`Tape`] is an arena of nodes in creation order; a [`Var`] is a `Copy`
//! handle (tape plus index). Every operation is defined once in the [`Tensor`] trait,
//! implemented both by [`Var`] (records) and by plain `Array2<f64>` (just computes),
//! so model code written against `T: Tensor` runs with or without a tape.
//! Each op is one small type holding its value rule and its gradient rule (see
//! [`op`], which also says how to add one). Gradient rules are written with the same
//! trait, so running them on `Var`s records the backward pass itself: gradients of
//! gradients come for free.
//!
//! ## The math in plain words
//!
//! For a scalar loss $L$ computed through intermediate values $v_1, \dots, v_n$ (in
//! creation order), reverse mode computes the adjoints $\bar v_i = \partial L /
//! \partial v_i$ from last to first:
//!
//! $$ \bar v_i = \sum_{j \,:\, v_i \text{ is an input of } v_j} \bar v_j \, \frac{\partial v_j}{\partial v_i}, $$
//!
//! where each product $\bar v_j \, \partial v_j / \partial v_i$ is a
//! *vector-Jacobian product* supplied by the op that made $v_j$, never a Jacobian
//! matrix. Because node $j$ is always created after its inputs, one reverse sweep
//! visits every node after all of its users. Broadcasting in the forward pass
//! becomes summation in the backward pass.
//!
//! ## Example
//!
//! ```
//! use autodiff::{Tape, Tensor};
//! use ndarray::array;
//!
//! let tape = Tape::new();
//! let x = tape.leaf(array![[1.0, 2.0]]);
//! let w = tape.leaf(array![[0.5], [-0.25]]);
//! // L = tanh(x w)^2
//! let loss = x.matmul(&w)?.tanh().square().sum();
//! let grads = loss.backward()?;
//! // x w = 0, so tanh(x w) = 0 and every gradient vanishes.
//! assert_eq!(grads.wrt(&x).unwrap().unwrap()[(0, 0)], 0.0);
//!
//! // Gradients of gradients: d/dx (d/dx x^3) = 6x.
//! let x = tape.leaf(array![[2.0]]);
//! let y = x.powf(3.0).sum();
//! let dy = tape.grad(y, &[x])?[0];
//! let d2y = tape.grad(dy.sum(), &[x])?[0];
//! assert!((d2y.item()? - 12.0).abs() < 1e-12);
//! # Ok::<(), autodiff::Error>(())
//! ```
//!
//! Models keep their parameters in a named [`ParamStore`] and run through a
//! [`Session`]: a [`TapeSession`] for training, [`NoGrad`] for inference. Every op's
//! gradient is checked against central differences by [`gradcheck()`] in this crate's
//! property tests, and the crates above use the same function for their models.
//! A hot block of arithmetic can be given its own gradient rule as a [`Function`]
//! (one tape node instead of one per op), checked the same way. What a data set and
//! a mini-batch are is said once, in [`data`], so that the model crates above can
//! own their batch types and any training loop can consume them.
//!
//! ## Where the speed comes from
//!
//! Buffer recycling, the element-wise kernels with their AVX-512 dispatch, the packed
//! matrix product and the vectorised [`math`] functions live in one private module
//! folder, `src/fast/`. The tape, the ops and the backward sweeps call into it but do
//! not depend on how it works: every kernel computes the same values as the plain
//! ndarray expression it replaces. Crates that fuse a kernel of their own (a
//! [`Function`]) use the public part: the [`math`] functions and
//! [`math::vectorized`], which compiles their loops for the CPU's widest vectors.

#![deny(missing_docs)]

mod backward;
pub mod data;
mod error;
mod fast;
pub mod finite;
pub mod function;
pub mod gradcheck;
mod init;
mod loss;
pub mod nn;
pub mod op;
mod param_grads;
mod params;
#[cfg(feature = "testing")]
pub mod peak_memory;
mod session;
pub mod shape;
pub mod state_dict;
mod tape;
mod tensor;
#[cfg(feature = "testing")]
pub mod testing;

pub use backward::Gradients;
pub use error::{Error, Result};
pub use fast::math;
pub use function::{Function, Vjp};
pub use gradcheck::{GradCheck, GradCheckReport, gradcheck, gradcheck_params};
pub use init::Init;
pub use loss::Loss;
pub use nn::{Activation, Linear, Mlp};
pub use op::Mask;
pub use param_grads::ParamGrads;
pub use params::{ParamId, ParamStore};
pub use session::{NoGrad, Session, TapeSession};
pub use shape::Shape;
pub use state_dict::StateDict;
pub use tape::{Tape, Var};
pub use tensor::Tensor;

/// Re-exported so downstream crates name the same `Axis` and `Array2`.
pub use ndarray;
