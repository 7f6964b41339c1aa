//! The Latent ODE (Chen et al. 2018, Sec. 5; Rubanova et al. 2019, Sec. 3): a
//! trajectory in a latent space, started from one latent draw and evolved by a
//! learned ODE, decoded at whatever times the data were observed.
//!
//! # Equations
//!
//! With observations `x_i` at times `t_i` (each series its own; a batch sits on the
//! union of its times, Rubanova et al. Sec. 3.4), the generative model is
//!
//! $$ z_{t_0} \sim p(z_{t_0}) = \mathcal N(0, I),\quad (z_{t_1}, \dots, z_{t_N}) =
//!    \mathrm{ODESolve}(f_\theta, z_{t_0}, (t_1, \dots, t_N)),\quad
//!    x_i \sim \mathcal N(g(z_{t_i}), \sigma^2 I) $$
//!
//! (Rubanova et al. eqs. 5-7), with `f` an autonomous MLP field and `g` an MLP
//! decoder. The recognition network reads the observations backwards in time and
//! gives `q(z_{t_0} | x) = N(mu, diag sigma^2)`: by default a GRU over
//! `[x_i, m_i, t_{i+1} - t_i]` (values, mask, gap to the next observation of the same
//! series; Chen et al.'s tanh RNN is [`Encoder::Cell`] with [`CellKind::Rnn`], the
//! time gaps made explicit for irregular series), or an ODE-RNN solved backwards to
//! `t_0` (Rubanova et al. Sec. 3.2; [`Encoder::OdeRnn`]). The bound of
//! eq. (9), one reparameterised sample,
//!
//! $$ \mathrm{ELBO} = \mathbb E_{q(z_{t_0})}\Big[\sum_i \ln \mathcal N(x_i; g(z_{t_i}),
//!    \sigma^2 I)\Big] - \mathrm{KL}\big(q(z_{t_0}) \,\|\, \mathcal N(0, I)\big), $$
//!
//! counts only observed entries. The solve is one [`odesolve::odeint_tape`] node; its
//! gradient method is a setting (binomial checkpointing by default).

use crate::batch::IrregularBatch;
use crate::bound::{Elbo, log_mean_exp_blocks};
use crate::cells::{AnyCell, Cell, CellKind, GruConvention, step_present};
use crate::field::MlpField;
use crate::heads::{GaussianHead, observed_gaussian_log_likelihood};
use crate::ode_rnn::{OdeRnnConfig, OdeRnnCore};
use crate::poisson::PoissonIntensity;
use crate::{Error, Result};
use autodiff::{Activation, Loss, Mlp, NoGrad, ParamId, ParamStore, Session, Tensor};
use dists::DiagNormal;
use ndarray::{Array2, Axis};
use odesolve::{Gradient, OdeSession, SolveOptions, Stats};
use rand::Rng;

/// Sizes and solver settings of a [`LatentOde`]; the defaults are torchdiffeq's
/// spiral demo (latent 4, recognition 25, field 4-20-20-4 ELU, decoder 4-20-2 ReLU,
/// observation noise 0.3, dopri5 at rtol 1e-7, atol 1e-9 in torchdiffeq; 1e-5 and
/// 1e-7 here, see [`LatentOdeConfig::new`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LatentOdeConfig {
    /// Observation width `D`.
    pub x_dim: usize,
    /// Latent width.
    pub z_dim: usize,
    /// Recognition GRU width.
    pub rnn_hidden: usize,
    /// Hidden width of the field's two hidden layers.
    pub field_hidden: usize,
    /// Hidden width of the decoder.
    pub dec_hidden: usize,
    /// Standard deviation of the Gaussian observation model: fixed, or the starting
    /// value of a learned one (see `learn_obs_std`).
    pub obs_std: f64,
    /// Learn the observation standard deviation, one per dimension (as its
    /// logarithm, registered as `{name}.log_obs_std`), instead of fixing it.
    pub learn_obs_std: bool,
    /// The time of `z_{t_0}`: every series' trajectory starts here (its observations
    /// must not be earlier).
    pub t0: f64,
    /// The solver of the latent ODE.
    pub solver: SolveOptions,
    /// How the solve is differentiated (the ODE-RNN encoder's solves too).
    pub gradient: Gradient,
    /// The recognition network.
    pub encoder: Encoder,
    /// The hidden width of the intensity network of the Poisson process likelihood of
    /// the observation times ([`crate::poisson`], Rubanova et al. Sec. 3.3); `None`
    /// (the default) models the values only.
    pub poisson: Option<usize>,
}

