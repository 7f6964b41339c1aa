//! # 10: GRU-ODE-Bayes on the double Ornstein-Uhlenbeck toy, against the exact filter
//!
//! De Brouwer et al. (2019), Sec. 5.1: two correlated OU processes (`rho = 0.99`)
//! around means drawn per series, each series observed at 16-23 of 199 grid times,
//! each time showing dimension 1, dimension 2 or both (`seqmodels::toy::double_ou`,
//! the authors' generator, seed 432). The authors' validation protocol: condition
//! each validation series on its observations at `t <= 4`, predict its first
//! observation after 4, and score MSE and Gaussian NLL per observed value. The
//! floor is the exact Bayes predictor, a Kalman filter of the generator with the
//! means in the state (`seqmodels::toy::double_ou_oracle`).
//!
//! **Models**, trained on 80 % of the series (a split seeded with 432), Adam 1e-3
//! with weight decay 5e-4, batches of 500, the authors' settings:
//!
//! * GRU-ODE-Bayes (hidden 50, observation model 25, preparation 25, Euler steps of
//!   0.05 landing on every observation, the pre-jump NLL plus 1e-4 times the
//!   post-jump KL, per observed value);
//! * the same filter with the exact Gaussian jump in place of the learned one
//!   (`Jump::Exact`, observation noise 0.01): its state is a Gaussian over the two
//!   values only, moved by a learned tanh MLP field (50-50). It shows what the
//!   learned jump adds: memory of each series' mean, which a two-dimensional
//!   Gaussian cannot hold;
//! * the ODE-RNN (hidden 50, Euler 0.05), its predictive of fixed standard deviation
//!   0.1, so only its MSE is reported.
//!
//! Differences from the authors' run, stated: their loss is a sum over the batch,
//! here a mean per observed value (with Adam this changes the weight decay's
//! relative strength); 2,000 series by default where they use 10,000 (`--n 10000`);
//! our generator draws with ChaCha8, not numpy, so the series are not theirs. The
//! goal set here: MSE at most 0.008 and NLL at most -1.0 with the default 2,000.
//!
//! Run: `cargo run --release --example 10_gru_ode_bayes_double_ou -- [--n N]
//! [--epochs E] [--iters N] [--quick] [--seed N] [--out DIR]` (50 epochs by default,
//! about 5 minutes). Writes `10_gru_ode_bayes_double_ou.png` to
//! `target/runs/10_gru_ode_bayes_double_ou/` (or `--out`): validation series, their
//! observations, and the filter's predicted mean with a two-standard-deviation band
//! over continuous time, jumping at each observation; and the trained models as
//! `gru_ode_bayes.safetensors` and `ode_rnn.safetensors` (with the run's seed and
//! size): `--load` one to score it on its validation series without training.

use clap::Parser;
use latent_seq::ChaCha8Rng;
use latent_seq::autodiff::ParamStore;
use latent_seq::autodiff::data::split;
use latent_seq::cli::{self, BoxResult, Common, Steps};
use latent_seq::odesolve::{Method, NeuralOdeFunc, SolveOptions};
use latent_seq::plot::{self, Series as Line};
use latent_seq::rand::SeedableRng;
use latent_seq::seqmodels::toy::double_ou_oracle::{
    Means, Prediction, REFERENCE_T_VAL, Score, score, validation_predictions,
};
use latent_seq::seqmodels::toy::{DoubleOuConfig, double_ou};
use latent_seq::seqmodels::{
    GruOdeBayes, GruOdeBayesConfig, IrregularBatch, IrregularSeries, Jump, MlpField, OdeRnn, OdeRnnConfig,
    Series,
};
use latent_seq::trainers::model_file::{self, ModelMeta};
use latent_seq::trainers::{Adam, BoxError, Optim, StepCtx, Trainer};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

/// Validation series drawn in the plot.
const PLOTTED: usize = 3;

