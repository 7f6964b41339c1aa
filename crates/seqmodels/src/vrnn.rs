//! The variational recurrent neural network of Chung et al. (2015).
//!
//! # Generative model
//!
//! With feature extractors $\varphi^x$, $\varphi^z$ and $h_0 = 0$:
//!
//! * prior (Eq. 5): $z_t \sim \mathcal N(\mu_{0,t}, \operatorname{diag}\sigma_{0,t}^2)$,
//!   $[\mu_{0,t}, \sigma_{0,t}] = \varphi^{\text{prior}}(h_{t-1})$;
//! * generation (Eq. 6): $x_t \mid z_t \sim p(x_t; \theta_t)$,
//!   $\theta_t = \varphi^{\text{dec}}(\varphi^z(z_t), h_{t-1})$ (Bernoulli logits,
//!   Gaussian mean and scale, or a Gaussian mixture);
//! * recurrence (Eq. 7): $h_t = \mathrm{GRU}([\varphi^x(x_t), \varphi^z(z_t)], h_{t-1})$;
//! * so (Eq. 8) $p(x_{\le T}, z_{\le T}) = \prod_t p(x_t \mid z_{\le t}, x_{<t})\, p(z_t \mid x_{<t}, z_{<t})$.
//!
//! # Inference
//!
//! The filtering posterior (Eq. 9-10): $z_t \mid x_t \sim \mathcal N(\mu_{z,t},
//! \operatorname{diag}\sigma_{z,t}^2)$ with $[\mu_{z,t}, \sigma_{z,t}] =
//! \varphi^{\text{enc}}(\varphi^x(x_t), h_{t-1})$, and the objective (Eq. 11)
//!
//! $$ \mathcal L = \mathbb E_q \Big[ \sum_t -\mathrm{KL}\big(q(z_t \mid x_{\le t}, z_{<t}) \,\|\, p(z_t \mid x_{<t}, z_{<t})\big) + \ln p(x_t \mid z_{\le t}, x_{<t}) \Big], $$
//!
//! with the Gaussian KL in closed form at every step and one reparameterised sample
//! of the path. The layer sizes follow the reference code of the benchmark
//! (`bench_vrnn.py`): $\varphi^x$ two ReLU layers, $\varphi^z$ one, encoder and decoder
//! two ReLU layers on the concatenated inputs, prior one.

use crate::batch::SeqBatch;
use crate::bound::{
    Elbo, LatentScan, LatentTerm, ParticleBudget, Pass, ScanResult, elbo_of, filter_state_of,
    log_likelihood_of,
};
use crate::cells::{GruCell, GruConvention, present_rows, replace_rows};
use crate::heads::{GaussianHead, ObsHead, ObsKind};
use crate::stream::start_or_zeros;
use crate::{Cell, Error, Result, SequenceModel};
use autodiff::{Activation, Mlp, NoGrad, ParamStore, Session, Tensor};
use ndarray::{Array2, Axis};
use rand::Rng;
use rand_distr::StandardNormal;

/// Sizes and families of a [`Vrnn`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VrnnConfig {
    /// Observation width.
    pub x_dim: usize,
    /// Width of the state `h` and of every hidden layer.
    pub h_dim: usize,
    /// Latent width.
    pub z_dim: usize,
    /// The observation distribution.
    pub obs: ObsKind,
    /// The recurrence's GRU convention.
    pub gru: GruConvention,
    /// Whether the GRU has biases (the reference code has none).
    pub gru_bias: bool,
    /// Floor of the prior and posterior standard deviations.
    pub min_std: f64,
}

impl VrnnConfig {
    /// The sizes of the reference code: Bernoulli output, a bias-free PyTorch GRU,
    /// standard deviations floored at `1e-4`.
    pub fn new(x_dim: usize, h_dim: usize, z_dim: usize) -> Self {
        VrnnConfig {
            x_dim,
            h_dim,
            z_dim,
            obs: ObsKind::Bernoulli,
            gru: GruConvention::PyTorch,
            gru_bias: false,
            min_std: 1e-4,
        }
    }
}

/// A VRNN (see the module docs for the equations).
#[derive(Debug, Clone, PartialEq)]
pub struct Vrnn {
    config: VrnnConfig,
    phi_x: Mlp,
    phi_z: Mlp,
    prior: Mlp,
    prior_head: GaussianHead,
    enc: Mlp,
    enc_head: GaussianHead,
    dec: Mlp,
    obs: ObsHead,
    rnn: GruCell,
}

