//! # 05: RNN, VRNN, SRNN and WaveNet on the JSB Chorales
//!
//! The polyphonic-music benchmark of Boulanger-Lewandowski et al. (2012) as used by
//! Chung et al. (2015) and Fraccaro et al. (2016): 382 Bach chorales as 88-key
//! binary piano rolls (quarter-note steps), split 229 / 76 / 77. Three models learn
//! `p(x_{1:T})` with Bernoulli outputs:
//!
//! * **RNN**: a GRU whose output distribution depends on the previous state; exact
//!   log-likelihood;
//! * **VRNN** (Chung et al. 2015): a latent variable per step, filtering posterior;
//! * **SRNN** (Fraccaro et al. 2016): GRU `d_t` below a state-space layer `z_t`,
//!   smoothing posterior with Resq, KL annealing from 0.2 over 20 epochs (the
//!   reference code's settings: d 300, z 100, a 300, Adam 1e-3, batch 16, gradient
//!   norm 1);
//! * **SRNN, reference recipe** (`srnn-ref`): the architecture and schedule of the
//!   reference code `MainSRNN_midi.py` as far as they differ from the above: a shared
//!   two-layer input embedding of 500 units, hidden layers of 500 units, the clipped
//!   leaky rectifier, Adam with `eps = 1e-4`, 50 epochs with the learning rate divided
//!   by 1.2 per epoch after the 20th;
//! * **WaveNet** (van den Oord et al. 2016) with Bernoulli outputs: no latent
//!   variable, each step given the last `R` steps through gated causal dilated
//!   convolutions (width 2, dilations 1..16 twice, so `R = 64` steps, 64 channels,
//!   biases); exact log-likelihood, trained with the RNN's plain Adam recipe.
//!
//! Each model is trained on the training split with Adam; the parameters of the
//! epoch with the best validation bound are kept (early stopping). The test
//! log-likelihood is reported in nats per time step: the ELBO and, for the latent
//! models, an importance-sampled estimate with `K` particles from the inference
//! network (a tighter lower bound). The SRNN paper reports about -4.74 for SRNN.
//!
//! **`--protocol reference`** trains and scores as the SRNN code does, on its own copy
//! of the chorales (`jsb_chorales_srnn_reference.json`: eighth-note steps, so about
//! half the steps repeat the one before): the training chorales concatenated into 16
//! streams of 1,700 steps, trained in 17 chunks of 100 steps per epoch, in order, each
//! stream's recurrent and latent states carried from one chunk to the next with the
//! gradients cut at the chunk's start (truncated backpropagation through time,
//! `seqmodels::stream`); validation on its 16 streams of 500 steps; and the test
//! score of the reference, the mean over the first 64 of the 77 test chorales (its
//! four full batches of 16) of each chorale's own per-step ELBO. The same model is
//! also scored the standard way (total nats over total steps of all 77, and
//! importance-sampled). Models: rnn, vrnn, srnn, srnn-ref (the WaveNet carries no
//! state across chunks).
//!
//! Run: `cargo run --release --example 05_jsb_chorales -- [--data FILE]
//! [--models rnn,vrnn,srnn,srnn-ref,wavenet] [--minutes M] [--epochs N] [--decay G]
//! [--hidden H] [--z Z] [--tag T] [--shards K] [--bucket] [--protocol P] [--quick] [--seed N]
//! [--out DIR] [--load FILE]`
//! (`--help` says what each does). The data default to
//! `../shared/data/jsb_chorales/jsb_chorales.json` beside the workspace, or
//! `jsb_chorales_srnn_reference.json` there under the reference protocol (they are not
//! part of the project); any split in that JSON layout works (the run names it by
//! its file). `--minutes` is a training-time budget per model: the steps and the
//! validation after each epoch count, the test evaluation after it does not (it shows
//! a progress bar); the weights scored are the best validated epoch's, or the last
//! ones if the budget ended before the first epoch did. The default run takes 80 to
//! 110 minutes on 2 cores; `--quick` trains tiny models for two epochs on a handful
//! of sequences (seconds). `--bucket` batches sequences of similar lengths (less
//! padding, faster epochs; opt-in, so the published figures stand).
//!
//! Writes to `target/runs/05_jsb_chorales/` (`05_jsb_chorales_reference/` under the
//! reference protocol, `_quick` added for quick runs, or `--out`): `<model>.json`
//! (curves and results), `<model>.safetensors` (the trained model with its
//! configuration: `--load` it, with the `--protocol` it was trained under, to score
//! and sample it again without training; its pictures are named `<model>_loaded`),
//! `05_jsb_validation.png` (validation bound per epoch of every model run so far, from
//! epoch 5 for runs longer than ten epochs) and `05_jsb_<model>_generated.png`
//! (sampled piano rolls, time to the right, low notes at the bottom); quick runs add
//! `_quick` to the pictures' names.

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use latent_seq::ChaCha8Rng;
use latent_seq::autodiff::data::{Dataset, batch_order, bucketed_batch_order, padding_ratio};
use latent_seq::autodiff::ndarray::{Array2, Axis, concatenate, s};
use latent_seq::autodiff::{NoGrad, ParamStore};
use latent_seq::cli::{self, BoxResult, Common};
use latent_seq::plot::{self, Axes, ColourScale, Heatmap, Series};
use latent_seq::rand::SeedableRng;
use latent_seq::seqmodels::data::{NOTES, load_polyphonic};
use latent_seq::seqmodels::stream::{Streams, Tbptt};
use latent_seq::seqmodels::{
    CellKind, GruConvention, RnnConfig, RnnModel, SequenceModel, Srnn, SrnnConfig, Stateful, Vrnn,
    VrnnConfig, WaveNet, WaveNetConfig, WaveNetOutput,
};
use latent_seq::seqmodels::{SeqBatch, Sequences};
use latent_seq::trainers::model_file::{self, ModelMeta};
use latent_seq::trainers::{
    Adam, Clip, Control, EarlyStopping, FitSummary, KlAnneal, Mode, Optim, Schedule, StopReason, Trainer,
};
use serde_json::json;
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// Command-line settings.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    common: Common,
    /// The polyphonic-music split as JSON (train / valid / test piano rolls, as
    /// Boulanger-Lewandowski et al. publish them); by default the protocol's own file
    #[arg(long, value_name = "FILE")]
    data: Option<PathBuf>,
    /// `standard`: whole training chorales in shuffled batches, the test score in
    /// total nats over total steps. `reference`: the SRNN code's protocol on its own
    /// data (16 training streams in 100-step chunks, states carried from chunk to
    /// chunk; the test score the mean over the first 64 test chorales of each one's
    /// per-step bound), reported beside the standard measures
    #[arg(long, value_enum, default_value_t = Protocol::Standard)]
    protocol: Protocol,
    /// Models to train, in order (rnn, vrnn, srnn, srnn-ref, wavenet; the reference
    /// protocol takes those that carry a state). Default: all five, or rnn, vrnn and
    /// srnn-ref under the reference protocol
    #[arg(long, value_delimiter = ',')]
    models: Option<Vec<String>>,
    /// Training time per model, in minutes: the steps and the validation after each
    /// epoch count, the final test evaluation does not
    #[arg(long, default_value_t = 20.0, value_name = "M")]
    minutes: f64,
    /// Most epochs, overriding the recipe's (500, or 50 for srnn-ref)
    #[arg(long, value_name = "N")]
    epochs: Option<u64>,
    /// Division of the learning rate per epoch after the 20th, overriding the recipe's
    /// (1, or 1.2 for srnn-ref)
    #[arg(long, value_name = "G", value_parser = positive_factor)]
    decay: Option<f64>,
    /// State width (300; also the WaveNet's channels, 64 by default)
    #[arg(long, value_name = "H")]
    hidden: Option<usize>,
    /// Latent width (100)
    #[arg(long, value_name = "Z")]
    z: Option<usize>,
    /// A suffix for the names of the run's files, to keep variants apart
    #[arg(long, default_value = "")]
    tag: String,
    /// Data-parallel shards per training step (one per core helps with long sequences)
    #[arg(long, default_value_t = 1, value_name = "K")]
    shards: usize,
    /// Batch sequences of similar lengths (bucketing) instead of in a plain shuffled
    /// order, in training and evaluation: less padding, the same examples per epoch
    #[arg(long)]
    bucket: bool,
}

