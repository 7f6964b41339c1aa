//! The noise-prediction network `eps_theta(z_t, t)`: what the reverse chain learns.

use crate::{Error, Result};
use autodiff::{Activation, Mlp, ParamId, ParamStore, Session, Tensor};
use ndarray::Array2;
use rand::Rng;

/// A predictor of the noise in `z_t = sqrt(alpha_bar_t) x + sqrt(1 - alpha_bar_t) eps`
/// (Ho et al. 2020, eq. 11): the one learned part of a diffusion model. The
/// network ([`NoiseNet`]) implements it; so can a closed form, such as the optimal
/// predictor for Gaussian data.
pub trait NoisePredictor {
    /// `eps(z, t)` for `z` of `B x D` and each row's step `t` in `times` (`B x 1`):
    /// integers `1..=T` on the chain, fractional steps `u T` between them on the
    /// probability-flow ODE.
    fn predict<S: Session>(&self, s: &S, z: &S::T, times: &Array2<f64>) -> Result<S::T>;

    /// The parameters the prediction depends on.
    fn params(&self) -> Vec<ParamId>;
}

/// The `B x 1` times of a [`NoisePredictor`] for the chain's integer steps.
pub(super) fn step_times(steps: &[usize]) -> Array2<f64> {
    Array2::from_shape_fn((steps.len(), 1), |(b, _)| steps[b] as f64)
}

/// The sinusoidal embedding of the step (Vaswani et al. 2017, as Ho et al.'s code
/// `get_timestep_embedding`): for `h = width / 2` frequencies
/// `w_j = 10000^(-j / (h - 1))`, `j = 0..h`, the row `[sin(t w_j).., cos(t w_j)..]`.
/// `times` is `B x 1`; the result `B x width`.
fn timestep_embedding(times: &Array2<f64>, width: usize) -> Array2<f64> {
    let half = width / 2;
    let step = 10000f64.ln() / (half.max(2) - 1) as f64;
    Array2::from_shape_fn((times.nrows(), width), |(b, k)| {
        let angle = times[[b, 0]] * (-step * (k % half) as f64).exp();
        if k < half { angle.sin() } else { angle.cos() }
    })
}

/// `eps_theta(z, t)`: an MLP on `[z, embedding(t)]`, the vector-data form of the
/// DDPM network (the image U-Net reads the same embedding in every block).
#[derive(Debug, Clone, PartialEq)]
pub struct NoiseNet {
    mlp: Mlp,
    embedding: usize,
}

impl NoiseNet {
    /// An MLP of widths `[dim + embedding, hidden.., dim]` registered under
    /// `{name}.*`; `embedding` must be even and at least 4 (two frequencies).
    pub fn new(
        store: &mut ParamStore,
        name: &str,
        dim: usize,
        hidden: &[usize],
        embedding: usize,
        activation: Activation,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        if embedding < 4 || !embedding.is_multiple_of(2) {
            return Err(Error::config(
                "NoiseNet",
                format!("embedding width {embedding} must be even and >= 4"),
            ));
        }
        if dim == 0 || hidden.contains(&0) {
            return Err(Error::config("NoiseNet", format!("zero width in dim {dim}, hidden {hidden:?}")));
        }
        let widths: Vec<usize> =
            std::iter::once(dim + embedding).chain(hidden.iter().copied()).chain([dim]).collect();
        Ok(NoiseNet { mlp: Mlp::new(store, name, &widths, activation, rng)?, embedding })
    }

    /// The width of the data.
    pub fn dim(&self) -> usize {
        self.mlp.layers().last().expect("an MLP has a layer").out_dim()
    }
}

impl NoisePredictor for NoiseNet {
    fn predict<S: Session>(&self, s: &S, z: &S::T, times: &Array2<f64>) -> Result<S::T> {
        if z.shape().1 != self.dim() || times.dim() != (z.shape().0, 1) {
            return Err(Error::config(
                "NoiseNet",
                format!(
                    "expected B x {} and B x 1 times, got {:?} and {:?}",
                    self.dim(),
                    z.shape(),
                    times.dim()
                ),
            ));
        }
        let embedded = s.constant(timestep_embedding(times, self.embedding));
        Ok(self.mlp.forward(s, &S::T::concat_cols(&[z, &embedded])?)?)
    }

    fn params(&self) -> Vec<ParamId> {
        self.mlp.params()
    }
}
