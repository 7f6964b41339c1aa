//! # 06: a Latent ODE on irregularly sampled spirals (the main job)
//!
//! A Latent ODE (Chen et al. 2018, Sec. 5.1; Rubanova et al. 2019) learns
//! two-dimensional spirals from noisy observations taken at irregular times, each
//! spiral on its own time grid, and then reconstructs them between the observations
//! (interpolation) and predicts how they continue (extrapolation).
//!
//! **Data** (generated, seeded): torchdiffeq's spirals (`seqmodels::toy::spirals`:
//! clockwise and counter-clockwise, Gaussian noise 0.3), windows of 200 points on a
//! grid of spacing `6 pi / 999`. Each spiral is observed at 50 random times among
//! the first 100 points (its own irregular grid); the last 100 are never seen.
//! **Model**: torchdiffeq's demo sizes: latent 4, a recognition GRU of 25 run
//! backwards over `[x, mask, time gap]`, field 4-20-20-4 (ELU), decoder 4-20-2 (ReLU),
//! observation noise 0.3. The solve is one tape operation, differentiated by binomial
//! checkpointing (exact), Dopri5 at rtol 1e-5, atol 1e-7. **Training**: the ELBO of
//! Rubanova et al. eq. (9), one sample, Adam 0.01, batches of 50 spirals.
//! **Scores** on 100 held-out spirals, root mean square error against the noise-free
//! trajectory: interpolation over the first 100 points (50 of them observed),
//! extrapolation over the next 100. The noise itself has RMSE 0.3.
//!
//! Run: `cargo run --release --example 06_latent_ode_spirals -- [--quick] [--iters N]
//! [--seed N] [--out DIR]` (`--quick` for a few-second run; `--iters` for the number
//! of optimizer steps, default 1,500, about a minute). Writes to
//! `target/runs/06_latent_ode_spirals/` (or `--out`): `06_latent_ode_spirals.png`
//! (held-out spirals: observations, truth, reconstruction, extrapolation),
//! `06_latent_ode_latents.png` (their latent trajectories), `06_latent_ode_elbo.png`
//! (the training curve), the metrics log `metrics.jsonl`, checkpoints and the trained
//! model, `latent_ode.safetensors`, with its configuration inside: `--load` it (or a
//! checkpoint) to score and draw without training.

use latent_seq::ChaCha8Rng;
use latent_seq::autodiff::ParamStore;
use latent_seq::autodiff::ndarray::Array2;
use latent_seq::cli::{self, BoxResult, Budget, CommonAndSteps, Steps};
use latent_seq::plot::{self, Axes, Series};
use latent_seq::rand::SeedableRng;
use latent_seq::seqmodels::toy::{Spiral, SpiralConfig, spirals};
use latent_seq::seqmodels::{IrregularBatch, IrregularSeries, LatentOde, LatentOdeConfig};
use latent_seq::trainers::model_file::{self, ModelMeta};
use latent_seq::trainers::{Adam, Control, Optim, Trainer};
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

/// Points seen per spiral, among the first `CONDITION` of its 200.
const OBSERVED: usize = 50;
const CONDITION: usize = 100;
const POINTS: usize = 200;

/// The model kind written into its file.
const KIND: &str = "latent_ode";

/// What the model file (and every checkpoint) holds besides the parameters: the
/// model's configuration and the run's seed and size, which rebuild the same spirals
/// (so `--load` scores the same held-out spirals, never ones it trained on).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Saved {
    model: LatentOdeConfig,
    seed: u64,
    quick: bool,
}

fn settings(quick_run: bool, steps: &Steps) -> Budget {
    let quick = Budget { train: 40, test: 10, iters: 20, batch: 20 };
    let full = Budget { train: 500, test: 100, iters: 1_500, batch: 50 };
    Budget::choose(quick_run, steps, quick, full)
}

/// Root mean square error of the predicted means against the truth rows `rows`.
fn rmse(pred: &[Array2<f64>], truth: &[&Spiral], rows: std::ops::Range<usize>) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for (k, p) in pred.iter().enumerate() {
        for (b, s) in truth.iter().enumerate() {
            for c in 0..2 {
                let d = p[(b, c)] - s.truth[(rows.start + k, c)];
                sum += d * d;
                n += 1;
            }
        }
    }
    (sum / n as f64).sqrt()
}