/// How a run trains and scores.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Protocol {
    /// Whole chorales, the standard quarter-note split.
    Standard,
    /// The SRNN authors' data and protocol (`MainSRNN_midi.py`).
    Reference,
}

impl Protocol {
    /// The name `--protocol` takes.
    fn name(self) -> &'static str {
        match self {
            Protocol::Standard => "standard",
            Protocol::Reference => "reference",
        }
    }

    /// What the data file holds, for a message when it is missing.
    fn data_description(self) -> &'static str {
        match self {
            Protocol::Standard => {
                "the polyphonic-music split (JSB Chorales of Boulanger-Lewandowski et al. 2012, JSON)"
            }
            Protocol::Reference => {
                "the SRNN authors' copy of the JSB Chorales (jsb_chorales_srnn_reference.json: 16 training \
                 streams of equal length, JSON)"
            }
        }
    }

    /// The models a run trains unless `--models` says otherwise.
    fn default_models(self) -> &'static [&'static str] {
        match self {
            Protocol::Standard => &["rnn", "vrnn", "srnn", "srnn-ref", "wavenet"],
            Protocol::Reference => &["rnn", "vrnn", "srnn-ref"],
        }
    }

    /// Fails for a model this protocol cannot train, before anything is trained.
    fn check_model(self, name: &str) -> BoxResult<()> {
        match (self, name) {
            (_, "rnn" | "vrnn" | "srnn" | "srnn-ref") | (Protocol::Standard, "wavenet") => Ok(()),
            (Protocol::Reference, "wavenet") => {
                Err("wavenet carries no recurrent state from one chunk of the \
                 streams to the next: train it under --protocol standard"
                    .into())
            }
            (_, other) => Err(format!("unknown model `{other}` (rnn, vrnn, srnn, srnn-ref, wavenet)").into()),
        }
    }

    /// The data beside the workspace (not part of the project).
    fn default_data(self) -> &'static str {
        match self {
            Protocol::Standard => {
                concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/jsb_chorales/jsb_chorales.json")
            }
            Protocol::Reference => concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../shared/data/jsb_chorales/jsb_chorales_srnn_reference.json"
            ),
        }
    }
}

