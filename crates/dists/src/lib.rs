//! `dists`: Probability distributions for latent-variable models: Gaussians, mixtures, Bernoulli, KL divergences, sampling, EM.
//!
//! This crate is part of the latent-seq workspace; its contents are being built
//! (see the project's issue tracker). It currently exports nothing.
