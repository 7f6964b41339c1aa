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
//! network (a tighter lower bound). The SRNN paper reports about -4.74 on this test
//! split for SRNN.
//!
//! Run: `cargo run --release --example 05_jsb_chorales -- [path/to/jsb_chorales.json]
//! [--models rnn,vrnn,srnn,srnn-ref,wavenet] [--minutes M] [--epochs N] [--decay G] [--shards K]
//! [--quick]`.
//! The data default to `../shared/data/jsb_chorales/jsb_chorales.json` beside the
//! workspace (they are not part of the project). `--minutes` is a training-time
//! budget per model; `--hidden H` and `--z Z` change the widths (`--hidden` is also
//! the WaveNet's channels, 64 by default), `--tag T` appends `T`
//! to the names of the run's files, `--epochs N` and `--decay G` override the recipe
//! (the rate is divided by `G` per epoch after the 20th), `--shards K` splits each
//! batch over `K` threads;
//! `--quick` trains tiny models for two epochs on a handful of sequences (seconds).
//! Writes `target/runs/05_jsb_chorales/<model>.json` (curves and results; quick runs
//! write to `05_jsb_chorales_quick/` and add `_quick` to the plots' names),
//! `target/plots/05_jsb_validation.png` (validation bound per epoch of every model
//! run so far, from epoch 5) and `target/plots/05_jsb_<model>_generated.png` (sampled piano rolls,
//! time to the right, low notes at the bottom).

use autodiff::data::Dataset;
use autodiff::ndarray::{Array2, Axis, concatenate};
use autodiff::{NoGrad, ParamStore};
use latent_seq::plot::{self, Axes, Series};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use seqmodels::data::{NOTES, load_polyphonic};
use seqmodels::{
    CellKind, GruConvention, RnnConfig, RnnModel, SequenceModel, Srnn, SrnnConfig, Vrnn, VrnnConfig, WaveNet,
    WaveNetConfig, WaveNetOutput,
};
use seqmodels::{SeqBatch, Sequences};
use serde_json::json;
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::Instant;
use trainers::{Adam, Clip, Control, EarlyStopping, KlAnneal, Mode, Optim, Schedule, Trainer};

type BoxResult<T> = Result<T, trainers::BoxError>;

/// Command-line settings.
struct Args {
    path: PathBuf,
    models: Vec<String>,
    minutes: f64,
    /// Overrides of the recipe's epochs and learning-rate decay.
    epochs: Option<u64>,
    decay: Option<f64>,
    quick: bool,
    /// Overrides of the state and latent widths (300 and 100 by default).
    hidden: Option<usize>,
    z: Option<usize>,
    /// A suffix for the names of the run's files, to keep variants apart.
    tag: String,
    /// Data-parallel shards per training step (one per core helps with long sequences).
    shards: usize,
}

fn parse_args() -> BoxResult<Args> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut args = Args {
        path: root.join("../shared/data/jsb_chorales/jsb_chorales.json"),
        models: ["rnn", "vrnn", "srnn", "srnn-ref", "wavenet"].map(String::from).to_vec(),
        minutes: 20.0,
        epochs: None,
        decay: None,
        quick: false,
        hidden: None,
        z: None,
        tag: String::new(),
        shards: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--quick" => args.quick = true,
            "--models" => args.models = value("--models")?.split(',').map(str::to_owned).collect(),
            "--minutes" => args.minutes = value("--minutes")?.parse()?,
            "--epochs" => args.epochs = Some(value("--epochs")?.parse()?),
            "--decay" => {
                let g: f64 = value("--decay")?.parse()?;
                if !(g.is_finite() && g > 0.0) {
                    return Err(format!("--decay must be a positive factor, got {g}").into());
                }
                args.decay = Some(g);
            }
            "--hidden" => args.hidden = Some(value("--hidden")?.parse()?),
            "--z" => args.z = Some(value("--z")?.parse()?),
            "--tag" => args.tag = value("--tag")?,
            "--shards" => args.shards = value("--shards")?.parse()?,
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}").into()),
            path => args.path = PathBuf::from(path),
        }
    }
    Ok(args)
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

