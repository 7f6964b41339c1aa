//! The stochastic recurrent neural network of Fraccaro et al. (2016): a deterministic
//! GRU layer below a state-space layer.
//!
//! # Generative model (Sec. 2)
//!
//! With inputs $u_t = x_{t-1}$ ($u_1 = 0$) and $d_0 = 0$, $z_0 = 0$:
//!
//! $$ d_t = \mathrm{GRU}(u_t, d_{t-1}), \qquad
//!    z_t \sim \mathcal N\big(\mu^{(p)}_t, \operatorname{diag} v^{(p)}_t\big),\;
//!    [\mu^{(p)}_t, v^{(p)}_t] = \mathrm{NN}^{(p)}(z_{t-1}, d_t), \qquad
//!    x_t \sim p(x_t \mid z_t, d_t), $$
//!
//! so that $p(x, z, d) = \prod_t p(x_t \mid z_t, d_t)\, p(z_t \mid z_{t-1}, d_t)\,
//! p(d_t \mid d_{t-1}, u_t)$ with the last factor a point mass.
//!
//! # Inference (Sec. 3)
//!
//! The true posterior factorises as $p(z \mid x) = \prod_t p(z_t \mid z_{t-1}, d_{t:T},
//! x_{t:T})$: the future matters. The **smoothing** inference network summarises it
//! with a backward GRU over $[d_t, x_t]$,
//!
//! $$ a_t = \mathrm{GRU}^{\leftarrow}([d_t, x_t], a_{t+1}), \qquad
//!    q(z_t \mid z_{t-1}, a_t) = \mathcal N\big(\mu^{(q)}_t, \operatorname{diag} v^{(q)}_t\big),\;
//!    [\mu^{(q)}_t, v^{(q)}_t] = \mathrm{NN}^{(q)}(z_{t-1}, a_t); $$
//!
//! the **filtering** variant uses $a_t = \tanh(W [d_t, x_t] + b)$ (present only). With
//! **Resq** (the residual parameterisation of Sec. 3) the posterior mean is a correction of the prior's,
//! $\mu^{(q)}_t = \mu^{(p)}_t + \tilde\mu^{(q)}_t$, so the network learns only what the
//! observation adds. The bound is
//!
//! $$ \mathcal F = \sum_t \mathbb E_{q}\Big[ \ln p(x_t \mid z_t, d_t) - \mathrm{KL}\big(q(z_t \mid z_{t-1}, a_t) \,\|\, p(z_t \mid z_{t-1}, d_t)\big) \Big], $$
//!
//! each KL in closed form given the sampled $z_{t-1}$. KL annealing (the reference
//! code's "temperature" from 0.2 to 1) multiplies the KL term by a weight:
//! [`Elbo::loss_per_step`]`(kl_weight)`.

use crate::batch::SeqBatch;
use crate::bound::{
    Elbo, LatentScan, LatentTerm, ParticleBudget, Pass, ScanResult, elbo_of, filter_state_of,
    log_likelihood_of,
};
use crate::cells::{GruCell, GruConvention, masked_update, run_cell};
use crate::heads::{GaussianHead, ObsHead, ObsKind};
use crate::stream::start_or_zeros;
use crate::{Cell, Error, Result, SequenceModel};
use autodiff::{Activation, Linear, Mlp, NoGrad, ParamStore, Session, Tensor};
use dists::DiagNormal;
use ndarray::Array2;
use rand::Rng;

/// Which posterior the inference network computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Inference {
    /// `q(z_t | z_{t-1}, d_{t:T}, x_{t:T})` through a backward GRU (the paper's best).
    Smoothing,
    /// `q(z_t | z_{t-1}, d_t, x_t)`.
    Filtering,
}