/// Steps per chunk of the reference protocol's training streams.
const CHUNK: usize = 100;

fn positive_factor(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(g) if g.is_finite() && g > 0.0 => Ok(g),
        _ => Err(format!("a positive factor, got {text}")),
    }
}

/// Sizes and optimisation settings of one run.
struct Setup {
    hidden: usize,
    z: usize,
    batch: usize,
    clip: f64,
    particles: usize,
}

/// The optimisation recipe of one model: Adam at 1e-3 for 20 epochs, then the rate
/// divided by `decay` every epoch.
#[derive(Clone, Copy)]
struct Recipe {
    /// Adam's `eps`.
    adam_eps: f64,
    /// Most epochs (`--epochs` overrides).
    epochs: u64,
    /// Division of the learning rate per epoch after the 20th (1: constant; `--decay`
    /// overrides).
    decay: f64,
}

impl Recipe {
    /// The learning rate over steps, given the steps per epoch.
    fn schedule(&self, per_epoch: u64) -> Schedule {
        Schedule::Step { lr: 1e-3, every: per_epoch, gamma: 1.0 / self.decay }
            .with_warmup(20 * per_epoch, 1.0)
    }
}

/// Adam 1e-3 throughout, until early stopping or the time budget.
const PLAIN: Recipe = Recipe { adam_eps: 1e-8, epochs: 500, decay: 1.0 };

/// `MainSRNN_midi.py`: 50 epochs, Adam `eps = 1e-4`, the rate 1e-3 for 20 epochs, then
/// divided by 1.2 every epoch.
const REFERENCE: Recipe = Recipe { adam_eps: 1e-4, epochs: 50, decay: 1.2 };

/// The splits, cut to a handful in quick mode.
struct Splits {
    train: Train,
    valid: Sequences,
    test: Sequences,
}

/// The training data: whole chorales, or long streams trained in chunks.
enum Train {
    Sequences(Sequences),
    Streams(Streams),
}

impl Train {
    /// Sequences per batch, batches per epoch, and whether their order is shuffled:
    /// streams go one chunk of every stream per step, in order.
    fn batches(&self, batch: usize) -> (usize, u64, bool) {
        match self {
            Train::Sequences(data) => (batch, data.len().div_ceil(batch) as u64, true),
            Train::Streams(streams) => (1, streams.len() as u64, false),
        }
    }

    /// The whole chorales, for a model that trains on nothing else (the protocols
    /// that train on streams refuse such models before training).
    fn sequences(&self) -> &Sequences {
        match self {
            Train::Sequences(data) => data,
            Train::Streams(_) => panic!("Protocol::check_model lets only stateful models train on streams"),
        }
    }
}

/// Fits `model` to whole chorales on the per-step bound.
fn fit_sequences<M: SequenceModel + Sync>(
    model: &M,
    trainer: &mut Trainer<'_>,
    data: &Sequences,
) -> BoxResult<FitSummary> {
    Ok(trainer.fit(data, |s, batch: &SeqBatch, ctx| {
        Ok(model.elbo(s, batch, &mut ctx.rng)?.loss_per_step(ctx.kl_weight)?)
    })?)
}

