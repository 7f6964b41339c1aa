//! GRU-ODE-Bayes (De Brouwer, Simm, Arany and Moreau 2019): continuous-time
//! filtering of sporadically observed multivariate series. A hidden state evolves
//! by a GRU turned into an ODE between observations; at each observation a
//! GRU-Bayes jump updates it from the dimensions that were observed; an observation
//! model maps the state to a Gaussian per dimension at any time.
//!
//! # Equations
//!
//! Between observations (the paper's Sec. 3.1, autonomous and without biases as its
//! code's `FullGRUODECell_Autonomous`),
//!
//! $$ \frac{dh}{dt} = (1 - z) \odot (g - h),\quad r = \sigma(h U_r),\quad
//!    z = \sigma(h U_z),\quad g = \tanh((r \odot h) U_h). $$
//!
//! With [`GruOdeBayesConfig::impute`] the field also reads an input `u`, the
//! observation model's current prediction `p(h)` (the GRU-ODE of the paper's
//! Sec. 3.1 with an input `x(t)`; the code's `impute` option): each gate adds
//! `u W + b`. Since `g` lies in `(-1, 1)` either way, `dh/dt` points into the cube
//! `[-1, 1]^H` on its faces: a state that starts inside stays inside (the paper
//! proves this boundedness; tested here for both fields).
//!
//! The observation model `p(h)` = Linear - ReLU - Linear gives a mean `mu` and a
//! log-variance `v` per dimension. At an observation `x` with mask `m` (Sec. 3.2),
//! each dimension `d` is prepared as
//! `ReLU([x_d, mu_d, v_d, (x_d - mu_d) / sigma_d] W_d + b_d)` (`W_d` is
//! `4 x prep_hidden`), zeroed where unobserved, the dimensions concatenated, and fed
//! to a PyTorch-convention GRU cell that updates the rows observed there; the other
//! rows are untouched.
//!
//! The loss (Sec. 3.3) sums, over the observations, the negative log-likelihood of
//! the observed values under `p(h)` just *before* the jump, plus `lambda` times a KL
//! term just *after* it. The paper's text and its code write the KL in opposite
//! directions; this module follows the code, the implementation behind the
//! paper's experiments:
//! `KL(N(mu_post, sigma_post^2) || N(x, 0.01^2))` per observed value. The loss is
//! returned as a sum with the number of observed values as its weight.
//!
//! For comparison the jump can be the exact Gaussian update it learns to
//! approximate ([`Jump::Exact`]): the state is then a Gaussian itself, and with a
//! field that moves the moments of a linear SDE ([`GruOdeBayes::with_field`]) the
//! filter is the Kalman filter, its loss the Kalman filter's predictive negative
//! log-likelihood (tested to 1e-8).
//!
//! The initial state comes from per-series covariates, `h(t_0) = tanh(MLP(c))` (the
//! code's `covariates_map`); with the double-OU data's single zero covariate it is a
//! learned constant, which matters: `h = 0` is a fixed point of the field.
//!
//! Between observations any solver of `odesolve` lands exactly on every observation
//! time (the reference's Euler loop steps while `t < t_obs - 0.001 dt` and so
//! overshoots a time off its grid; not copied).

use crate::batch::IrregularBatch;
use crate::cells::{GruCell, GruConvention, step_present};
use crate::stops::{self, Stop};
use crate::{Error, Result};
use autodiff::{Activation, Init, Loss, Mlp, NoGrad, ParamId, ParamStore, Session, Tensor};
use dists::DiagNormal;
use ndarray::{Array2, Axis};
use odesolve::{Gradient, Method, NeuralOdeFunc, OdeSession, SolveOptions, Stats};
use rand::Rng;

