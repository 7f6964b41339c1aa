//! `odesolve`: ODE solvers (Euler, midpoint, RK4, Dopri5 with dense output) and the adjoint method, on the latent-seq tape.
//!
//! This crate is part of the latent-seq workspace; its contents are being built
//! (see the project's issue tracker). It currently exports nothing.
