//! # trainers: from a model and a loss to a trained model
//!
//! This crate is the top of the latent-seq stack, what PyTorch users know as
//! `torch.optim`, `torch.optim.lr_scheduler`, `DataLoader`, `clip_grad_norm_` and the
//! training loop of Lightning, for models built on [`autodiff`]. A model only has to
//! keep its parameters in a [`ParamStore`](autodiff::ParamStore) and compute a loss on
//! a [`TapeSession`](autodiff::TapeSession); the crate depends on nothing else, so
//! the model crates never depend on it.
//!
//! ## The pieces
//!
//! * [`optim`]: [`Sgd`], [`Adam`], [`AdamW`], [`Adamax`], [`RmsProp`], each a plain
//!   struct of hyper-parameters (PyTorch's names and defaults) whose update of one
//!   entry is the documented `torch.optim` pseudo-code, run by [`Optim`], which owns
//!   the per-parameter state and can save and restore it ([`OptimizerState`]).
//! * [`clip_grad_norm`] and [`clip_grad_value`]; [`Schedule`] for the learning rate
//!   (step, exponential with a floor, cosine with optional warm restarts, linear
//!   warm-up composed with any of them); [`KlAnneal`] for the KL weight of an ELBO
//!   (linear and cyclical); [`EarlyStopping`].
//! * Data: [`Trainer::fit`] takes any [`autodiff::data::Dataset`], whose batches
//!   are [`Shard`](autodiff::data::Shard)s it can cut for data parallelism: the
//!   i.i.d. [`Rows`](autodiff::data::Rows) of `autodiff`, or a model crate's own
//!   batch type (the sequence batches of `seqmodels`, say). Each epoch's order is a
//!   permutation drawn from the trainer's seeded generator, or, bucketed by length
//!   ([`Trainer::bucket_by_length`]), batches of similar lengths in a random order.
//! * [`parallel`]: the loss and gradient of a batch, optionally split into shards
//!   whose tapes run in parallel on rayon.
//! * [`Trainer`]: epochs, steps, callbacks, a progress bar, a [`metrics`] log,
//!   [`checkpoint`]s in [`safetensors`] that resume bit for bit (an unreadable one
//!   skipped by [`Trainer::resume_latest`], the temporary files of killed writers
//!   removed), a NaN guard that stops or, with [`OnNan::RollBack`], returns to the
//!   last checkpoint with a lower learning rate.
//! * Files: [`model_file`] (a trained model with its configuration, loaded without
//!   knowing its sizes), [`npy`] (NumPy's `.npy` and `.npz`).
//!
//! ## The update rules
//!
//! With gradient $g_t$ (plus $\lambda\theta_{t-1}$ for L2 weight decay), step size
//! $\gamma$ and update count $t$ of the parameter:
//!
//! **Adam** (Kingma & Ba 2015, Algorithm 1):
//! $$ m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\quad v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\quad
//!    \theta_t = \theta_{t-1} - \gamma\,\frac{m_t/(1-\beta_1^t)}{\sqrt{v_t/(1-\beta_2^t)} + \epsilon}. $$
//!
//! **AdamW** (Loshchilov & Hutter 2019, Algorithm 2) first decays the parameter,
//! $\theta \leftarrow \theta(1 - \gamma\lambda)$, then takes the Adam step without
//! $\lambda$ in the gradient: the decay is not divided by $\sqrt{\hat v}$.
//!
//! **Adamax** (Kingma & Ba 2015, Algorithm 2, Section 7.1) replaces the second
//! moment by an exponentially weighted infinity norm:
//! $$ u_t = \max(\beta_2 u_{t-1}, |g_t| + \epsilon),\qquad \theta_t = \theta_{t-1} - \frac{\gamma}{1-\beta_1^t}\,\frac{m_t}{u_t}. $$
//!
//! **SGD** with momentum $\mu$, dampening $\tau$ (Sutskever et al. 2013 for Nesterov):
//! $b_1 = g_1$, $b_t = \mu b_{t-1} + (1-\tau) g_t$, and $\theta_t = \theta_{t-1} -
//! \gamma b_t$, or $-\gamma(g_t + \mu b_t)$ with Nesterov.
//!
//! **RMSprop**: $v_t = \alpha v_{t-1} + (1-\alpha) g_t^2$, $\theta_t = \theta_{t-1} -
//! \gamma g_t / (\sqrt{v_t} + \epsilon)$; centred, $v_t$ is replaced by $v_t - \bar
//! g_t^2$ with $\bar g_t$ the running mean of $g$; with momentum, the step goes
//! through a buffer $b_t = \mu b_{t-1} + g_t/(\sqrt{v_t}+\epsilon)$.
//!
//! The tests check the first updates of each rule against values worked out by hand
//! from these formulas.
//!
//! ## Reproducibility
//!
//! A [`Trainer`] draws everything random from two ChaCha8 generators seeded by the
//! user: one shuffles each epoch, one gives each step a seed from which every
//! shard's noise generator ([`StepCtx::rng`]) is derived. Schedules are functions of
//! the step count. A checkpoint holds parameters, optimizer buffers, counters and
//! both generators, so training `2N` steps, or `N` steps, saving, loading into fresh
//! objects and training `N` more, gives identical parameters (a test checks exact
//! equality).
//!
//! ## Example
//!
//! Least squares $y = 2x - 1$ with Adam:
//!
//! ```
//! use autodiff::{Loss, ParamStore, Session, Tensor};
//! use autodiff::ndarray::Array2;
//! use autodiff::data::Rows;
//! use trainers::{Adam, Optim, Trainer};
//!
//! let x = Array2::from_shape_fn((64, 1), |(i, _)| i as f64 / 32.0 - 1.0);
//! let y = x.mapv(|v| 2.0 * v - 1.0);
//! let data = Rows::new(vec![x, y])?;
//!
//! let mut store = ParamStore::new();
//! let w = store.add("w", Array2::zeros((1, 1)))?;
//! let b = store.add("b", Array2::zeros((1, 1)))?;
//! let adam = Optim::new(Adam { lr: 0.05, ..Adam::default() })?;
//!
//! let mut trainer = Trainer::new(store, adam, 0).epochs(150).batch_size(16).progress_bar(false);
//! let summary = trainer.fit(&data, |s, batch, _ctx| {
//!     let (x, y) = (s.constant(batch.arrays[0].clone()), s.constant(batch.arrays[1].clone()));
//!     let pred = x.matmul(&s.param(w)?)?.add(&s.param(b)?)?;
//!     Ok(Loss::mean(&pred.sub(&y)?.square()))
//! })?;
//! assert_eq!(summary.steps, 150 * 4);
//! assert!((trainer.store().get(w)?[(0, 0)] - 2.0).abs() < 1e-3);
//! assert!((trainer.store().get(b)?[(0, 0)] + 1.0).abs() < 1e-3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

mod anneal;
pub mod checkpoint;
mod clip;
mod early_stop;
mod error;
pub mod metrics;
pub mod model_file;
pub mod npy;
mod on_nan;
pub mod optim;
pub mod parallel;
pub mod safetensors;
mod schedule;
mod trainer;

pub use anneal::KlAnneal;
pub use checkpoint::TrainState;
pub use clip::{clip_grad_norm, clip_grad_value};
pub use early_stop::{EarlyStopping, Mode, Verdict};
pub use error::{BoxError, Error, Result};
pub use on_nan::{OnNan, RolledBack};
pub use optim::{
    Adam, AdamCorrections, AdamW, Adamax, Optim, Optimizer, OptimizerState, RmsProp, Sgd, UpdateRule,
};
pub use parallel::{Evaluation, StepCtx, evaluate, loss_fn};
pub use schedule::Schedule;
pub use trainer::{Clip, Control, EpochReport, Every, FitSummary, StepReport, StopReason, Trainer};