/// The splits as `trainers` sequences, cut to a handful in quick mode.
struct Splits {
    train: Sequences,
    valid: Sequences,
    test: Sequences,
}

/// `(sum over sequences, total steps)` of a per-sequence score, in batches of 32.
fn score<F>(data: &Sequences, mut f: F) -> BoxResult<f64>
where
    F: FnMut(&SeqBatch) -> BoxResult<Array2<f64>>,
{
    let (mut total, mut steps) = (0.0, 0usize);
    let idx: Vec<usize> = (0..data.len()).collect();
    for chunk in idx.chunks(32) {
        let batch = data.batch(chunk);
        total += f(&batch)?.view().sum();
        steps += batch.lengths().iter().sum::<usize>();
    }
    Ok(total / steps as f64)
}

/// The ELBO in nats per step over a split (one sample of the latent path per sequence).
fn elbo_per_step<M: SequenceModel>(
    model: &M,
    store: &ParamStore,
    data: &Sequences,
    seed: u64,
) -> BoxResult<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let s = NoGrad::new(store);
    score(data, |b| Ok(model.elbo(&s, b, &mut rng)?.elbo()?))
}

/// The importance-sampled log-likelihood in nats per step over a split.
fn is_per_step<M: SequenceModel>(
    model: &M,
    store: &ParamStore,
    data: &Sequences,
    k: usize,
) -> BoxResult<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    score(data, |b| Ok(model.log_likelihood(store, b, k, &mut rng)?))
}