/// Sizes and choices of an [`Srnn`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SrnnConfig {
    /// Observation width.
    pub x_dim: usize,
    /// Width of the deterministic state `d`.
    pub d_dim: usize,
    /// Latent width.
    pub z_dim: usize,
    /// Width of the inference state `a`.
    pub a_dim: usize,
    /// Width of the hidden layer of the prior, posterior and decoder networks.
    pub hidden: usize,
    /// The observation distribution.
    pub obs: ObsKind,
    /// Smoothing or filtering posterior.
    pub inference: Inference,
    /// The residual posterior mean ("Resq").
    pub resq: bool,
    /// GRU convention of both recurrent layers.
    pub gru: GruConvention,
    /// Floor of the prior and posterior standard deviations.
    pub min_std: f64,
    /// Nonlinearity of every hidden layer.
    pub activation: Activation,
    /// Width of an optional feature extractor: two layers that map `u_t` before the
    /// GRU of `d` and `x_t` before the inference network, shared between the two (the
    /// reference code's input embedding; `None` feeds the raw observations).
    pub embed: Option<usize>,
}

impl SrnnConfig {
    /// Smoothing with Resq and a Bernoulli output (the paper's best music model),
    /// hidden layers as wide as `d`.
    pub fn new(x_dim: usize, d_dim: usize, z_dim: usize, a_dim: usize) -> Self {
        SrnnConfig {
            x_dim,
            d_dim,
            z_dim,
            a_dim,
            hidden: d_dim,
            obs: ObsKind::Bernoulli,
            inference: Inference::Smoothing,
            resq: true,
            gru: GruConvention::PyTorch,
            min_std: 1e-4,
            activation: Activation::Relu,
            embed: None,
        }
    }

    /// The architecture of the reference code (`MainSRNN_midi.py` of Fraccaro et al.):
    /// hidden layers of 500 units, the clipped leaky rectifier, a two-layer input
    /// embedding of 500 units; smoothing with Resq.
    pub fn reference(x_dim: usize, d_dim: usize, z_dim: usize, a_dim: usize) -> Self {
        SrnnConfig {
            hidden: 500,
            activation: Activation::ClippedLeakyRelu,
            embed: Some(500),
            ..SrnnConfig::new(x_dim, d_dim, z_dim, a_dim)
        }
    }
}

/// The inference network's summary `a_t` of the data.
#[derive(Debug, Clone, PartialEq)]
enum Summary {
    Backward(GruCell),
    Present(Linear),
}

/// An SRNN (see the module docs for the equations).
#[derive(Debug, Clone, PartialEq)]
pub struct Srnn {
    config: SrnnConfig,
    embed: Option<Mlp>,
    d_rnn: GruCell,
    prior: Mlp,
    prior_head: GaussianHead,
    dec: Mlp,
    obs: ObsHead,
    summary: Summary,
    post: Mlp,
    post_head: GaussianHead,
}

/// What SRNN sampling carries from one step to the next.
#[derive(Debug, Clone)]
pub struct SrnnState<T> {
    /// The deterministic state `d_t`.
    pub d: T,
    /// The latent state `z_t`.
    pub z: T,
    /// The last observation `x_t`: the next step's input `u_{t+1}`.
    pub u: T,
}

impl Srnn {
    /// Registers the parameters under `{name}.d_rnn`, `.prior`, `.dec`, `.obs`,
    /// `.a_rnn` (or `.a`), `.post`.
    pub fn new(store: &mut ParamStore, name: &str, config: SrnnConfig, rng: &mut impl Rng) -> Result<Self> {
        let SrnnConfig { x_dim: x, d_dim: d, z_dim: z, a_dim: a, hidden: hid, activation: act, .. } = config;
        if [x, d, z, a, hid].contains(&0) || config.embed == Some(0) {
            return Err(Error::config("Srnn::new", format!("sizes must be positive, got {config:?}")));
        }
        let n = |part: &str| format!("{name}.{part}");
        let layer = |store: &mut ParamStore, part: &str, widths: &[usize], rng: &mut _| -> Result<Mlp> {
            Ok(Mlp::new(store, &n(part), widths, act, rng)?.with_output_activation(act))
        };
        let embed = config.embed.map(|e| layer(store, "embed", &[x, e, e], rng)).transpose()?;
        let feat = config.embed.unwrap_or(x);
        let one_layer = |store: &mut ParamStore, part: &str, input: usize, rng: &mut _| {
            layer(store, part, &[input, hid], rng)
        };
        let d_rnn = GruCell::new(store, &n("d_rnn"), feat, d, config.gru, true, rng)?;
        let prior = one_layer(store, "prior", z + d, rng)?;
        let prior_head = GaussianHead::new(store, &n("prior_head"), hid, z, config.min_std, rng)?;
        let dec = one_layer(store, "dec", z + d, rng)?;
        let obs = ObsHead::new(store, &n("obs"), config.obs, hid, x, rng)?;
        let summary = match config.inference {
            Inference::Smoothing => {
                Summary::Backward(GruCell::new(store, &n("a_rnn"), d + feat, a, config.gru, true, rng)?)
            }
            Inference::Filtering => Summary::Present(Linear::new(store, &n("a"), d + feat, a, rng)?),
        };
        let post = one_layer(store, "post", z + a, rng)?;
        let post_head = GaussianHead::new(store, &n("post_head"), hid, z, config.min_std, rng)?;
        Ok(Srnn { config, embed, d_rnn, prior, prior_head, dec, obs, summary, post, post_head })
    }

