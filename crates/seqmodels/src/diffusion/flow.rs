//! The chain read in continuous time: the probability-flow ODE of the variance-
//! preserving SDE (Song et al. 2021), whose solution carries each data point to the
//! prior deterministically, so the continuous-flow machinery of [`flows::cnf`] gives
//! an exact log-likelihood of the same trained noise predictor.

use super::Diffusion;
use super::net::NoisePredictor;
use crate::{Error, Result};
use autodiff::{ParamId, Session, Tensor};
use dists::DiagNormal;
use flows::cnf::{Field, LogDetOptions, LogDetSolution, TraceEstimator, solve_log_det};
use ndarray::Array2;
use odesolve::{Gradient, OdeSession, SolveOptions};
use rand::Rng;

/// The probability-flow ODE of the chain, in the noise level
/// `tau = -ln alpha_bar(u)` as its time.
///
/// Song et al.'s (2021) eq. 13 for the VP-SDE `dz = -beta z / 2 du + sqrt(beta) dw`
/// (eq. 11), with the score `-eps / sqrt(1 - alpha_bar)` of the noise predictor, is
///
/// `dz/du = -beta(u) / 2 (z - eps(z, u T) / sqrt(1 - alpha_bar(u)))`.
///
/// With `d tau = beta(u) du` the rate cancels:
///
/// `dz/d tau = -(z - eps(z, t(tau)) / sqrt(1 - e^{-tau})) / 2`,
///
/// the same trajectories, and the same log-determinant (an integral of the trace
/// along them). `alpha_bar(u)` is [`Schedule::alpha_bar_at`](super::Schedule::alpha_bar_at),
/// which meets the chain's `alpha_bar_t` at every step, and `t(tau)` its inverse
/// [`Schedule::step_at_noise`](super::Schedule::step_at_noise). Why this time: that
/// `beta(u)` is piecewise constant, and a jump at each of `T` steps makes an
/// adaptive solver shorten its steps at every one of them; in `tau` the field is
/// continuous, only the network's step input bending at the chain's steps.
#[derive(Debug, Clone)]
pub struct ProbabilityFlow<P> {
    model: Diffusion<P>,
}

impl<P: NoisePredictor> Field for ProbabilityFlow<P> {
    fn dim(&self) -> usize {
        self.model.dim
    }

    fn eval<S: Session>(&self, s: &S, tau: &S::T, z: &S::T) -> autodiff::Result<S::T> {
        let invalid = |e: Error| autodiff::Error::Invalid { op: "ProbabilityFlow", reason: e.to_string() };
        let tau = tau.item()?;
        let step = self.model.schedule.step_at_noise(tau).map_err(invalid)?;
        let eps = self
            .model
            .predictor
            .predict(s, z, &Array2::from_elem((z.shape().0, 1), step))
            .map_err(invalid)?;
        // 1 - alpha_bar = -expm1(-tau), accurate near tau = 0.
        Ok(z.sub(&eps.scale(1.0 / (-(-tau).exp_m1()).sqrt()))?.scale(-0.5))
    }

    fn params(&self) -> Vec<ParamId> {
        self.model.predictor.params()
    }
}

/// How [`Diffusion::flow_log_likelihood`] solves: from `start` (the score is
/// singular at `u = 0`, where `alpha_bar = 1`) to `u = 1`, in the noise level of
/// [`ProbabilityFlow`].
#[derive(Debug, Clone, PartialEq)]
pub struct FlowOptions {
    /// Where the data sit, `u_0 > 0` (Song et al. use `1e-5`).
    pub start: f64,
    /// The trace, solver and gradient of the solve (exact trace, Dopri5 with
    /// rtol = atol = 1e-5, checkpointed gradients by default).
    pub solve: LogDetOptions,
}

impl Default for FlowOptions {
    fn default() -> Self {
        FlowOptions {
            start: 1e-5,
            solve: LogDetOptions {
                trace: TraceEstimator::Exact,
                solver: SolveOptions::default().tol(1e-5, 1e-5),
                gradient: Gradient::default(),
            },
        }
    }
}

/// What [`Diffusion::flow_log_likelihood`] returns.
#[derive(Debug, Clone)]
pub struct FlowLogLikelihood<T> {
    /// `ln p(x) = ln N(z(1); 0, I) + int tr(d drift / dz) du`, per row (`B x 1`).
    pub log_likelihood: T,
    /// The end of the solve: `z(1)`, the log-determinant and the solver's work.
    pub solution: LogDetSolution<T>,
}

impl<P: NoisePredictor + Clone + Send + Sync + 'static> Diffusion<P> {
    /// The probability-flow ODE of this model as a [`Field`].
    pub fn probability_flow(&self) -> ProbabilityFlow<P> {
        ProbabilityFlow { model: self.clone() }
    }

    /// The exact log-likelihood of `x` (`B x D`) under the probability-flow ODE
    /// (Song et al. 2021, Sec. 4.3 and App. D.2), the instantaneous change of variables
    /// of a continuous flow solved from `x` at `options.start` to the prior
    /// `N(0, I)` at `u = 1`; exact up to the solver's tolerance, or unbiased with
    /// Hutchinson's trace (probes from `rng`).
    pub fn flow_log_likelihood<S: OdeSession, R: Rng>(
        &self,
        s: &S,
        x: &Array2<f64>,
        options: &FlowOptions,
        rng: &mut R,
    ) -> Result<FlowLogLikelihood<S::T>> {
        self.check(x)?;
        if !(options.start > 0.0 && options.start < 1.0) {
            return Err(Error::config(
                "Diffusion::flow_log_likelihood",
                format!("start {} is not in (0, 1)", options.start),
            ));
        }
        let schedule = &self.schedule;
        let span = (-schedule.alpha_bar_at(options.start)?.ln(), -schedule.alpha_bar_at(1.0)?.ln());
        let field = self.probability_flow();
        let solution = solve_log_det(s, &field, &s.constant(x.clone()), span, &options.solve, rng)?;
        let prior = DiagNormal::standard(&solution.z, solution.z.shape());
        let log_likelihood = prior.log_prob_rows(&solution.z)?.add(&solution.log_det)?;
        Ok(FlowLogLikelihood { log_likelihood, solution })
    }
}