/// Sizes, solver and loss settings of a [`GruOdeBayes`]; the defaults are the
/// authors' double-OU settings.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GruOdeBayesConfig {
    /// Observation width `D`.
    pub x_dim: usize,
    /// Hidden state width `H` (50).
    pub hidden: usize,
    /// Hidden width of the observation model (25).
    pub p_hidden: usize,
    /// Width of each dimension's preparation before the jump's GRU (25).
    pub prep_hidden: usize,
    /// `lambda`, the weight of the post-jump KL term (1e-4).
    pub mixing: f64,
    /// The standard deviation of the KL term's target `N(x, std^2)` (0.01).
    pub kl_target_std: f64,
    /// Width `C` of the per-series covariates the initial state is computed from.
    pub covariates: usize,
    /// Hidden width of the covariate map `h(t_0) = tanh(MLP(c))` (ReLU).
    pub cov_hidden: usize,
    /// Where the initial state sits.
    pub t0: f64,
    /// The solver between observations (Euler with steps of at most 0.05, the
    /// reference's).
    pub solver: SolveOptions,
    /// How the solves are differentiated.
    pub gradient: Gradient,
    /// The update at an observation: the learned GRU-Bayes jump, or the exact
    /// Gaussian update it approximates.
    pub jump: Jump,
    /// Whether the GRU-ODE also reads an input, the observation model's current
    /// prediction `p(h) = [mu, v]` (the code's `impute` option with its
    /// `FullGRUODECell`); false, the autonomous field, is the authors' double-OU
    /// setting. Needs the learned jump.
    pub impute: bool,
}

/// The update at an observation.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub enum Jump {
    /// The learned GRU-Bayes jump of the paper (see the module docs).
    #[default]
    GruBayes,
    /// The exact Gaussian update (`dists::bayes_update`), for comparison: the state
    /// is itself a Gaussian, `[mean, log-variance]` of the latent values (`H = 2D`),
    /// observed with Gaussian noise of `obs_std`. The observation model is then
    /// `N(mean, variance + obs_std^2)` and the jump is the posterior given the
    /// observed dimensions. With a field that moves the moments of a linear SDE, the
    /// filter is the Kalman filter (tested).
    Exact {
        /// The observation noise's standard deviation.
        obs_std: f64,
    },
}

impl GruOdeBayesConfig {
    /// The authors' double-OU settings for `x_dim` dimensions (one covariate, 0 for
    /// every series there, through a map of width 1: a learned initial state).
    pub fn new(x_dim: usize) -> Self {
        GruOdeBayesConfig {
            x_dim,
            hidden: 50,
            p_hidden: 25,
            prep_hidden: 25,
            mixing: 1e-4,
            kl_target_std: 0.01,
            covariates: 1,
            cov_hidden: 1,
            t0: 0.0,
            solver: SolveOptions::new(Method::Euler).step_size(0.05),
            gradient: Gradient::default(),
            jump: Jump::GruBayes,
            impute: false,
        }
    }
}

/// The GRU-ODE field `dh/dt = (1 - z) (g - h)` (see the module docs), autonomous
/// or reading an input.
#[derive(Debug, Clone, PartialEq)]
pub struct GruOdeField {
    u_r: ParamId,
    u_z: ParamId,
    u_h: ParamId,
    input: Option<FieldInput>,
}

/// The input of a GRU-ODE that reads one: `u = source(h)` enters each gate as
/// `u W + b` (`r = sigmoid(u W_r + b_r + h U_r)`, likewise `z`, and
/// `g = tanh(u W_h + b_h + (r h) U_h)`: the paper's Sec. 3.1 GRU-ODE with the input
/// `x(t)`, as the code's `FullGRUODECell`). Since `g` stays in `(-1, 1)`, the state
/// stays in the unit cube whatever the input.
#[derive(Debug, Clone, PartialEq)]
struct FieldInput {
    source: Mlp,
    gates: [autodiff::Linear; 3],
}

impl GruOdeField {
    /// `U_r`, `U_z`, `U_h` (`H x H` each, PyTorch's `nn.Linear` initialisation),
    /// registered as `{name}.u_r`, `.u_z`, `.u_h`.
    pub fn new(store: &mut ParamStore, name: &str, hidden: usize, rng: &mut impl Rng) -> Result<Self> {
        let mut add = |part: &str| -> Result<ParamId> {
            let value = Init::TorchDefault.sample((hidden, hidden), hidden, hidden, rng)?;
            Ok(store.add(format!("{name}.{part}"), value)?)
        };
        Ok(GruOdeField { u_r: add("u_r")?, u_z: add("u_z")?, u_h: add("u_h")?, input: None })
    }