/// The recognition network of a [`LatentOde`], read backwards in time.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Encoder {
    /// A recurrent cell over `[x_i, m_i, t_{i+1} - t_i]`, the time gaps as an input: a
    /// PyTorch-convention GRU by default, or [`CellKind::Rnn`], the tanh RNN of the
    /// Neural ODE paper's spiral demo.
    Cell(CellKind),
    /// An ODE-RNN (Rubanova et al. Sec. 3.2): the cell's state solved backwards between
    /// observations by a tanh field with `field_hidden` units, to `t_0`.
    OdeRnn {
        /// Hidden width of the encoder field's two hidden layers.
        field_hidden: usize,
        /// The encoder's solver (the reference uses Euler).
        solver: SolveOptions,
        /// The update at an observation: a PyTorch-convention GRU, or the reference
        /// code's [`CellKind::MeanStdGru`] (whose mean and std both feed `q(z_{t_0})`).
        cell: CellKind,
    },
}

impl LatentOdeConfig {
    /// torchdiffeq's demo sizes for `x_dim` observations; Dopri5 at rtol 1e-5,
    /// atol 1e-7 (looser than the demo's 1e-7 / 1e-9: the trajectories are smooth and
    /// the noise is 0.3), starting at `t0 = 0`.
    pub fn new(x_dim: usize) -> Self {
        LatentOdeConfig {
            x_dim,
            z_dim: 4,
            rnn_hidden: 25,
            field_hidden: 20,
            dec_hidden: 20,
            obs_std: 0.3,
            learn_obs_std: false,
            t0: 0.0,
            solver: SolveOptions::default().tol(1e-5, 1e-7),
            gradient: Gradient::default(),
            encoder: Encoder::default(),
            poisson: None,
        }
    }
}

/// A Latent ODE (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct LatentOde {
    config: LatentOdeConfig,
    rnn: Recognition,
    head: GaussianHead,
    field: MlpField,
    dec: Mlp,
    poisson: Option<PoissonIntensity>,
    /// `ln std` of the observation model, when learned (`1 x D`).
    log_obs_std: Option<ParamId>,
}

impl Default for Encoder {
    /// A GRU.
    fn default() -> Self {
        Encoder::Cell(CellKind::Gru(GruConvention::PyTorch))
    }
}

/// The recognition network's parameters.
#[derive(Debug, Clone, PartialEq)]
enum Recognition {
    Cell(Box<AnyCell>),
    OdeRnn(Box<OdeRnnCore>),
}

/// A decoded latent trajectory: the latent states and decoded means at the
/// requested times, and the solve's work.
#[derive(Debug, Clone)]
pub struct Trajectory<T> {
    /// `z_t` (`B x z_dim` each).
    pub latents: Vec<T>,
    /// `g(z_t)` (`B x D` each).
    pub means: Vec<T>,
    /// With the Poisson process likelihood, the integrated rates from `t_0`
    /// (`B x D` each); empty without it.
    pub integrals: Vec<T>,
    /// The forward solve's work.
    pub stats: Stats,
}

/// What [`LatentOde::predict`] gives: the posterior and, per output time, the
/// latent state and the decoded mean.
#[derive(Debug, Clone)]
pub struct Decoded<T> {
    /// `q(z_{t_0} | x)`.
    pub posterior: DiagNormal<T>,
    /// The latent trajectory at the requested times (`B x z_dim` each).
    pub latents: Vec<T>,
    /// `g(z_t)` at the requested times (`B x D` each).
    pub means: Vec<T>,
}