/// Command-line settings.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    common: Common,
    /// A cap on the optimizer steps of each model (none by default: every epoch runs)
    #[command(flatten)]
    steps: Steps,
    /// Series generated [default: 2,000; 60 with --quick]
    #[arg(long, value_name = "N")]
    n: Option<usize>,
    /// Epochs per model [default: 50; 2 with --quick]
    #[arg(long, value_name = "E")]
    epochs: Option<u64>,
}

/// The run's size: series generated, epochs, an optional cap on the steps, the seed
/// offset.
struct Settings {
    series: usize,
    epochs: u64,
    batch: usize,
    iters: Option<u64>,
    seed: u64,
}

impl Settings {
    /// From the flags, or, with `--load`, from the saved run's data (its seed,
    /// series and size), so the model is scored on its own validation series.
    fn of(args: &Args, saved: Option<&Run>) -> Self {
        let quick = saved.map_or(args.common.quick, |r| r.quick);
        let (n, e, batch) = if quick { (60, 2, 25) } else { (2_000, 50, 500) };
        Settings {
            series: saved.map_or(args.n.unwrap_or(n), |r| r.series),
            epochs: args.epochs.unwrap_or(e),
            batch,
            iters: args.steps.iters,
            seed: saved.map_or(args.common.seed, |r| r.seed),
        }
    }
}

/// What a saved model was trained on: the run's seed, series generated and size.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Run {
    seed: u64,
    series: usize,
    quick: bool,
}

/// A model file's configuration: the model's own and its run's.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Saved<C> {
    model: C,
    run: Run,
}

/// Each kept validation series' observations at `t <= t_val` and the time of its
/// first observation after: the series the oracle keeps, in the same order.
fn conditioning(data: &IrregularSeries, t_val: f64) -> (Vec<usize>, Vec<Series>, Vec<f64>) {
    let (mut kept, mut seen, mut targets) = (Vec::new(), Vec::new(), Vec::new());
    for (i, s) in data.series().iter().enumerate() {
        let cut = s.times.partition_point(|&t| t <= t_val);
        if cut > 0 && cut < s.times.len() {
            kept.push(i);
            seen.push(s.subsample(&(0..cut).collect::<Vec<_>>()));
            targets.push(s.times[cut]);
        }
    }
    (kept, seen, targets)
}

/// A model's predictive at each kept row's own target time, as the oracle's
/// `Prediction`s: `predict(j, row)` is the mean and variance of `row` at `union[j]`.
fn as_predictions(
    data: &IrregularSeries,
    kept: &[usize],
    targets: &[f64],
    union: &[f64],
    predict: impl Fn(usize, usize) -> ([f64; 2], [f64; 2]),
) -> Vec<Prediction> {
    kept.iter()
        .enumerate()
        .map(|(row, &i)| {
            let s = &data.series()[i];
            let k = s.times.partition_point(|&t| t < targets[row]);
            let j = union.partition_point(|&t| t < targets[row]);
            let (mean, var) = predict(j, row);
            let pair = |v: latent_seq::ndarray::ArrayView1<'_, f64>| [v[0], v[1]];
            Prediction {
                series: i,
                time: targets[row],
                mean,
                var,
                value: pair(s.values.row(k)),
                mask: pair(s.masks.row(k)),
            }
        })
        .collect()
}

fn main() -> ExitCode {
    let about = "GRU-ODE-Bayes on the double-OU toy against the exact Kalman filter, the exact-jump filter and the \
                 ODE-RNN; MSE and NLL at the next observation, and the filtered mean over continuous time. \
                 Default: 2,000 series, 50 epochs per model, about 5 minutes.";
    cli::main(about, run)
}