/// Fits a model that can carry its state: to whole chorales, or to the chunks of
/// the streams in order, each continuing from the states of the chunk before
/// (truncated backpropagation through time).
fn fit_stateful<M: Stateful + Sync>(
    model: &M,
    trainer: &mut Trainer<'_>,
    train: &Train,
) -> BoxResult<FitSummary> {
    match train {
        Train::Sequences(data) => fit_sequences(model, trainer, data),
        Train::Streams(streams) => {
            let tbptt = Tbptt::new(model, streams);
            Ok(trainer.fit(streams, |s, chunk, ctx| {
                Ok(tbptt.elbo(s, chunk, &mut ctx.rng)?.loss_per_step(ctx.kl_weight)?)
            })?)
        }
    }
}

/// A score and the number of steps of every sequence of a split, in batches of 32,
/// with a progress bar on the terminal (the importance-sampled score of a large model
/// takes minutes) labelled `what`.
fn per_sequence<F>(data: &Sequences, what: &str, mut f: F) -> BoxResult<Vec<(f64, usize)>>
where
    F: FnMut(&SeqBatch) -> BoxResult<Array2<f64>>,
{
    let mut scores = Vec::with_capacity(data.len());
    let idx: Vec<usize> = (0..data.len()).collect();
    let bar = ProgressBar::new(data.len() as u64).with_message(what.to_owned());
    bar.set_style(ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} sequences, {elapsed}")?);
    for chunk in idx.chunks(32) {
        let batch = data.batch(chunk);
        scores.extend(f(&batch)?.iter().copied().zip(batch.lengths().iter().copied()));
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(scores)
}

/// Nats per step: the scores summed over the sequences, divided by their total steps.
fn per_step(scores: &[(f64, usize)]) -> f64 {
    let (total, steps) = scores.iter().fold((0.0, 0), |(t, n), &(v, len)| (t + v, n + len));
    total / steps as f64
}

/// The test batch of the reference code: its score covers `len / 16` full batches.
const REFERENCE_BATCH: usize = 16;

/// The reference code's test score: the mean over the sequences of its full test
/// batches (the first 64 of 77) of each sequence's own per-step score; over all of
/// them when there is no full batch (quick runs). Returns the score and the count.
fn reference_mean(scores: &[(f64, usize)]) -> (f64, usize) {
    let full = scores.len() - scores.len() % REFERENCE_BATCH;
    let n = if full == 0 { scores.len() } else { full };
    (scores[..n].iter().map(|&(v, len)| v / len as f64).sum::<f64>() / n as f64, n)
}

/// The ELBO of every sequence of a split (one sample of the latent path each).
fn elbo_scores<M: SequenceModel>(
    model: &M,
    store: &ParamStore,
    data: &Sequences,
    seed: u64,
) -> BoxResult<Vec<(f64, usize)>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let s = NoGrad::new(store);
    per_sequence(data, "ELBO", |b| Ok(model.elbo(&s, b, &mut rng)?.elbo()?))
}

/// The importance-sampled log-likelihood in nats per step over a split.
fn is_per_step<M: SequenceModel>(
    model: &M,
    store: &ParamStore,
    data: &Sequences,
    k: usize,
    seed: u64,
) -> BoxResult<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let scores = per_sequence(data, &format!("importance sampling, K = {k}"), |b| {
        Ok(model.log_likelihood(store, b, k, &mut rng)?)
    })?;
    Ok(per_step(&scores))
}