impl Vrnn {
    /// Registers the parameters under `{name}.phi_x`, `.phi_z`, `.prior`, `.enc`,
    /// `.dec`, `.obs`, `.rnn`.
    pub fn new(store: &mut ParamStore, name: &str, config: VrnnConfig, rng: &mut impl Rng) -> Result<Self> {
        let VrnnConfig { x_dim: x, h_dim: h, z_dim: z, .. } = config;
        if x == 0 || h == 0 || z == 0 {
            return Err(Error::config("Vrnn::new", format!("sizes must be positive, got {config:?}")));
        }
        let relu_mlp = |store: &mut ParamStore, part: &str, widths: &[usize], rng: &mut _| -> Result<Mlp> {
            Ok(Mlp::new(store, &format!("{name}.{part}"), widths, Activation::Relu, rng)?
                .with_output_activation(Activation::Relu))
        };
        let phi_x = relu_mlp(store, "phi_x", &[x, h, h], rng)?;
        let phi_z = relu_mlp(store, "phi_z", &[z, h], rng)?;
        let enc = relu_mlp(store, "enc", &[2 * h, h, h], rng)?;
        let enc_head = GaussianHead::new(store, &format!("{name}.enc_head"), h, z, config.min_std, rng)?;
        let prior = relu_mlp(store, "prior", &[h, h], rng)?;
        let prior_head = GaussianHead::new(store, &format!("{name}.prior_head"), h, z, config.min_std, rng)?;
        let dec = relu_mlp(store, "dec", &[2 * h, h, h], rng)?;
        let obs = ObsHead::new(store, &format!("{name}.obs"), config.obs, h, x, rng)?;
        let rnn = GruCell::new(store, &format!("{name}.rnn"), 2 * h, h, config.gru, config.gru_bias, rng)?;
        Ok(Vrnn { config, phi_x, phi_z, prior, prior_head, enc, enc_head, dec, obs, rnn })
    }

    /// The settings.
    pub fn config(&self) -> &VrnnConfig {
        &self.config
    }

    /// One step for the rows given (all of a batch's, or those still present): the
    /// reconstruction and latent terms per row (`R x 1`) and the new state, with `eps`
    /// the rows' standard normal noise for `z_t`.
    fn step<S: Session>(
        &self,
        s: &S,
        x: &S::T,
        mask: &Array2<f64>,
        h: &S::T,
        eps: &Array2<f64>,
        term: LatentTerm,
    ) -> Result<(S::T, S::T, S::T)> {
        let px = self.phi_x.forward(s, x)?;
        let prior = self.prior_head.forward(s, &self.prior.forward(s, h)?)?;
        let q = self.enc_head.forward(s, &self.enc.forward(s, &S::T::concat_cols(&[&px, h])?)?)?;
        let z = q.rsample_with(eps)?;
        let pz = self.phi_z.forward(s, &z)?;
        let obs = self.obs.forward(s, &self.dec.forward(s, &S::T::concat_cols(&[&pz, h])?)?)?;
        let recon = obs.log_prob_rows(x, mask)?;
        let lat = term.of(&q, &prior, &z)?;
        let h_new = self.rnn.step(s, &S::T::concat_cols(&[&px, &pz])?, h)?;
        Ok((recon, lat, h_new))
    }
}

impl LatentScan for Vrnn {
    type Carry<T> = T;

    /// Runs the filtering posterior over a batch, sampling `z_t` from `rng`.
    /// Returns the reconstruction and latent totals per sequence and the final states.
    fn scan<S: Session, R: Rng + ?Sized>(
        &self,
        s: &S,
        batch: &SeqBatch,
        start: Option<&Array2<f64>>,
        term: LatentTerm,
        rng: &mut R,
    ) -> ScanResult<Self, S::T> {
        batch.expect_dim("Vrnn", self.config.x_dim)?;
        let b = batch.batch_size();
        let mut h = s.constant(start_or_zeros(start, (b, self.config.h_dim), "Vrnn")?);
        let mut recon = s.constant(Array2::zeros((b, 1)));
        let mut latent = s.constant(Array2::zeros((b, 1)));
        for step in batch.iter() {
            // Every row's noise is drawn, present or not, so the draws do not depend
            // on which sequences have ended.
            let eps = Array2::from_shape_simple_fn((b, self.config.z_dim), || rng.sample(StandardNormal));
            let rows = present_rows(step.present);
            if rows.len() == b {
                let (r, l, h_new) = self.step(s, &s.constant(step.x.clone()), step.mask, &h, &eps, term)?;
                (recon, latent, h) = (recon.add(&r)?, latent.add(&l)?, h_new);
            } else if !rows.is_empty() {
                // Only the rows whose sequences go on: gathered, stepped, scattered back.
                let pick = |a: &Array2<f64>| a.select(Axis(0), &rows);
                let old = h.gather_rows(&rows)?;
                let (r, l, h_new) =
                    self.step(s, &s.constant(pick(step.x)), &pick(step.mask), &old, &pick(&eps), term)?;
                recon = recon.add(&r.scatter_add_rows(&rows, b)?)?;
                latent = latent.add(&l.scatter_add_rows(&rows, b)?)?;
                h = replace_rows(&h, &rows, &old, &h_new)?;
            }
        }
        Ok(Pass { recon, latent, carry: h })
    }

    fn detach<T: Tensor>(h: &T) -> Array2<f64> {
        h.to_array()
    }
}

impl SequenceModel for Vrnn {
    type State = Array2<f64>;