/// Trains `model`, keeps the best epoch on validation, evaluates on test, writes the
/// run's JSON and its generated piano rolls.
fn run<M: SequenceModel + Sync>(
    name: &str,
    model: &M,
    store: ParamStore,
    latent: bool,
    splits: &Splits,
    setup: &Setup,
    recipe: &Recipe,
    args: &Args,
) -> BoxResult<()> {
    let out_dir = runs_dir(args.quick);
    std::fs::create_dir_all(&out_dir)?;
    let n_params = store.num_scalars();
    let steps_per_epoch = splits.train.len().div_ceil(setup.batch) as u64;
    let curve = RefCell::new(Vec::new());
    let started = Instant::now();
    let budget = args.minutes * 60.0;
    let recipe = Recipe {
        epochs: args.epochs.unwrap_or(recipe.epochs),
        decay: args.decay.unwrap_or(recipe.decay),
        ..*recipe
    };
    let adam = Optim::new(Adam { lr: 1e-3, eps: recipe.adam_eps, ..Adam::default() })?;
    let mut trainer = Trainer::new(store, adam, 0)
        .epochs(if args.quick { 2 } else { recipe.epochs })
        .schedule(recipe.schedule(steps_per_epoch))
        .batch_size(setup.batch)
        .shards(args.shards)
        .clip(Clip::Norm(setup.clip))
        .kl_anneal(KlAnneal::Linear { start: 0.2, end: 1.0, steps: 20 * steps_per_epoch })
        .early_stopping(EarlyStopping::new(if args.quick { 5 } else { 40 }, 0.0, Mode::Max)?, "val_elbo")
        .on_step(|_| {
            Ok(if started.elapsed().as_secs_f64() > budget { Control::Stop } else { Control::Continue })
        })
        .on_epoch(|report| {
            let val = elbo_per_step(model, report.store, &splits.valid, 1)?;
            report.metrics.insert("val_elbo".into(), val);
            let secs = started.elapsed().as_secs_f64();
            curve.borrow_mut().push((report.epoch as f64, report.train_loss, val, secs));
            if !args.quick {
                println!(
                    "{name} epoch {:>3}: train loss {:.4} nats/step, valid ELBO {val:.4}, {secs:.0} s",
                    report.epoch, report.train_loss
                );
            }
            Ok(Control::Continue)
        });
    let summary = trainer.fit(&splits.train, |s, batch: &SeqBatch, ctx| {
        let bound = model.elbo(s, batch, &mut ctx.rng)?;
        Ok(bound.loss_per_step(ctx.kl_weight)?)
    })?;
    let train_secs = started.elapsed().as_secs_f64();
    let store = trainer.into_store();
    let (best_val, best_epoch) = summary.best.unwrap_or((f64::NAN, 0));
    let test_elbo = elbo_per_step(model, &store, &splits.test, 2)?;
    let test_is =
        if latent { Some(is_per_step(model, &store, &splits.test, setup.particles)?) } else { None };
    let eval_secs = started.elapsed().as_secs_f64() - train_secs;
    match test_is {
        Some(is) => println!(
            "{name}: test ELBO {test_elbo:.4}, importance-sampled (K = {}) {is:.4} nats/step; best valid ELBO \
             {best_val:.4} at epoch {best_epoch}/{}; {n_params} parameters; {train_secs:.0} s training, \
             {eval_secs:.0} s evaluation",
            setup.particles, summary.epochs
        ),
        None => println!(
            "{name}: test log-likelihood {test_elbo:.4} nats/step (exact); best valid {best_val:.4} at epoch \
             {best_epoch}/{}; {n_params} parameters; {train_secs:.0} s training",
            summary.epochs
        ),
    }
    let curve = curve.into_inner();
    let record = json!({
        "model": name, "parameters": n_params, "epochs": summary.epochs, "steps": summary.steps,
        "best_epoch": best_epoch, "best_valid_elbo": best_val, "test_elbo": test_elbo,
        "test_importance_sampled": test_is, "particles": setup.particles,
        "train_seconds": train_secs, "eval_seconds": eval_secs, "quick": args.quick,
        "curve": curve.iter().map(|c| json!({"epoch": c.0, "train_loss": c.1, "valid_elbo": c.2, "seconds": c.3})).collect::<Vec<_>>(),
    });
    let name = format!("{name}{}", args.tag);
    std::fs::write(out_dir.join(format!("{name}.json")), serde_json::to_string_pretty(&record)?)?;

    // Four sampled chorales of 64 steps, stacked, pitch upwards, separated by a gap.
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let samples = model.generate(&store, 4, 64, &mut rng)?;
    let mut blocks = Vec::new();
    for b in 0..4 {
        let roll = Array2::from_shape_fn((NOTES, samples.len()), |(p, t)| samples[t][(b, NOTES - 1 - p)]);
        blocks.push(roll);
        blocks.push(Array2::from_elem((2, samples.len()), 0.5));
    }
    let views: Vec<_> = blocks.iter().map(|b| b.view()).collect();
    let quick = if args.quick { "_quick" } else { "" };
    let path = plot::plots_dir()?.join(format!("05_jsb_{name}_generated{quick}.png"));
    plot::image(&path, &concatenate(Axis(0), &views)?, 3)?;
    println!("{name}: generated piano rolls in {}", path.display());
    Ok(())
}

/// Where runs write their results; quick runs (CI) keep out of the full runs' way.
fn runs_dir(quick: bool) -> PathBuf {
    let name = if quick { "05_jsb_chorales_quick" } else { "05_jsb_chorales" };
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/runs").join(name)
}

/// The validation curves of every run file in the runs directory, on one chart.
fn plot_curves(quick: bool) -> BoxResult<()> {
    let dir = runs_dir(quick);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    // The first epochs (around -50 nats) would set the scale and flatten the rest.
    let first_epoch = if quick { 0.0 } else { 5.0 };
    let mut series = Vec::new();
    for file in files {
        let run: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file)?)?;
        let pts = run["curve"]
            .as_array()
            .map(|c| {
                c.iter()
                    .filter_map(|p| Some((p["epoch"].as_f64()?, p["valid_elbo"].as_f64()?)))
                    .filter(|&(epoch, _)| epoch >= first_epoch)
                    .collect()
            })
            .unwrap_or_default();
        let name = file.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        series.push(Series::new(format!("{name} (valid ELBO)"), pts));
    }
    let path =
        plot::plots_dir()?.join(if quick { "05_jsb_validation_quick.png" } else { "05_jsb_validation.png" });
    let title = if quick {
        "JSB Chorales: validation bound"
    } else {
        "JSB Chorales: validation bound (from epoch 5)"
    };
    let axes = Axes { title, x: "epoch", y: "nats per time step", log_y: false };
    plot::line_chart(&path, &axes, &series)?;
    println!("validation curves: {}", path.display());
    Ok(())
}

