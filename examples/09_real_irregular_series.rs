//! # 09: ODE-RNN, Latent ODE and GRU-ODE-Bayes on real irregular series (USHCN, BXLator)
//!
//! Two irregularly sampled data sets of the GRU-ODE-Bayes authors (De Brouwer et al.
//! 2019; code edebrouwer/gru_ode_bayes), read from `../shared/data/` (they are not
//! part of the project):
//!
//! * `ushcn_ri`: daily climate of 3 Rhode Island USHCN stations, 72 series of time
//!   0..100, 5 variables (PRCP, SNOW, SNWD, TMAX, TMIN, z-normalised), 5 % of the
//!   values kept. **Not the paper's data** (1,114 stations), so the paper's numbers
//!   (GRU-ODE-Bayes MSE 0.43) are context, not a comparison.
//! * `bxlator`: the authors' Brusselator SDE file, 1,000 series of time 0..50 in 2
//!   dimensions, each dimension observed or not per time (values not normalised).
//!   `CsvSeries` sorts its rows, which are not in time order within a series, and
//!   reads its `Cov` column as a covariate, 0 for every series: GRU-ODE-Bayes is
//!   given none, which is the same.
//!
//! **Protocol** (REFERENCE.md, GRU-ODE-Bayes): the series are split 80/20 into
//! training and validation by a shuffle seeded by `--seed` (0 by default). Each validation series is cut
//! at `T_val` (ushcn_ri 75, bxlator 35): a model reads its observations at times
//! `<= T_val` and predicts its next 3 observation times after `T_val`; the score is
//! the squared error over the values observed at those times, averaged over all of
//! them (mask-weighted). A series with no observation before or after the cut is
//! left out and counted. Each validation series is predicted alone (a batch of one)
//! at its own three times.
//!
//! **Models**, all on the same split and budget, trained by the examples' shared
//! trainer (`Budget::fit`: Adam, the KL ramp, seeded by `--seed`) for 100 steps each:
//! on ushcn_ri of the whole training set at once (the references' batch 500 is
//! larger than it, so this is their 100 epochs), on bxlator of 100 series (their
//! batch; 12.5 epochs where they train 200):
//!
//! * last observation carried forward, per dimension; a dimension never observed
//!   before the cut is predicted by its mean over the training series (about 0 for
//!   the z-normalised ushcn_ri; bxlator is not normalised, so 0 would be no guess);
//! * the RNN with the time gap as an input (`Between::TimeGap`) and the ODE-RNN
//!   (`Between::Ode`), trained on the one-step Gaussian likelihood of the training
//!   series' full sequences (fixed noise 1: with Adam it only scales the loss). The
//!   RNN extrapolates with `OdeRnn::forecast` (its state is held between
//!   observations, so `predict` gives one value for all three times: tabled too, as
//!   "predict (held state)"); the ODE-RNN with `OdeRnn::predict`, its state solved
//!   on by its own dynamics (its "forecast" row, tabled too, feeds its predictions
//!   back instead);
//! * the Latent ODE with an ODE-RNN encoder, trained with the conditioned bound
//!   `elbo_given`: the encoder reads each training series' observations at times
//!   `<= T_val`, the likelihood scores all of them, so it learns to continue what it
//!   has seen. The bound (Rubanova et al. eq. 9) rather than the reference code's
//!   per-point average (`reference_loss_given`): the latter divides the likelihood
//!   by each series' observations (about 250 values for a ushcn_ri series), so the
//!   KL weighs hundreds of times more and pulls the posterior to the prior. The
//!   noise of the likelihood is learned per dimension (from 1), since the noise
//!   level of real data is not known; the KL weight ramps from 0 to 1 over the first
//!   fifth of the steps. It predicts with the decoded posterior mean.
//! * GRU-ODE-Bayes (`seqmodels::gru_ode_bayes`, the references' climate sizes:
//!   hidden 50, observation model 25, preparation 10, Euler steps of 0.1, the
//!   pre-jump NLL plus 1e-4 times the post-jump KL), trained on the full training
//!   series and predicting from its state filtered up to the cut. Its predictive has
//!   a variance, so its NLL per observed value is tabled too (the other models'
//!   variances are fixed or absent).
//!
//! **Settings** close to the GRU-ODE-Bayes references where affordable: hidden
//! state 50 (encoder state 50 for the Latent ODE), output network 25 (its
//! `p_hidden`), Euler with steps of at most 0.1 (its `dt`) in every ODE. Differences
//! from the references, stated: the ODE-RNN's field is a tanh MLP with 50-unit
//! layers, not the GRU-ODE; its jump is a GRU on `[x, mask]`, not the per-dimension
//! preparation network; the Gaussian's variance is fixed, not predicted, so no NLL
//! is reported; no weight decay; the Latent ODE (latent 10, field 50, decoder 25) is
//! Rubanova et al.'s model, not in the GRU-ODE-Bayes tables; every model, GRU-ODE-Bayes
//! included, trains with Adam at 1e-2, not 1e-3 (no weight decay), 100 steps: on
//! bxlator 12.5 epochs, not 200, so that the default run of both data sets takes
//! minutes on 2 cores. One seed (`--seed`, 0 by default).
//!
//! Run: `cargo run --release --example 09_real_irregular_series -- [--ushcn PATH]
//! [--bxlator PATH] [--iters N] [--quick] [--seed N] [--out DIR]`, about 6 minutes on
//! 2 cores. The paths default to
//! `../shared/data/ushcn_ri/ushcn_ri_sporadic.csv` and
//! `../shared/data/bxlator/BXLator.csv` beside the workspace; `--iters N` sets the
//! optimizer steps of every trained model; `--quick` trains on 8 series for 2 steps
//! and scores 4 (seconds). Prints a markdown table and writes
//! `09_real_irregular_series.png` to `target/runs/09_real_irregular_series/` (or
//! `--out`): validation series near the cut, the observations read, the held-out
//! ones, each model's predictions; and every trained model as
//! `09_<set>_<model>.safetensors`: `--load` one to score it on its set's cases without
//! training.