/// Trains `model`, keeps the best epoch on validation, evaluates on test, writes the
/// run's JSON and its generated piano rolls.
fn run<M: SequenceModel + Sync>(
    name: &str,
    model: &M,
    fit: impl FnOnce(&mut Trainer<'_>) -> BoxResult<FitSummary>,
    store: ParamStore,
    latent: bool,
    splits: &Splits,
    setup: &Setup,
    recipe: &Recipe,
    args: &Args,
    out_dir: &Path,
    meta: ModelMeta,
) -> BoxResult<()> {
    let seed = args.common.seed;
    let n_params = store.num_scalars();
    let (batch_size, steps_per_epoch, shuffle) = splits.train.batches(setup.batch);
    let curve = RefCell::new(Vec::new());
    let started = Instant::now();
    let budget = args.minutes * 60.0;
    let recipe = Recipe {
        epochs: args.epochs.unwrap_or(recipe.epochs),
        decay: args.decay.unwrap_or(recipe.decay),
        ..*recipe
    };
    let adam = Optim::new(Adam { lr: 1e-3, eps: recipe.adam_eps, ..Adam::default() })?;
    let mut trainer = Trainer::new(store, adam, seed)
        .epochs(if args.common.quick { 2 } else { recipe.epochs })
        .schedule(recipe.schedule(steps_per_epoch))
        .batch_size(batch_size)
        .shuffle(shuffle)
        .shards(args.shards)
        .bucket_by_length(args.bucket)
        .clip(Clip::Norm(setup.clip))
        .kl_anneal(KlAnneal::Linear { start: 0.2, end: 1.0, steps: 20 * steps_per_epoch })
        .early_stopping(
            EarlyStopping::new(if args.common.quick { 5 } else { 40 }, 0.0, Mode::Max)?,
            "val_elbo",
        )
        .on_step(|_| {
            Ok(if started.elapsed().as_secs_f64() > budget { Control::Stop } else { Control::Continue })
        })
        .on_epoch(|report| {
            let val = per_step(&elbo_scores(model, report.store, &splits.valid, seed + 1)?);
            report.metrics.insert("val_elbo".into(), val);
            let secs = started.elapsed().as_secs_f64();
            curve.borrow_mut().push((report.epoch as f64, report.train_loss, val, secs));
            if !args.common.quick {
                report.println(format!(
                    "{name} epoch {:>3}: train loss {:.4} nats/step, valid ELBO {val:.4}, {secs:.0} s",
                    report.epoch, report.train_loss
                ));
            }
            Ok(Control::Continue)
        });
    let summary = fit(&mut trainer)?;
    let train_secs = started.elapsed().as_secs_f64();
    let store = trainer.into_store();
    let (best_val, best_epoch) = summary.best.unwrap_or((f64::NAN, 0));
    println!("{name}: {}", selection(&summary, steps_per_epoch, args.minutes));
    let file_name = format!("{name}{}", args.tag);
    let saved = out_dir.join(format!("{file_name}.safetensors"));
    model_file::save(&saved, &meta, &store)?;
    println!("{name}: model saved as {} (score it again with --load)", saved.display());
    let scores = score_test(name, model, &store, latent, splits, setup, args.protocol, seed)?;
    println!("{name}: {n_params} parameters; {train_secs:.0} s training, {:.0} s evaluation", scores.seconds);
    let curve = curve.into_inner();
    let record = json!({
        "model": name, "parameters": n_params, "epochs": summary.epochs, "steps": summary.steps,
        "best_epoch": best_epoch, "best_valid_elbo": best_val, "test_elbo": scores.elbo,
        "test_importance_sampled": scores.importance_sampled, "particles": setup.particles,
        "protocol": args.protocol.name(), "test_reference_score": scores.reference.map(|r| r.0),
        "test_reference_sequences": scores.reference.map(|r| r.1),
        "train_seconds": train_secs, "eval_seconds": scores.seconds, "quick": args.common.quick,
        "curve": curve.iter().map(|c| json!({"epoch": c.0, "train_loss": c.1, "valid_elbo": c.2, "seconds": c.3})).collect::<Vec<_>>(),
    });
    std::fs::write(out_dir.join(format!("{file_name}.json")), serde_json::to_string_pretty(&record)?)?;
    draw_samples(&file_name, model, &store, seed, out_dir, args.common.quick)
}

/// Test scores of one model, nats per step.
struct Scores {
    elbo: f64,
    importance_sampled: Option<f64>,
    /// The reference protocol's score and the number of sequences it covers.
    reference: Option<(f64, usize)>,
    seconds: f64,
}

/// Scores `model` on the test split (the ELBO, and for a latent model the
/// importance-sampled bound with `setup.particles` particles; under the reference
/// protocol also its score, from the same ELBOs) and prints them.
fn score_test<M: SequenceModel>(
    name: &str,
    model: &M,
    store: &ParamStore,
    latent: bool,
    splits: &Splits,
    setup: &Setup,
    protocol: Protocol,
    seed: u64,
) -> BoxResult<Scores> {
    let started = Instant::now();
    let elbos = elbo_scores(model, store, &splits.test, seed + 2)?;
    let elbo = per_step(&elbos);
    let reference = (protocol == Protocol::Reference).then(|| reference_mean(&elbos));
    if let Some((score, n)) = reference {
        println!(
            "{name}: reference score {score:.4} nats/step (mean over the first {n} test chorales of each one's \
             per-step ELBO)"
        );
    }
    let importance_sampled = if latent {
        Some(is_per_step(model, store, &splits.test, setup.particles, seed + 17)?)
    } else {
        None
    };
    match importance_sampled {
        Some(is) => println!(
            "{name}: test ELBO {elbo:.4}, importance-sampled (K = {}) {is:.4} nats/step",
            setup.particles
        ),
        None => println!("{name}: test log-likelihood {elbo:.4} nats/step (exact)"),
    }
    Ok(Scores { elbo, importance_sampled, reference, seconds: started.elapsed().as_secs_f64() })
}

/// Four sampled chorales of 64 steps, stacked, pitch upwards, separated by a gap.
fn draw_samples<M: SequenceModel>(
    name: &str,
    model: &M,
    store: &ParamStore,
    seed: u64,
    out_dir: &Path,
    quick: bool,
) -> BoxResult<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed + 5);
    let samples = model.generate(store, 4, 64, &mut rng)?;
    let mut blocks = Vec::new();
    for b in 0..4 {
        let roll = Array2::from_shape_fn((NOTES, samples.len()), |(p, t)| samples[t][(b, NOTES - 1 - p)]);
        blocks.push(roll);
        blocks.push(Array2::from_elem((2, samples.len()), 0.5));
    }
    let views: Vec<_> = blocks.iter().map(|b| b.view()).collect();
    let rolls = concatenate(Axis(0), &views)?;
    let (height, steps) = rolls.dim();
    let title = format!("{name}: four sampled chorales, stacked (88 keys each, low notes at the bottom)");
    let panel = Heatmap {
        title: &title,
        values: &rolls,
        x: ("time step", 0.0, steps as f64),
        y: ("key, four chorales stacked", 0.0, height as f64),
        scale: ColourScale::Fixed(0.0, 1.0),
        colour_bar: "note on",
    };
    let quick = if quick { "_quick" } else { "" };
    let path = out_dir.join(format!("05_jsb_{name}_generated{quick}.png"));
    plot::heatmaps(&path, &[panel], 1, (4 * steps as u32 + 260, 2 * height as u32 + 90))?;
    println!("{name}: generated piano rolls in {}", path.display());
    Ok(())
}

