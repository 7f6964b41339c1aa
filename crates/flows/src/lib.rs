//! # flows: normalizing flows on the latent-seq tape
//!
//! A normalizing flow turns a simple base density into a flexible one by an
//! invertible, differentiable map whose Jacobian determinant is cheap. This crate
//! has the discrete flows of the literature: NICE, RealNVP, the vector parts of
//! Glow, planar and radial flows, MADE with MAF and IAF, and Sylvester flows; the
//! continuous flows of Chen et al. and FFJORD ([`cnf`]), whose map is an ODE solve; a
//! [`FlowDistribution`] over a Gaussian base with `log_prob`, `sample` and
//! `rsample_and_log_prob`; the 2-D toy data sets of FFJORD ([`Toy`]), the target
//! energies of Rezende and Mohamed ([`Energy`]), and a [`Grid`] to integrate and draw
//! 2-D densities.
//!
//! ## The design in one paragraph
//!
//! Every flow implements one trait, [`Flow`], whose two methods are generic over
//! an [`autodiff::Session`]: on a tape (training) and on plain arrays (sampling,
//! evaluation) the same code runs. [`Flow::forward`] maps data `x` to base `z`
//! (the *normalizing* direction, nflows' convention), [`Flow::inverse`] maps base to
//! data (the *generative* direction); each returns the image and the per-row
//! `ln|det J|` of its own direction as a `batch x 1` column. A direction without a
//! closed form returns the typed [`Error::NoClosedForm`], and
//! [`Flow::cheap_direction`] says which direction costs one pass. Flows compose
//! into a [`Chain`] (log-determinants add); [`Layer`] wraps every flow here so that
//! mixed stacks are one type. The sessions are [`odesolve::OdeSession`]s (a tape, or
//! plain arrays), so that a continuous flow ([`cnf::ContinuousFlow`]) implements the
//! same trait: both of its directions are one ODE solve, its log-determinant the
//! integrated trace of its field's Jacobian.
//!
//! ## The math in plain words
//!
//! **Change of variables.** If $z = f(x)$ is invertible and differentiable and
//! $z \sim p_Z$, then
//! $$ \ln p_X(x) = \ln p_Z(f(x)) + \ln\left|\det \frac{\partial f(x)}{\partial x}\right| ,$$
//! and for a composition $f = f_K \circ \dots \circ f_1$ the log-determinants of
//! the layers add (Rezende and Mohamed 2015, eq. 7). Maximum likelihood needs
//! $f$ (data to base) to be cheap; sampling and reverse-KL fitting,
//! $\mathrm{KL}(q\,\|\,p) = \mathbb E_{z_0}[\ln p_Z(z_0) - \ln|\det \partial f^{-1}/\partial z_0| + U(f^{-1}(z_0))] + \ln Z$,
//! need $f^{-1}$ (base to data) to be cheap.
//!
//! **Each flow: cheap direction, log-determinant, invertibility.**
//!
//! | flow | cheap | $\ln\lvert\det\rvert$ of the map | invertible because |
//! |---|---|---|---|
//! | [`Coupling`] additive (NICE) | both | $0$ | triangular with unit diagonal |
//! | [`Coupling`] affine (RealNVP) | both | $-\sum_j (1-m_j) s_j(x_m)$ (forward) | triangular, diagonal $e^{-s} > 0$; $s$ bounded by [`ScaleBound`] |
//! | [`ElementwiseAffine`] (NICE scaling, ActNorm) | both | $\sum_j l_j$ | scale $e^{l} > 0$ |
//! | [`InvertibleLinear`] (Glow, LU) | both | $\sum_j l_j$ | $W = PL(U + \mathrm{diag}(\pm e^{l}))$, unit $L$ |
//! | [`Permutation`] | both | $0$ | a permutation |
//! | [`Planar`] | inverse only | $\ln(1 + (1 - \tanh^2)\, m(w^\top u))$ | $w^\top \hat u = m(w^\top u) > -1$, $m(a) = -1 + \mathrm{softplus}(a)$ |
//! | [`Radial`] | inverse only | $(d-1)\ln(1+\beta h) + \ln(1 + \beta h + \beta h' r)$ | $\beta = -\alpha + \mathrm{softplus}(\cdot) > -\alpha$ |
//! | [`AutoregressiveAffine`] MAF | forward | $-\sum_i a_i(x)$ | scale $e^{a} > 0$; inverse in $d$ passes |
//! | [`AutoregressiveAffine`] IAF | inverse | $\sum_i a_i(z)$ | scale $e^{a} > 0$; forward in $d$ passes |
//! | [`Sylvester`] | inverse only | $\sum_k \ln(1 + h'_k \tilde r_{kk} r_{kk})$ | $\tilde r_{kk}, r_{kk} = \tanh(\cdot)$, so $\lvert\tilde r_{kk} r_{kk}\rvert < 1$ |
//! | [`cnf::ContinuousFlow`] (FFJORD) | both (one solve each) | $\int_0^T \mathrm{tr}(\partial f / \partial z)\, dt$ (forward) | an ODE's flow map, solved backwards |
//!
//! Planar, radial and Sylvester flows are invertible but have **no closed-form
//! inverse**: their data-to-base direction returns [`Error::NoClosedForm`]. They are
//! for sampling, variational posteriors and reverse-KL fitting. The coupling,
//! elementwise, linear and MAF layers are triangular-Jacobian maps whose
//! log-determinant is a sum of log-diagonals; planar uses the matrix determinant
//! lemma, Sylvester its generalisation $\det(I_d + AB) = \det(I_m + BA)$ with
//! $BA$ triangular. Every log-determinant is checked in the tests against the
//! log-determinant (by LU, [`linalg::log_abs_det`]) of a finite-difference Jacobian.
//!
//! ## Example
//!
//! A RealNVP density: its log-density on the tape, one gradient, and samples.
//!
//! ```
//! use autodiff::{NoGrad, ParamStore, Session, Tape, Tensor};
//! use flows::{FlowDistribution, Toy, models};
//! use rand::SeedableRng;
//!
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
//! let mut store = ParamStore::new();
//! let flow = models::real_nvp(&mut store, "nvp", 2, 4, &[16, 16], &mut rng)?;
//! let dist = FlowDistribution::standard(flow);
//!
//! let x = Toy::TwoMoons.sample(64, &mut rng);
//! let tape = Tape::new();
//! let s = tape.session(&store);
//! let nll = dist.log_prob(&s, &s.constant(x.clone()))?.mean()?.neg();
//! let grads = nll.backward()?;
//! assert_eq!(grads.params().count(), store.len());
//!
//! // Samples and their log-densities agree with log_prob at the sampled points.
//! let g = NoGrad::new(&store);
//! let (xs, lq) = dist.rsample_and_log_prob(&g, 5, &mut rng)?;
//! let lp = dist.log_prob(&g, &xs)?;
//! assert!((&lq - &lp).iter().all(|d| d.abs() < 1e-9));
//! # Ok::<(), flows::Error>(())
//! ```
//!
//! ## References
//!
//! - L. Dinh, D. Krueger, Y. Bengio, *NICE: Non-linear Independent Components Estimation*, ICLR 2015 workshop.
//! - L. Dinh, J. Sohl-Dickstein, S. Bengio, *Density estimation using Real NVP*, ICLR 2017.
//! - D. P. Kingma, P. Dhariwal, *Glow: Generative Flow with Invertible 1x1 Convolutions*, NeurIPS 2018.
//! - D. J. Rezende, S. Mohamed, *Variational Inference with Normalizing Flows*, ICML 2015.
//! - M. Germain, K. Gregor, I. Murray, H. Larochelle, *MADE: Masked Autoencoder for Distribution Estimation*, ICML 2015.
//! - G. Papamakarios, T. Pavlakou, I. Murray, *Masked Autoregressive Flow for Density Estimation*, NeurIPS 2017.
//! - D. P. Kingma et al., *Improved Variational Inference with Inverse Autoregressive Flow*, NeurIPS 2016.
//! - R. van den Berg, L. Hasenclever, J. M. Tomczak, M. Welling, *Sylvester Normalizing Flows for Variational Inference*, UAI 2018.
//! - W. Grathwohl et al., *FFJORD: Free-form Continuous Dynamics for Scalable Reversible Generative Models*, ICLR 2019.

#![deny(missing_docs)]

mod autoregressive;
pub mod cnf;
mod coupling;
mod distribution;
mod elementwise;
mod energy;
mod error;
mod flow;
mod grid;
mod layer;
pub mod linalg;
mod linear;
pub mod made;
pub mod models;
mod permute;
mod planar;
mod radial;
mod sylvester;
mod toy;

pub use autoregressive::{AutoregressiveAffine, Conditioning};
pub use coupling::{Coupling, ScaleBound, alternating_mask};
pub use distribution::FlowDistribution;
pub use elementwise::ElementwiseAffine;
pub use energy::{Energy, WALL_AT};
pub use error::{Error, Result};
pub use flow::{Chain, Direction, Flow};
pub use grid::Grid;
pub use layer::Layer;
pub use linear::InvertibleLinear;
pub use made::{HiddenDegrees, Made, Order};
pub use permute::Permutation;
pub use planar::Planar;
pub use radial::Radial;
pub use sylvester::{Sylvester, SylvesterKind};
pub use toy::Toy;
