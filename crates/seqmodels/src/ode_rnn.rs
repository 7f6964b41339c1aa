//! The ODE-RNN (Rubanova, Chen and Duvenaud 2019, Algorithm 1): a recurrent network
//! whose hidden state evolves by a learned ODE between observations, so the gap
//! between two observations is a duration the state lives through, not a number fed
//! to a cell.
//!
//! # Equations
//!
//! For observations `x_1, ..., x_N` at times `t_1 < ... < t_N`, from `h_0 = 0` at `t_0`,
//!
//! $$ h_i' = \mathrm{ODESolve}(f_\theta, h_{i-1}, (t_{i-1}, t_i)),\qquad
//!    h_i = \mathrm{GRUCell}(h_i', [x_i, m_i]),\qquad o_i = \mathrm{OutputNN}(h_i) $$
//!
//! (Algorithm 1; `m_i` is the mask of observed dimensions, fed beside the values as
//! the reference code does, unobserved values being 0). A batch is scanned on the
//! union of its rows' times (Sec. 3.4): every row's state is solved through every
//! union time, and only the rows observed there take the GRU update. The exact flow
//! composes, so this is the same as solving each row between its own observations up
//! to the solver's error: to the tolerance with an adaptive solver, but with fixed
//! steps (the default Euler) a row's steps are cut at the other rows' times too, so
//! its result depends on its batch at the order of the step size.
//!
//! As a model of the data it predicts each observation from the state solved up to
//! its time *before* reading it, `x_i ~ N(OutputNN(h_i'), sigma^2 I)`: a one-step
//! prediction through the ODE. (The reference code decodes the state at `t_{i-1}`
//! instead, shifting the outputs by one step; Algorithm 1 solves to `t_i` first,
//! which is what is done here.) The same predictive at times that are not
//! observations interpolates and extrapolates ([`OdeRnn::predict`]).
//!
//! Run backwards in time from the last observation to `t_0`, the scan is the Latent
//! ODE's recognition network (Sec. 3.2; [`OdeRnnCore::encode_backwards`]).
//!
//! The cell is a PyTorch-convention GRU by default; the reference code's own cell,
//! a GRU over a mean and a standard deviation with MLP gates whose ODE moves only
//! the mean, is [`CellKind::MeanStdGru`].
//!
//! The papers' RNN baselines are the same scan with the ODE replaced ([`Between`]):
//! the state held and the time gap fed to the cell, or the state decayed
//! exponentially at a learned rate per unit.

use crate::batch::IrregularBatch;
use crate::cells::{AnyCell, Cell, CellKind, GruConvention, masked_update, step_present};
use crate::field::MlpField;
use crate::heads::observed_gaussian_log_likelihood;
use crate::stops::{self, Stop};
use crate::{Error, Result};
use autodiff::{Activation, Loss, Mlp, NoGrad, ParamId, ParamStore, Tensor};
use ndarray::Array2;
use odesolve::{Gradient, Method, OdeSession, SolveOptions, Stats};
use rand::Rng;

/// Sizes and solver settings of an [`OdeRnn`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OdeRnnConfig {
    /// Observation width `D`.
    pub x_dim: usize,
    /// Hidden state width (for [`CellKind::MeanStdGru`], the mean's and the std's
    /// each: the state is twice as wide).
    pub hidden: usize,
    /// Hidden width of the field's two hidden layers (tanh, as the reference's ODE
    /// function).
    pub field_hidden: usize,
    /// Hidden width of the output network (ReLU).
    pub out_hidden: usize,
    /// Standard deviation of the Gaussian predictive of an observation (fixed).
    pub obs_std: f64,
    /// Where `h_0 = 0` sits: the start of every forward scan and the end of a backward
    /// one.
    pub t0: f64,
    /// The solver between observations.
    pub solver: SolveOptions,
    /// How the solves are differentiated.
    pub gradient: Gradient,
    /// What the state does between observations: the learned ODE, or one of the
    /// papers' RNN baselines.
    pub between: Between,
    /// The update at an observation: a PyTorch-convention GRU (the default), or the
    /// reference code's GRU over a mean and a std with MLP gates
    /// ([`CellKind::MeanStdGru`]; the ODE then moves only the mean, and the output
    /// network reads the mean). A tanh RNN is [`CellKind::Rnn`].
    pub cell: CellKind,
}