fn main() -> ExitCode {
    let about = "The main job: a Latent ODE fitted to 500 irregularly sampled noisy spirals; interpolation and \
                 extrapolation RMSE against the noise-free truth of held-out spirals, and pictures. Default: 1,500 \
                 Adam steps of 50 spirals, about a minute.";
    cli::main(about, run)
}

fn run(args: CommonAndSteps) -> BoxResult<()> {
    let out = args.common.start("06_latent_ode_spirals")?;
    let loaded: Option<Saved> =
        args.common.load.as_deref().map(|f| model_file::config(f, KIND)).transpose()?;
    let (quick, seed) = loaded.as_ref().map_or((args.common.quick, args.common.seed), |s| (s.quick, s.seed));
    let set = settings(quick, &args.steps);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let config = SpiralConfig { spirals: set.train + set.test, points: POINTS, ..SpiralConfig::default() };
    let all = spirals(&config, &mut rng);
    let observed: Vec<_> = all.iter().map(|s| s.observe(OBSERVED, CONDITION, &mut rng)).collect();
    let train = IrregularSeries::new(observed[..set.train].to_vec())?;
    let test_batch = IrregularBatch::new(observed[set.train..].to_vec())?;
    let test_truth: Vec<&Spiral> = all[set.train..].iter().collect();
    let times = all[0].times.clone();

    let (model, store) = match &args.common.load {
        Some(file) => {
            let build = |store: &mut ParamStore, saved: Saved| {
                Ok(LatentOde::new(store, "latent_ode", saved.model, &mut ChaCha8Rng::seed_from_u64(0))?)
            };
            let (model, store) = model_file::load(file, KIND, build)?;
            println!("loaded {} ({} parameters); no training", file.display(), store.num_scalars());
            (model, store)
        }
        None => {
            train_model(&train, &set, Saved { model: LatentOdeConfig::new(2), seed, quick }, &mut rng, &out)?
        }
    };

    // Condition on the held-out spirals' observations; reconstruct and extrapolate.
    let pred = model.predict(&store, &test_batch, &times)?;
    let interp = rmse(&pred.means[..CONDITION], &test_truth, 0..CONDITION);
    let extrap = rmse(&pred.means[CONDITION..], &test_truth, CONDITION..POINTS);
    let obs_noise = {
        let d: Vec<f64> = test_truth.iter().flat_map(|s| (&s.noisy - &s.truth).into_iter()).collect();
        (d.iter().map(|v| v * v).sum::<f64>() / d.len() as f64).sqrt()
    };
    println!(
        "Held-out spirals ({}), RMSE against the noise-free trajectory: interpolation {interp:.3}, \
         extrapolation {extrap:.3} (the observations' own noise: {obs_noise:.3})",
        test_truth.len()
    );

    // Pictures: a few held-out spirals, and their latent paths.
    let show = test_truth.len().min(6);
    let xy = |rows: &[Array2<f64>], b: usize| rows.iter().map(|m| (m[(b, 0)], m[(b, 1)])).collect::<Vec<_>>();
    let panels: Vec<(String, Vec<Series>)> = (0..show)
        .map(|b| {
            let s = test_truth[b];
            let seen = test_batch.row(b);
            let obs: Vec<(f64, f64)> =
                (0..seen.times.len()).map(|k| (seen.values[(k, 0)], seen.values[(k, 1)])).collect();
            let truth: Vec<(f64, f64)> = (0..POINTS).map(|k| (s.truth[(k, 0)], s.truth[(k, 1)])).collect();
            let title = format!(
                "held-out spiral {b} ({})",
                if s.clockwise { "clockwise" } else { "counter-clockwise" }
            );
            (
                title,
                vec![
                    Series::new("truth", truth),
                    Series::new("observed (50 points)", obs).dots(),
                    Series::new("reconstruction", xy(&pred.means[..CONDITION], b)),
                    Series::new("extrapolation", xy(&pred.means[CONDITION - 1..], b)),
                ],
            )
        })
        .collect();
    let tag = if loaded.is_some() { "_loaded" } else { "" };
    let path = out.join(format!("06_latent_ode_spirals{tag}.png"));
    plot::panels(&path, "x", "y", &panels, 3)?;
    println!("held-out spirals: {}", path.display());
    let latents: Vec<Series> =
        (0..show).map(|b| Series::new(format!("spiral {b}"), xy(&pred.latents, b))).collect();
    let path = out.join(format!("06_latent_ode_latents{tag}.png"));
    plot::panels(
        &path,
        "z_1",
        "z_2",
        &[("latent trajectories z(t) over the 200 grid times".into(), latents)],
        1,
    )?;
    println!("latent trajectories: {}", path.display());
    Ok(())
}

