//! `seqmodels`: Sequence models: RNN, GRU, VAE, VRNN, SRNN, ODE-RNN, Latent ODE, GRU-ODE-Bayes.
//!
//! This crate is part of the latent-seq workspace; its contents are being built
//! (see the project's issue tracker). It currently exports nothing.