use clap::Parser;
use latent_seq::ChaCha8Rng;
use latent_seq::autodiff::ParamStore;
use latent_seq::autodiff::data::Dataset;
use latent_seq::cli::{self, BoxResult, Budget, Common, Steps};
use latent_seq::ndarray::Array2;
use latent_seq::odesolve::{Method, SolveOptions};
use latent_seq::plot::{self, Series as Line};
use latent_seq::rand::SeedableRng;
use latent_seq::rand::seq::SliceRandom;
use latent_seq::seqmodels::{
    Between, CellKind, CsvSeries, Encoder, GruConvention, GruOdeBayes, GruOdeBayesConfig, IrregularBatch,
    IrregularSeries, LatentOde, LatentOdeConfig, OdeRnn, OdeRnnConfig, Series,
};
use latent_seq::trainers::model_file::{self, ModelMeta};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// Observation times predicted after the cut (both protocols).
const NEXT: usize = 3;
/// The largest Euler step of every ODE (the references' `dt`).
const DT: f64 = 0.1;
/// Adam's step size: ten times the references' 1e-3, for a budget of minutes.
const LR: f64 = 1e-2;
/// The references' state width (GRU-ODE-Bayes `hidden`), used for every state and
/// field layer here.
const HIDDEN: usize = 50;
/// The references' output network width (`p_hidden`), used for every decoder.
const OUT_HIDDEN: usize = 25;
/// The references' per-dimension preparation width for the climate data.
const PREP_HIDDEN: usize = 10;
/// The Latent ODE's latent width.
const LATENT: usize = 10;
/// Validation series drawn in the plot, per data set.
const PLOTTED: usize = 2;

