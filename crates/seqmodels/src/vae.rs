//! The variational autoencoder of Kingma and Welling (2013).
//!
//! # Model and bound
//!
//! $p(z) = \mathcal N(0, I)$ and $p_\theta(x \mid z)$ Bernoulli or Gaussian with
//! parameters from a decoder MLP; the encoder gives $q_\phi(z \mid x) = \mathcal
//! N(\mu_\phi(x), \operatorname{diag}\sigma^2_\phi(x))$. The bound (Eq. 3) is
//!
//! $$ \mathcal L(x) = -\mathrm{KL}\big(q_\phi(z \mid x) \,\|\, p(z)\big) + \mathbb E_{q}\big[\ln p_\theta(x \mid z)\big] \le \ln p(x), $$
//!
//! estimated with the closed-form KL (Appendix B) and one reparameterised sample
//! $z = \mu + \sigma \odot \varepsilon$ (Eq. 10, the SGVB estimator with $L = 1$).
//! For evaluation, the importance-weighted estimate with $K$ samples (Burda et al.
//! 2016, Eq. 8)
//!
//! $$ \ln \hat p_K(x) = \ln \frac1K \sum_{k=1}^K \frac{p_\theta(x \mid z_k)\, p(z_k)}{q_\phi(z_k \mid x)}, \qquad z_k \sim q_\phi(z \mid x), $$
//!
//! whose expectation is at least $\mathcal L$ and rises with $K$ to $\ln p(x)$.

use crate::batch::repeat_rows;
use crate::bound::{Elbo, log_mean_exp_blocks};
use crate::heads::{GaussianHead, ObsDist, ObsHead, ObsKind};
use crate::{Error, Result};
use autodiff::{Activation, Mlp, NoGrad, ParamStore, Session, Tensor};
use dists::DiagNormal;
use ndarray::{Array2, Axis};
use rand::Rng;

/// Sizes and families of a [`Vae`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VaeConfig {
    /// Data width.
    pub x_dim: usize,
    /// Latent width.
    pub z_dim: usize,
    /// Widths of the hidden layers of the encoder (the decoder mirrors them).
    pub hidden: Vec<usize>,
    /// The decoder's distribution.
    pub obs: ObsKind,
    /// Nonlinearity of the hidden layers.
    pub activation: Activation,
    /// Floor of the posterior standard deviation.
    pub min_std: f64,
}

/// A VAE (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct Vae {
    config: VaeConfig,
    enc: Mlp,
    enc_head: GaussianHead,
    dec: Mlp,
    obs: ObsHead,
}

impl Vae {
    /// Registers the parameters under `{name}.enc`, `.enc_head`, `.dec`, `.obs`.
    pub fn new(store: &mut ParamStore, name: &str, config: VaeConfig, rng: &mut impl Rng) -> Result<Self> {
        let Some(&last) = config.hidden.last() else {
            return Err(Error::config("Vae::new", "needs at least one hidden layer"));
        };
        let first = config.hidden[0];
        let act = config.activation;
        let enc_widths: Vec<usize> =
            std::iter::once(config.x_dim).chain(config.hidden.iter().copied()).collect();
        let dec_widths: Vec<usize> =
            std::iter::once(config.z_dim).chain(config.hidden.iter().rev().copied()).collect();
        let enc = Mlp::new(store, &format!("{name}.enc"), &enc_widths, act, rng)?.with_output_activation(act);
        let enc_head =
            GaussianHead::new(store, &format!("{name}.enc_head"), last, config.z_dim, config.min_std, rng)?;
        let dec = Mlp::new(store, &format!("{name}.dec"), &dec_widths, act, rng)?.with_output_activation(act);
        let obs = ObsHead::new(store, &format!("{name}.obs"), config.obs, first, config.x_dim, rng)?;
        Ok(Vae { config, enc, enc_head, dec, obs })
    }

    /// The settings.
    pub fn config(&self) -> &VaeConfig {
        &self.config
    }

    /// `q(z | x)` for a batch `x` (`B x x_dim`).
    pub fn encode<S: Session>(&self, s: &S, x: &S::T) -> Result<DiagNormal<S::T>> {
        self.enc_head.forward(s, &self.enc.forward(s, x)?)
    }

    /// `p(x | z)` for a batch `z` (`B x z_dim`).
    pub fn decode<S: Session>(&self, s: &S, z: &S::T) -> Result<ObsDist<S::T>> {
        self.obs.forward(s, &self.dec.forward(s, z)?)
    }

    /// The bound's terms for a batch, with one reparameterised sample from `rng`.
    pub fn elbo<S: Session, R: Rng + ?Sized>(
        &self,
        s: &S,
        x: &Array2<f64>,
        rng: &mut R,
    ) -> Result<Elbo<S::T>> {
        self.check(x)?;
        let xt = s.constant(x.clone());
        let q = self.encode(s, &xt)?;
        let z = q.rsample(rng)?;
        let ones = Array2::ones((x.nrows(), 1));
        let recon = self.decode(s, &z)?.log_prob_rows(&xt, &ones)?;
        let kl = q.kl_to_standard_normal()?.sum_axis(Axis(1));
        Ok(Elbo { lengths: vec![1; recon.shape().0], recon, kl })
    }

    /// The decoder's mean at the posterior mean: `E[x | z = mu(x)]`.
    pub fn reconstruct(&self, store: &ParamStore, x: &Array2<f64>) -> Result<Array2<f64>> {
        self.check(x)?;
        let s = NoGrad::new(store);
        let q = self.encode(&s, x)?;
        self.decode(&s, q.mean())?.mean()
    }

    /// `n` draws `z ~ N(0, I)` decoded: the decoder's means and samples of `x`.
    pub fn sample<R: Rng + ?Sized>(
        &self,
        store: &ParamStore,
        n: usize,
        rng: &mut R,
    ) -> Result<(Array2<f64>, Array2<f64>)> {
        let s = NoGrad::new(store);
        let z = DiagNormal::standard(&Array2::zeros((0, 0)), (n, self.config.z_dim)).sample(rng)?;
        let p = self.decode(&s, &z)?;
        Ok((p.mean()?, p.sample(rng)?))
    }

    /// The importance-weighted estimate `ln p_K(x)` per example (`B x 1`) with `k`
    /// samples from the encoder (see the module docs).
    pub fn log_likelihood<R: Rng + ?Sized>(
        &self,
        store: &ParamStore,
        x: &Array2<f64>,
        k: usize,
        rng: &mut R,
    ) -> Result<Array2<f64>> {
        self.check(x)?;
        if k == 0 {
            return Err(Error::config("Vae::log_likelihood", "needs at least one sample"));
        }
        let s = NoGrad::new(store);
        let xk = repeat_rows(x, k);
        let q = self.encode(&s, &xk)?;
        let z = q.sample(rng)?;
        let prior = DiagNormal::standard(&z, z.dim());
        let ones = Array2::ones((xk.nrows(), 1));
        let log_w = self.decode(&s, &z)?.log_prob_rows(&xk, &ones)? + prior.log_prob_rows(&z)?
            - q.log_prob_rows(&z)?;
        log_mean_exp_blocks(&log_w, k)
    }

    fn check(&self, x: &Array2<f64>) -> Result<()> {
        if x.ncols() != self.config.x_dim || x.nrows() == 0 {
            return Err(Error::config(
                "Vae",
                format!("expected a B x {} batch, got {:?}", self.config.x_dim, x.dim()),
            ));
        }
        Ok(())
    }
}