/// `--load`: scores and samples a saved model of any of the example's kinds, no
/// training.
fn load_and_score(file: &Path, splits: &Splits, setup: &Setup, args: &Args, out_dir: &Path) -> BoxResult<()> {
    let (meta, _) = model_file::read(file)?;
    let kind = meta.kind.as_str();
    let seed = args.common.seed;
    // The generator only fills parameters that the file then overwrites.
    let mut throwaway = ChaCha8Rng::seed_from_u64(0);
    let rng = &mut throwaway;
    println!("{kind}: loaded from {}; no training", file.display());
    macro_rules! load_then {
        ($model:ty, $prefix:expr, $latent:expr) => {{
            let (model, store) = model_file::load(file, kind, |store, config| {
                Ok(<$model>::new(store, $prefix, config, rng)?)
            })?;
            score_test(kind, &model, &store, $latent, splits, setup, args.protocol, seed)?;
            draw_samples(&format!("{kind}_loaded"), &model, &store, seed, out_dir, args.common.quick)
        }};
    }
    match kind {
        "rnn" => load_then!(RnnModel, "rnn", false),
        "vrnn" => load_then!(Vrnn, "vrnn", true),
        "srnn" => load_then!(Srnn, "srnn", true),
        "srnn-ref" => load_then!(Srnn, "srnn_ref", true),
        "wavenet" => load_then!(WaveNet, "wavenet", false),
        other => Err(format!("{}: a `{other}` model, not one of this example's", file.display()).into()),
    }
}

/// Which weights a run scores, and why: the best epoch on validation, or, when the
/// time budget ended before any epoch did, the last weights.
fn selection(summary: &FitSummary, steps_per_epoch: u64, minutes: f64) -> String {
    let unvalidated = summary.steps.saturating_sub(summary.epochs * steps_per_epoch);
    match summary.best {
        None => format!(
            "no epoch completed within the {minutes}-minute budget: scoring the last weights, after {} steps",
            summary.steps
        ),
        Some((val, epoch)) if summary.reason == StopReason::Callback && unvalidated > 0 => format!(
            "best valid ELBO {val:.4} at epoch {epoch}/{}; the budget ended {unvalidated} steps into epoch {}, \
             whose weights were never validated and are not kept",
            summary.epochs,
            summary.epochs + 1
        ),
        Some((val, epoch)) => format!("best valid ELBO {val:.4} at epoch {epoch}/{}", summary.epochs),
    }
}

