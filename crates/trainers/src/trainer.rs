//! The training loop: epochs of shuffled mini-batches, each step evaluating the loss
//! and its gradient (on one tape or data-parallel), guarding against NaN, clipping,
//! scheduling the learning rate and stepping the optimizer; with callbacks, a
//! progress bar, a metrics log, checkpoints and early stopping around it.

use crate::checkpoint::{self, TrainState};
use crate::metrics::{MetricsLog, Row};
use crate::model_file::ModelMeta;
use crate::on_nan::{OnNan, RollbackPoint, RolledBack};
use crate::optim::Optimizer;
use crate::parallel::{Evaluation, StepCtx, evaluate};
use crate::{
    BoxError, EarlyStopping, Error, KlAnneal, Result, Schedule, Verdict, clip_grad_norm, clip_grad_value,
    safetensors,
};
use autodiff::data::{Dataset, Shard};
use autodiff::{Loss, ParamStore, TapeSession, Var};
use indicatif::{ProgressBar, ProgressStyle};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What a callback wants the loop to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Control {
    /// Carry on.
    Continue,
    /// Stop after this step or epoch (checkpointing as usual).
    Stop,
}

/// Gradient clipping applied before each update.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Clip {
    /// [`clip_grad_norm`] with this maximum global norm.
    Norm(f64),
    /// [`clip_grad_value`] with this bound.
    Value(f64),
}

/// How often checkpoints are written (a final one is always written when training ends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Every {
    /// After every `n` optimizer steps.
    Steps(u64),
    /// After every `n` epochs.
    Epochs(u64),
}

/// What one optimizer step did (given to step callbacks and logged).
#[derive(Debug, Clone, PartialEq)]
pub struct StepReport {
    /// Steps taken, counting this one.
    pub step: u64,
    /// Completed epochs (this step belongs to epoch `epoch + 1`).
    pub epoch: u64,
    /// The batch loss.
    pub loss: f64,
    /// The weight the batch loss was divided by (see [`autodiff::Loss`]).
    pub weight: f64,
    /// Learning rate used.
    pub lr: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// KL weight given to the loss.
    pub kl_weight: f64,
    /// Values the loss recorded with [`StepCtx::record`].
    pub records: Vec<(String, f64)>,
    /// Seconds of training so far (across resumptions).
    pub elapsed_s: f64,
}

/// The end of an epoch, given to epoch callbacks, which may add metrics (validation
/// losses) to `metrics`: they are logged and early stopping reads its metric there.
#[derive(Debug)]
pub struct EpochReport<'r> {
    /// Epochs completed, counting this one.
    pub epoch: u64,
    /// Steps taken.
    pub step: u64,
    /// Mean training loss over the epoch's examples.
    pub train_loss: f64,
    /// The parameters at the end of the epoch.
    pub store: &'r ParamStore,
    /// Metrics to log, by name.
    pub metrics: BTreeMap<String, f64>,
    bar: &'r ProgressBar,
}

impl EpochReport<'_> {
    /// Prints `line` on standard output without tearing the progress bar: the bar is
    /// cleared, the line printed, the bar drawn again below it (a plain `println!`
    /// from a callback would land in the middle of the bar's line).
    pub fn println(&self, line: impl AsRef<str>) {
        self.bar.suspend(|| println!("{}", line.as_ref()));
    }
}

/// Why [`Trainer::fit`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// Every epoch ran.
    Completed,
    /// The step limit was reached.
    MaxSteps,
    /// Early stopping ran out of patience.
    EarlyStopped,
    /// A callback returned [`Control::Stop`].
    Callback,
}