fn run(args: Args) -> BoxResult<()> {
    let out = args.common.start("10_gru_ode_bayes_double_ou")?;
    // With `--load`, the saved run's data: its configuration says how it was drawn.
    let saved_run: Option<Run> = match &args.common.load {
        Some(file) => {
            let (meta, _) = model_file::read(file)?;
            let saved: Saved<serde_json::Value> = meta.config(&meta.kind, file)?;
            Some(saved.run)
        }
        None => None,
    };
    let set = Settings::of(&args, saved_run.as_ref());
    let config = DoubleOuConfig { series: set.series, ..DoubleOuConfig::default() };
    let data = double_ou(&config, &mut ChaCha8Rng::seed_from_u64(set.seed + 432))?;
    let all = data.to_irregular()?;
    let parts = split(all.series().len(), 0.2, 0.0, &mut ChaCha8Rng::seed_from_u64(set.seed + 432))?;
    let (train, val) = (all.subset(&parts.train)?, all.subset(&parts.val)?);
    let (kept, seen, targets) = conditioning(&val, REFERENCE_T_VAL);
    let condition = IrregularBatch::new(seen)?;
    let mut union = targets.clone();
    union.sort_by(f64::total_cmp);
    union.dedup();
    println!(
        "double-OU: {} training and {} validation series ({} scored), {} epochs of batches of {}",
        train.series().len(),
        val.series().len(),
        kept.len(),
        set.epochs,
        set.batch
    );

    let mut table: Vec<(String, f64, Option<f64>, String)> = Vec::new();
    let val_means: Vec<[f64; 2]> = parts.val.iter().map(|&i| data.paths[i].means).collect();
    for (name, means) in [
        ("exact filter, means unknown (the floor)", Means::Unknown),
        ("exact filter, means known", Means::Known(&val_means)),
    ] {
        let s = score(&validation_predictions(&config, &val, means, REFERENCE_T_VAL)?)?;
        table.push((name.into(), s.mse, Some(s.nll), String::new()));
    }

    let scoring = Scoring { val: &val, kept: &kept, targets: &targets, union: &union, condition: &condition };
    if let Some(file) = &args.common.load {
        return load_and_score(file, &scoring, &out);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(set.seed);
    let euler = SolveOptions::new(Method::Euler).step_size(0.05);
    // GRU-ODE-Bayes, learned jump.
    let mut store = ParamStore::new();
    let gob_config = GruOdeBayesConfig::new(2);
    let run = Run { seed: set.seed, series: set.series, quick: args.common.quick };
    let gob_meta = ModelMeta::new(GOB, &Saved { model: gob_config.clone(), run })?;
    let gob = GruOdeBayes::new(&mut store, "gob", gob_config, &mut rng)?;
    let (store, secs) = fit(store, &set, &train, |s, batch, _| Ok(gob.loss(s, batch, None)?.0))?;
    model_file::save(&out.join("gru_ode_bayes.safetensors"), &gob_meta, &store)?;
    let scored = scoring.filter(&gob, &store)?;
    table.push(("GRU-ODE-Bayes".into(), scored.mse, Some(scored.nll), format!("{secs:.0} s")));
    plot_filter(&gob, &store, &val, &out, "")?;

    // The exact jump on a two-dimensional Gaussian state, a learned field.
    let mut exact_store = ParamStore::new();
    let field = MlpField::new(latent_seq::autodiff::Mlp::new(
        &mut exact_store,
        "exact.field",
        &[4, 50, 50, 4],
        latent_seq::autodiff::Activation::Tanh,
        &mut rng,
    )?);
    let exact_config =
        GruOdeBayesConfig { hidden: 4, jump: Jump::Exact { obs_std: 0.01 }, ..GruOdeBayesConfig::new(2) };
    let exact = GruOdeBayes::with_field(&mut exact_store, "exact", exact_config, field, &mut rng)?;
    let (exact_store, secs) =
        fit(exact_store, &set, &train, |s, batch, _| Ok(exact.loss(s, batch, None)?.0))?;
    let scored = scoring.filter(&exact, &exact_store)?;
    table.push((
        "exact Gaussian jump, learned field".into(),
        scored.mse,
        Some(scored.nll),
        format!("{secs:.0} s"),
    ));

    // The ODE-RNN.
    let mut rnn_store = ParamStore::new();
    let rnn_config = OdeRnnConfig { hidden: 50, solver: euler, ..OdeRnnConfig::new(2) };
    let rnn_meta = ModelMeta::new(ODE_RNN, &Saved { model: rnn_config.clone(), run })?;
    let ode_rnn = OdeRnn::new(&mut rnn_store, "ode_rnn", rnn_config, &mut rng)?;
    let (rnn_store, secs) = fit(rnn_store, &set, &train, |s, batch, _| Ok(ode_rnn.loss(s, batch)?.0))?;
    model_file::save(&out.join("ode_rnn.safetensors"), &rnn_meta, &rnn_store)?;
    let scored = scoring.ode_rnn(&ode_rnn, &rnn_store)?;
    table.push(("ODE-RNN (fixed std: MSE only)".into(), scored.mse, None, format!("{secs:.0} s")));

    println!("\n| model | validation MSE | validation NLL | training |\n|---|---|---|---|");
    for (name, mse, nll, secs) in &table {
        let nll = nll.map_or("".into(), |v| format!("{v:.3}"));
        println!("| {name} | {mse:.5} | {nll} | {secs} |");
    }
    println!(
        "trained models: gru_ode_bayes.safetensors, ode_rnn.safetensors in {} (score one again with --load)",
        out.display()
    );
    Ok(())
}

/// The model kinds written into the files.
const GOB: &str = "gru_ode_bayes";
const ODE_RNN: &str = "ode_rnn";

/// What scoring a model on the validation series needs: the series, which of them
/// are scored and at which target times (and their sorted union), and what each
/// model reads before the cut.
struct Scoring<'a> {
    val: &'a IrregularSeries,
    kept: &'a [usize],
    targets: &'a [f64],
    union: &'a [f64],
    condition: &'a IrregularBatch,
}