/// The validation curves of every run file in the runs directory, on one chart. A
/// run of more than ten epochs is drawn from epoch 5 (the first epochs, around -50
/// nats, would set the scale and flatten the rest); a shorter one whole; with no
/// point to draw, the chart is skipped with a note.
fn plot_curves(dir: &Path, set: &str, quick: bool) -> BoxResult<()> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut series = Vec::new();
    for file in files {
        let run: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file)?)?;
        let pts: Vec<(f64, f64)> = run["curve"]
            .as_array()
            .map(|c| {
                c.iter().filter_map(|p| Some((p["epoch"].as_f64()?, p["valid_elbo"].as_f64()?))).collect()
            })
            .unwrap_or_default();
        let first_epoch = if pts.len() > 10 { 5.0 } else { 0.0 };
        let pts: Vec<_> =
            pts.into_iter().filter(|&(epoch, v)| epoch >= first_epoch && v.is_finite()).collect();
        if !pts.is_empty() {
            let name = file.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            series.push(Series::new(format!("{name} (valid ELBO)"), pts));
        }
    }
    if series.is_empty() {
        println!("validation curves: no completed epoch to draw, chart skipped");
        return Ok(());
    }
    let path = dir.join(if quick { "05_jsb_validation_quick.png" } else { "05_jsb_validation.png" });
    let title = format!("{set}: validation bound per epoch");
    let axes = Axes { title: &title, x: "epoch", y: "nats per time step", log_y: false };
    plot::line_chart(&path, &axes, &series)?;
    println!("validation curves: {}", path.display());
    Ok(())
}

fn main() -> ExitCode {
    let about = "RNN, VRNN, SRNN and WaveNet on the JSB Chorales piano rolls: test nats per step (ELBO and \
                 importance-sampled). Default: five models, up to 20 minutes of training each plus evaluation, \
                 about 80 to 110 minutes.";
    cli::main(about, main_run)
}

