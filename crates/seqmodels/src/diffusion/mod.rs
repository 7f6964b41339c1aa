//! Denoising diffusion (Ho et al. 2020) as the hierarchical VAE it is: a chain of
//! latents `z_1, .., z_T` whose encoder is fixed by a noise process and whose
//! decoder, the reverse chain, is learned.
//!
//! # The model
//!
//! The encoder adds Gaussian noise step by step with variances `beta_t` from a
//! [`Schedule`] (Ho et al. 2020, eq. 2),
//! $q(z_t \mid z_{t-1}) = \mathcal N(\sqrt{1 - \beta_t}\, z_{t-1}, \beta_t I)$, so
//! every marginal has a closed form (eq. 4) with
//! $\bar\alpha_t = \prod_{s \le t} (1 - \beta_s)$,
//!
//! $$ q(z_t \mid x) = \mathcal N\big(\sqrt{\bar\alpha_t}\, x, (1 - \bar\alpha_t) I\big), $$
//!
//! and so does the posterior of one step back given the data (eqs. 6, 7),
//! $q(z_{t-1} \mid z_t, x) = \mathcal N(\tilde\mu_t(z_t, x), \tilde\beta_t I)$ with
//! $\tilde\beta_t = \frac{1 - \bar\alpha_{t-1}}{1 - \bar\alpha_t} \beta_t$. The
//! generative chain starts from $p(z_T) = \mathcal N(0, I)$ and steps back with
//! $p(z_{t-1} \mid z_t) = \mathcal N(\mu_\theta(z_t, t), \sigma_t^2 I)$, the variance
//! fixed ([`ReverseVariance`]) and the mean written through a network
//! $\varepsilon_\theta$ that predicts the noise in $z_t$ (eq. 11):
//!
//! $$ \mu_\theta(z_t, t) = \frac{1}{\sqrt{1 - \beta_t}} \Big( z_t - \frac{\beta_t}{\sqrt{1 - \bar\alpha_t}}\, \varepsilon_\theta(z_t, t) \Big). $$
//!
//! # The bound
//!
//! The ELBO of this latent-variable model regroups into closed-form Gaussian KL
//! terms (eq. 5):
//!
//! $$ -\ln p(x) \le \underbrace{\mathrm{KL}(q(z_T \mid x) \,\|\, p(z_T))}_{L_T} +
//! \sum_{t=2}^T \underbrace{\mathbb E_q\, \mathrm{KL}(q(z_{t-1} \mid z_t, x) \,\|\, p(z_{t-1} \mid z_t))}_{L_{t-1}}
//! \underbrace{-\,\mathbb E_q \ln p(x \mid z_1)}_{L_0}. $$
//!
//! [`Diffusion::chain_bound`] returns every term, [`Diffusion::sampled_bound`] an
//! unbiased estimate from one random step per example (what training on the bound
//! uses), and [`Diffusion::path_log_ratio`] the same bound before the regrouping. The decoder
//! $p(x \mid z_1)$ is the chain's own last step, a Gaussian density at `x`: the
//! bound is on a *density* of continuous data (Ho et al.'s discretised decoder is
//! for 8-bit images). [`Diffusion::simple_loss`] is the reweighted noise-prediction
//! loss that Ho et al. train with (eq. 14, Algorithm 1), and
//! [`Diffusion::sample_chain`] samples ancestrally (Algorithm 2).
//!
//! # The same model in continuous time
//!
//! Read with $u = t / T$ as time, the chain is the variance-preserving SDE of Song
//! et al. (2021, eq. 11), and its probability-flow ODE (eq. 13) moves every point
//! deterministically with the same marginals: with the score
//! $-\varepsilon_\theta / \sqrt{1 - \bar\alpha}$ it is a continuous normalizing flow
//! of the trained predictor ([`ProbabilityFlow`]), so [`flows::cnf::solve_log_det`]
//! gives its exact log-likelihood ([`Diffusion::flow_log_likelihood`]) beside the
//! bound on the same data. For Gaussian data and the optimal predictor the flow is
//! the exact map between the marginals (tested to `1e-7`).
//!
//! # Example
//!
//! A small model on 2-D data: the bound's terms, the simplified loss on a tape, and
//! samples.
//!
//! ```
//! use autodiff::{NoGrad, ParamStore, Tape, Tensor};
//! use ndarray::array;
//! use rand::SeedableRng;
//! use seqmodels::diffusion::{Diffusion, DiffusionConfig, Schedule};
//!
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
//! let mut store = ParamStore::new();
//! let schedule = Schedule::linear(20, 1e-3, 0.3)?;
//! let model = Diffusion::new(&mut store, "ddpm", schedule, DiffusionConfig::new(2, vec![16]), &mut rng)?;
//! let x = array![[0.5, -1.0], [2.0, 0.0]];
//!
//! let bound = model.chain_bound(&NoGrad::new(&store), &x, &mut rng)?;
//! assert_eq!(bound.step_kls.len(), 19); // L_1 .. L_19
//! let elbo = bound.into_elbo()?.elbo()?; // ln p(x) >= elbo, per row
//! assert!(elbo.iter().all(|v| v.is_finite()));
//!
//! let tape = Tape::new();
//! let loss = model.simple_loss(&tape.session(&store), &x, &mut rng)?.mean()?;
//! assert!(tape.backward(loss)?.params().count() > 0);
//!
//! let chain = model.sample_chain(&store, 5, &mut rng)?;
//! assert_eq!(chain.len(), 21); // z_20 .. z_1, x
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # References
//!
//! - J. Ho, A. Jain, P. Abbeel, *Denoising Diffusion Probabilistic Models*, NeurIPS 2020
//!   (eqs. 2, 4-7, 11, 14; Algorithms 1, 2).
//! - A. Nichol, P. Dhariwal, *Improved Denoising Diffusion Probabilistic Models*, ICML
//!   2021 (the cosine schedule, eq. 17).
//! - Y. Song, J. Sohl-Dickstein, D. P. Kingma, A. Kumar, S. Ermon, B. Poole,
//!   *Score-Based Generative Modeling through Stochastic Differential Equations*, ICLR
//!   2021 (eqs. 11, 13; Sec. 4.3; App. B, D.2).
//! - J. Sohl-Dickstein et al., *Deep Unsupervised Learning using Nonequilibrium
//!   Thermodynamics*, ICML 2015.

