//! The [`Flow`] interface and the composition of flows into a [`Chain`].

use crate::{Error, Result};
use autodiff::{NoGrad, ParamStore, Tensor};
use ndarray::Array2;
use odesolve::OdeSession;

/// A direction of a flow.
///
/// The convention of this crate is that of nflows and of FFJORD's density
/// evaluation: [`Forward`](Direction::Forward) is the *normalizing* direction, data
/// `x` to base `z`; [`Inverse`](Direction::Inverse) is the *generative* direction,
/// base `z` to data `x`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Data to base, `z = f(x)`: what density evaluation (maximum likelihood) needs.
    Forward,
    /// Base to data, `x = f^{-1}(z)`: what sampling and reverse-KL fitting need.
    Inverse,
}

/// An invertible map between data `x` and base `z`, with the log-determinant of its
/// Jacobian, on a tape or on plain arrays.
///
/// Inputs are `batch x dim`; each method returns the image and the per-row
/// log-absolute-determinant of that direction's Jacobian as a `batch x 1` column:
///
/// * [`forward`](Flow::forward): `(z, ln|det dz/dx|)`;
/// * [`inverse`](Flow::inverse): `(x, ln|det dx/dz|)`, which is minus the forward
///   log-determinant at the corresponding point.
///
/// A flow without a closed form in one direction returns
/// [`Error::NoClosedForm`] there; [`cheap_direction`](Flow::cheap_direction) names
/// the direction that costs one pass (the other may cost `dim` passes, as the
/// inverse of an autoregressive flow does). A continuous flow (an ODE integrated
/// between data and base) fits the same interface: both directions are one
/// integration, and the log-determinant is the integral of the trace of the
/// Jacobian of its vector field.
pub trait Flow {
    /// A short name for error messages (`"planar"`).
    fn name(&self) -> &'static str;
    /// The width of the vectors the flow acts on.
    fn dim(&self) -> usize;
    /// Data to base: `(z, ln|det dz/dx|)`, the latter `batch x 1`.
    fn forward<S: OdeSession>(&self, s: &S, x: &S::T) -> Result<(S::T, S::T)>;
    /// Base to data: `(x, ln|det dx/dz|)`, the latter `batch x 1`.
    fn inverse<S: OdeSession>(&self, s: &S, z: &S::T) -> Result<(S::T, S::T)>;
    /// The direction that costs a single pass.
    fn cheap_direction(&self) -> Direction;
    /// Data-dependent initialisation from a batch `x` of this flow's inputs (Glow's
    /// ActNorm); the default does nothing.
    fn data_init(&self, _store: &mut ParamStore, _x: &Array2<f64>) -> Result<()> {
        Ok(())
    }
}

/// Fails with [`Error::Dim`] unless `x` has `dim` columns.
pub(crate) fn check_dim<T: Tensor>(flow: &'static str, x: &T, dim: usize) -> Result<()> {
    let got = x.shape().1;
    if got == dim { Ok(()) } else { Err(Error::Dim { flow, got, expected: dim }) }
}

/// A `batch x 1` column of zeros: the log-determinant of a volume-preserving map.
pub(crate) fn zero_logdet<T: Tensor>(x: &T) -> T {
    x.constant(Array2::zeros((x.shape().0, 1)))
}

/// `rows x 1` copies of a `1 x 1` log-determinant that does not depend on the input.
pub(crate) fn broadcast_logdet<T: Tensor>(ld: &T, rows: usize) -> Result<T> {
    Ok(ld.broadcast_to((rows, 1))?)
}

/// The composition of flows: `forward` applies the layers first to last (data to
/// base), `inverse` last to first; the log-determinants of the layers add up (the
/// chain rule for Jacobians, whose determinants multiply).
///
/// The layers are of one type `F`; [`Layer`](crate::Layer) wraps every flow of this
/// crate, so a mixed stack is a `Chain<Layer>`.
#[derive(Debug, Clone)]
pub struct Chain<F = crate::Layer> {
    layers: Vec<F>,
}

impl<F: Flow> Chain<F> {
    /// A chain of the given layers (data side first); all must share one dimension.
    pub fn new(layers: Vec<F>) -> Result<Self> {
        let Some(first) = layers.first() else {
            return Err(Error::Config { flow: "chain", reason: "a chain needs at least one layer".into() });
        };
        let dim = first.dim();
        if let Some((i, l)) = layers.iter().enumerate().find(|(_, l)| l.dim() != dim) {
            return Err(Error::Config {
                flow: "chain",
                reason: format!("layer {i} ({}) acts on {} columns, layer 0 on {dim}", l.name(), l.dim()),
            });
        }
        Ok(Chain { layers })
    }

    /// The layers, data side first.
    pub fn layers(&self) -> &[F] {
        &self.layers
    }

    /// Number of layers.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Always false: a chain has at least one layer.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }
}

impl<F: Flow> Flow for Chain<F> {
    fn name(&self) -> &'static str {
        "chain"
    }
    fn dim(&self) -> usize {
        self.layers[0].dim()
    }
    fn forward<S: OdeSession>(&self, s: &S, x: &S::T) -> Result<(S::T, S::T)> {
        compose(self.layers.iter(), x, |layer, h| layer.forward(s, h))
    }
    fn inverse<S: OdeSession>(&self, s: &S, z: &S::T) -> Result<(S::T, S::T)> {
        compose(self.layers.iter().rev(), z, |layer, h| layer.inverse(s, h))
    }
    /// The direction that is cheap for every layer, or
    /// [`Forward`](Direction::Forward) when the layers disagree (then neither is).
    fn cheap_direction(&self) -> Direction {
        let inverse = self.layers.iter().all(|l| l.cheap_direction() == Direction::Inverse);
        if inverse { Direction::Inverse } else { Direction::Forward }
    }
    /// Initialises the layers in order, each from the batch as it arrives at that
    /// layer (pushed through the layers before it without a tape). Stops quietly at
    /// the first layer without a closed-form forward direction: data-dependent
    /// initialisation is defined on the data side.
    fn data_init(&self, store: &mut ParamStore, x: &Array2<f64>) -> Result<()> {
        let mut h = x.clone();
        for layer in &self.layers {
            layer.data_init(store, &h)?;
            match layer.forward(&NoGrad::new(store), &h) {
                Ok((next, _)) => h = next,
                Err(Error::NoClosedForm { .. }) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Applies `step` layer after layer, summing the log-determinants.
fn compose<'a, F: 'a, T: Tensor>(
    layers: impl Iterator<Item = &'a F>,
    x: &T,
    step: impl Fn(&F, &T) -> Result<(T, T)>,
) -> Result<(T, T)> {
    let mut h = x.clone();
    let mut total: Option<T> = None;
    for layer in layers {
        let (next, ld) = step(layer, &h)?;
        h = next;
        total = Some(match total {
            Some(t) => t.add(&ld)?,
            None => ld,
        });
    }
    let total = total.ok_or_else(|| Error::Config { flow: "chain", reason: "no layer to apply".into() })?;
    Ok((h, total))
}