fn main_run(args: Args) -> BoxResult<()> {
    let protocol = args.protocol;
    let models: Vec<String> = match &args.models {
        Some(models) => models.clone(),
        None => protocol.default_models().iter().map(|m| m.to_string()).collect(),
    };
    for name in &models {
        protocol.check_model(name)?;
    }
    if protocol == Protocol::Reference && args.bucket {
        return Err(
            "--bucket batches whole chorales by length; the reference protocol trains on streams".into()
        );
    }
    let reference = if protocol == Protocol::Reference { "_reference" } else { "" };
    let quick = if args.common.quick { "_quick" } else { "" };
    let out = args.common.start(&format!("05_jsb_chorales{reference}{quick}"))?;
    let data = cli::require_file(
        args.data.as_deref().unwrap_or(Path::new(protocol.default_data())),
        protocol.data_description(),
        "--data",
    )?;
    let rolls = load_polyphonic(&data)?;
    let set = data_name(&data);
    // Quick runs keep `n` sequences of at most `steps` steps.
    let cut = |v: &[Array2<f64>], n: usize, steps: usize| -> Vec<Array2<f64>> {
        match args.common.quick {
            true => v.iter().take(n).map(|x| x.slice(s![..x.nrows().min(steps), ..]).to_owned()).collect(),
            false => v.to_vec(),
        }
    };
    let sequences = |mut seqs: Vec<Array2<f64>>| -> BoxResult<Sequences> {
        // The standard scores are sums over sequences, so their order is free there:
        // with --bucket the evaluation batches (consecutive sequences) are of similar
        // lengths too. (The reference score reads the first 64 in file order, which
        // is why the reference protocol refuses --bucket.)
        if args.bucket {
            seqs.sort_by_key(Array2::nrows);
        }
        Ok(Sequences::new(seqs)?)
    };
    let train = match protocol {
        Protocol::Standard => Train::Sequences(sequences(cut(&rolls.train, 8, usize::MAX))?),
        Protocol::Reference => Train::Streams(Streams::new(cut(&rolls.train, 4, 2 * CHUNK), CHUNK).map_err(
            |e| format!("{e} (--protocol reference trains on the SRNN authors' file, whose training split is 16 streams of one length)"),
        )?),
    };
    // Quick runs cut the reference protocol's 500-step validation streams too.
    let valid_steps = if protocol == Protocol::Reference { CHUNK } else { usize::MAX };
    let splits = Splits {
        train,
        valid: sequences(cut(&rolls.valid, 4, valid_steps))?,
        test: sequences(cut(&rolls.test, 4, usize::MAX))?,
    };
    let training = match &splits.train {
        Train::Sequences(data) => format!("{} sequences", data.len()),
        Train::Streams(streams) => format!(
            "{} streams of {} steps in {} chunks of {CHUNK}",
            streams.streams(),
            streams.steps(),
            streams.len()
        ),
    };
    println!(
        "{set} from {}, {} protocol: {training} for training, {} / {} sequences for validation / test{}",
        data.display(),
        protocol.name(),
        splits.valid.len(),
        splits.test.len(),
        if args.common.quick { " (quick mode)" } else { "" }
    );
    let mut setup = if args.common.quick {
        Setup { hidden: 16, z: 4, batch: 4, clip: 1.0, particles: 4 }
    } else {
        Setup { hidden: 300, z: 100, batch: 16, clip: 1.0, particles: 100 }
    };
    setup.hidden = args.hidden.unwrap_or(setup.hidden);
    setup.z = args.z.unwrap_or(setup.z);
    if let Train::Sequences(data) = &splits.train {
        let lengths = data.lengths().expect("sequences have lengths");
        let order_rng = &mut ChaCha8Rng::seed_from_u64(args.common.seed);
        let (plain, bucketed) = (
            padding_ratio(&lengths, &batch_order(lengths.len(), setup.batch, true, order_rng)?)?,
            padding_ratio(&lengths, &bucketed_batch_order(&lengths, setup.batch, order_rng)?)?,
        );
        println!(
            "padded steps over real steps per training epoch, batches of {}: {plain:.2} shuffled, {bucketed:.2} \
             bucketed by length{}",
            setup.batch,
            if args.bucket { " (--bucket: this run)" } else { " (--bucket to use it)" }
        );
    }
    if let Some(file) = &args.common.load {
        return load_and_score(file, &splits, &setup, &args, &out);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(args.common.seed);
    for name in &models {
        let mut store = ParamStore::new();
        match name.as_str() {
            "rnn" => {
                let cell = CellKind::Gru(GruConvention::PyTorch);
                let config = RnnConfig {
                    x_dim: NOTES,
                    hidden: setup.hidden,
                    cell,
                    obs: latent_seq::seqmodels::ObsKind::Bernoulli,
                };
                let meta = ModelMeta::new(name, &config)?;
                let model = RnnModel::new(&mut store, "rnn", config, &mut rng)?;
                let fit = |t: &mut Trainer<'_>| fit_stateful(&model, t, &splits.train);
                run(name, &model, fit, store, false, &splits, &setup, &PLAIN, &args, &out, meta)?;
            }
            "vrnn" => {
                let config = VrnnConfig { gru_bias: true, ..VrnnConfig::new(NOTES, setup.hidden, setup.z) };
                let meta = ModelMeta::new(name, &config)?;
                let model = Vrnn::new(&mut store, "vrnn", config, &mut rng)?;
                let fit = |t: &mut Trainer<'_>| fit_stateful(&model, t, &splits.train);
                run(name, &model, fit, store, true, &splits, &setup, &PLAIN, &args, &out, meta)?;
            }
            "srnn" => {
                let config = SrnnConfig::new(NOTES, setup.hidden, setup.z, setup.hidden);
                let meta = ModelMeta::new(name, &config)?;
                let model = Srnn::new(&mut store, "srnn", config, &mut rng)?;
                let fit = |t: &mut Trainer<'_>| fit_stateful(&model, t, &splits.train);
                run(name, &model, fit, store, true, &splits, &setup, &PLAIN, &args, &out, meta)?;
            }
            "srnn-ref" => {
                // Quick runs keep the recipe but shrink the 500-unit layers.
                let width = if args.common.quick { setup.hidden } else { 500 };
                let config = SrnnConfig {
                    hidden: width,
                    embed: Some(width),
                    ..SrnnConfig::reference(NOTES, setup.hidden, setup.z, setup.hidden)
                };
                let meta = ModelMeta::new(name, &config)?;
                let model = Srnn::new(&mut store, "srnn_ref", config, &mut rng)?;
                let fit = |t: &mut Trainer<'_>| fit_stateful(&model, t, &splits.train);
                run(name, &model, fit, store, true, &splits, &setup, &REFERENCE, &args, &out, meta)?;
            }
            "wavenet" => {
                let (channels, dilations) = if args.common.quick {
                    (args.hidden.unwrap_or(8), WaveNetConfig::doubling(2, 1))
                } else {
                    (args.hidden.unwrap_or(64), WaveNetConfig::doubling(16, 2))
                };
                let output = WaveNetOutput::Bernoulli { dim: NOTES };
                let config =
                    WaveNetConfig { biases: true, ..WaveNetConfig::new(output, dilations, channels) };
                let meta = ModelMeta::new(name, &config)?;
                let model = WaveNet::new(&mut store, "wavenet", config, &mut rng)?;
                let fit = |t: &mut Trainer<'_>| fit_sequences(&model, t, splits.train.sequences());
                run(name, &model, fit, store, false, &splits, &setup, &PLAIN, &args, &out, meta)?;
            }
            other => protocol.check_model(other)?,
        }
    }
    plot_curves(&out, &set, args.common.quick)
}

/// The data set's name, from its file: `jsb_chorales.json` is "jsb_chorales".
fn data_name(path: &Path) -> String {
    path.file_stem().map_or_else(|| path.display().to_string(), |s| s.to_string_lossy().into_owned())
}