impl LatentOde {
    /// Registers the parameters under `{name}.rnn`, `.head`, `.field`, `.dec`.
    pub fn new(
        store: &mut ParamStore,
        name: &str,
        config: LatentOdeConfig,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        let c = &config;
        if c.x_dim == 0 || c.z_dim == 0 || c.rnn_hidden == 0 {
            return Err(Error::config("LatentOde", "widths must be positive"));
        }
        if !(c.obs_std.is_finite() && c.obs_std > 0.0) {
            return Err(Error::config("LatentOde", format!("obs_std must be > 0, got {}", c.obs_std)));
        }
        let rnn_name = format!("{name}.rnn");
        let rnn = match &c.encoder {
            &Encoder::Cell(kind) => Recognition::Cell(Box::new(AnyCell::new(
                store,
                &rnn_name,
                kind,
                2 * c.x_dim + 1,
                c.rnn_hidden,
                rng,
            )?)),
            Encoder::OdeRnn { field_hidden, solver, cell } => {
                let config = OdeRnnConfig {
                    hidden: c.rnn_hidden,
                    field_hidden: *field_hidden,
                    cell: *cell,
                    t0: c.t0,
                    solver: solver.clone(),
                    gradient: c.gradient.clone(),
                    ..OdeRnnConfig::new(c.x_dim)
                };
                Recognition::OdeRnn(Box::new(OdeRnnCore::new(store, &rnn_name, &config, rng)?))
            }
        };
        // The recognition state's width: twice rnn_hidden for the mean-and-std GRU.
        let state = match &rnn {
            Recognition::Cell(cell) => cell.hidden_dim(),
            Recognition::OdeRnn(core) => core.state_dim(),
        };
        let head = GaussianHead::new(store, &format!("{name}.head"), state, c.z_dim, 0.0, rng)?;
        let widths = [c.z_dim, c.field_hidden, c.field_hidden, c.z_dim];
        let field = MlpField::new(Mlp::new(store, &format!("{name}.field"), &widths, Activation::Elu, rng)?);
        let dec = Mlp::new(
            store,
            &format!("{name}.dec"),
            &[c.z_dim, c.dec_hidden, c.x_dim],
            Activation::Relu,
            rng,
        )?;
        let poisson = c
            .poisson
            .map(|hidden| {
                PoissonIntensity::new(store, &format!("{name}.intensity"), c.z_dim, hidden, c.x_dim, rng)
            })
            .transpose()?;
        let log_obs_std = c
            .learn_obs_std
            .then(|| {
                store.add(format!("{name}.log_obs_std"), Array2::from_elem((1, c.x_dim), c.obs_std.ln()))
            })
            .transpose()?;
        Ok(LatentOde { config, rnn, head, field, dec, poisson, log_obs_std })
    }

    /// The settings.
    pub fn config(&self) -> &LatentOdeConfig {
        &self.config
    }

    /// `q(z_{t_0} | x)`: the recognition network run backwards over the batch.
    pub fn encode<S: OdeSession>(&self, s: &S, batch: &IrregularBatch) -> Result<DiagNormal<S::T>> {
        Ok(self.encode_counted(s, batch)?.0)
    }

    /// [`encode`](LatentOde::encode) and the encoder's solves' work (none for a cell).
    fn encode_counted<S: OdeSession>(
        &self,
        s: &S,
        batch: &IrregularBatch,
    ) -> Result<(DiagNormal<S::T>, Stats)> {
        if batch.dim() != self.config.x_dim {
            return Err(Error::config(
                "LatentOde",
                format!("the model expects {} features, got {}", self.config.x_dim, batch.dim()),
            ));
        }
        let (h, stats) = match &self.rnn {
            Recognition::Cell(cell) => (self.cell_backwards(cell, s, batch)?, Stats::default()),
            Recognition::OdeRnn(core) => core.encode_backwards(s, batch)?,
        };
        Ok((self.head.forward(s, &h)?, stats))
    }

    /// The cell over `[x_i, m_i, t_{i+1} - t_i]`, from the last observation to the first.
    fn cell_backwards<S: Session>(&self, cell: &AnyCell, s: &S, batch: &IrregularBatch) -> Result<S::T> {
        let grid = batch.grid();
        let (b, times) = (batch.batch_size(), batch.times());
        let mut h = s.constant(Array2::zeros((b, cell.hidden_dim())));
        // The time of each row's next observation, as the scan goes backwards.
        let mut next: Vec<Option<f64>> = vec![None; b];
        for j in (0..times.len()).rev() {
            let present = &grid.step_masks()[j];
            let gap = Array2::from_shape_fn((b, 1), |(r, _)| match (present[(r, 0)] != 0.0, next[r]) {
                (true, Some(t)) => t - times[j],
                _ => 0.0,
            });
            for (r, n) in next.iter_mut().enumerate() {
                if present[(r, 0)] != 0.0 {
                    *n = Some(times[j]);
                }
            }
            let input = ndarray::concatenate(Axis(1), &[batch.observation(j).view(), gap.view()])
                .expect("B rows each");
            h = step_present(s, cell, &s.constant(input), &h, present)?;
        }
        Ok(h)
    }