/// The outcome of [`Trainer::fit`].
#[derive(Debug, Clone, PartialEq)]
pub struct FitSummary {
    /// Why training ended.
    pub reason: StopReason,
    /// Steps taken in total.
    pub steps: u64,
    /// Epochs completed in total.
    pub epochs: u64,
    /// Mean training loss of each epoch completed in this call.
    pub epoch_losses: Vec<f64>,
    /// `(step, loss)` of every step taken in this call: the loss curve.
    pub step_losses: Vec<(u64, f64)>,
    /// The best early-stopping value and the epoch (from 1) that reached it; those
    /// parameters are in the store.
    pub best: Option<(f64, u64)>,
    /// The last checkpoint written, if any.
    pub checkpoint: Option<PathBuf>,
    /// The roll-backs of [`OnNan::RollBack`] in this call, in order.
    pub rollbacks: Vec<RolledBack>,
}

type StepCallback<'a> = Box<dyn FnMut(&StepReport) -> Result<Control, BoxError> + 'a>;
type EpochCallback<'a> = Box<dyn FnMut(&mut EpochReport<'_>) -> Result<Control, BoxError> + 'a>;

/// Checkpoint settings.
#[derive(Debug, Clone)]
struct Checkpointing {
    dir: PathBuf,
    every: Every,
    keep: Option<usize>,
}

/// Trains the parameters of a [`ParamStore`] with an [`Optimizer`]; see the crate docs
/// for an example. Settings are builder methods; [`fit`](Trainer::fit) runs the loop
/// and may be called again to continue (or after [`resume`](Trainer::resume)).
pub struct Trainer<'a> {
    store: ParamStore,
    optimizer: Box<dyn Optimizer + 'a>,
    state: TrainState,
    epochs: u64,
    batch_size: usize,
    shuffle: bool,
    bucketing: bool,
    shards: usize,
    clip: Option<Clip>,
    schedule: Option<Schedule>,
    kl: Option<KlAnneal>,
    progress: bool,
    metrics_path: Option<PathBuf>,
    checkpointing: Option<Checkpointing>,
    model: Option<ModelMeta>,
    max_steps: Option<u64>,
    early: Option<(EarlyStopping, String)>,
    on_nan: OnNan,
    on_step: Vec<StepCallback<'a>>,
    on_epoch: Vec<EpochCallback<'a>>,
}

impl std::fmt::Debug for Trainer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer")
            .field("optimizer", &self.optimizer.kind())
            .field("epoch", &self.state.epoch)
            .field("step", &self.state.step)
            .field("params", &self.store.len())
            .finish_non_exhaustive()
    }
}

impl<'a> Trainer<'a> {
    /// A trainer of `store` with `optimizer`; `seed` seeds both the shuffling and the
    /// per-step noise generators. Defaults: 1 epoch, batch 32, shuffled, 1 shard, no
    /// clipping, the optimizer's own learning rate, KL weight 1, progress bar on (when
    /// stderr is a terminal), no log, no checkpoints.
    pub fn new(store: ParamStore, optimizer: impl Optimizer + 'a, seed: u64) -> Self {
        let mut noise_rng = ChaCha8Rng::seed_from_u64(seed);
        // A distinct stream keeps noise independent of the shuffling draws.
        noise_rng.set_stream(1);
        Trainer {
            store,
            optimizer: Box::new(optimizer),
            state: TrainState {
                epoch: 0,
                step: 0,
                batch_in_epoch: 0,
                epoch_loss_sum: 0.0,
                epoch_weight: 0.0,
                elapsed_s: 0.0,
                data_rng: ChaCha8Rng::seed_from_u64(seed),
                noise_rng,
                lr_scale: 1.0,
            },
            epochs: 1,
            batch_size: 32,
            shuffle: true,
            bucketing: false,
            shards: 1,
            clip: None,
            schedule: None,
            kl: None,
            progress: true,
            metrics_path: None,
            checkpointing: None,
            model: None,
            max_steps: None,
            early: None,
            on_nan: OnNan::Stop,
            on_step: Vec::new(),
            on_epoch: Vec::new(),
        }
    }