    fn x_dim(&self) -> usize {
        self.config.x_dim
    }

    fn elbo<S: Session, R: Rng + ?Sized>(&self, s: &S, batch: &SeqBatch, rng: &mut R) -> Result<Elbo<S::T>> {
        elbo_of(self, s, batch, rng)
    }

    /// Importance sampling with the filtering posterior as proposal: `K` independent
    /// latent paths per sequence (run as one batch of `K B` rows), log-weights
    /// `sum_t ln p(x_t | z_{<=t}, x_{<t}) + ln p(z_t | ..) - ln q(z_t | ..)`.
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
        Array2::zeros((batch, self.config.h_dim))
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
        mut h: Self::State,
        steps: usize,
        rng: &mut R,
    ) -> Result<Vec<Array2<f64>>> {
        let s = NoGrad::new(store);
        let mut out = Vec::with_capacity(steps);
        for _ in 0..steps {
            let z = self.prior_head.forward(&s, &self.prior.forward(&s, &h)?)?.sample(rng)?;
            let pz = self.phi_z.forward(&s, &z)?;
            let x = self
                .obs
                .forward(&s, &self.dec.forward(&s, &Array2::concat_cols(&[&pz, &h])?)?)?
                .sample(rng)?;
            let px = self.phi_x.forward(&s, &x)?;
            h = self.rnn.step(&s, &Array2::concat_cols(&[&px, &pz])?, &h)?;
            out.push(x);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    //! The pass that steps only the rows still present against the pass it replaced,
    //! which stepped every row and masked the ended ones out.

    use super::*;
    use crate::cells::masked_update;
    use autodiff::Tape;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// The former pass: every row stepped, the ended ones masked.
    fn masked_full_pass<S: Session>(
        model: &Vrnn,
        s: &S,
        batch: &SeqBatch,
        rng: &mut ChaCha8Rng,
    ) -> (S::T, S::T, S::T) {
        let b = batch.batch_size();
        let mut h = s.constant(Array2::zeros((b, model.config.h_dim)));
        let (mut recon, mut latent) = (s.constant(Array2::zeros((b, 1))), s.constant(Array2::zeros((b, 1))));
        for step in batch.iter() {
            let eps = Array2::from_shape_simple_fn((b, model.config.z_dim), || rng.sample(StandardNormal));
            let x = s.constant(step.x.clone());
            let (r, l, h_new) = model.step(s, &x, step.mask, &h, &eps, LatentTerm::Kl).unwrap();
            recon = recon.add(&r).unwrap();
            latent = latent.add(&l.mask(step.present).unwrap()).unwrap();
            h = masked_update(h_new, &h, step.present).unwrap();
        }
        (recon, latent, h)
    }

    #[test]
    fn stepping_present_rows_equals_the_masked_full_pass() {
        let mut store = ParamStore::new();
        let model =
            Vrnn::new(&mut store, "v", VrnnConfig::new(3, 8, 2), &mut ChaCha8Rng::seed_from_u64(0)).unwrap();
        let lengths = [4, 2, 3, 1];
        let steps: Vec<_> = (0..4)
            .map(|t| {
                Array2::from_shape_fn((4, 3), |(r, c)| {
                    if t < lengths[r] { f64::from(u8::from((t + r + c) % 2 == 0)) } else { 0.0 }
                })
            })
            .collect();
        let masks: Vec<_> = (0..4)
            .map(|t| Array2::from_shape_fn((4, 1), |(r, _)| f64::from(u8::from(t < lengths[r]))))
            .collect();
        let batch = SeqBatch::new(steps, masks).unwrap();
        let run = |present_only: bool| {
            let tape = Tape::new();
            let s = tape.session(&store);
            let mut rng = ChaCha8Rng::seed_from_u64(7);
            let (recon, latent, h) = if present_only {
                let pass = model.scan(&s, &batch, None, LatentTerm::Kl, &mut rng).unwrap();
                (pass.recon, pass.latent, pass.carry)
            } else {
                masked_full_pass(&model, &s, &batch, &mut rng)
            };
            let loss = recon.sub(&latent).unwrap().sum().add(&h.square().sum()).unwrap();
            let grads = tape.backward(loss).unwrap();
            let params: Vec<_> = store.ids().map(|id| grads.param(id).cloned()).collect();
            ([recon.value(), latent.value(), h.value()], params)
        };
        let ((values, grads), (want_values, want_grads)) = (run(true), run(false));
        let close = |a: &Array2<f64>, b: &Array2<f64>| autodiff::gradcheck::all_close(a, b, 1e-12, 1e-14);
        for (got, want) in values.iter().zip(&want_values) {
            assert!(close(got, want), "{got} vs {want}");
        }
        for (got, want) in grads.iter().zip(&want_grads) {
            match (got, want) {
                (Some(g), Some(w)) => assert!(close(g, w), "{g} vs {w}"),
                (g, w) => assert!(g.iter().chain(w).all(|a| a.iter().all(|&v| v == 0.0))),
            }
        }
    }
}
