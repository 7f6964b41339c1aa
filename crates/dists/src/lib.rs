//! # dists: log-likelihoods, KL divergences, sampling and EM
//!
//! The probability layer that every latent-variable model's loss is made of: the
//! Gaussian reconstruction and KL terms of a VAE's ELBO (Kingma & Welling 2014), the
//! per-step KL of a VRNN (Chung et al. 2015), Gaussian mixtures fitted by EM, and
//! what the planned continuous-time models need: the masked Gaussian likelihood of a
//! Latent ODE (Rubanova et al. 2019) and the Bayes update that GRU-ODE-Bayes learns
//! to approximate (De Brouwer et al. 2019).
//!
//! ## The design in one paragraph
//!
//! Every distribution is generic over its value type `T: autodiff::Tensor`. With
//! `T = Var` the parameters are tape values (outputs of an encoder, say) and every
//! log-density, entropy, KL and reparameterised sample is differentiable in all of
//! them; with `T = Array2<f64>` the same code computes plain values for inference.
//! Shapes follow the tape's convention: rows are the batch, columns the event
//! dimensions, and factorised families ([`DiagNormal`], [`Bernoulli`]) broadcast
//! like NumPy and return element-wise terms that the caller sums or masks.
//! Constructors check the current values (finite, positive scales, matching
//! shapes, non-empty mixtures) and fail with a typed [`Error`]. Where the data are
//! large and no gradient is needed (scoring a million points under a mixture, EM)
//! a separate tight kernel runs over chunks of points, serially or with rayon.
//! The names are PyTorch's: `log_prob`, `sample`, `rsample`, `entropy`,
//! `kl_divergence`.
//!
//! ## The math in plain words
//!
//! **Diagonal normal** with mean $\mu$ and log-variance $v$ (element-wise):
//! $$ \ln \mathcal N(x; \mu, e^{v}) = -\tfrac12\big(\ln 2\pi + v + (x-\mu)^2 e^{-v}\big), \qquad H = \tfrac12(1 + \ln 2\pi + v). $$
//! The reparameterised sample is $x = \mu + e^{v/2}\varepsilon$ with
//! $\varepsilon \sim \mathcal N(0, 1)$ drawn from a seeded generator and entering the
//! tape as a constant, so gradients flow to $\mu$ and $v$ (Kingma & Welling 2014,
//! Sec. 2.4).
//!
//! **KL between diagonal normals**, element-wise:
//! $$ \mathrm{KL}(p \,\|\, q) = \tfrac12\Big( v_q - v_p + e^{v_p - v_q} + (\mu_p - \mu_q)^2 e^{-v_q} - 1 \Big), $$
//! and against the standard normal $\tfrac12(e^{v} + \mu^2 - 1 - v)$ (Kingma &
//! Welling 2014, Appendix B). Between full-covariance normals with scales
//! $L_p, L_q$ ($\Sigma = LL^\top$):
//! $$ \mathrm{KL} = \tfrac12\Big( \lVert L_q^{-1}L_p \rVert_F^2 + \lVert L_q^{-1}(\mu_q - \mu_p)\rVert^2 - d \Big) + \textstyle\sum_i \ln L_{q,ii} - \sum_i \ln L_{p,ii}. $$
//!
//! **Bernoulli** with logit $\ell$ and target $x \in [0, 1]$ (fractional targets give
//! the binary cross-entropy):
//! $$ \ln p(x) = x \ln\sigma(\ell) + (1-x)\ln\sigma(-\ell) = x\ell - \operatorname{softplus}(\ell), $$
//! the stable identity: `softplus` never overflows, so logits of $\pm 800$ give exact
//! values where $\ln \sigma(800)$ would give $\ln 1 = 0$ and $\ln \sigma(-800) = -\infty$.
//!
//! **Categorical** over $K$ classes with logits $\ell$ (one distribution per row):
//! $\ln p(k) = \ell_k - \operatorname{logsumexp}(\ell)$, the log-sum-exp taken after
//! subtracting the maximum, so logits of $\pm 10^4$ stay exact; entropy and KL are
//! sums over the classes of these log-probabilities. WaveNet's output is one over
//! $256$ amplitude levels, read through mu-law companding ([`MuLaw`]):
//! $f(x) = \operatorname{sign}(x) \ln(1 + \mu|x|) / \ln(1 + \mu)$ (van den Oord et
//! al. 2016, Eq. 2).
//!
//! **Gaussian mixture** with weights $w = \operatorname{softmax}(\text{logits})$:
//! $\ln p(x) = \operatorname{logsumexp}_k\big(\ln w_k + \ln \mathcal N(x; \mu_k, \Sigma_k)\big)$;
//! EM alternates responsibilities $r_{ik} = p(k \mid x_i)$ and their weighted
//! moments (Bishop 2006, eqs. 9.23-9.27), see [`gmm::em`].
//!
//! **Gaussian product** (the Bayes update of a prior $p$ by an observation $q$):
//! precisions add and means are precision-weighted,
//! $$ \sigma^2 = \frac{\sigma_p^2\sigma_q^2}{\sigma_p^2 + \sigma_q^2}, \qquad \mu = \frac{\sigma_q^2 \mu_p + \sigma_p^2 \mu_q}{\sigma_p^2 + \sigma_q^2}, $$
//! computed in log-variances as $v = v_q - \operatorname{softplus}(v_q - v_p)$ and
//! $\mu = \mu_q + \sigma(v_q - v_p)(\mu_p - \mu_q)$.
//!
//! **Monte-Carlo KL** for pairs without a closed form:
//! $\mathrm{KL}(p\|q) \approx \frac1n\sum_i \big(\ln p(x_i) - \ln q(x_i)\big)$,
//! $x_i \sim p$, reported with its standard error.
//!
//! ## Example
//!
//! A VAE's ELBO terms on the tape, and their gradients:
//!
//! ```
//! use autodiff::{Tape, Tensor};
//! use dists::{Bernoulli, DiagNormal};
//! use ndarray::array;
//! use rand::SeedableRng;
//!
//! let tape = Tape::new();
//! // An "encoder output": posterior mean and log-variance for 2 points, 2 latents.
//! let mu = tape.leaf(array![[0.5, -0.2], [0.0, 1.0]]);
//! let log_var = tape.leaf(array![[-1.0, 0.3], [0.0, -0.5]]);
//! let q = DiagNormal::from_mean_log_var(mu, log_var)?;
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
//! let z = q.rsample(&mut rng)?;
//! // A "decoder": logits of 2 binary pixels from z.
//! let logits = z.scale(3.0);
//! let x = tape.constant(array![[1.0, 0.0], [0.0, 1.0]]);
//! let rec = Bernoulli::from_logits(logits)?.log_prob_sum(&x)?;
//! let kl = q.kl_to_standard_normal()?.sum();
//! let loss = kl.sub(&rec)?; // negative ELBO
//! let grads = loss.backward()?;
//! assert_eq!(grads.wrt(&mu).unwrap().unwrap().dim(), (2, 2));
//!
//! // The same closed form on plain arrays: KL(N(0,1) || N(0,1)) is exactly 0.
//! let p = DiagNormal::from_mean_log_var(array![[0.0]], array![[0.0]])?;
//! assert_eq!(dists::kl_divergence(&p, &p)?[(0, 0)], 0.0);
//! # Ok::<(), dists::Error>(())
//! ```
//!
//! ## References
//!
//! - D. P. Kingma, M. Welling, *Auto-Encoding Variational Bayes*, ICLR 2014.
//! - J. Chung et al., *A Recurrent Latent Variable Model for Sequential Data*, NeurIPS 2015.
//! - Y. Rubanova, R. T. Q. Chen, D. Duvenaud, *Latent ODEs for Irregularly-Sampled Time Series*, NeurIPS 2019.
//! - E. De Brouwer, J. Simm, A. Arany, Y. Moreau, *GRU-ODE-Bayes*, NeurIPS 2019.
//! - A. van den Oord et al., *WaveNet: A Generative Model for Raw Audio*, arXiv:1609.03499, 2016.
//! - A. P. Dempster, N. M. Laird, D. B. Rubin, *Maximum Likelihood from Incomplete Data via the EM Algorithm*, JRSS-B 1977.
//! - C. M. Bishop, *Pattern Recognition and Machine Learning*, Springer 2006, Ch. 9.
//! - D. Arthur, S. Vassilvitskii, *k-means++: The Advantages of Careful Seeding*, SODA 2007.

#![deny(missing_docs)]

mod bernoulli;
mod categorical;
mod error;
pub mod gmm;
mod kl;
pub mod linalg;
mod masked;
mod mu_law;
mod mvn;
mod normal;
mod product;
mod traits;
mod validate;

pub use bernoulli::{Bernoulli, PROB_MAX, PROB_MIN};
pub use categorical::{Categorical, class_indices, one_hot};
pub use error::{Error, Result};
pub use gmm::em::{EmConfig, EmFit, EmInit};
pub use gmm::kernel::Parallelism;
pub use gmm::{GaussianMixture, RowMixture};
pub use kl::{KlDivergence, kl_divergence};
pub use mu_law::MuLaw;
pub use mvn::MultivariateNormal;
pub use normal::DiagNormal;
pub use product::{GaussianProduct, bayes_update, gaussian_product};
pub use traits::{LogProb, McEstimate, Sample, monte_carlo_kl};