    /// The settings.
    pub fn config(&self) -> &SrnnConfig {
        &self.config
    }

    /// The features of an observation: the embedding if there is one, else itself.
    fn features<S: Session>(&self, s: &S, x: &S::T) -> Result<S::T> {
        Ok(match &self.embed {
            Some(mlp) => mlp.forward(s, x)?,
            None => x.clone(),
        })
    }

    fn prior_at<S: Session>(&self, s: &S, z_prev: &S::T, d: &S::T) -> Result<DiagNormal<S::T>> {
        self.prior_head.forward(s, &self.prior.forward(s, &S::T::concat_cols(&[z_prev, d])?)?)
    }

    fn obs_at<S: Session>(&self, s: &S, z: &S::T, d: &S::T) -> Result<crate::ObsDist<S::T>> {
        self.obs.forward(s, &self.dec.forward(s, &S::T::concat_cols(&[z, d])?)?)
    }
}

impl LatentScan for Srnn {
    type Carry<T> = SrnnState<T>;

    /// Runs the inference network and the bound over a batch, sampling `z_t` from
    /// `rng`; returns the reconstruction and latent totals per sequence and the state
    /// after each sequence's last present step.
    fn scan<S: Session, R: Rng + ?Sized>(
        &self,
        s: &S,
        batch: &SeqBatch,
        start: Option<&SrnnState<Array2<f64>>>,
        term: LatentTerm,
        rng: &mut R,
    ) -> ScanResult<Self, S::T> {
        let c = &self.config;
        batch.expect_dim("Srnn", c.x_dim)?;
        let b = batch.batch_size();
        let start_of = |part: Option<&Array2<f64>>, width, name| {
            Ok::<_, Error>(s.constant(start_or_zeros(part, (b, width), name)?))
        };
        let (d0, z0, u0) = (
            start_of(start.map(|st| &st.d), c.d_dim, "Srnn (the start state's d)")?,
            start_of(start.map(|st| &st.z), c.z_dim, "Srnn (the start state's z)")?,
            start_of(start.map(|st| &st.u), c.x_dim, "Srnn (the start state's u)")?,
        );
        let steps = batch.step_masks();
        let x: Vec<S::T> = batch.steps().iter().map(|x| s.constant(x.clone())).collect();
        // Features of every x_t, and of u_t = x_{t-1}: the same features shifted one
        // step to the right, after those of u_1 (0, or the last input of the chunk
        // before).
        let fx: Vec<S::T> = x.iter().map(|x| self.features(s, x)).collect::<Result<_>>()?;
        let mut u = vec![self.features(s, &u0)?];
        u.extend(fx[..fx.len() - 1].iter().cloned());
        let d = run_cell(s, &self.d_rnn, &u, steps, d0, false)?;
        let dx: Vec<S::T> =
            d.iter().zip(&fx).map(|(d, f)| S::T::concat_cols(&[d, f])).collect::<autodiff::Result<_>>()?;
        let a = match &self.summary {
            Summary::Backward(cell) => {
                run_cell(s, cell, &dx, steps, s.constant(Array2::zeros((b, c.a_dim))), true)?
            }
            Summary::Present(lin) => {
                dx.iter().map(|v| Ok(lin.forward(s, v)?.tanh())).collect::<Result<_>>()?
            }
        };
        let mut z = z0;
        let mut recon = s.constant(Array2::zeros((b, 1)));
        let mut latent = s.constant(Array2::zeros((b, 1)));
        for (t, step) in batch.iter().enumerate() {
            let prior = self.prior_at(s, &z, &d[t])?;
            let h = self.post.forward(s, &S::T::concat_cols(&[&z, &a[t]])?)?;
            let q = if c.resq {
                self.post_head.forward_residual(s, &h, prior.mean())?
            } else {
                self.post_head.forward(s, &h)?
            };
            let z_new = q.rsample(rng)?;
            recon = recon.add(&self.obs_at(s, &z_new, &d[t])?.log_prob_rows(&x[t], step.mask)?)?;
            let lat = term.of(&q, &prior, &z_new)?;
            latent = latent.add(&lat.mask(step.present)?)?;
            z = masked_update(z_new, &z, step.present)?;
        }
        // The last present input of each row: x_t where the step is present.
        let mut last = u0;
        for (x, m) in x.iter().zip(steps) {
            last = masked_update(x.clone(), &last, m)?;
        }
        let d_last = d.last().expect("a built SeqBatch has a step").clone();
        Ok(Pass { recon, latent, carry: SrnnState { d: d_last, z, u: last } })
    }