    /// `t0` followed by `times` (which must not start before it), the grid of a solve.
    fn solve_grid(&self, times: &[f64]) -> Result<Vec<f64>> {
        let t0 = self.config.t0;
        match times.first() {
            Some(&t) if t < t0 => Err(Error::config("LatentOde", format!("time {t} is before t0 = {t0}"))),
            Some(&t) if t == t0 => Ok(times.to_vec()),
            _ => Ok(std::iter::once(t0).chain(times.iter().copied()).collect()),
        }
    }

    /// The latent trajectory from `z0` at `times` (increasing, from `t0` on), its
    /// decoded means and the solve's work.
    pub fn decode<S: OdeSession>(&self, s: &S, z0: &S::T, times: &[f64]) -> Result<Trajectory<S::T>> {
        let grid = self.solve_grid(times)?;
        let skip = grid.len() - times.len();
        let (solver, gradient) = (&self.config.solver, &self.config.gradient);
        let (zs, integrals, stats) = match &self.poisson {
            None => {
                let (zs, stats) = s.odeint(&self.field, z0, &grid, solver, gradient)?;
                (zs[skip..].to_vec(), Vec::new(), stats)
            }
            Some(p) => {
                // The state [z, Lambda], Lambda(t_0) = 0: the rates integrated alongside.
                let zeros = z0.constant(Array2::zeros((z0.shape().0, p.dim())));
                let start = S::T::concat_cols(&[z0, &zeros])?;
                let (ys, stats) = s.odeint(&p.augment(&self.field), &start, &grid, solver, gradient)?;
                let z_dim = self.config.z_dim;
                let part = |cols: std::ops::Range<usize>| {
                    ys[skip..]
                        .iter()
                        .map(|y| y.slice_cols(cols.clone()))
                        .collect::<autodiff::Result<Vec<_>>>()
                };
                (part(0..z_dim)?, part(z_dim..z_dim + p.dim())?, stats)
            }
        };
        let means = zs.iter().map(|z| Ok(self.dec.forward(s, z)?)).collect::<Result<_>>()?;
        Ok(Trajectory { latents: zs, means, integrals, stats })
    }

    /// The evidence lower bound per series (eq. 9, one reparameterised sample from
    /// `rng`): `recon` the Gaussian log-likelihood of the observed entries (plus the
    /// Poisson process likelihood of their times, when configured), `kl` the
    /// KL of the posterior to `N(0, I)`, `lengths` the observations per series; and
    /// the forward solves' work, the encoder's included (its `nfev` is what training logs as NFE).
    pub fn elbo<S: OdeSession, R: Rng + ?Sized>(
        &self,
        s: &S,
        batch: &IrregularBatch,
        rng: &mut R,
    ) -> Result<(Elbo<S::T>, Stats)> {
        self.elbo_given(s, batch, batch, rng)
    }

    /// The bound with the recognition network reading `condition` and the likelihood
    /// counting `target` (the same series, row for row): trained with `condition` a
    /// prefix of `target` (`target.before(t)`), the model learns to predict what
    /// follows from what it has seen, as the Latent ODE paper's extrapolation
    /// experiments do (Rubanova et al. Sec. 4). [`elbo`](LatentOde::elbo) is
    /// `condition = target`.
    pub fn elbo_given<S: OdeSession, R: Rng + ?Sized>(
        &self,
        s: &S,
        condition: &IrregularBatch,
        target: &IrregularBatch,
        rng: &mut R,
    ) -> Result<(Elbo<S::T>, Stats)> {
        let (q, _, trajectory, stats) = self.draw(s, condition, target, 1, rng)?;
        let recon = self.log_likelihood(s, &trajectory, target, 1)?;
        let kl = q.kl_to_standard_normal()?.sum_axis(Axis(1));
        Ok((Elbo { recon, kl, lengths: target.grid().lengths().to_vec() }, stats))
    }

