//! # latent-seq
//!
//! Deep latent-variable models for sequences, built from first principles. This
//! facade re-exports the workspace's crates under one name:
//!
//! | module | what it holds |
//! |---|---|
//! | [`autodiff`] | the reverse-mode tape, tensor ops, gradient checks, `Linear` and `Mlp` |
//! | [`dists`] | Gaussian, mixture, Bernoulli and categorical log-likelihoods, KL divergences, sampling |
//! | [`odesolve`] | Euler, midpoint, RK4, Dopri5 with dense output; solves as tape operations (checkpointed, backprop, adjoint) |
//! | [`flows`] | normalizing flows |
//! | [`seqmodels`] | sequence batches; RNN, GRU, VAE, VRNN, SRNN, WaveNet, Latent ODE, ODE-RNN, GRU-ODE-Bayes |
//! | [`trainers`] | optimizers, schedules, training loops, checkpoints, metrics |
//!
//! The [`plot`] module writes the examples' figures (PNG, font embedded), and
//! [`cli`] holds what their command lines share (`--help`, `--quick`, `--seed`,
//! `--out`, `--threads`, `--load`). The seeded generator the public API takes is re-exported
//! ([`ChaCha8Rng`], with [`rand`]), so a program needs no other dependency.

#![deny(missing_docs)]

pub mod cli;
pub mod plot;

pub use autodiff;
pub use autodiff::ndarray;
pub use dists;
pub use flows;
pub use odesolve;
pub use rand;
pub use rand_chacha::{self, ChaCha8Rng};
pub use rand_distr;
pub use seqmodels;
pub use trainers;
