//! The product of two diagonal Gaussian densities: the Bayes update of a Gaussian
//! prior by a Gaussian observation (a Kalman measurement update with identity
//! observation matrix), as in GRU-ODE-Bayes.

use crate::normal::DiagNormal;
use crate::{Result, validate};
use autodiff::{Mask, Tensor};
use ndarray::Array2;

/// The result of [`gaussian_product`].
#[derive(Debug, Clone)]
pub struct GaussianProduct<T> {
    /// The normalised product: the posterior.
    pub posterior: DiagNormal<T>,
    /// Element-wise `ln Z`, where `N(x; mu_p, s_p) N(x; mu_q, s_q) = Z N(x; mu, s)`;
    /// `Z = N(mu_p; mu_q, s_p + s_q)` is the marginal likelihood of the observation.
    pub log_normaliser: T,
}

/// The product of two diagonal Gaussians `p` (prior) and `q` (observation),
/// differentiable in all four parameters.
///
/// # Formula
///
/// Precisions add and means are precision-weighted:
///
/// $$ \sigma^2 = \frac{\sigma_p^2 \sigma_q^2}{\sigma_p^2 + \sigma_q^2}, \qquad \mu = \mu_q + w (\mu_p - \mu_q), \quad w = \frac{\sigma_q^2}{\sigma_p^2 + \sigma_q^2} = \operatorname{sigmoid}(v_q - v_p). $$
///
/// In log-variances, `v = v_q - softplus(v_q - v_p)` and
/// `ln(s_p + s_q) = v_p + softplus(v_q - v_p)`: no variance is ever formed, so
/// log-variances of `+-30` on either side stay exact.
///
/// This is the exact update that the GRU-Bayes cell of De Brouwer et al. (2019,
/// *GRU-ODE-Bayes*, NeurIPS) learns to approximate when an observation arrives.
pub fn gaussian_product<T: Tensor>(p: &DiagNormal<T>, q: &DiagNormal<T>) -> Result<GaussianProduct<T>> {
    validate::broadcast("gaussian_product", "q", p.shape(), q.shape())?;
    let dv = q.log_var().sub(p.log_var())?;
    let w = dv.sigmoid();
    let mean = q.mean().add(&w.mul(&p.mean().sub(q.mean())?)?)?;
    let log_var = q.log_var().sub(&dv.softplus())?;
    let sum_log_var = p.log_var().add(&dv.softplus())?;
    let log_normaliser = DiagNormal::from_mean_log_var(q.mean().clone(), sum_log_var)?.log_prob(p.mean())?;
    Ok(GaussianProduct { posterior: DiagNormal::from_mean_log_var(mean, log_var)?, log_normaliser })
}

/// The Bayes update of `prior` by the observation `obs` only where `mask` is 1:
/// observed entries get the posterior of [`gaussian_product`], unobserved ones keep
/// the prior (as for sporadically observed series). The unobserved entries of `obs`
/// may hold any placeholder, however large (a variance of `e^800` included): they are
/// selected away before the product, so they reach neither the value nor the gradient.
pub fn bayes_update<T: Tensor>(
    prior: &DiagNormal<T>,
    obs: &DiagNormal<T>,
    mask: &Array2<f64>,
) -> Result<DiagNormal<T>> {
    validate::mask("bayes_update", mask)?;
    let shape = validate::broadcast("bayes_update", "obs", prior.shape(), obs.shape())?;
    validate::broadcast("bayes_update", "mask", shape, mask.dim())?;
    let keep = Mask::new(mask)?;
    let obs = DiagNormal::from_mean_log_var(obs.mean().keep_where(&keep)?, obs.log_var().keep_where(&keep)?)?;
    let post = gaussian_product(prior, &obs)?.posterior;
    let blend = |a: &T, b: &T| -> Result<T> { Ok(a.add(&b.sub(a)?.keep_where(&keep)?)?) };
    DiagNormal::from_mean_log_var(blend(prior.mean(), post.mean())?, blend(prior.log_var(), post.log_var())?)
}