    /// The same field reading the input `source(h)` of width `width` through gates
    /// registered as `{name}.w_r`, `.w_z`, `.w_h` (weight and bias each, PyTorch's
    /// initialisation).
    pub fn reading(
        mut self,
        store: &mut ParamStore,
        name: &str,
        source: Mlp,
        width: usize,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        let hidden = store.shape(self.u_r)?.0;
        let mut gate =
            |part: &str| autodiff::Linear::new(store, &format!("{name}.{part}"), width, hidden, rng);
        self.input = Some(FieldInput { source, gates: [gate("w_r")?, gate("w_z")?, gate("w_h")?] });
        Ok(self)
    }
}

impl NeuralOdeFunc for GruOdeField {
    fn eval<S: Session>(&self, s: &S, _t: &S::T, h: &S::T) -> autodiff::Result<S::T> {
        let (mut r, mut z) = (h.matmul(&s.param(self.u_r)?)?, h.matmul(&s.param(self.u_z)?)?);
        let g = |rh: &S::T| rh.matmul(&s.param(self.u_h)?);
        let g = match &self.input {
            None => g(&r.sigmoid().mul(h)?)?,
            Some(input) => {
                let u = input.source.forward(s, h)?;
                let [w_r, w_z, w_h] = &input.gates;
                r = r.add(&w_r.forward(s, &u)?)?;
                z = z.add(&w_z.forward(s, &u)?)?;
                g(&r.sigmoid().mul(h)?)?.add(&w_h.forward(s, &u)?)?
            }
        }
        .tanh();
        let z = z.sigmoid();
        // (1 - z) (g - h) = (g - h) - z (g - h)
        let d = g.sub(h)?;
        d.sub(&z.mul(&d)?)
    }
    fn params(&self) -> Vec<ParamId> {
        let mut ids = vec![self.u_r, self.u_z, self.u_h];
        if let Some(input) = &self.input {
            ids.extend(input.source.params());
            ids.extend(input.gates.iter().flat_map(autodiff::Linear::params));
        }
        ids
    }
}

/// A GRU-ODE-Bayes filter (see the module docs), with the GRU-ODE field or any
/// other (`F`).
#[derive(Debug, Clone, PartialEq)]
pub struct GruOdeBayes<F = GruOdeField> {
    config: GruOdeBayesConfig,
    field: F,
    cov_map: Mlp,
    update: Update,
}

/// The observation model and the jump.
#[derive(Debug, Clone, PartialEq)]
enum Update {
    Learned(Box<LearnedJump>),
    /// `ln obs_std^2`.
    Exact(f64),
}

/// The observation model and the GRU-Bayes jump's parameters.
#[derive(Debug, Clone, PartialEq)]
struct LearnedJump {
    p_model: Mlp,
    /// `W_d` for every `d` in one `4D x (D prep)` matrix, used through `block`.
    prep_w: ParamId,
    /// `b_d` for every `d`, `1 x (D prep)`.
    prep_b: ParamId,
    /// 1 where row `k D + d` (feature `k` of dimension `d`) meets dimension `d`'s
    /// columns `d prep .. (d + 1) prep`: the per-dimension maps as one product.
    block: Array2<f64>,
    gru: GruCell,
}

/// The observation model's prediction at some times: mean and variance per
/// dimension (`B x D` each).
#[derive(Debug, Clone, PartialEq)]
pub struct Predictive {
    /// The means.
    pub mean: Array2<f64>,
    /// The variances.
    pub variance: Array2<f64>,
}

/// What a filtering pass gives: the loss terms and the solves' work.
#[derive(Debug, Clone)]
pub struct Filtered<T> {
    /// The pre-jump negative log-likelihood summed over observed values (`1 x 1`).
    pub nll: T,
    /// The post-jump KL summed over observed values (`1 x 1`).
    pub kl: T,
    /// Observed values counted.
    pub observed: usize,
    /// The state at each time passed (for [`GruOdeBayes::run`], each of the
    /// batch's times), before its jump (`B x H` each).
    pub before: Vec<T>,
    /// The solves' work.
    pub stats: Stats,
}

