//! [`FlowDistribution`]: a base distribution pushed through a flow.

use crate::flow::Flow;
use crate::{Error, Result};
use autodiff::{NoGrad, ParamStore, Tensor};
use dists::{DiagNormal, Sample};
use ndarray::{Array2, Axis};
use odesolve::OdeSession;
use rand::Rng;

/// The distribution of `x = f^{-1}(z)` with `z` from a diagonal normal base.
///
/// By the change of variables formula, with `f` the flow's forward (data to base)
/// direction,
///
/// $$ \ln p_X(x) = \ln p_Z(f(x)) + \ln\left|\det \frac{\partial f}{\partial x}\right|, $$
///
/// and a sample is `x = f^{-1}(z)` with `ln q(x) = ln p_Z(z) - ln|det d f^{-1}/dz|`.
/// [`log_prob`](FlowDistribution::log_prob) needs the forward direction (MAF,
/// couplings, Glow parts: one pass), [`sample`](FlowDistribution::sample) and
/// [`rsample_and_log_prob`](FlowDistribution::rsample_and_log_prob) the inverse one
/// (IAF, planar, radial, Sylvester, couplings: one pass). The base's parameters are
/// constants; put an [`ElementwiseAffine`](crate::ElementwiseAffine) at the base end
/// of the flow to learn a location and scale.
#[derive(Debug, Clone)]
pub struct FlowDistribution<F> {
    flow: F,
    base: DiagNormal<Array2<f64>>,
}

impl<F: Flow> FlowDistribution<F> {
    /// The flow over the standard normal base `N(0, I_d)`.
    pub fn standard(flow: F) -> Self {
        let d = flow.dim();
        let zeros = Array2::zeros((1, d));
        let base = DiagNormal::standard(&zeros, (1, d));
        FlowDistribution { flow, base }
    }

    /// The flow over a diagonal normal base with `1 x d` mean and log-variance.
    pub fn new(flow: F, base: DiagNormal<Array2<f64>>) -> Result<Self> {
        if base.shape() != (1, flow.dim()) {
            return Err(Error::Config {
                flow: "FlowDistribution",
                reason: format!("base has shape {:?}, the flow needs 1 x {}", base.shape(), flow.dim()),
            });
        }
        Ok(FlowDistribution { flow, base })
    }

    /// The flow, the base distribution dropped.
    pub fn into_flow(self) -> F {
        self.flow
    }

    /// The flow.
    pub fn flow(&self) -> &F {
        &self.flow
    }

    /// The base distribution.
    pub fn base(&self) -> &DiagNormal<Array2<f64>> {
        &self.base
    }

    /// `ln p_Z(z)` of each row under the base (`batch x 1`): what a caller that runs
    /// the flow itself (a continuous flow with its regularisers) adds the
    /// log-determinant to.
    pub fn base_log_prob<T: Tensor>(&self, z: &T) -> Result<T> {
        let base = DiagNormal::from_mean_log_var(
            z.constant(self.base.mean().clone()),
            z.constant(self.base.log_var().clone()),
        )?;
        Ok(base.log_prob(z)?.sum_axis(Axis(1)))
    }

    /// `ln p(x)` of each row, `batch x 1`.
    pub fn log_prob<S: OdeSession>(&self, s: &S, x: &S::T) -> Result<S::T> {
        let (z, ld) = self.flow.forward(s, x)?;
        Ok(self.base_log_prob(&z)?.add(&ld)?)
    }

    /// `n` samples with their log-densities, on the session: the sample is
    /// differentiable in the flow's parameters (reparameterisation), and so is its
    /// log-density, as reverse-KL fitting and the ELBO need. Returns
    /// `(x: n x d, ln q(x): n x 1)`.
    pub fn rsample_and_log_prob<S: OdeSession, R: Rng + ?Sized>(
        &self,
        s: &S,
        n: usize,
        rng: &mut R,
    ) -> Result<(S::T, S::T)> {
        let z = s.constant(self.base.sample_n(n, rng)?);
        self.push_from_base(s, &z)
    }

    /// `(x, ln q(x))` for given base points `z` (`n x d`).
    pub fn push_from_base<S: OdeSession>(&self, s: &S, z: &S::T) -> Result<(S::T, S::T)> {
        let (x, ld) = self.flow.inverse(s, z)?;
        Ok((x, self.base_log_prob(z)?.sub(&ld)?))
    }

    /// `n` samples as plain values (no tape).
    pub fn sample<R: Rng + ?Sized>(&self, store: &ParamStore, n: usize, rng: &mut R) -> Result<Array2<f64>> {
        Ok(self.rsample_and_log_prob(&NoGrad::new(store), n, rng)?.0)
    }
}
