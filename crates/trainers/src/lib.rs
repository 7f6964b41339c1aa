//! `trainers`: Optimizers, schedules, training loops, checkpoints and metrics for latent-seq models.
//!
//! This crate is part of the latent-seq workspace; its contents are being built
//! (see the project's issue tracker). It currently exports nothing.