/// Command-line settings.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    steps: Steps,
    /// The USHCN daily climate subset as irregular CSV (`ID,Time,Value_k,Mask_k`)
    #[arg(long, value_name = "FILE", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/ushcn_ri/ushcn_ri_sporadic.csv"))]
    ushcn: PathBuf,
    /// The BXLator series as irregular CSV (`ID,Time,Value_k,Mask_k`)
    #[arg(long, value_name = "FILE", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/bxlator/BXLator.csv"))]
    bxlator: PathBuf,
}

/// One data set and its validation protocol.
struct Protocol {
    name: &'static str,
    /// What the file holds and the flag that points at it, for a missing file.
    about: &'static str,
    flag: &'static str,
    path: PathBuf,
    /// Validation reads the observations at times `<= t_val`.
    t_val: f64,
    /// Optimizer steps and batch size of the default run.
    iters: u64,
    batch: usize,
    /// The dimensions drawn in the plot, with their names (from the data README).
    plotted: &'static [(usize, &'static str)],
}

fn protocols(args: &Args) -> [Protocol; 2] {
    [
        Protocol {
            name: "ushcn_ri",
            about: "the USHCN daily climate series of GRU-ODE-Bayes (ushcn_ri_sporadic.csv)",
            flag: "--ushcn",
            path: args.ushcn.clone(),
            t_val: 75.0,
            iters: 100,
            batch: 500,
            plotted: &[(3, "TMAX"), (4, "TMIN")],
        },
        Protocol {
            name: "bxlator",
            about: "the BXLator chemical-reaction series of GRU-ODE-Bayes (BXLator.csv)",
            flag: "--bxlator",
            path: args.bxlator.clone(),
            t_val: 35.0,
            iters: 100,
            batch: 100,
            plotted: &[(0, "Value_1"), (1, "Value_2")],
        },
    ]
}

fn observed_rows(s: &Series, keep: impl Fn(f64) -> bool) -> Vec<usize> {
    (0..s.times.len()).filter(|&k| keep(s.times[k]) && s.masks.row(k).sum() > 0.0).collect()
}

/// The observations of `s` at times `<= t`, if there are any.
fn up_to(s: &Series, t: f64) -> Option<Series> {
    let keep = observed_rows(s, |u| u <= t);
    (!keep.is_empty()).then(|| s.subsample(&keep))
}

/// A validation series cut at `T_val`: what a model reads, and what it must predict.
struct Case {
    seen: Series,
    held_out: Series,
}

/// The cut of `s` at `t_val`, or `None` when either side has no observation.
fn cut(s: &Series, t_val: f64) -> Option<Case> {
    let next: Vec<usize> = observed_rows(s, |u| u > t_val).into_iter().take(NEXT).collect();
    let seen = up_to(s, t_val)?;
    (!next.is_empty()).then(|| Case { seen, held_out: s.subsample(&next) })
}

/// A model's prediction of one case: a `1 x D` mean per held-out time and, for a
/// model with a predictive variance, the variances alike.
struct Predicted {
    means: Vec<Array2<f64>>,
    variances: Option<Vec<Array2<f64>>>,
}

impl Predicted {
    fn means(means: Vec<Array2<f64>>) -> Self {
        Predicted { means, variances: None }
    }
}

/// Squared errors and Gaussian negative log-likelihoods (when there are variances)
/// of `pred` over the observed held-out values: their sums and count.
fn errors(pred: &Predicted, held_out: &Series) -> (f64, f64, usize) {
    let (mut sq, mut nll, mut n) = (0.0, 0.0, 0);
    for (k, m) in pred.means.iter().enumerate() {
        for d in 0..held_out.values.ncols() {
            if held_out.masks[(k, d)] != 0.0 {
                let e = m[(0, d)] - held_out.values[(k, d)];
                sq += e * e;
                if let Some(v) = &pred.variances {
                    let v = v[k][(0, d)];
                    nll += 0.5 * ((2.0 * std::f64::consts::PI * v).ln() + e * e / v);
                }
                n += 1;
            }
        }
    }
    (sq, nll, n)
}