impl GruOdeBayes {
    /// The paper's model: the GRU-ODE field registered under `{name}.field`, then
    /// the rest as [`with_field`](GruOdeBayes::with_field) registers it.
    pub fn new(
        store: &mut ParamStore,
        name: &str,
        config: GruOdeBayesConfig,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        if config.hidden == 0 {
            return Err(Error::config("GruOdeBayes", "widths must be positive"));
        }
        if config.impute && config.jump != Jump::GruBayes {
            return Err(Error::config("GruOdeBayes", "impute needs the learned jump's observation model"));
        }
        let field = GruOdeField::new(store, &format!("{name}.field"), config.hidden, rng)?;
        let mut model = GruOdeBayes::with_field(store, name, config, field, rng)?;
        if model.config.impute {
            let Update::Learned(jump) = &model.update else {
                unreachable!("impute was checked to come with the learned jump");
            };
            // Registered last, so the autonomous model's initial draws do not move.
            let (source, width) = (jump.p_model.clone(), 2 * model.config.x_dim);
            model.field = model.field.reading(store, &format!("{name}.field"), source, width, rng)?;
        }
        Ok(model)
    }
}

impl<F: NeuralOdeFunc + Clone + Send + Sync + 'static> GruOdeBayes<F> {
    /// A filter whose state moves by `field` between observations, the covariate
    /// map registered under `{name}.cov_map` and, for [`Jump::GruBayes`], the
    /// observation model under `.p_model`, the preparation under `.prep_w`,
    /// `.prep_b` (the reference's initialisation: `N(0, 2 / (4 + prep))` weights,
    /// biases 0.1) and the jump's GRU under `.gru`.
    pub fn with_field(
        store: &mut ParamStore,
        name: &str,
        config: GruOdeBayesConfig,
        field: F,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        let c = &config;
        if [c.x_dim, c.hidden, c.p_hidden, c.prep_hidden, c.covariates, c.cov_hidden].contains(&0) {
            return Err(Error::config("GruOdeBayes", "widths must be positive"));
        }
        if !(c.mixing.is_finite() && c.mixing >= 0.0 && c.kl_target_std.is_finite() && c.kl_target_std > 0.0)
        {
            return Err(Error::config(
                "GruOdeBayes",
                format!(
                    "mixing must be >= 0 and kl_target_std > 0, got {} and {}",
                    c.mixing, c.kl_target_std
                ),
            ));
        }
        let cov_widths = [c.covariates, c.cov_hidden, c.hidden];
        let cov_map = Mlp::new(store, &format!("{name}.cov_map"), &cov_widths, Activation::Relu, rng)?;
        let update = match c.jump {
            Jump::GruBayes => Update::Learned(Box::new(LearnedJump::new(store, name, c, rng)?)),
            Jump::Exact { obs_std } => {
                if !(obs_std.is_finite() && obs_std > 0.0) || c.hidden != 2 * c.x_dim {
                    return Err(Error::config(
                        "GruOdeBayes",
                        format!(
                            "the exact jump needs obs_std > 0 and a state [mean, log-variance] of 2 x_dim = {} \
                             columns; got obs_std {obs_std}, hidden {}",
                            2 * c.x_dim,
                            c.hidden
                        ),
                    ));
                }
                Update::Exact((obs_std * obs_std).ln())
            }
        };
        Ok(GruOdeBayes { config, field, cov_map, update })
    }

    /// The settings.
    pub fn config(&self) -> &GruOdeBayesConfig {
        &self.config
    }

    /// The field between observations.
    pub fn field(&self) -> &F {
        &self.field
    }

    /// `p(h)`, the predictive of an observation: its mean and log-variance per
    /// dimension (`B x D` each).
    pub fn observation_model<S: Session>(&self, s: &S, h: &S::T) -> Result<(S::T, S::T)> {
        let d = self.config.x_dim;
        match &self.update {
            Update::Learned(net) => {
                let p = net.p_model.forward(s, h)?;
                Ok((p.slice_cols(0..d)?, p.slice_cols(d..2 * d)?))
            }
            // N(m, v + r^2): ln(e^lv + e^a) = a + softplus(lv - a), stable both ways.
            Update::Exact(ln_r2) => {
                let lv = h.slice_cols(d..2 * d)?;
                Ok((h.slice_cols(0..d)?, lv.add_scalar(-ln_r2).softplus().add_scalar(*ln_r2)))
            }
        }
    }

    /// The jump at observations `x` with per-dimension `mask` (`B x D`) from the
    /// state `h`; rows whose mask is all 0 keep their state, and unobserved values
    /// (anything, NaN included) are read as 0.
    pub fn jump<S: Session>(&self, s: &S, h: &S::T, x: &Array2<f64>, mask: &Array2<f64>) -> Result<S::T> {
        // Zeroed, not multiplied by the mask: the block product of the learned jump
        // would turn a NaN times a zero weight into NaN in every dimension.
        let x = ndarray::Zip::from(x).and(mask).map_collect(|&v, &m| if m != 0.0 { v } else { 0.0 });
        match &self.update {
            Update::Learned(net) => net.jump(s, &self.config, h, &x, mask),
            Update::Exact(ln_r2) => {
                let d = self.config.x_dim;
                let prior = DiagNormal::from_mean_log_var(h.slice_cols(0..d)?, h.slice_cols(d..2 * d)?)?;
                let xc = h.constant(x);
                let obs = DiagNormal::from_mean_log_var(
                    xc.clone(),
                    xc.constant(Array2::from_elem(xc.shape(), *ln_r2)),
                )?;
                let post = dists::bayes_update(&prior, &obs, mask)?;
                Ok(S::T::concat_cols(&[post.mean(), post.log_var()])?)
            }
        }
    }
    /// `h(t_0) = tanh(MLP(c))` from the series' covariates (`B x C`; zeros when
    /// `None`, as the authors' double-OU data have).
    pub fn initial_state<S: Session>(
        &self,
        s: &S,
        batch: &IrregularBatch,
        covariates: Option<&Array2<f64>>,
    ) -> Result<S::T> {
        let (b, c) = (batch.batch_size(), self.config.covariates);
        let cov = match covariates {
            None => Array2::zeros((b, c)),
            Some(cov) if cov.dim() == (b, c) => cov.clone(),
            Some(cov) => {
                return Err(Error::config(
                    "GruOdeBayes",
                    format!("covariates must be {b} x {c} (series x covariates), got {:?}", cov.dim()),
                ));
            }
        };
        autodiff::data::require_finite(|| "covariates".to_string(), &cov, None)?;
        Ok(self.cov_map.forward(s, &s.constant(cov))?.tanh())
    }

    fn check(&self, batch: &IrregularBatch) -> Result<()> {
        if batch.dim() != self.config.x_dim {
            return Err(Error::config(
                "GruOdeBayes",
                format!("the model expects {} features, got {}", self.config.x_dim, batch.dim()),
            ));
        }
        match batch.times().first() {
            Some(&t) if t < self.config.t0 => Err(Error::config(
                "GruOdeBayes",
                format!("observation time {t} is before t0 = {}", self.config.t0),
            )),
            _ => Ok(()),
        }
    }

    /// Filters through `stops` from `h0` at `t0`: solves to each, records the
    /// state there before any jump, and at an observed step adds its pre-jump
    /// negative log-likelihood and post-jump KL and jumps.
    fn filter<S: OdeSession>(
        &self,
        s: &S,
        batch: &IrregularBatch,
        h0: S::T,
        stops: &[Stop],
    ) -> Result<Filtered<S::T>> {
        let c = &self.config;
        let grid = batch.grid();
        let b = batch.batch_size();
        let mut h = h0;
        let (mut nll, mut kl) = (s.constant(Array2::zeros((1, 1))), s.constant(Array2::zeros((1, 1))));
        let (mut t, mut stats, mut before) = (c.t0, Stats::default(), Vec::with_capacity(stops.len()));
        let half_ln_2pi = 0.5 * (2.0 * std::f64::consts::PI).ln();
        let ln_target = c.kl_target_std.ln();
        let target_var = c.kl_target_std * c.kl_target_std;
        for stop in stops {
            if stop.t != t {
                let (hs, work) = s.odeint(&self.field, &h, &[t, stop.t], &c.solver, &c.gradient)?;
                stats += work;
                h = hs.into_iter().next_back().expect("a solve returns its final state");
                t = stop.t;
            }
            before.push(h.clone());
            let Some(j) = stop.step else { continue };
            let (x, mask) = (&grid.steps()[j], &grid.masks()[j]);
            let mask = mask.broadcast(x.dim()).expect("a mask is B x 1 or B x D");
            // Only the rows observed here take part, as in the reference: the losses
            // and the jump run on them alone, and the jump is scattered back.
            let rows: Vec<usize> = (0..b).filter(|&r| mask.row(r).iter().any(|&m| m != 0.0)).collect();
            if rows.is_empty() {
                continue;
            }
            let all = rows.len() == b;
            let (x, mask) = (x.select(Axis(0), &rows), mask.select(Axis(0), &rows));
            let h_seen = if all { h.clone() } else { h.gather_rows(&rows)? };
            let xc = s.constant(x.clone());
            // 0.5 ((x - mu)^2 / sigma^2 + v) + ln sqrt(2 pi), observed entries only.
            let (mean, log_var) = self.observation_model(s, &h_seen)?;
            let sq = xc.sub(&mean)?.square().mul(&log_var.neg().exp())?;
            let step_nll = sq.add(&log_var)?.scale(0.5).add_scalar(half_ln_2pi).mask(&mask)?.sum();
            nll = nll.add(&step_nll)?;
            let jumped = self.jump(s, &h_seen, &x, &mask)?;
            // KL(N(mu, sigma^2) || N(x, s^2)) = ln s - v / 2 + (sigma^2 + (mu - x)^2) / (2 s^2) - 1 / 2.
            let (mean, log_var) = self.observation_model(s, &jumped)?;
            let spread = log_var.exp().add(&mean.sub(&xc)?.square())?.scale(0.5 / target_var);
            let step_kl = spread.sub(&log_var.scale(0.5))?.add_scalar(ln_target - 0.5).mask(&mask)?.sum();
            kl = kl.add(&step_kl)?;
            h = if all { jumped } else { h.add(&jumped.sub(&h_seen)?.scatter_add_rows(&rows, b)?)? };
        }
        Ok(Filtered { nll, kl, observed: batch.observed_values(), before, stats })
    }

    /// The filtering pass over `batch` from the initial state of its `covariates`
    /// ([`initial_state`](GruOdeBayes::initial_state)): the loss terms and the
    /// solves' work.
    pub fn run<S: OdeSession>(
        &self,
        s: &S,
        batch: &IrregularBatch,
        covariates: Option<&Array2<f64>>,
    ) -> Result<Filtered<S::T>> {
        self.run_from(s, batch, self.initial_state(s, batch, covariates)?)
    }

    /// The filtering pass over `batch` from a given initial state `h0` (`B x H`).
    pub fn run_from<S: OdeSession>(&self, s: &S, batch: &IrregularBatch, h0: S::T) -> Result<Filtered<S::T>> {
        self.check(batch)?;
        let want = (batch.batch_size(), self.config.hidden);
        if h0.shape() != want {
            return Err(Error::config("GruOdeBayes", format!("h0 must be {want:?}, got {:?}", h0.shape())));
        }
        self.filter(s, batch, h0, &stops::observed(batch.times()))
    }

    /// The training loss, `nll + lambda kl` as a sum with the observed values as its
    /// weight (so its normalised value is per observed value), and the solves' work.
    pub fn loss<S: OdeSession>(
        &self,
        s: &S,
        batch: &IrregularBatch,
        covariates: Option<&Array2<f64>>,
    ) -> Result<(Loss<S::T>, Stats)> {
        let f = self.run(s, batch, covariates)?;
        let total = f.nll.add(&f.kl.scale(self.config.mixing))?;
        Ok((Loss::new(total, f.observed as f64)?, f.stats))
    }

    /// Reads `batch` and predicts at `times` (increasing, from `t0` on): the
    /// observation model at each, from the state filtered through every observation
    /// strictly before it (a query at an observed time sees the state before its jump).
    pub fn predict(
        &self,
        store: &ParamStore,
        batch: &IrregularBatch,
        covariates: Option<&Array2<f64>>,
        times: &[f64],
    ) -> Result<Vec<Predictive>> {
        self.check(batch)?;
        let t0 = self.config.t0;
        let obs = batch.times();
        let stops = stops::with_queries("GruOdeBayes::predict", t0, obs, times)?;
        let s = NoGrad::new(store);
        let filtered = self.filter(&s, batch, self.initial_state(&s, batch, covariates)?, &stops)?;
        stops
            .iter()
            .zip(&filtered.before)
            .filter(|(stop, _)| stop.step.is_none())
            .map(|(_, h)| {
                let (mean, log_var) = self.observation_model(&s, h)?;
                Ok(Predictive { mean, variance: log_var.mapv(f64::exp) })
            })
            .collect()
    }
}