/// Trains the Latent ODE on `train`, printing progress every 100 steps, with
/// checkpoints that carry its configuration; saves it as `latent_ode.safetensors` in
/// `out` and draws the training curve.
fn train_model(
    train: &IrregularSeries,
    set: &Budget,
    saved: Saved,
    rng: &mut ChaCha8Rng,
    out: &Path,
) -> BoxResult<(LatentOde, ParamStore)> {
    let meta = ModelMeta::new(KIND, &saved)?;
    let seed = saved.seed;
    let mut store = ParamStore::new();
    let model = LatentOde::new(&mut store, "latent_ode", saved.model, rng)?;
    println!(
        "Latent ODE ({} parameters) on {} spirals, each observed at {OBSERVED} random times of its first \
         {CONDITION}; noise 0.3; {} optimizer steps of {} spirals",
        store.num_scalars(),
        set.train,
        set.iters,
        set.batch
    );

    let started = Instant::now();
    let curve = RefCell::new(Vec::new());
    let nfe = Cell::new(0.0);
    let epochs = set.iters.div_ceil(set.train.div_ceil(set.batch) as u64);
    let adam = Optim::new(Adam { lr: 0.01, ..Adam::default() })?;
    let mut trainer = Trainer::new(store, adam, seed)
        .epochs(epochs)
        .max_steps(set.iters)
        .batch_size(set.batch)
        .progress_bar(false)
        .metrics_log(out.join("metrics.jsonl"))
        .checkpoint_dir(out.join("checkpoints"))
        .keep_checkpoints(2)
        .model(meta.clone())
        .on_step(|report| {
            if report.step % 100 == 0 || report.step == set.iters {
                let nfe_now = report.records.iter().find(|(n, _)| n == "nfe").map_or(f64::NAN, |r| r.1);
                nfe.set(nfe_now);
                println!(
                    "step {:>5}: ELBO per spiral {:>9.2}, NFE {nfe_now:>4.0}, {:.1} s",
                    report.step,
                    -report.loss,
                    started.elapsed().as_secs_f64()
                );
            }
            curve.borrow_mut().push((report.step as f64, -report.loss));
            Ok(Control::Continue)
        });
    let summary = trainer.fit(train, |s, batch: &IrregularBatch, ctx| {
        let (bound, stats) = model.elbo(s, batch, &mut ctx.rng)?;
        ctx.record("nfe", stats.nfev as f64);
        Ok(bound.loss_per_sequence(1.0)?)
    })?;
    let train_secs = started.elapsed().as_secs_f64();
    let store = trainer.into_store();

    println!("{} steps in {train_secs:.1} s", summary.steps);
    let saved = out.join("latent_ode.safetensors");
    model_file::save(&saved, &meta, &store)?;
    println!("trained model: {} (reload it with --load; the checkpoints load too)", saved.display());
    let path = out.join("06_latent_ode_elbo.png");
    let axes =
        Axes { title: "Latent ODE on spirals: training ELBO per spiral", x: "step", y: "ELBO", log_y: false };
    plot::line_chart(&path, &axes, &[Series::new("ELBO (one sample)", curve.into_inner())])?;
    println!("training curve: {}", path.display());
    Ok((model, store))
}