/// Each dimension's mean over the observed values of `data`.
fn observed_means(data: &IrregularSeries) -> Vec<f64> {
    let d = data.dim();
    let (mut sums, mut counts) = (vec![0.0; d], vec![0.0; d]);
    for s in data.series() {
        for (((_, c), &x), &m) in s.values.indexed_iter().zip(&s.masks) {
            sums[c] += x * m;
            counts[c] += m;
        }
    }
    sums.iter().zip(&counts).map(|(s, n)| if *n > 0.0 { s / n } else { 0.0 }).collect()
}

/// Each dimension's last observed value in `seen`, or `fallback` for a dimension
/// never observed there.
fn last_observed(seen: &Series, fallback: &[f64]) -> Array2<f64> {
    Array2::from_shape_fn((1, fallback.len()), |(_, d)| {
        (0..seen.times.len())
            .rev()
            .find(|&k| seen.masks[(k, d)] != 0.0)
            .map_or(fallback[d], |k| seen.values[(k, d)])
    })
}

/// A model's validation result: its MSE, training time and predictions per case.
struct Scored {
    name: String,
    mse: f64,
    /// Per observed value, for the models with a predictive variance.
    nll: Option<f64>,
    train_secs: Option<f64>,
    predictions: Vec<Vec<Array2<f64>>>,
    /// An alternative extrapolation of a model already drawn: tabled, not plotted.
    alternative: bool,
}

/// Predicts every case with `predict` (what it read, the held-out times) and scores
/// it; an error if the cases hold no value to score.
fn score(
    name: &str,
    train_secs: Option<f64>,
    cases: &[Case],
    predict: impl Fn(&Series, &[f64]) -> BoxResult<Predicted>,
) -> BoxResult<Scored> {
    let (mut sq, mut nll, mut n, mut with_variance) = (0.0, 0.0, 0, true);
    let mut predictions = Vec::with_capacity(cases.len());
    for case in cases {
        let pred = predict(&case.seen, &case.held_out.times)?;
        let (s, l, k) = errors(&pred, &case.held_out);
        (sq, nll, n) = (sq + s, nll + l, n + k);
        with_variance &= pred.variances.is_some();
        predictions.push(pred.means);
    }
    if n == 0 {
        return Err(format!("{name}: no held-out value to score").into());
    }
    let nll = with_variance.then(|| nll / n as f64);
    Ok(Scored { name: name.to_owned(), mse: sq / n as f64, nll, train_secs, predictions, alternative: false })
}

/// `seen` as a batch of one.
fn alone(seen: &Series) -> latent_seq::seqmodels::Result<IrregularBatch> {
    IrregularBatch::new(vec![seen.clone()])
}