/// What the hidden state does between two observations `t_{i-1}` and `t_i`
/// (Rubanova et al. 2019 compare the ODE-RNN with both baselines, Sec. 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Between {
    /// `h_i' = ODESolve(f, h_{i-1}, (t_{i-1}, t_i))`: the ODE-RNN.
    #[default]
    Ode,
    /// `h_i' = h_{i-1}`, and the gap `t_i - t_{i-1}` since the row's previous
    /// observation is fed to the cell beside `[x_i, m_i]` ("RNN-Δt").
    TimeGap,
    /// `h_i' = h_{i-1} * exp(-softplus(w) (t_i - t_{i-1}))`, a learned decay rate per
    /// unit (the hidden-state decay of GRU-D, Che et al. 2018; "RNN-Decay").
    Decay,
}

impl OdeRnnConfig {
    /// Hidden 20, field 50-50, output network 50, observation noise 0.1, `t0 = 0`;
    /// Euler with steps of at most 0.05 between observations, as the reference's
    /// encoder (it steps by about a fiftieth of the time range; set `solver` to
    /// `SolveOptions::new(Method::Dopri5)` for an adaptive solve).
    pub fn new(x_dim: usize) -> Self {
        OdeRnnConfig {
            x_dim,
            hidden: 20,
            field_hidden: 50,
            out_hidden: 50,
            obs_std: 0.1,
            t0: 0.0,
            solver: SolveOptions::new(Method::Euler).step_size(0.05),
            gradient: Gradient::default(),
            between: Between::Ode,
            cell: CellKind::Gru(GruConvention::PyTorch),
        }
    }
}

/// The recurrence of an ODE-RNN without its output network: the field, the GRU
/// update and the scan through time. The [`OdeRnn`] predicts with it; the Latent ODE
/// encodes with it, backwards.
#[derive(Debug, Clone, PartialEq)]
pub struct OdeRnnCore {
    dynamics: Dynamics,
    cell: AnyCell,
    x_dim: usize,
    hidden: usize,
    t0: f64,
    solver: SolveOptions,
    gradient: Gradient,
}

/// The parameters of what happens between observations.
#[derive(Debug, Clone, PartialEq)]
enum Dynamics {
    Ode(MlpField),
    TimeGap,
    /// The raw rates `w` (`1 x hidden`).
    Decay(ParamId),
}

/// An ODE-RNN (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct OdeRnn {
    config: OdeRnnConfig,
    core: OdeRnnCore,
    out: Mlp,
}

/// What a forecasting scan feeds back: at a stop with no observation, every row past
/// its own last observation (`after[r]`) reads `[predict(h), 1]` as if it had been
/// observed there.
struct Feedback<'a, T> {
    predict: &'a dyn Fn(&T) -> Result<Array2<f64>>,
    after: Vec<f64>,
}

/// What a scan gives: the state at each stop before its update (`h_i'`), the state
/// after the last stop, and the solves' work.
struct Scanned<T> {
    before: Vec<T>,
    last: T,
    stats: Stats,
}

/// The one-step predictions of [`OdeRnn::run`].
#[derive(Debug, Clone)]
pub struct OdeRnnRun<T> {
    /// `OutputNN(h_j')` at each union time `j` of the batch (`B x D` each).
    pub means: Vec<T>,
    /// The state after the last observation (`B x hidden`).
    pub last: T,
    /// The solves' work (`nfev` is the NFE a training loop logs).
    pub stats: Stats,
}

