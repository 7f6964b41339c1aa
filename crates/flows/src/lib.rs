//! `flows`: Normalizing flows (NICE, RealNVP, Glow parts, planar, radial, MADE/MAF/IAF, Sylvester) on the latent-seq tape.
//!
//! This crate is part of the latent-seq workspace; its contents are being built
//! (see the project's issue tracker). It currently exports nothing.