/// Every model of the module docs trained on `train` and scored on `cases`.
fn compare(
    p: &Protocol,
    set: &Budget,
    saving: &Saving<'_>,
    train_set: &IrregularSeries,
    cases: &[Case],
) -> BoxResult<Vec<Scored>> {
    let seed = saving.seed;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let d = train_set.dim();
    let euler = SolveOptions::new(Method::Euler).step_size(DT);
    let means = observed_means(train_set);
    let mut results = vec![score("last observation carried forward", None, cases, |seen, times| {
        Ok(Predicted::means(vec![last_observed(seen, &means); times.len()]))
    })?];

    for (name, between) in [("RNN, time gap as input", Between::TimeGap), ("ODE-RNN", Between::Ode)] {
        let mut store = ParamStore::new();
        let config = OdeRnnConfig {
            hidden: HIDDEN,
            field_hidden: HIDDEN,
            out_hidden: OUT_HIDDEN,
            obs_std: 1.0,
            solver: euler.clone(),
            between,
            ..OdeRnnConfig::new(d)
        };
        let net = Net::OdeRnn { name: name.into(), config: Box::new(config.clone()) };
        let model = OdeRnn::new(&mut store, "ode_rnn", config, &mut rng)?;
        let (store, secs) = set.fit(store, LR, seed, train_set, |s, batch, _| Ok(model.loss(s, batch)?.0))?;
        saving.save(net, &store)?;
        results.extend(score_ode_rnn(name, Some(secs), &model, &store, cases)?);
    }

    let mut store = ParamStore::new();
    // The noise is learned (from 1): how noisy real data are is not known.
    let config = LatentOdeConfig {
        learn_obs_std: true,
        obs_std: 1.0,
        z_dim: LATENT,
        encoder: Encoder::OdeRnn {
            field_hidden: HIDDEN,
            solver: euler.clone(),
            cell: CellKind::Gru(GruConvention::PyTorch),
        },
        rnn_hidden: HIDDEN,
        field_hidden: HIDDEN,
        dec_hidden: OUT_HIDDEN,
        solver: euler,
        ..LatentOdeConfig::new(d)
    };
    let net = Net::LatentOde(Box::new(config.clone()));
    let model = LatentOde::new(&mut store, "latent_ode", config, &mut rng)?;
    // Only series with something to condition on can be trained on this way.
    let conditioned: Vec<usize> =
        (0..train_set.len()).filter(|&i| up_to(&train_set.series()[i], p.t_val).is_some()).collect();
    let latent_train = train_set.subset(&conditioned)?;
    let latent_set = Budget { train: latent_train.len(), ..*set };
    let (store, secs) = latent_set.fit(store, LR, seed, &latent_train, |s, batch, ctx| {
        let seen = (0..batch.batch_size())
            .map(|b| up_to(&batch.row(b), p.t_val).ok_or("a training series with nothing before the cut"))
            .collect::<Result<Vec<_>, _>>()?;
        let (bound, _) = model.elbo_given(s, &IrregularBatch::new(seen)?, batch, &mut ctx.rng)?;
        Ok(bound.loss_per_step(ctx.kl_weight)?)
    })?;
    saving.save(net, &store)?;
    results.push(score_latent_ode(Some(secs), &model, &store, cases)?);

    // GRU-ODE-Bayes with the references' climate sizes (prep_hidden 10).
    let mut store = ParamStore::new();
    let config = GruOdeBayesConfig {
        hidden: HIDDEN,
        p_hidden: OUT_HIDDEN,
        prep_hidden: PREP_HIDDEN,
        solver: SolveOptions::new(Method::Euler).step_size(DT),
        ..GruOdeBayesConfig::new(d)
    };
    let net = Net::GruOdeBayes(Box::new(config.clone()));
    let model = GruOdeBayes::new(&mut store, "gru_ode_bayes", config, &mut rng)?;
    let (store, secs) =
        set.fit(store, LR, seed, train_set, |s, batch, _| Ok(model.loss(s, batch, None)?.0))?;
    saving.save(net, &store)?;
    results.push(score_gru_ode_bayes(Some(secs), &model, &store, cases)?);
    Ok(results)
}

/// An ODE-RNN (or the RNN with time gaps, by its `between`) scored both ways: the
/// RNN's own extrapolation is the forecast (its state is held between observations),
/// the ODE-RNN's its dynamics; the other way is tabled beside.
fn score_ode_rnn(
    name: &str,
    secs: Option<f64>,
    model: &OdeRnn,
    store: &ParamStore,
    cases: &[Case],
) -> BoxResult<Vec<Scored>> {
    let between = model.config().between;
    let forecast_first = between == Between::TimeGap;
    [forecast_first, !forecast_first]
        .into_iter()
        .map(|feed_back| {
            let how = match (feed_back, between) {
                (true, _) => "forecast",
                (false, Between::TimeGap) => "predict (held state)",
                (false, _) => "predict",
            };
            let mut scored = score(&format!("{name}, {how}"), secs, cases, |seen, times| {
                let batch = alone(seen)?;
                Ok(Predicted::means(if feed_back {
                    model.forecast(store, &batch, times)?
                } else {
                    model.predict(store, &batch, times)?
                }))
            })?;
            scored.alternative = feed_back != forecast_first;
            Ok(scored)
        })
        .collect()
}