impl OdeRnnCore {
    /// Registers what evolves the state between observations (`{name}.field` for
    /// the ODE, `{name}.decay` for the decay) and the GRU under `{name}.cell`, with the
    /// widths, `t0`, solver and gradient method of `config` (its output settings are
    /// not used).
    pub fn new(
        store: &mut ParamStore,
        name: &str,
        config: &OdeRnnConfig,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        let c = config;
        if c.x_dim == 0 || c.hidden == 0 || (c.between == Between::Ode && c.field_hidden == 0) {
            return Err(Error::config("OdeRnn", "widths must be positive"));
        }
        // The state's width, and the part of it that moves between observations
        // (all of it, or the mean of the mean-and-std GRU). The field is registered
        // before the cell, which fixes the order of the initial draws.
        let (moving, state) = (c.hidden, c.cell.state_dim(c.hidden));
        let dynamics = match c.between {
            Between::Ode => {
                let widths = [moving, c.field_hidden, c.field_hidden, moving];
                let net = Mlp::new(store, &format!("{name}.field"), &widths, Activation::Tanh, rng)?;
                Dynamics::Ode(MlpField::holding(net, state - moving))
            }
            Between::TimeGap => Dynamics::TimeGap,
            // softplus(0.5) ~ 0.97: a decay over about one time unit to start from.
            Between::Decay => {
                Dynamics::Decay(store.add(format!("{name}.decay"), Array2::from_elem((1, state), 0.5))?)
            }
        };
        let gap_input = usize::from(c.between == Between::TimeGap);
        let cell =
            AnyCell::new(store, &format!("{name}.cell"), c.cell, 2 * c.x_dim + gap_input, c.hidden, rng)?;
        Ok(OdeRnnCore {
            dynamics,
            x_dim: c.x_dim,
            hidden: cell.hidden_dim(),
            cell,
            t0: c.t0,
            solver: c.solver.clone(),
            gradient: c.gradient.clone(),
        })
    }

    /// The field between observations (`None` for the RNN baselines).
    pub fn field(&self) -> Option<&MlpField> {
        match &self.dynamics {
            Dynamics::Ode(f) => Some(f),
            _ => None,
        }
    }

    /// The update at an observation.
    pub fn cell(&self) -> &AnyCell {
        &self.cell
    }

    /// The state's width (the cell's).
    pub fn state_dim(&self) -> usize {
        self.hidden
    }

    /// What the state means, for a read-out: its mean for
    /// [`CellKind::MeanStdGru`], the whole state otherwise.
    fn readout<T: Tensor>(&self, h: &T) -> Result<T> {
        match self.cell.readout_dim() {
            w if w == self.hidden => Ok(h.clone()),
            w => Ok(h.slice_cols(0..w)?),
        }
    }

    fn check(&self, batch: &IrregularBatch) -> Result<()> {
        if batch.dim() != self.x_dim {
            return Err(Error::config(
                "OdeRnn",
                format!("the model expects {} features, got {}", self.x_dim, batch.dim()),
            ));
        }
        match batch.times().first() {
            Some(&t) if t < self.t0 => {
                Err(Error::config("OdeRnn", format!("observation time {t} is before t0 = {}", self.t0)))
            }
            _ => Ok(()),
        }
    }