impl Scoring<'_> {
    /// A GRU-ODE-Bayes filter's MSE and NLL at each kept series' next observation.
    fn filter<F: NeuralOdeFunc + Clone + Send + Sync + 'static>(
        &self,
        model: &GruOdeBayes<F>,
        store: &ParamStore,
    ) -> BoxResult<Score> {
        let pred = model.predict(store, self.condition, None, self.union)?;
        Ok(score(&as_predictions(self.val, self.kept, self.targets, self.union, |j, r| {
            let (m, v) = (pred[j].mean.row(r), pred[j].variance.row(r));
            ([m[0], m[1]], [v[0], v[1]])
        }))?)
    }

    /// The ODE-RNN's MSE there (its predictive has a fixed standard deviation).
    fn ode_rnn(&self, model: &OdeRnn, store: &ParamStore) -> BoxResult<Score> {
        let means = model.predict(store, self.condition, self.union)?;
        let var = model.config().obs_std.powi(2);
        Ok(score(&as_predictions(self.val, self.kept, self.targets, self.union, |j, r| {
            ([means[j][(r, 0)], means[j][(r, 1)]], [var, var])
        }))?)
    }
}

/// `--load`: scores a saved GRU-ODE-Bayes or ODE-RNN on the validation series (and
/// draws the filter), no training.
fn load_and_score(file: &Path, scoring: &Scoring<'_>, out: &Path) -> BoxResult<()> {
    let (meta, _) = model_file::read(file)?;
    // The generator only fills parameters that the file then overwrites.
    let throwaway = || ChaCha8Rng::seed_from_u64(0);
    match meta.kind.as_str() {
        GOB => {
            let (model, store) = model_file::load(file, GOB, |st, c: Saved<_>| {
                Ok(GruOdeBayes::new(st, "gob", c.model, &mut throwaway())?)
            })?;
            let s = scoring.filter(&model, &store)?;
            println!(
                "GRU-ODE-Bayes loaded from {}: validation MSE {:.5}, NLL {:.3}; no training",
                file.display(),
                s.mse,
                s.nll
            );
            plot_filter(&model, &store, scoring.val, out, "_loaded")
        }
        ODE_RNN => {
            let (model, store) = model_file::load(file, ODE_RNN, |st, c: Saved<_>| {
                Ok(OdeRnn::new(st, "ode_rnn", c.model, &mut throwaway())?)
            })?;
            let s = scoring.ode_rnn(&model, &store)?;
            println!("ODE-RNN loaded from {}: validation MSE {:.5}; no training", file.display(), s.mse);
            Ok(())
        }
        other => Err(format!("{}: a `{other}` model, not one this example saves", file.display()).into()),
    }
}