/// The Latent ODE scored on its posterior mean path.
fn score_latent_ode(
    secs: Option<f64>,
    model: &LatentOde,
    store: &ParamStore,
    cases: &[Case],
) -> BoxResult<Scored> {
    score("Latent ODE (ODE-RNN encoder), predict", secs, cases, |seen, times| {
        Ok(Predicted::means(model.predict(store, &alone(seen)?, times)?.means))
    })
}

/// GRU-ODE-Bayes scored with its predicted means and variances.
fn score_gru_ode_bayes(
    secs: Option<f64>,
    model: &GruOdeBayes,
    store: &ParamStore,
    cases: &[Case],
) -> BoxResult<Scored> {
    score("GRU-ODE-Bayes, predict", secs, cases, |seen, times| {
        let pred = model.predict(store, &alone(seen)?, None, times)?;
        Ok(Predicted {
            means: pred.iter().map(|p| p.mean.clone()).collect(),
            variances: Some(pred.into_iter().map(|p| p.variance).collect()),
        })
    })
}

/// A saved model's network: which model, its configuration (and the ODE-RNN's name
/// in the table).
#[derive(Debug, Clone, Serialize, Deserialize)]
enum Net {
    OdeRnn { name: String, config: Box<OdeRnnConfig> },
    LatentOde(Box<LatentOdeConfig>),
    GruOdeBayes(Box<GruOdeBayesConfig>),
}

/// What a saved model was: its network, the data set it was trained on, and the
/// run's seed and size (which rebuild the same split and cases).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Saved {
    set: String,
    seed: u64,
    quick: bool,
    net: Net,
}

/// The model kind written into the files.
const KIND: &str = "real_irregular_model";

/// Where and with which run settings the trained models are saved.
struct Saving<'a> {
    out: &'a Path,
    set: &'a str,
    seed: u64,
    quick: bool,
}

impl Saving<'_> {
    /// `09_<set>_<model>.safetensors` in the output folder.
    fn save(&self, net: Net, store: &ParamStore) -> BoxResult<()> {
        let model = match &net {
            Net::OdeRnn { name, .. } => name.as_str(),
            Net::LatentOde(_) => "Latent ODE",
            Net::GruOdeBayes(_) => "GRU-ODE-Bayes",
        };
        let slug = cli::slug(model);
        let path = self.out.join(format!("09_{}_{slug}.safetensors", self.set));
        let saved = Saved { set: self.set.into(), seed: self.seed, quick: self.quick, net };
        Ok(model_file::save(&path, &ModelMeta::new(KIND, &saved)?, store)?)
    }
}