    /// Solves the state through `stops` in their order from `h = 0` at `start`,
    /// updating the observed rows at each stop with a step (and, with `feedback`, the
    /// rows past their last observation with their own prediction). With
    /// `from_first_observed` a row's state stays 0 until its first observation in the
    /// scan's order, so that it starts where the row alone would (a backward scan
    /// starts at each row's own last observation, not at the batch's).
    fn scan<S: OdeSession>(
        &self,
        s: &S,
        batch: &IrregularBatch,
        start: f64,
        stops: &[Stop],
        from_first_observed: bool,
        feedback: Option<&Feedback<'_, S::T>>,
    ) -> Result<Scanned<S::T>> {
        let grid = batch.grid();
        let b = batch.batch_size();
        let mut h = s.constant(Array2::zeros((b, self.hidden)));
        // Each row's previous observation, for the time gaps: the scan's start, or,
        // with `from_first_observed`, none until the row is first read (its state is
        // held at 0 until then, and its first gap is 0).
        let mut previous: Vec<Option<f64>> = vec![(!from_first_observed).then_some(start); b];
        let decay_rates = match &self.dynamics {
            Dynamics::Decay(w) => Some(s.param(*w)?.softplus()),
            _ => None,
        };
        let mut t = start;
        let mut before = Vec::with_capacity(stops.len());
        let mut stats = Stats::default();
        for stop in stops {
            if stop.t != t {
                let evolved = match &self.dynamics {
                    Dynamics::Ode(field) => {
                        let (hs, work) = s.odeint(field, &h, &[t, stop.t], &self.solver, &self.gradient)?;
                        stats += work;
                        hs.into_iter().next_back().expect("a solve returns its final state")
                    }
                    Dynamics::TimeGap => h.clone(),
                    Dynamics::Decay(_) => {
                        let rates =
                            decay_rates.as_ref().expect("the decay's rates are computed before the scan");
                        h.mul(&rates.scale(-(stop.t - t).abs()).exp())?
                    }
                };
                let started =
                    Array2::from_shape_fn((b, 1), |(r, _)| f64::from(u8::from(previous[r].is_some())));
                h = masked_update(evolved, &h, &started)?;
                t = stop.t;
            }
            before.push(h.clone());
            let update = match (stop.step, feedback) {
                (Some(j), _) => Some((batch.observation(j), grid.step_masks()[j].clone())),
                (None, Some(fb)) if fb.after.iter().any(|&last| last < stop.t) => {
                    let rows =
                        Array2::from_shape_fn((b, 1), |(r, _)| f64::from(u8::from(fb.after[r] < stop.t)));
                    let mean = (fb.predict)(&h)?;
                    let ones = Array2::ones(mean.dim());
                    let input = ndarray::concatenate(ndarray::Axis(1), &[mean.view(), ones.view()])
                        .expect("B rows each");
                    Some((input, rows))
                }
                _ => None,
            };
            if let Some((mut input, present)) = update {
                if matches!(self.dynamics, Dynamics::TimeGap) {
                    let gaps = Array2::from_shape_fn((b, 1), |(r, _)| {
                        previous[r].map_or(0.0, |p| (stop.t - p).abs())
                    });
                    input = ndarray::concatenate(ndarray::Axis(1), &[input.view(), gaps.view()])
                        .expect("B rows each");
                }
                for (r, p) in previous.iter_mut().enumerate() {
                    if present[(r, 0)] != 0.0 {
                        *p = Some(stop.t);
                    }
                }
                let x = s.constant(input);
                h = step_present(s, &self.cell, &x, &h, &present)?;
            }
        }
        Ok(Scanned { before, last: h, stats })
    }

    /// The state at `t0` after reading `batch` backwards in time, each row from its own
    /// last observation (the Latent ODE's recognition network, Rubanova et al. Sec.
    /// 3.2), and the solves' work. (The reference code starts every row at the
    /// batch's last time, so a row's encoding depends on its batch; here it does not,
    /// up to the solver's error: see the module docs on fixed steps.)
    pub fn encode_backwards<S: OdeSession>(&self, s: &S, batch: &IrregularBatch) -> Result<(S::T, Stats)> {
        self.check(batch)?;
        let times = batch.times();
        let last = *times.last().expect("a batch has at least one observation");
        let mut stops: Vec<Stop> =
            (0..times.len()).rev().map(|j| Stop { t: times[j], step: Some(j) }).collect();
        stops.push(Stop { t: self.t0, step: None });
        let scanned = self.scan(s, batch, last, &stops, true, None)?;
        Ok((scanned.last, scanned.stats))
    }
}

impl OdeRnn {
    /// Registers the parameters under `{name}.field` (or `{name}.decay` for
    /// [`Between::Decay`]; nothing for [`Between::TimeGap`]), `.cell`, `.out`.
    pub fn new(store: &mut ParamStore, name: &str, config: OdeRnnConfig, rng: &mut impl Rng) -> Result<Self> {
        if config.out_hidden == 0 {
            return Err(Error::config("OdeRnn", "widths must be positive"));
        }
        if !(config.obs_std.is_finite() && config.obs_std > 0.0) {
            return Err(Error::config("OdeRnn", format!("obs_std must be > 0, got {}", config.obs_std)));
        }
        let core = OdeRnnCore::new(store, name, &config, rng)?;
        let c = &config;
        let out = Mlp::new(
            store,
            &format!("{name}.out"),
            &[core.cell.readout_dim(), c.out_hidden, c.x_dim],
            Activation::Relu,
            rng,
        )?;
        Ok(OdeRnn { config, core, out })
    }