    /// The loss of the reference code (YuliaRubanova/latent_ode, `compute_all_losses`
    /// with one sample), as an option: per series, the Gaussian log-density of each
    /// dimension averaged over that dimension's observations, then over the
    /// dimensions it has, minus `kl_weight` times the KL averaged over the latent
    /// dimensions; the loss is minus its mean over series. It is not eq. (9): a series
    /// with few observations weighs as much as a dense one, the likelihood is a mean
    /// rather than a sum (so the KL weighs relatively more with more observations),
    /// and the Poisson term, if configured, is left out.
    pub fn reference_loss<S: OdeSession, R: Rng + ?Sized>(
        &self,
        s: &S,
        batch: &IrregularBatch,
        kl_weight: f64,
        rng: &mut R,
    ) -> Result<(Loss<S::T>, Stats)> {
        self.reference_loss_given(s, batch, batch, kl_weight, rng)
    }

    /// [`reference_loss`](LatentOde::reference_loss) with the recognition network
    /// reading `condition` and the likelihood averaged over `target`, as
    /// [`elbo_given`](LatentOde::elbo_given) does (the reference code's extrapolation
    /// mode: the first half observed, the second half to predict).
    pub fn reference_loss_given<S: OdeSession, R: Rng + ?Sized>(
        &self,
        s: &S,
        condition: &IrregularBatch,
        target: &IrregularBatch,
        kl_weight: f64,
        rng: &mut R,
    ) -> Result<(Loss<S::T>, Stats)> {
        let (q, _, trajectory, stats) = self.draw(s, condition, target, 1, rng)?;
        let per_dim = observed_gaussian_log_likelihood(s, &trajectory.means, target, &self.obs_std(s)?, 1)?;
        // Observations per series and dimension, and the weight that turns the sums
        // into the mean over a series' observed dimensions of their means.
        let (b, d) = (target.batch_size(), target.dim());
        let mut counts = Array2::<f64>::zeros((b, d));
        for step in target.grid().iter() {
            counts += &step.mask.broadcast((b, d)).expect("a mask is B x 1 or B x D");
        }
        let weights = Array2::from_shape_fn((b, d), |(r, c)| {
            let dims = counts.row(r).iter().filter(|&&n| n > 0.0).count() as f64;
            if counts[(r, c)] > 0.0 { 1.0 / (counts[(r, c)] * dims) } else { 0.0 }
        });
        let recon = per_dim.mul(&s.constant(weights))?.sum_axis(Axis(1));
        let kl = q.kl_to_standard_normal()?.mean_axis(Axis(1))?;
        let per_series = recon.sub(&kl.scale(kl_weight))?;
        Ok((Loss::new(per_series.sum().neg(), b as f64)?, stats))
    }

    /// `k` draws of `z_{t_0}` per series from the posterior given `condition` (`k`
    /// stacked blocks of its rows) decoded at `target`'s times: the posterior repeated
    /// alike, the draws, their trajectory, and the work of the encoder's and decoder's
    /// solves.
    #[allow(clippy::type_complexity)]
    fn draw<S: OdeSession, R: Rng + ?Sized>(
        &self,
        s: &S,
        condition: &IrregularBatch,
        target: &IrregularBatch,
        k: usize,
        rng: &mut R,
    ) -> Result<(DiagNormal<S::T>, S::T, Trajectory<S::T>, Stats)> {
        let rows = condition.batch_size();
        if target.batch_size() != rows {
            return Err(Error::config(
                "LatentOde",
                format!("conditioned on {rows} series, asked to score {}", target.batch_size()),
            ));
        }
        let (q, encoder_work) = self.encode_counted(s, condition)?;
        let q = match k {
            1 => q,
            _ => {
                let index: Vec<usize> = (0..k).flat_map(|_| 0..rows).collect();
                DiagNormal::from_mean_log_var(
                    q.mean().gather_rows(&index)?,
                    q.log_var().gather_rows(&index)?,
                )?
            }
        };
        let z0 = q.rsample(rng)?;
        let trajectory = self.decode(s, &z0, target.times())?;
        let mut stats = trajectory.stats;
        stats += encoder_work;
        Ok((q, z0, trajectory, stats))
    }

