//! # seqmodels: recurrent and latent-variable models of sequences
//!
//! The sequence models of latent-seq, from the recurrent cell up to the Latent ODE:
//!
//! | model | what it is | module |
//! |---|---|---|
//! | RNN, GRU cells | `h_t = f(x_t, h_{t-1})`; the GRU in Cho et al.'s and PyTorch's conventions, and the Latent ODE code's GRU over a mean and a std | [`cells`] |
//! | [`RnnModel`] | a deterministic RNN with a Bernoulli, Gaussian or mixture output | [`rnn`] |
//! | [`Vae`] | the variational autoencoder (Kingma & Welling 2013) | [`vae`] |
//! | [`Vrnn`] | a latent variable at every step of an RNN (Chung et al. 2015) | [`vrnn`] |
//! | [`Srnn`] | an RNN below a state-space model, smoothing inference (Fraccaro et al. 2016) | [`srnn`] |
//! | [`LatentOde`] | a latent trajectory evolved by a learned ODE, for irregularly sampled series (Chen et al. 2018; Rubanova et al. 2019) | [`latent_ode`] |
//! | [`OdeRnn`] | an RNN whose state evolves by a learned ODE between observations (Rubanova et al. 2019, Algorithm 1) | [`ode_rnn`] |
//! | [`WaveNet`] | an autoregressive stack of gated, causal dilated convolutions with a categorical (mu-law levels) or Bernoulli output; naive and incremental generation (van den Oord et al. 2016) | [`wavenet`] |
//! | [`Diffusion`] | a chain of latents noised by a fixed schedule and denoised by a learned reverse chain: a hierarchical VAE (Ho et al. 2020) | [`diffusion`] |
//! | [`GruOdeBayes`] | continuous filtering of sporadic series: a GRU-ODE between observations, a GRU-Bayes jump at each (De Brouwer et al. 2019) | [`gru_ode_bayes`] |
//!
//! ## The design in one paragraph
//!
//! Every model keeps its parameters in an [`autodiff::ParamStore`] and computes on
//! an [`autodiff::Session`]: on a tape to train, on plain arrays to evaluate and
//! sample, from the same code. Every model reads a [`SeqBatch`], drawn from a data set
//! of [`Sequences`] or built from its steps: **time-major**, step `t` being the
//! `B x D` matrix of all `B` sequences at that step, padded with zeros after a
//! sequence ends, with a `B x 1` or `B x D` 0/1 mask per step. Padded steps contribute nothing to any loss, and a
//! recurrent state stops changing at its sequence's end ([`cells::masked_update`];
//! the cells step only the rows still present, [`cells::step_present`]),
//! which also keeps a backward RNN at its initial state through the padding. Every
//! sequence model implements [`SequenceModel`]: a differentiable bound per sequence
//! ([`Elbo`], with losses per time step and per sequence, and a KL weight for
//! annealing), an importance-sampled log-likelihood for evaluation, generation,
//! and forecasting from a prefix. The RNN, VRNN and SRNN are also [`Stateful`]: a
//! pass can continue from the state an earlier one ended in, which is how long
//! streams train in chunks ([`stream`]: truncated backpropagation through time).
//!
//! ## The math in plain words
//!
//! A latent-variable model $p(x, z) = p(z)\,p(x \mid z)$ is trained by maximising the
//! evidence lower bound with an inference network $q(z \mid x)$:
//!
//! $$ \ln p(x) \ge \mathcal L = \mathbb E_{q(z \mid x)}[\ln p(x \mid z)] - \mathrm{KL}\big(q(z \mid x) \,\|\, p(z)\big), $$
//!
//! whose gap is $\mathrm{KL}(q(z \mid x) \,\|\, p(z \mid x))$. For sequences the
//! latent path factorises over time. The VRNN (Chung et al. 2015, Eqs. 5-11) draws
//! $z_t$ from a prior that depends on the RNN state $h_{t-1}$, emits $x_t$ from
//! $(z_t, h_{t-1})$, and feeds both back: $h_t = \mathrm{GRU}([\varphi^x(x_t),
//! \varphi^z(z_t)], h_{t-1})$; its posterior $q(z_t \mid x_t, h_{t-1})$ filters. The
//! SRNN (Fraccaro et al. 2016) separates a deterministic GRU $d_t$ over the past
//! observations from a state-space chain $z_t \mid z_{t-1}, d_t$, and its posterior
//! $q(z_t \mid z_{t-1}, a_t)$ smooths, with $a_t$ a backward GRU over $[d_t, x_t]$;
//! its "Resq" posterior mean is the prior mean plus a learned correction. Both
//! bounds are sums over time of a reconstruction term and a closed-form Gaussian
//! KL, each step's KL taken given the sampled past. For evaluation,
//! importance sampling with $K$ latent paths from $q$ gives
//! $\ln \frac1K \sum_k p(x, z^k)/q(z^k \mid x)$, a bound that rises with $K$ from
//! the ELBO towards $\ln p(x)$ (Burda et al. 2016).
//!
//! ## Example
//!
//! A tiny VRNN: its bound on a batch of two binary sequences of different lengths,
//! a gradient step's worth of gradients, and sampling.
//!
//! ```
//! use autodiff::{ParamStore, Tape, Tensor};
//! use ndarray::Array2;
//! use rand::SeedableRng;
//! use seqmodels::{SeqBatch, SequenceModel, Vrnn, VrnnConfig};
//!
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
//! let mut store = ParamStore::new();
//! let model = Vrnn::new(&mut store, "vrnn", VrnnConfig::new(3, 8, 2), &mut rng)?;
//! // Three steps of 2 sequences of 3 binary entries; the second sequence has 2 steps.
//! let xs = vec![Array2::from_elem((2, 3), 1.0), Array2::zeros((2, 3)), Array2::from_elem((2, 3), 1.0)];
//! let masks = vec![Array2::ones((2, 1)), Array2::ones((2, 1)), ndarray::array![[1.0], [0.0]]];
//! let batch = SeqBatch::new(xs, masks)?;
//!
//! let tape = Tape::new();
//! let bound = model.elbo(&tape.session(&store), &batch, &mut rng)?;
//! assert_eq!(bound.lengths, [3, 2]);
//! let loss = bound.loss_per_step(1.0)?;
//! let grads = loss.normalised()?.backward()?;
//! assert!(grads.params().count() > 0);
//!
//! // Importance-sampled log-likelihood (100 particles) and 2 generated sequences of 5 steps.
//! let ll = model.log_likelihood(&store, &batch, 100, &mut rng)?;
//! assert!(ll.iter().all(|v| v.is_finite() && *v < 0.0));
//! let generated = model.generate(&store, 2, 5, &mut rng)?;
//! assert_eq!(generated.len(), 5);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## References
//!
//! - K. Cho et al., *Learning Phrase Representations using RNN Encoder-Decoder for Statistical Machine Translation*, EMNLP 2014 (GRU, Eqs. 5-8).
//! - D. P. Kingma, M. Welling, *Auto-Encoding Variational Bayes*, ICLR 2014 (arXiv 2013).
//! - Y. Burda, R. Grosse, R. Salakhutdinov, *Importance Weighted Autoencoders*, ICLR 2016.
//! - J. Chung et al., *A Recurrent Latent Variable Model for Sequential Data*, NeurIPS 2015.
//! - M. Fraccaro, S. K. Sønderby, U. Paquet, O. Winther, *Sequential Neural Models with Stochastic Layers*, NeurIPS 2016.
//! - R. T. Q. Chen, Y. Rubanova, J. Bettencourt, D. Duvenaud, *Neural Ordinary Differential Equations*, NeurIPS 2018 (Sec. 5, the spirals).
//! - Y. Rubanova, R. T. Q. Chen, D. Duvenaud, *Latent ODEs for Irregularly-Sampled Time Series*, NeurIPS 2019 (eqs. 5-9, Sec. 3.4).
//! - E. De Brouwer, J. Simm, A. Arany, Y. Moreau, *GRU-ODE-Bayes: Continuous modeling of sporadically-observed time series*, NeurIPS 2019 (Sec. 3).
//! - A. van den Oord et al., *WaveNet: A Generative Model for Raw Audio*, arXiv:1609.03499, 2016 (Eqs. 1-2, Secs. 2.1-2.4).
//! - J. Ho, A. Jain, P. Abbeel, *Denoising Diffusion Probabilistic Models*, NeurIPS 2020 (eqs. 4-7, 11, 14).
//! - T. Le Paine et al., *Fast Wavenet Generation Algorithm*, arXiv:1611.09482, 2016.
//! - N. Boulanger-Lewandowski, Y. Bengio, P. Vincent, *Modeling Temporal Dependencies in High-Dimensional Sequences*, ICML 2012 (the polyphonic music data).