/// `--load`: rebuilds the saved model's data set split and cases from its run's seed
/// and size, and scores the model on them, no training.
fn load_and_score(file: &Path, args: &Args) -> BoxResult<()> {
    let saved: Saved = model_file::config(file, KIND)?;
    let sets = protocols(args);
    let p = sets.iter().find(|p| p.name == saved.set).ok_or(format!("unknown data set {}", saved.set))?;
    let prepared = prepare(p, saved.quick, &args.steps, saved.seed)?;
    let cases = &prepared.cases;
    let rng = &mut ChaCha8Rng::seed_from_u64(0);
    let rows = match saved.net.clone() {
        Net::OdeRnn { name, .. } => {
            let (model, store) = model_file::load(file, KIND, |st, s: Saved| match s.net {
                Net::OdeRnn { config, .. } => Ok(OdeRnn::new(st, "ode_rnn", *config, rng)?),
                _ => Err("not an ODE-RNN".into()),
            })?;
            score_ode_rnn(&name, None, &model, &store, cases)?
        }
        Net::LatentOde(_) => {
            let (model, store) = model_file::load(file, KIND, |st, s: Saved| match s.net {
                Net::LatentOde(config) => Ok(LatentOde::new(st, "latent_ode", *config, rng)?),
                _ => Err("not a Latent ODE".into()),
            })?;
            vec![score_latent_ode(None, &model, &store, cases)?]
        }
        Net::GruOdeBayes(_) => {
            let (model, store) = model_file::load(file, KIND, |st, s: Saved| match s.net {
                Net::GruOdeBayes(config) => Ok(GruOdeBayes::new(st, "gru_ode_bayes", *config, rng)?),
                _ => Err("not a GRU-ODE-Bayes".into()),
            })?;
            vec![score_gru_ode_bayes(None, &model, &store, cases)?]
        }
    };
    for r in rows {
        let nll = r.nll.map_or(String::new(), |v| format!(", NLL {v:.3}"));
        println!(
            "{} on {} loaded from {}: MSE {:.4}{nll} on {} cases; no training",
            r.name,
            p.name,
            file.display(),
            r.mse,
            cases.len()
        );
    }
    Ok(())
}

/// What one data set's run gives, for the table and the plot.
struct Outcome {
    scored: Vec<Scored>,
    cases: Vec<Case>,
    ids: Vec<String>,
}

/// One data set read, split and cut: the training series, the budget, the scored
/// cases and their series' IDs, the series read and the validation series left out.
struct Prepared {
    train_set: IrregularSeries,
    set: Budget,
    cases: Vec<Case>,
    ids: Vec<String>,
    n: usize,
    left_out: usize,
}

/// Reads, splits (seeded by `seed`) and cuts one data set.
fn prepare(p: &Protocol, quick_run: bool, steps: &Steps, seed: u64) -> BoxResult<Prepared> {
    let read = CsvSeries::from_csv_path(&cli::require_file(&p.path, p.about, p.flag)?)?;
    let n = read.data.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let (train_idx, val_idx) = order.split_at(n - n / 5);
    let quick = Budget { train: 8, test: 4, iters: 2, batch: 4 };
    // A batch larger than the training set (the references' 500 for ushcn) is all of it.
    let batch = p.batch.min(train_idx.len());
    let full = Budget { train: train_idx.len(), test: val_idx.len(), iters: p.iters, batch };
    let set = Budget::choose(quick_run, steps, quick, full);
    let train_set = read.data.subset(&train_idx[..set.train.min(train_idx.len())])?;
    let set = Budget { train: train_set.len(), ..set };
    let (mut cases, mut ids, mut left_out) = (Vec::new(), Vec::new(), 0);
    for &i in &val_idx[..set.test.min(val_idx.len())] {
        match cut(&read.data.series()[i], p.t_val) {
            Some(case) => {
                cases.push(case);
                ids.push(read.ids[i].clone());
            }
            None => left_out += 1,
        }
    }
    Ok(Prepared { train_set, set, cases, ids, n, left_out })
}

/// Reads, splits and cuts one data set and compares the models on it.
fn run_set(p: &Protocol, args: &Args, out: &Path) -> BoxResult<Outcome> {
    let (seed, quick) = (args.common.seed, args.common.quick);
    let Prepared { train_set, set, cases, ids, n, left_out } = prepare(p, quick, &args.steps, seed)?;
    let values: usize = cases.iter().map(|c| c.held_out.masks.iter().filter(|&&m| m != 0.0).count()).sum();
    println!(
        "{}: {n} series ({}), {} for training; {} validation series cut at T_val {}, {} scored on {values} \
         values at their next {NEXT} observation times, {left_out} left out (nothing before or after the cut); \
         {} steps of {} series per trained model",
        p.name,
        p.path.display(),
        train_set.len(),
        cases.len() + left_out,
        p.t_val,
        cases.len(),
        set.iters,
        set.batch
    );
    let saving = Saving { out, set: p.name, seed, quick };
    Ok(Outcome { scored: compare(p, &set, &saving, &train_set, &cases)?, cases, ids })
}

