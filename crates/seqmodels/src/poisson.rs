//! The Poisson process likelihood of the observation times (Rubanova, Chen and
//! Duvenaud 2019, Sec. 3.3): when *when* a series is observed carries information
//! (a patient measured more often when ill), the times themselves are modelled, as
//! events of an inhomogeneous Poisson process whose rate depends on the latent state.
//!
//! # Equations
//!
//! Per observed dimension `d`, a rate `lambda_d(t) = softplus(MLP(z_t))_d` (the
//! reference code's intensity network, tanh hidden layer, softplus output). The
//! log-likelihood of the events `t_1 .. t_N` on `[t_0, t_end]` is
//!
//! $$ \ln p(t_1, \dots, t_N) = \sum_{i, d} m_{i,d} \ln \lambda_d(t_i)
//!    - \sum_d \int_{t_0}^{t_{end}} \lambda_d(t)\, dt, $$
//!
//! (eq. 10, with `m_{i,d}` the mask of what was observed at `t_i`). The integral is
//! solved with the latent state: the ODE is augmented with `dLambda/dt = lambda(z)`,
//! `Lambda(t_0) = 0`, so one solve gives both. Here `t_end` is each series' own last
//! observation.

use crate::batch::{IrregularBatch, repeat_rows};
use crate::field::MlpField;
use crate::{Error, Result};
use autodiff::{Activation, Mlp, ParamId, ParamStore, Session, Tensor};
use ndarray::{Array2, Axis};
use odesolve::NeuralOdeFunc;
use rand::Rng;

/// The intensity network `lambda(z) = softplus(MLP(z))`, one rate per dimension.
#[derive(Debug, Clone, PartialEq)]
pub struct PoissonIntensity {
    net: Mlp,
    z_dim: usize,
    x_dim: usize,
}

impl PoissonIntensity {
    /// `z_dim` -> `hidden` (tanh) -> `x_dim` (softplus), registered as `{name}.0`, `{name}.1`.
    pub fn new(
        store: &mut ParamStore,
        name: &str,
        z_dim: usize,
        hidden: usize,
        x_dim: usize,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        if hidden == 0 {
            return Err(Error::config("PoissonIntensity", "the hidden width must be positive"));
        }
        let net = Mlp::new(store, name, &[z_dim, hidden, x_dim], Activation::Tanh, rng)?
            .with_output_activation(Activation::Softplus);
        Ok(PoissonIntensity { net, z_dim, x_dim })
    }

    /// The network.
    pub fn net(&self) -> &Mlp {
        &self.net
    }

    /// The number of rates (the observation width `D`).
    pub fn dim(&self) -> usize {
        self.x_dim
    }

    /// The rates at latent states `z` (`B x z_dim` -> `B x D`).
    pub fn rates<S: Session>(&self, s: &S, z: &S::T) -> Result<S::T> {
        Ok(self.net.forward(s, z)?)
    }

    /// The latent field augmented with the integrated rates: state `[z, Lambda]`.
    pub(crate) fn augment(&self, field: &MlpField) -> IntensityField {
        IntensityField { field: field.clone(), intensity: self.clone() }
    }

    /// Eq. 10 per series (`B x 1`), from the latent states and the integrated rates
    /// at every union time of `batch` (`latents[j]`, `integrals[j]` at `times()[j]`).
    /// With `copies = K` the states are `K` stacked blocks of the batch's rows
    /// (importance samples), and the result is `K B x 1`.
    pub(crate) fn log_likelihood<S: Session>(
        &self,
        s: &S,
        latents: &[S::T],
        integrals: &[S::T],
        batch: &IrregularBatch,
        copies: usize,
    ) -> Result<S::T> {
        let grid = batch.grid();
        let b = batch.batch_size();
        // Each row's integral is read at its last observation.
        let last = batch.last_steps();
        let mut total = s.constant(Array2::zeros((b * copies, 1)));
        for (j, ((z, integral), step)) in latents.iter().zip(integrals).zip(grid.iter()).enumerate() {
            let ends = Array2::from_shape_fn((b, 1), |(r, _)| f64::from(u8::from(last[r] == Some(j))));
            // A rate that underflows to 0 (a pre-activation below about -745) would
            // give ln 0 = -inf, and -inf x 0 = NaN where the mask hides it: the floor
            // keeps it finite (and passes no gradient there).
            let log_rates = self.rates(s, z)?.clamp(f64::MIN_POSITIVE, f64::INFINITY)?.log();
            total = total.add(&log_rates.mask(&repeat_rows(step.mask, copies))?.sum_axis(Axis(1)))?;
            total = total.sub(&integral.mask(&repeat_rows(&ends, copies))?.sum_axis(Axis(1)))?;
        }
        Ok(total)
    }
}

/// `[z, Lambda]' = [f(z), lambda(z)]`: the latent field with the integrated rates.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IntensityField {
    field: MlpField,
    intensity: PoissonIntensity,
}

impl NeuralOdeFunc for IntensityField {
    fn eval<S: Session>(&self, s: &S, t: &S::T, y: &S::T) -> autodiff::Result<S::T> {
        let z = y.slice_cols(0..self.intensity.z_dim)?;
        let f = self.field.eval(s, t, &z)?;
        let rates = self.intensity.net.forward(s, &z)?;
        S::T::concat_cols(&[&f, &rates])
    }
    fn params(&self) -> Vec<ParamId> {
        let mut ids = self.field.params();
        ids.extend(self.intensity.net.params());
        ids
    }
}