mod bound;
mod flow;
mod net;
mod noising;
mod reverse;
mod schedule;

pub use bound::ChainBound;
pub use flow::{FlowLogLikelihood, FlowOptions, ProbabilityFlow};
pub use net::{NoiseNet, NoisePredictor};
pub use reverse::ReverseVariance;
pub use schedule::Schedule;

use crate::{Error, Result};
use autodiff::{Activation, ParamStore};
use rand::Rng;

/// Sizes and settings of a [`Diffusion`] model with a [`NoiseNet`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DiffusionConfig {
    /// Data width.
    pub dim: usize,
    /// Hidden widths of the noise-prediction MLP.
    pub hidden: Vec<usize>,
    /// Width of the step's sinusoidal embedding (even, at least 4; 32 by default).
    pub embedding: usize,
    /// Nonlinearity of the MLP (ReLU by default).
    pub activation: Activation,
    /// The reverse steps' variance (`beta_t` by default).
    pub variance: ReverseVariance,
}

impl DiffusionConfig {
    /// The defaults above for data of width `dim` and the given hidden widths.
    pub fn new(dim: usize, hidden: Vec<usize>) -> Self {
        DiffusionConfig {
            dim,
            hidden,
            embedding: 32,
            activation: Activation::Relu,
            variance: ReverseVariance::default(),
        }
    }
}

/// A diffusion model: the noising chain's [`Schedule`], the reverse steps'
/// variance, and the noise predictor (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq)]
pub struct Diffusion<P = NoiseNet> {
    schedule: Schedule,
    variance: ReverseVariance,
    predictor: P,
    dim: usize,
}

impl Diffusion<NoiseNet> {
    /// A model whose [`NoiseNet`] is registered under `{name}.eps.*`.
    pub fn new(
        store: &mut ParamStore,
        name: &str,
        schedule: Schedule,
        config: DiffusionConfig,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        let net = NoiseNet::new(
            store,
            &format!("{name}.eps"),
            config.dim,
            &config.hidden,
            config.embedding,
            config.activation,
            rng,
        )?;
        Self::with_predictor(schedule, config.variance, net, config.dim)
    }
}

impl<P> Diffusion<P> {
    /// A model with any predictor of the noise in data of width `dim`.
    pub fn with_predictor(
        schedule: Schedule,
        variance: ReverseVariance,
        predictor: P,
        dim: usize,
    ) -> Result<Self> {
        if dim == 0 {
            return Err(Error::config("Diffusion", "data width is zero"));
        }
        Ok(Diffusion { schedule, variance, predictor, dim })
    }

    /// The noising chain's schedule.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// The noise predictor.
    pub fn predictor(&self) -> &P {
        &self.predictor
    }

    /// The data width.
    pub fn dim(&self) -> usize {
        self.dim
    }
}