fn main() -> ExitCode {
    let about = "ODE-RNN, Latent ODE, GRU-ODE-Bayes, an RNN with time gaps and the last observation carried \
                 forward on the irregular ushcn_ri and bxlator series, predicting the next 3 observations after a \
                 cut; a markdown table and pictures. Default: 100 Adam steps per model, about 6 minutes.";
    cli::main(about, run)
}

fn run(args: Args) -> BoxResult<()> {
    let out = args.common.start("09_real_irregular_series")?;
    if let Some(file) = &args.common.load {
        return load_and_score(file, &args);
    }
    let sets = protocols(&args);
    let started = Instant::now();
    let outcomes = sets.iter().map(|p| run_set(p, &args, &out)).collect::<BoxResult<Vec<_>>>()?;
    print_table(&sets, &outcomes);
    println!("\ntotal time {:.0} s", started.elapsed().as_secs_f64());
    let path = out.join("09_real_irregular_series.png");
    draw(&path, &sets, &outcomes)?;
    println!("validation series: {}", path.display());
    Ok(())
}

/// The markdown table: one row per model, MSE and training time per data set.
fn print_table(sets: &[Protocol; 2], outcomes: &[Outcome]) {
    let heads: Vec<String> = sets.iter().map(|p| format!("{0} MSE | {0} NLL | training", p.name)).collect();
    println!("\n| model | {} |\n|---|{}", heads.join(" | "), "---|---|---|".repeat(sets.len()));
    for (k, first) in outcomes[0].scored.iter().enumerate() {
        let cells: Vec<String> = outcomes
            .iter()
            .map(|o| {
                let r = &o.scored[k];
                let secs = r.train_secs.map_or(String::new(), |s| format!("{s:.0} s"));
                let nll = r.nll.map_or(String::new(), |v| format!("{v:.3}"));
                format!("{:.4} | {nll} | {secs}", r.mse)
            })
            .collect();
        println!("| {} | {} |", first.name, cells.join(" | "));
    }
}

/// A few validation series per data set near their cut: the observations read within
/// `T_val / 3` of it, the held-out ones, and each model's predictions.
fn draw(path: &Path, sets: &[Protocol; 2], outcomes: &[Outcome]) -> BoxResult<()> {
    let mut panels = Vec::new();
    for (p, o) in sets.iter().zip(outcomes) {
        for (c, case) in o.cases.iter().enumerate().take(PLOTTED) {
            for &(d, dim_name) in p.plotted {
                let points = |s: &Series, from: f64| -> Vec<(f64, f64)> {
                    (0..s.times.len())
                        .filter(|&k| s.masks[(k, d)] != 0.0 && s.times[k] >= from)
                        .map(|k| (s.times[k], s.values[(k, d)]))
                        .collect()
                };
                let mut lines = vec![
                    Line::new("read (up to the cut)", points(&case.seen, p.t_val * (2.0 / 3.0))).dots(),
                    Line::new("held out", points(&case.held_out, p.t_val)).dots(),
                ];
                for r in o.scored.iter().filter(|r| !r.alternative) {
                    let pred = &r.predictions[c];
                    lines.push(Line::new(
                        &r.name,
                        case.held_out.times.iter().zip(pred).map(|(&t, m)| (t, m[(0, d)])).collect(),
                    ));
                }
                panels.push((format!("{} series {}, {dim_name}", p.name, o.ids[c]), lines));
            }
        }
    }
    plot::panels(path, "time", "value", &panels, 4)?;
    Ok(())
}