#![deny(missing_docs)]

pub mod batch;
pub mod bound;
pub mod cells;
pub mod data;
pub mod diffusion;
mod error;
pub mod field;
mod gru_gates;
pub mod gru_ode_bayes;
pub mod heads;
mod irregular_model;
pub mod latent_ode;
mod model;
pub mod ode_rnn;
pub mod poisson;
pub mod rnn;
pub mod srnn;
mod stops;
pub mod stream;
pub mod toy;
pub mod vae;
pub mod vrnn;
pub mod wavenet;

pub use batch::{Arrays, CsvSeries, IrregularBatch, IrregularSeries, SeqBatch, Sequences, Series};
pub use bound::{Elbo, ParticleBudget};
pub use cells::{AnyCell, Cell, CellKind, GruCell, GruConvention, GruWeights, MeanStdGru, RnnCell};
pub use diffusion::{Diffusion, DiffusionConfig};
pub use error::{CsvProblem, Error, Result};
pub use field::MlpField;
pub use gru_ode_bayes::{GruOdeBayes, GruOdeBayesConfig, GruOdeField, Jump};
pub use heads::{GaussianHead, ObsDist, ObsHead, ObsKind};
pub use irregular_model::{IrregularConfig, IrregularModel};
pub use latent_ode::{Encoder, LatentOde, LatentOdeConfig};
pub use model::{SequenceModel, Stateful};
pub use ode_rnn::{Between, OdeRnn, OdeRnnConfig, OdeRnnCore, OdeRnnRun};
pub use poisson::PoissonIntensity;
pub use rnn::{RnnConfig, RnnModel};
pub use srnn::{Inference, Srnn, SrnnConfig, SrnnState};
pub use vae::{Vae, VaeConfig};
pub use vrnn::{Vrnn, VrnnConfig};
pub use wavenet::{Generation, WaveNet, WaveNetConfig, WaveNetOutput, WaveNetState};