/// Adam 1e-3 with weight decay 5e-4 on batches of the settings' size for its epochs
/// (or `--iters` steps); the trained store and the seconds it took.
fn fit<L>(store: ParamStore, set: &Settings, train: &IrregularSeries, loss: L) -> BoxResult<(ParamStore, f64)>
where
    L: for<'t, 's> Fn(
            &latent_seq::autodiff::TapeSession<'t, 's>,
            &IrregularBatch,
            &mut StepCtx,
        ) -> Result<latent_seq::autodiff::Loss<latent_seq::autodiff::Var<'t>>, BoxError>
        + Sync,
{
    let adam = Optim::new(Adam { lr: 1e-3, weight_decay: 5e-4, ..Adam::default() })?;
    let mut trainer =
        Trainer::new(store, adam, set.seed).epochs(set.epochs).batch_size(set.batch).progress_bar(false);
    if let Some(n) = set.iters {
        trainer = trainer.max_steps(n);
    }
    let started = Instant::now();
    trainer.fit(train, loss)?;
    Ok((trainer.into_store(), started.elapsed().as_secs_f64()))
}

/// A few validation series over continuous time: the observations, and the filter's
/// predicted mean with a two-standard-deviation band, per dimension.
fn plot_filter(
    model: &GruOdeBayes,
    store: &ParamStore,
    val: &IrregularSeries,
    out: &Path,
    tag: &str,
) -> BoxResult<()> {
    let rows: Vec<Series> = val.series().iter().take(PLOTTED).cloned().collect();
    let batch = IrregularBatch::new(rows.clone())?;
    // Just after each grid time, so the prediction there has seen its jump.
    let times: Vec<f64> = (0..400).map(|k| 1e-6 + 10.0 * k as f64 / 400.0).collect();
    let pred = model.predict(store, &batch, None, &times)?;
    let mut panels = Vec::new();
    for (b, row) in rows.iter().enumerate() {
        for d in 0..2 {
            let line = |f: &dyn Fn(f64, f64) -> f64| -> Vec<(f64, f64)> {
                times
                    .iter()
                    .zip(&pred)
                    .map(|(&t, p)| (t, f(p.mean[(b, d)], p.variance[(b, d)].sqrt())))
                    .collect()
            };
            let seen: Vec<(f64, f64)> = (0..row.times.len())
                .filter(|&k| row.masks[(k, d)] != 0.0)
                .map(|k| (row.times[k], row.values[(k, d)]))
                .collect();
            panels.push((
                format!("validation series {b}, dimension {}", d + 1),
                vec![
                    Line::new("observed", seen).dots(),
                    Line::new("predicted mean", line(&|m, _| m)),
                    Line::new("mean + 2 std", line(&|m, s| m + 2.0 * s)),
                    Line::new("mean - 2 std", line(&|m, s| m - 2.0 * s)),
                ],
            ));
        }
    }
    let path = out.join(format!("10_gru_ode_bayes_double_ou{tag}.png"));
    plot::panels(&path, "t", "value", &panels, 2)?;
    println!("filtered validation series: {}", path.display());
    Ok(())
}