    /// The observation model's standard deviation (`1 x D`): fixed, or learned.
    pub fn obs_std<S: Session>(&self, s: &S) -> Result<S::T> {
        Ok(match self.log_obs_std {
            Some(id) => s.param(id)?.exp(),
            None => s.constant(Array2::from_elem((1, self.config.x_dim), self.config.obs_std)),
        })
    }

    /// `ln p(x | z)` per row of a trajectory decoded at `batch`'s times, `copies`
    /// stacked blocks of its rows: the Gaussian likelihood of the observed values,
    /// plus the Poisson process likelihood of their times when the model has one.
    fn log_likelihood<S: Session>(
        &self,
        s: &S,
        trajectory: &Trajectory<S::T>,
        batch: &IrregularBatch,
        copies: usize,
    ) -> Result<S::T> {
        let values =
            observed_gaussian_log_likelihood(s, &trajectory.means, batch, &self.obs_std(s)?, copies)?
                .sum_axis(Axis(1));
        match &self.poisson {
            None => Ok(values),
            Some(p) => {
                let times = p.log_likelihood(s, &trajectory.latents, &trajectory.integrals, batch, copies)?;
                Ok(values.add(&times)?)
            }
        }
    }

    /// The importance-weighted bound with `k` samples of `z_{t_0}` per series (Burda,
    /// Grosse and Salakhutdinov 2016, eq. 8; the Latent ODE code trains its periodic
    /// toy with 3): per series (`B x 1`)
    ///
    /// $$ \ln \frac1K \sum_{k=1}^K \frac{p(x \mid z_k)\, p(z_k)}{q(z_k \mid x)},\qquad
    ///    z_k \sim q(z_{t_0} \mid x), $$
    ///
    /// and the solves' work (all `K B` trajectories are one solve). Its expectation is
    /// the ELBO at `K = 1` and grows towards `ln p(x)` with `K`. (The reference code's
    /// loss takes the log-sum-exp without the `- ln K`; here it is the bound.)
    pub fn iwae<S: OdeSession, R: Rng + ?Sized>(
        &self,
        s: &S,
        batch: &IrregularBatch,
        k: usize,
        rng: &mut R,
    ) -> Result<(S::T, Stats)> {
        if k == 0 {
            return Err(Error::config("LatentOde::iwae", "needs at least one sample"));
        }
        let (qk, z0, trajectory, stats) = self.draw(s, batch, batch, k, rng)?;
        let recon = self.log_likelihood(s, &trajectory, batch, k)?;
        let prior = DiagNormal::standard(&z0, z0.shape()).log_prob_rows(&z0)?;
        let log_w = recon.add(&prior)?.sub(&qk.log_prob_rows(&z0)?)?;
        Ok((log_mean_exp_blocks(&log_w, k)?, stats))
    }

    /// Conditions on `batch` (the posterior mean of `z_{t_0}`) and decodes at `times`:
    /// interpolation at the observed times, extrapolation beyond them.
    pub fn predict(
        &self,
        store: &ParamStore,
        batch: &IrregularBatch,
        times: &[f64],
    ) -> Result<Decoded<Array2<f64>>> {
        let s = NoGrad::new(store);
        let posterior = self.encode(&s, batch)?;
        let Trajectory { latents, means, .. } = self.decode(&s, posterior.mean(), times)?;
        Ok(Decoded { posterior, latents, means })
    }

    /// `batch` trajectories drawn from the prior and decoded at `times`.
    pub fn sample<R: Rng + ?Sized>(
        &self,
        store: &ParamStore,
        batch: usize,
        times: &[f64],
        rng: &mut R,
    ) -> Result<Vec<Array2<f64>>> {
        let s = NoGrad::new(store);
        let z0 = DiagNormal::standard(&Array2::zeros((0, 0)), (batch, self.config.z_dim)).sample(rng)?;
        Ok(self.decode(&s, &z0, times)?.means)
    }

    /// Every parameter of the field (what the solve differentiates through).
    pub fn field(&self) -> &MlpField {
        &self.field
    }
}