fn main() -> BoxResult<()> {
    let args = parse_args()?;
    let rolls = load_polyphonic(&args.path)?;
    let cut = |v: &[Array2<f64>], n: usize| -> BoxResult<Sequences> {
        let n = if args.quick { n.min(v.len()) } else { v.len() };
        Ok(Sequences::new(v[..n].to_vec())?)
    };
    let splits =
        Splits { train: cut(&rolls.train, 8)?, valid: cut(&rolls.valid, 4)?, test: cut(&rolls.test, 4)? };
    println!(
        "JSB Chorales from {}: {} / {} / {} sequences for training / validation / test{}",
        args.path.display(),
        splits.train.len(),
        splits.valid.len(),
        splits.test.len(),
        if args.quick { " (quick mode)" } else { "" }
    );
    let mut setup = if args.quick {
        Setup { hidden: 16, z: 4, batch: 4, clip: 1.0, particles: 4 }
    } else {
        Setup { hidden: 300, z: 100, batch: 16, clip: 1.0, particles: 100 }
    };
    setup.hidden = args.hidden.unwrap_or(setup.hidden);
    setup.z = args.z.unwrap_or(setup.z);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    for name in &args.models {
        let mut store = ParamStore::new();
        match name.as_str() {
            "rnn" => {
                let cell = CellKind::Gru(GruConvention::PyTorch);
                let config = RnnConfig {
                    x_dim: NOTES,
                    hidden: setup.hidden,
                    cell,
                    obs: seqmodels::ObsKind::Bernoulli,
                };
                let model = RnnModel::new(&mut store, "rnn", config, &mut rng)?;
                run(name, &model, store, false, &splits, &setup, &PLAIN, &args)?;
            }
            "vrnn" => {
                let config = VrnnConfig { gru_bias: true, ..VrnnConfig::new(NOTES, setup.hidden, setup.z) };
                let model = Vrnn::new(&mut store, "vrnn", config, &mut rng)?;
                run(name, &model, store, true, &splits, &setup, &PLAIN, &args)?;
            }
            "srnn" => {
                let config = SrnnConfig::new(NOTES, setup.hidden, setup.z, setup.hidden);
                let model = Srnn::new(&mut store, "srnn", config, &mut rng)?;
                run(name, &model, store, true, &splits, &setup, &PLAIN, &args)?;
            }
            "srnn-ref" => {
                // Quick runs keep the recipe but shrink the 500-unit layers.
                let width = if args.quick { setup.hidden } else { 500 };
                let config = SrnnConfig {
                    hidden: width,
                    embed: Some(width),
                    ..SrnnConfig::reference(NOTES, setup.hidden, setup.z, setup.hidden)
                };
                let model = Srnn::new(&mut store, "srnn_ref", config, &mut rng)?;
                run(name, &model, store, true, &splits, &setup, &REFERENCE, &args)?;
            }
            "wavenet" => {
                let (channels, dilations) = if args.quick {
                    (args.hidden.unwrap_or(8), WaveNetConfig::doubling(2, 1))
                } else {
                    (args.hidden.unwrap_or(64), WaveNetConfig::doubling(16, 2))
                };
                let output = WaveNetOutput::Bernoulli { dim: NOTES };
                let config =
                    WaveNetConfig { biases: true, ..WaveNetConfig::new(output, dilations, channels) };
                let model = WaveNet::new(&mut store, "wavenet", config, &mut rng)?;
                run(name, &model, store, false, &splits, &setup, &PLAIN, &args)?;
            }
            other => {
                return Err(format!("unknown model `{other}` (rnn, vrnn, srnn, srnn-ref, wavenet)").into());
            }
        }
    }
    plot_curves(args.quick)
}