    /// Total number of epochs to train (counting epochs before a resume).
    pub fn epochs(mut self, n: u64) -> Self {
        self.epochs = n;
        self
    }
    /// Examples per mini-batch.
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n;
        self
    }
    /// Batches of examples of similar lengths (bucketing; default off): each epoch
    /// shuffles the examples, groups them by [`Dataset::lengths`] into batches and
    /// shuffles the batches ([`autodiff::data::bucketed_batch_order`]), so that little
    /// of a padded batch is padding. The data set must report lengths (`fit` fails
    /// otherwise). Replaces `shuffle`'s order.
    pub fn bucket_by_length(mut self, on: bool) -> Self {
        self.bucketing = on;
        self
    }
    /// Whether each epoch visits the examples in a fresh random order.
    pub fn shuffle(mut self, on: bool) -> Self {
        self.shuffle = on;
        self
    }
    /// Splits each batch into `k` shards evaluated in parallel (see [`crate::parallel`]).
    pub fn shards(mut self, k: usize) -> Self {
        self.shards = k;
        self
    }
    /// Clips gradients before each update.
    pub fn clip(mut self, clip: Clip) -> Self {
        self.clip = Some(clip);
        self
    }
    /// Sets the learning rate before each step from `schedule` (of the step count).
    pub fn schedule(mut self, schedule: Schedule) -> Self {
        self.schedule = Some(schedule);
        self
    }
    /// Gives the loss a KL weight from `anneal` (of the step count) in [`StepCtx::kl_weight`].
    pub fn kl_anneal(mut self, anneal: KlAnneal) -> Self {
        self.kl = Some(anneal);
        self
    }
    /// Shows a progress bar on stderr (it stays hidden when stderr is not a terminal).
    pub fn progress_bar(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }
    /// Writes the metrics log to `path` (CSV for `.csv`, else JSON lines; see [`crate::metrics`]).
    pub fn metrics_log(mut self, path: impl Into<PathBuf>) -> Self {
        self.metrics_path = Some(path.into());
        self
    }
    /// Names the model being trained, so that every checkpoint also carries its kind
    /// and configuration and loads as a model file
    /// ([`model_file::load`](crate::model_file::load)) without knowing its sizes.
    pub fn model(mut self, meta: ModelMeta) -> Self {
        self.model = Some(meta);
        self
    }
    /// Writes checkpoints into `dir` (created if needed) after every epoch, keeping all.
    pub fn checkpoint_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.checkpointing = Some(Checkpointing { dir: dir.into(), every: Every::Epochs(1), keep: None });
        self
    }
    /// How often checkpoints are written (needs [`checkpoint_dir`](Trainer::checkpoint_dir)).
    pub fn checkpoint_every(mut self, every: Every) -> Self {
        if let Some(c) = &mut self.checkpointing {
            c.every = every;
        }
        self
    }
    /// Keeps only the `n` most recent checkpoints (needs [`checkpoint_dir`](Trainer::checkpoint_dir)).
    pub fn keep_checkpoints(mut self, n: usize) -> Self {
        if let Some(c) = &mut self.checkpointing {
            c.keep = Some(n);
        }
        self
    }
    /// Stops once this many steps have been taken in total (possibly mid-epoch; a
    /// later `fit` with a higher limit continues exactly where this one stopped).
    pub fn max_steps(mut self, n: u64) -> Self {
        self.max_steps = Some(n);
        self
    }
    /// Early stopping on the epoch metric `metric` (added by an epoch callback), and
    /// restoring the best parameters when training ends.
    pub fn early_stopping(mut self, es: EarlyStopping, metric: impl Into<String>) -> Self {
        self.early = Some((es, metric.into()));
        self
    }
    /// Calls `f` after every optimizer step.
    pub fn on_step(mut self, f: impl FnMut(&StepReport) -> Result<Control, BoxError> + 'a) -> Self {
        self.on_step.push(Box::new(f));
        self
    }
    /// What to do when a step goes non-finite (default [`OnNan::Stop`]).
    pub fn on_nan(mut self, policy: OnNan) -> Self {
        self.on_nan = policy;
        self
    }

    pub(crate) fn nan_policy(&self) -> OnNan {
        self.on_nan
    }

    pub(crate) fn set_lr_scale(&mut self, scale: f64) {
        self.state.lr_scale = scale;
    }

    pub(crate) fn restore_early_stopping(&mut self, saved: Option<EarlyStopping>) {
        if let (Some((es, _)), Some(saved)) = (&mut self.early, saved) {
            *es = saved;
        }
    }

    /// Calls `f` at the end of every epoch, in registration order, before early
    /// stopping looks at the metrics.
    pub fn on_epoch(mut self, f: impl FnMut(&mut EpochReport<'_>) -> Result<Control, BoxError> + 'a) -> Self {
        self.on_epoch.push(Box::new(f));
        self
    }

    /// The parameters.
    pub fn store(&self) -> &ParamStore {
        &self.store
    }
    /// The parameters, mutably.
    pub fn store_mut(&mut self) -> &mut ParamStore {
        &mut self.store
    }
    /// Ends training and returns the parameters.
    pub fn into_store(self) -> ParamStore {
        self.store
    }
    /// The optimizer.
    pub fn optimizer(&self) -> &dyn Optimizer {
        self.optimizer.as_ref()
    }
    /// Counters and generators of the run.
    pub fn state(&self) -> &TrainState {
        &self.state
    }

    /// Writes a checkpoint of the current state to `path` (atomically).
    pub fn save_checkpoint(&self, path: &Path) -> Result<()> {
        checkpoint::save(path, &self.store, &self.optimizer.state(), &self.state, self.model.as_ref())
    }

    /// Restores parameters, optimizer state, counters and generators from a checkpoint
    /// written by a trainer with the same parameter names and optimizer kind. The next
    /// [`fit`](Trainer::fit) continues bit for bit like the run that wrote it, given
    /// the same data, loss and settings.
    pub fn resume(&mut self, path: &Path) -> Result<()> {
        let mut store = self.store.clone();
        let (optim, state) = checkpoint::load(path, &mut store)?;
        self.optimizer.load_state(optim)?;
        self.store = store;
        self.state = state;
        Ok(())
    }

    /// Resumes from the latest checkpoint of the checkpoint directory, if there is one.
    /// A checkpoint that cannot be read (a copy interrupted under its real name,
    /// truncated or corrupt) is skipped with a warning on stderr for the one before
    /// it; the error of the oldest is returned when none can be read. A readable
    /// checkpoint that does not fit (another model's) is an error at once.
    pub fn resume_latest(&mut self) -> Result<Option<PathBuf>> {
        let Some(c) = &self.checkpointing else {
            return Err(Error::config("Trainer::resume_latest", "no checkpoint_dir set"));
        };
        if !c.dir.exists() {
            return Ok(None);
        }
        let mut candidates = checkpoint::list(&c.dir)?;
        while let Some((_, path)) = candidates.pop() {
            match self.resume(&path) {
                Ok(()) => return Ok(Some(path)),
                // Skipped only if the file itself cannot be read, not for a
                // readable checkpoint that does not fit this trainer.
                Err(e @ Error::Format { .. })
                    if !candidates.is_empty() && safetensors::read(&path).is_err() =>
                {
                    eprintln!("warning: skipping an unreadable checkpoint: {e}; trying the one before");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    fn validate(&self) -> Result<()> {
        if self.batch_size == 0 {
            return Err(Error::config("Trainer::batch_size", "must be positive"));
        }
        if let Some(s) = &self.schedule {
            s.validate()?;
        }
        if let Some(k) = &self.kl {
            k.validate()?;
        }
        self.on_nan.validate()?;
        if let OnNan::RollBack { .. } = self.on_nan {
            if self.checkpointing.is_none() {
                return Err(Error::config("Trainer::on_nan", "rolling back needs a checkpoint_dir"));
            }
            if self.schedule.is_none() {
                return Err(Error::config(
                    "Trainer::on_nan",
                    "rolling back lowers the scheduled learning rate: set a schedule (Schedule::Constant for a fixed one)",
                ));
            }
        }
        match self.checkpointing.as_ref().map(|c| (c.every, c.keep)) {
            Some((Every::Steps(0) | Every::Epochs(0), _)) => {
                Err(Error::config("Trainer::checkpoint_every", "the interval must be positive"))
            }
            Some((_, Some(0))) => Err(Error::config("Trainer::keep_checkpoints", "must keep at least one")),
            _ => Ok(()),
        }
    }

    /// Trains on `data` with `loss` until the epochs are done, the step limit is
    /// reached, a callback stops it or early stopping does.
    ///
    /// `loss(session, batch, ctx)` must return the **mean** loss over the batch's rows
    /// as a `1 x 1` value recorded on the session's tape (see [`crate::parallel`] for
    /// why the mean). Errors: the loss's or a callback's, an
    /// [`Error::NonFinite`] from the NaN guard, [`Error::NothingObserved`] for a batch
    /// whose loss has weight 0, I/O errors of the log and checkpoints.
    ///
    /// The NaN guard checks the loss and every gradient before the update, and every
    /// parameter after it; on failure the store keeps the last good parameters and no
    /// checkpoint is written (the last one on disk is the last good state). After a
    /// parameter overflow the optimizer's moments already include the failed step:
    /// resume from the checkpoint rather than calling `fit` again.
    pub fn fit<D, L>(&mut self, data: &D, loss: L) -> Result<FitSummary>
    where
        D: Dataset,
        L: for<'t, 's> Fn(&TapeSession<'t, 's>, &D::Batch, &mut StepCtx) -> Result<Loss<Var<'t>>, BoxError>
            + Sync,
    {
        self.validate()?;
        if data.is_empty() {
            return Err(Error::Empty { what: "Trainer::fit".into() });
        }
        if let Some(most) = data.max_batch_size().filter(|&m| self.batch_size > m) {
            return Err(Error::config(
                "Trainer::batch_size",
                format!(
                    "{} examples per batch, but this data set makes batches of at most {most}",
                    self.batch_size
                ),
            ));
        }
        let mut run = Run::start(self, data.len())?;
        let start = (self.state.step, self.state.epoch);
        let mut summary = FitSummary {
            reason: StopReason::Completed,
            steps: 0,
            epochs: 0,
            epoch_losses: Vec::new(),
            step_losses: Vec::new(),
            best: None,
            checkpoint: None,
            rollbacks: Vec::new(),
        };
        // The log and the progress bar are closed even when training fails, so the
        // rows up to a NaN are on disk for diagnosis.
        let result = self.run_epochs(data, &loss, &mut run, &mut summary, start);
        let closed = run.finish();
        result?;
        closed?;
        Ok(summary)
    }

    fn run_epochs<D, L>(
        &mut self,
        data: &D,
        loss: &L,
        run: &mut Run,
        summary: &mut FitSummary,
        start: (u64, u64),
    ) -> Result<()>
    where
        D: Dataset,
        L: for<'t, 's> Fn(&TapeSession<'t, 's>, &D::Batch, &mut StepCtx) -> Result<Loss<Var<'t>>, BoxError>
            + Sync,
    {
        if let OnNan::RollBack { .. } = self.on_nan {
            // Something of this run's own to roll back to before the first step.
            self.write_checkpoint(run, summary)?;
        }
        'epochs: while self.state.epoch < self.epochs {
            let mut rng = self.state.data_rng.clone();
            let order = if self.bucketing {
                let lengths = data.lengths().ok_or_else(|| {
                    Error::config("Trainer::bucket_by_length", "the data set reports no lengths")
                })?;
                autodiff::data::bucketed_batch_order(&lengths, self.batch_size, &mut rng)
            } else {
                autodiff::data::batch_order(data.len(), self.batch_size, self.shuffle, &mut rng)
            }
            .map_err(Error::autodiff("Trainer::fit"))?;
            run.bar.set_prefix(format!("{}/{}", self.state.epoch + 1, self.epochs));
            for idx in order.iter().skip(self.state.batch_in_epoch as usize) {
                if self.max_steps.is_some_and(|m| self.state.step >= m) {
                    summary.reason = StopReason::MaxSteps;
                    break 'epochs;
                }
                let batch = data.batch(idx);
                let report = match self.step(&batch, loss, run) {
                    Err(Error::NonFinite { step, what }) if self.may_roll_back(summary) => {
                        // The restored state re-draws its epoch's order and skips
                        // the batches it had taken.
                        self.roll_back(run.rollback_point.as_ref(), step, what, summary)?;
                        continue 'epochs;
                    }
                    result => result?,
                };
                self.state.batch_in_epoch += 1;
                self.state.epoch_loss_sum += report.loss * report.weight;
                self.state.epoch_weight += report.weight;
                run.after_step(&report)?;
                summary.step_losses.push((report.step, report.loss));
                let mut control = Control::Continue;
                for f in &mut self.on_step {
                    let c = f(&report).map_err(|source| Error::Callback { step: report.step, source })?;
                    control = control.max(c);
                }
                if let Some(Checkpointing { every: Every::Steps(n), .. }) = self.checkpointing
                    && self.state.step.is_multiple_of(n)
                {
                    self.write_checkpoint(run, summary)?;
                }
                if control == Control::Stop {
                    summary.reason = StopReason::Callback;
                    break 'epochs;
                }
            }
            self.state.data_rng = rng;
            let verdict = self.end_epoch(run, summary)?;
            if let Some(Checkpointing { every: Every::Epochs(n), .. }) = self.checkpointing
                && self.state.epoch.is_multiple_of(n)
            {
                self.write_checkpoint(run, summary)?;
            }
            if let Some(reason) = verdict {
                summary.reason = reason;
                break;
            }
        }
        if let Some((es, _)) = &self.early
            && es.restore_best(&mut self.store)?
        {
            summary.best = es.best().map(|(v, i)| (v, i as u64 + 1));
        }
        let progressed = start != (self.state.step, self.state.epoch);
        if self.checkpointing.is_some() && progressed && run.last_checkpoint_step != Some(self.state.step) {
            self.write_checkpoint(run, summary)?;
        }
        summary.steps = self.state.step;
        summary.epochs = self.state.epoch;
        Ok(())
    }

    /// One optimizer step on `batch`: schedule, loss and gradient, NaN guard, clipping, update.
    fn step<B, L>(&mut self, batch: &B, loss: &L, run: &Run) -> Result<StepReport>
    where
        B: Shard + Sync,
        L: for<'t, 's> Fn(&TapeSession<'t, 's>, &B, &mut StepCtx) -> Result<Loss<Var<'t>>, BoxError> + Sync,
    {
        let step = self.state.step;
        if let Some(s) = &self.schedule {
            self.optimizer.set_lr(s.lr(step) * self.state.lr_scale)?;
        }
        let kl_weight = self.kl.as_ref().map_or(1.0, |k| k.weight(step));
        let ctx = StepCtx::new(step, self.state.epoch, kl_weight, self.state.noise_rng.next_u64());
        let Evaluation { loss, weight, mut grads, records } =
            evaluate(&self.store, batch, self.shards, loss, &ctx)?;
        if let Some(what) = grads.first_non_finite(&self.store) {
            return Err(Error::NonFinite { step, what });
        }
        let grad_norm = match self.clip {
            Some(Clip::Norm(max)) => clip_grad_norm(&mut grads, max)?,
            Some(Clip::Value(v)) => {
                let norm = grads.global_norm();
                clip_grad_value(&mut grads, v)?;
                norm
            }
            None => grads.global_norm(),
        };
        let mut updated = self.store.clone();
        self.optimizer.step(&mut updated, &grads)?;
        // Keep the last good parameters if the update itself overflowed.
        for (id, _, value) in updated.iter() {
            if let Some(((r, c), v)) = autodiff::finite::first_non_finite(value) {
                let name = updated.name(id).expect("an id of the store's own iteration");
                return Err(Error::NonFinite {
                    step,
                    what: format!("parameter `{name}` at ({r}, {c}) = {v} after the update"),
                });
            }
        }
        self.store = updated;
        self.state.step += 1;
        self.state.elapsed_s = run.elapsed();
        Ok(StepReport {
            step: self.state.step,
            epoch: self.state.epoch,
            loss,
            weight,
            lr: self.optimizer.lr(),
            grad_norm,
            kl_weight,
            records,
            elapsed_s: self.state.elapsed_s,
        })
    }

    /// Closes the epoch: counters, callbacks, early stopping, log. Returns why to stop, if so.
    fn end_epoch(&mut self, run: &mut Run, summary: &mut FitSummary) -> Result<Option<StopReason>> {
        // The epoch's loss as one batch of all its data would give it (weights add).
        let train_loss = match self.state.epoch_weight > 0.0 {
            true => self.state.epoch_loss_sum / self.state.epoch_weight,
            false => f64::NAN,
        };
        self.state.epoch += 1;
        self.state.batch_in_epoch = 0;
        self.state.epoch_loss_sum = 0.0;
        self.state.epoch_weight = 0.0;
        summary.epoch_losses.push(train_loss);
        let mut report = EpochReport {
            epoch: self.state.epoch,
            step: self.state.step,
            train_loss,
            store: &self.store,
            metrics: BTreeMap::new(),
            bar: &run.bar,
        };
        let mut reason = None;
        for f in &mut self.on_epoch {
            if f(&mut report).map_err(|source| Error::Callback { step: report.step, source })?
                == Control::Stop
            {
                reason = Some(StopReason::Callback);
            }
        }
        if let Some((es, metric)) = &mut self.early {
            let Some(&value) = report.metrics.get(metric.as_str()) else {
                return Err(Error::config(
                    "Trainer::early_stopping",
                    format!(
                        "no epoch metric `{metric}` (epoch callbacks added {:?})",
                        report.metrics.keys().collect::<Vec<_>>()
                    ),
                ));
            };
            if es.observe(value, &self.store) == Verdict::Stop {
                reason = reason.or(Some(StopReason::EarlyStopped));
            }
        }
        let metrics = std::mem::take(&mut report.metrics);
        run.after_epoch(&self.state, train_loss, &metrics)?;
        Ok(reason)
    }

    fn write_checkpoint(&mut self, run: &mut Run, summary: &mut FitSummary) -> Result<()> {
        let c = self.checkpointing.as_ref().expect("called only with checkpointing on");
        std::fs::create_dir_all(&c.dir).map_err(Error::io(&c.dir))?;
        // Writers killed mid-save left temporary files of other steps' names.
        safetensors::remove_stale_temps(&c.dir, |name| checkpoint::step_of(name).is_some());
        let path = checkpoint::path_for(&c.dir, self.state.step);
        self.save_checkpoint(&path)?;
        if let Some(keep) = c.keep {
            checkpoint::prune(&c.dir, keep)?;
        }
        run.last_checkpoint_step = Some(self.state.step);
        if let OnNan::RollBack { .. } = self.on_nan {
            run.rollback_point = Some(RollbackPoint {
                path: path.clone(),
                early: self.early.as_ref().map(|(es, _)| es.clone()),
                epochs_reported: summary.epoch_losses.len(),
            });
        }
        summary.checkpoint = Some(path);
        Ok(())
    }
}

/// Epoch, bar, steps, loss, rate and ETA: `epoch 3/10 [=====>    ] 120/400 loss 1.2e-1, 35.1 steps/s eta 8s`.
fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg} eta {eta}")
        .expect("a valid template")
        .progress_chars("=> ")
}

/// Per-call machinery of `fit`: clock, progress bar, metrics log.
struct Run {
    started: Instant,
    first_step: u64,
    elapsed_before: f64,
    bar: ProgressBar,
    log: Option<MetricsLog>,
    last_checkpoint_step: Option<u64>,
    /// The last checkpoint this call wrote, under `OnNan::RollBack`.
    rollback_point: Option<RollbackPoint>,
}

impl Run {
    fn start(t: &Trainer<'_>, n: usize) -> Result<Self> {
        let per_epoch = n.div_ceil(t.batch_size) as u64;
        let total = (t.epochs * per_epoch).min(t.max_steps.unwrap_or(u64::MAX));
        let bar = if t.progress && std::io::stderr().is_terminal() {
            let style = bar_style();
            ProgressBar::new(total).with_style(style).with_position(t.state.step)
        } else {
            ProgressBar::hidden()
        };
        let log = match &t.metrics_path {
            Some(p) => Some(MetricsLog::open(p, t.state.step > 0)?),
            None => None,
        };
        Ok(Run {
            started: Instant::now(),
            first_step: t.state.step,
            elapsed_before: t.state.elapsed_s,
            bar,
            log,
            last_checkpoint_step: None,
            rollback_point: None,
        })
    }

    fn elapsed(&self) -> f64 {
        self.elapsed_before + self.started.elapsed().as_secs_f64()
    }

    fn after_step(&mut self, r: &StepReport) -> Result<()> {
        self.bar.set_position(r.step);
        // indicatif's own `{per_sec}` prints four decimals; this run's mean rate reads better.
        let rate = r.step.saturating_sub(self.first_step) as f64 / self.started.elapsed().as_secs_f64();
        self.bar.set_message(format!("loss {:.4e}, {rate:.1} steps/s", r.loss));
        let Some(log) = &mut self.log else { return Ok(()) };
        let mut row: Row = vec![
            ("kind".into(), json!("step")),
            ("step".into(), json!(r.step)),
            ("epoch".into(), json!(r.epoch)),
            ("loss".into(), json!(r.loss)),
            ("lr".into(), json!(r.lr)),
            ("grad_norm".into(), json!(r.grad_norm)),
            ("kl_weight".into(), json!(r.kl_weight)),
            ("elapsed_s".into(), json!(r.elapsed_s)),
        ];
        row.extend(r.records.iter().map(|(k, v)| (k.clone(), json!(v))));
        log.write(row)
    }

    fn after_epoch(
        &mut self,
        s: &TrainState,
        train_loss: f64,
        metrics: &BTreeMap<String, f64>,
    ) -> Result<()> {
        let elapsed = self.elapsed();
        let Some(log) = &mut self.log else { return Ok(()) };
        let mut row: Row = vec![
            ("kind".into(), json!("epoch")),
            ("step".into(), json!(s.step)),
            ("epoch".into(), json!(s.epoch)),
            ("train_loss".into(), json!(train_loss)),
            ("elapsed_s".into(), json!(elapsed)),
        ];
        row.extend(metrics.iter().map(|(k, v)| (k.clone(), json!(v))));
        log.write(row)?;
        log.commit()
    }

    fn finish(mut self) -> Result<()> {
        self.bar.finish();
        match &mut self.log {
            Some(log) => log.commit(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_progress_bar_template_parses() {
        // The bar is only drawn on a terminal, so check its template where tests run.
        let bar = indicatif::ProgressBar::hidden().with_style(super::bar_style());
        bar.set_prefix("1/2");
        bar.finish();
    }
}