    /// The settings.
    pub fn config(&self) -> &OdeRnnConfig {
        &self.config
    }

    /// The recurrence (field, GRU update, scan).
    pub fn core(&self) -> &OdeRnnCore {
        &self.core
    }

    /// The forward scan over `batch` with the one-step prediction at each union time.
    pub fn run<S: OdeSession>(&self, s: &S, batch: &IrregularBatch) -> Result<OdeRnnRun<S::T>> {
        self.core.check(batch)?;
        let stops: Vec<Stop> = stops::observed(batch.times());
        let Scanned { before, last, stats } =
            self.core.scan(s, batch, self.config.t0, &stops, false, None)?;
        let means =
            before.iter().map(|h| Ok(self.out.forward(s, &self.core.readout(h)?)?)).collect::<Result<_>>()?;
        Ok(OdeRnnRun { means, last, stats })
    }

    /// The Gaussian log-likelihood of each row's observed entries under its one-step
    /// predictions (`B x 1`), and the solves' work.
    pub fn log_likelihood<S: OdeSession>(&self, s: &S, batch: &IrregularBatch) -> Result<(S::T, Stats)> {
        let run = self.run(s, batch)?;
        let std = s.constant(Array2::from_elem((1, self.config.x_dim), self.config.obs_std));
        Ok((
            observed_gaussian_log_likelihood(s, &run.means, batch, &std, 1)?.sum_axis(ndarray::Axis(1)),
            run.stats,
        ))
    }

    /// The negative log-likelihood per observed value (a [`Loss`], whose sum and
    /// weight combine exactly across shards; with fixed steps each shard's rows are
    /// stepped on their own union of times, see the module docs), and the solves'
    /// work.
    pub fn loss<S: OdeSession>(&self, s: &S, batch: &IrregularBatch) -> Result<(Loss<S::T>, Stats)> {
        let (ll, stats) = self.log_likelihood(s, batch)?;
        Ok((Loss::new(ll.sum().neg(), batch.observed_values() as f64)?, stats))
    }

    /// Reads `batch` and predicts at `times` (increasing, from `t0` on): the mean of
    /// the predictive at each, from the state solved there after every observation
    /// strictly before it. At an observed time this is the prediction before reading
    /// that observation; beyond the last one it extrapolates by the dynamics alone
    /// (for [`Between::TimeGap`] the state is held, so the prediction is constant).
    pub fn predict(
        &self,
        store: &ParamStore,
        batch: &IrregularBatch,
        times: &[f64],
    ) -> Result<Vec<Array2<f64>>> {
        self.predict_with(store, batch, times, false)
    }

    /// [`predict`](OdeRnn::predict), except that beyond each row's last observation
    /// every prediction is read back as an observation before the next query time:
    /// the autoregressive forecast of a recurrent network, and the way the RNN
    /// baselines extrapolate at all.
    pub fn forecast(
        &self,
        store: &ParamStore,
        batch: &IrregularBatch,
        times: &[f64],
    ) -> Result<Vec<Array2<f64>>> {
        self.predict_with(store, batch, times, true)
    }

    fn predict_with(
        &self,
        store: &ParamStore,
        batch: &IrregularBatch,
        times: &[f64],
        feed_back: bool,
    ) -> Result<Vec<Array2<f64>>> {
        self.core.check(batch)?;
        let t0 = self.config.t0;
        let obs = batch.times();
        let stops = stops::with_queries("OdeRnn::predict", t0, obs, times)?;
        let s = NoGrad::new(store);
        let predict = |h: &Array2<f64>| Ok(self.out.forward(&s, &self.core.readout(h)?)?);
        let feedback = feed_back.then(|| {
            let after = batch
                .last_steps()
                .into_iter()
                .map(|last| obs[last.expect("every row of a batch has an observation")])
                .collect();
            Feedback { predict: &predict, after }
        });
        let scanned = self.core.scan(&s, batch, t0, &stops, false, feedback.as_ref())?;
        stops
            .iter()
            .zip(&scanned.before)
            .filter(|(stop, _)| stop.step.is_none())
            .map(|(_, h)| Ok(self.out.forward(&s, &self.core.readout(h)?)?))
            .collect()
    }
}