impl LearnedJump {
    /// Registers the observation model, the preparation and the GRU (see
    /// [`GruOdeBayes::with_field`]).
    fn new(store: &mut ParamStore, name: &str, c: &GruOdeBayesConfig, rng: &mut impl Rng) -> Result<Self> {
        let (d, p) = (c.x_dim, c.prep_hidden);
        let p_model = Mlp::new(
            store,
            &format!("{name}.p_model"),
            &[c.hidden, c.p_hidden, 2 * d],
            Activation::Relu,
            rng,
        )?;
        let std = (2.0 / (4 + p) as f64).sqrt();
        let prep_w =
            store.add(format!("{name}.prep_w"), Init::Normal { std }.sample((4 * d, d * p), 4, p, rng)?)?;
        let prep_b = store.add(format!("{name}.prep_b"), Array2::from_elem((1, d * p), 0.1))?;
        let block =
            Array2::from_shape_fn((4 * d, d * p), |(row, col)| f64::from(u8::from(row % d == col / p)));
        let gru =
            GruCell::new(store, &format!("{name}.gru"), d * p, c.hidden, GruConvention::PyTorch, true, rng)?;
        Ok(LearnedJump { p_model, prep_w, prep_b, block, gru })
    }

    /// The GRU-Bayes jump (module docs); `x` is 0 where unobserved.
    fn jump<S: Session>(
        &self,
        s: &S,
        c: &GruOdeBayesConfig,
        h: &S::T,
        x: &Array2<f64>,
        mask: &Array2<f64>,
    ) -> Result<S::T> {
        let p = self.p_model.forward(s, h)?;
        let (mean, log_var) = (p.slice_cols(0..c.x_dim)?, p.slice_cols(c.x_dim..2 * c.x_dim)?);
        let xc = s.constant(x.clone());
        let error = xc.sub(&mean)?.mul(&log_var.scale(-0.5).exp())?;
        let features = S::T::concat_cols(&[&xc, &mean, &log_var, &error])?;
        let w = s.param(self.prep_w)?.mul(&s.constant(self.block.clone()))?;
        let prep = features.matmul(&w)?.add(&s.param(self.prep_b)?)?.relu();
        let width = c.prep_hidden;
        let spread =
            Array2::from_shape_fn((mask.nrows(), mask.ncols() * width), |(r, k)| mask[(r, k / width)]);
        let input = prep.mul(&s.constant(spread))?;
        let rows = Array2::from_shape_fn((mask.nrows(), 1), |(r, _)| {
            f64::from(u8::from(mask.row(r).iter().any(|&m| m != 0.0)))
        });
        step_present(s, &self.gru, &input, h, &rows)
    }
}
