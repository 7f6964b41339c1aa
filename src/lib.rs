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
//! [`run_args`] reads the flags they share (`--quick`, `--iters N`).

#![deny(missing_docs)]

pub mod plot;
pub mod run_args;

pub use autodiff;
pub use dists;
pub use flows;
pub use odesolve;
pub use seqmodels;
pub use trainers;