    fn detach<T: Tensor>(carry: &SrnnState<T>) -> SrnnState<Array2<f64>> {
        SrnnState { d: carry.d.to_array(), z: carry.z.to_array(), u: carry.u.to_array() }
    }
}

impl SequenceModel for Srnn {
    type State = SrnnState<Array2<f64>>;

    fn x_dim(&self) -> usize {
        self.config.x_dim
    }

    fn elbo<S: Session, R: Rng + ?Sized>(&self, s: &S, batch: &SeqBatch, rng: &mut R) -> Result<Elbo<S::T>> {
        elbo_of(self, s, batch, rng)
    }

    /// Importance sampling with the inference network (smoothing or filtering) as
    /// proposal: `K` latent paths per sequence, log-weights
    /// `sum_t ln p(x_t | z_t, d_t) + ln p(z_t | z_{t-1}, d_t) - ln q(z_t | z_{t-1}, a_t)`.
    fn log_likelihood_within<R: Rng + ?Sized>(
        &self,
        store: &ParamStore,
        batch: &SeqBatch,
        particles: usize,
        budget: ParticleBudget,
        rng: &mut R,
    ) -> Result<Array2<f64>> {
        log_likelihood_of(self, store, batch, particles, budget, rng)
    }

    fn initial_state(&self, batch: usize) -> Self::State {
        let c = &self.config;
        SrnnState {
            d: Array2::zeros((batch, c.d_dim)),
            z: Array2::zeros((batch, c.z_dim)),
            u: Array2::zeros((batch, c.x_dim)),
        }
    }

    fn filter_state<R: Rng + ?Sized>(
        &self,
        store: &ParamStore,
        prefix: &SeqBatch,
        rng: &mut R,
    ) -> Result<Self::State> {
        filter_state_of(self, store, prefix, rng)
    }

    fn sample_from<R: Rng + ?Sized>(
        &self,
        store: &ParamStore,
        mut carry: Self::State,
        steps: usize,
        rng: &mut R,
    ) -> Result<Vec<Array2<f64>>> {
        let s = NoGrad::new(store);
        let mut out = Vec::with_capacity(steps);
        for _ in 0..steps {
            carry.d = self.d_rnn.step(&s, &self.features(&s, &carry.u)?, &carry.d)?;
            carry.z = self.prior_at(&s, &carry.z, &carry.d)?.sample(rng)?;
            carry.u = self.obs_at(&s, &carry.z, &carry.d)?.sample(rng)?;
            out.push(carry.u.clone());
        }
        Ok(out)
    }
}
