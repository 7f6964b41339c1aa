//! # 01: fitting an MLP with the tape and the trainer
//!
//! The smallest complete training run in latent-seq: a 2-64-64-1 tanh MLP learns a
//! smooth function of two inputs from noisy samples, with Adam, mini-batches, a
//! validation split, a progress bar, a metrics log, checkpoints and a loss-curve
//! plot.
//!
//! The data are generated (seeded): inputs uniform on `[-2, 2]^2`, targets
//! `f(x) = sin(2 x_1) cos(x_2) + 0.3 x_1 x_2` plus Gaussian noise of standard
//! deviation 0.05, so the best achievable validation MSE is the noise variance,
//! 0.0025.
//!
//! Run: `cargo run --release --example 01_mlp_regression -- [--quick] [--seed N]
//! [--out DIR] [--threads N]` (`--help` says more). Writes to `target/runs/01_mlp_regression/`
//! (or `--out`): `01_mlp_regression_loss.png` and `_surface.png`, the metrics log
//! `metrics.jsonl` and checkpoints in `checkpoints/`, which carry the network's widths:
//! `--load` one to score and draw it without training.

use latent_seq::ChaCha8Rng;
use latent_seq::autodiff::data::Rows;
use latent_seq::autodiff::ndarray::Array2;
use latent_seq::autodiff::{Activation, Loss, Mlp, NoGrad, ParamStore, Session, Tensor};
use latent_seq::cli::{self, BoxResult, CommonOnly};
use latent_seq::plot::{self, Axes, ColourScale, Heatmap, Series};
use latent_seq::rand::{Rng, SeedableRng};
use latent_seq::trainers::model_file::{self, ModelMeta};
use latent_seq::trainers::{Adam, Optim, Schedule, Trainer};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::process::ExitCode;

const NOISE_STD: f64 = 0.05;

fn target(x1: f64, x2: f64) -> f64 {
    (2.0 * x1).sin() * x2.cos() + 0.3 * x1 * x2
}

/// `n` noisy samples: inputs `n x 2`, targets `n x 1`.
fn dataset(n: usize, rng: &mut ChaCha8Rng) -> (Array2<f64>, Array2<f64>) {
    let x = Array2::from_shape_simple_fn((n, 2), || rng.random_range(-2.0..2.0));
    let noise = latent_seq::rand_distr::Normal::new(0.0, NOISE_STD).expect("a positive standard deviation");
    let y = Array2::from_shape_fn((n, 1), |(i, _)| target(x[(i, 0)], x[(i, 1)]) + rng.sample(noise));
    (x, y)
}

fn mse<S: Session>(net: &Mlp, s: &S, x: &S::T, y: &S::T) -> latent_seq::autodiff::Result<Loss<S::T>> {
    Ok(Loss::mean(&net.forward(s, x)?.sub(y)?.square()))
}

fn main() -> ExitCode {
    let about = "An MLP 2-64-64-1 fitted to noisy samples of a smooth function with Adam, a validation split, \
                 a progress bar, a metrics log and checkpoints. Default: 150 epochs of 8,192 points, about 20 s \
                 in release.";
    cli::main(about, run)
}

/// The network's widths.
const WIDTHS: [usize; 4] = [2, 64, 64, 1];

/// What every checkpoint holds besides the parameters: the network's widths and the
/// run's seed and size, which rebuild the same validation points for `--load`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Saved {
    widths: Vec<usize>,
    seed: u64,
    quick: bool,
}

fn run(args: CommonOnly) -> BoxResult<()> {
    let out = args.common.start("01_mlp_regression")?;
    let loaded: Option<Saved> =
        args.common.load.as_deref().map(|f| model_file::config(f, "mlp")).transpose()?;
    let (quick, seed) = loaded.as_ref().map_or((args.common.quick, args.common.seed), |s| (s.quick, s.seed));
    let (n_train, epochs) = if quick { (1_024, 15) } else { (8_192, 150) };
    let mut rng = ChaCha8Rng::seed_from_u64(seed + 7);
    let (x_train, y_train) = dataset(n_train, &mut rng);
    let (x_val, y_val) = dataset(2_048, &mut rng);
    if let Some(file) = &args.common.load {
        let build = |store: &mut ParamStore, saved: Saved| {
            Ok(Mlp::new(store, "mlp", &saved.widths, Activation::Tanh, &mut ChaCha8Rng::seed_from_u64(0))?)
        };
        let (net, store) = model_file::load(file, "mlp", build)?;
        let val = mse(&net, &NoGrad::new(&store), &x_val, &y_val)?.value()?;
        println!(
            "loaded {}: validation MSE {val:.5} (noise floor {:.5}); no training",
            file.display(),
            NOISE_STD * NOISE_STD
        );
        return draw_surface(&net, &store, &out, "_loaded");
    }

    let mut store = ParamStore::new();
    let net = Mlp::new(&mut store, "mlp", &WIDTHS, Activation::Tanh, &mut rng)?;
    println!(
        "MLP 2-64-64-1 (tanh), {} parameters; {n_train} training and 2048 validation points",
        store.num_scalars()
    );

    let val_curve = std::cell::RefCell::new(Vec::new());
    let adam = Optim::new(Adam { lr: 3e-3, ..Adam::default() })?;
    let mut trainer = Trainer::new(store, adam, seed)
        .epochs(epochs)
        .batch_size(128)
        .schedule(Schedule::cosine(3e-3, 1e-4, epochs * (n_train as u64 / 128)))
        .metrics_log(out.join("metrics.jsonl"))
        .checkpoint_dir(out.join("checkpoints"))
        .keep_checkpoints(2)
        .model(ModelMeta::new("mlp", &Saved { widths: WIDTHS.to_vec(), seed, quick })?)
        .on_epoch(|report| {
            let s = NoGrad::new(report.store);
            let val = mse(&net, &s, &x_val, &y_val)?.value()?;
            report.metrics.insert("val_mse".into(), val);
            val_curve.borrow_mut().push((report.epoch as f64, val));
            Ok(latent_seq::trainers::Control::Continue)
        });
    let data = Rows::new(vec![x_train, y_train])?;
    let summary = trainer.fit(&data, |s, batch, _ctx| {
        let (x, y) = (s.constant(batch.arrays[0].clone()), s.constant(batch.arrays[1].clone()));
        Ok(mse(&net, s, &x, &y)?)
    })?;

    let val = val_curve.borrow().clone();
    let final_val = val.last().map_or(f64::NAN, |p| p.1);
    println!(
        "{} steps in {} epochs; final training MSE {:.5}, validation MSE {final_val:.5} (noise floor {:.5})",
        summary.steps,
        summary.epochs,
        summary.epoch_losses.last().copied().unwrap_or(f64::NAN),
        NOISE_STD * NOISE_STD
    );
    let train: Vec<(f64, f64)> =
        summary.epoch_losses.iter().enumerate().map(|(i, &l)| ((i + 1) as f64, l)).collect();
    let path = out.join("01_mlp_regression_loss.png");
    let axes = Axes { title: "MLP regression: mean squared error", x: "epoch", y: "MSE", log_y: true };
    plot::line_chart(&path, &axes, &[Series::new("training", train), Series::new("validation", val)])?;
    println!("loss curve: {}", path.display());

    draw_surface(&net, trainer.store(), &out, "")?;
    if let Some(ckpt) = summary.checkpoint {
        println!("last checkpoint: {} (score it again with --load)", ckpt.display());
    }
    Ok(())
}

/// A look at the fitted surface on a grid, beside the truth.
fn draw_surface(net: &Mlp, store: &ParamStore, out: &Path, tag: &str) -> BoxResult<()> {
    let grid = 80;
    let xs = Array2::from_shape_fn((grid * grid, 2), |(i, j)| {
        let k = if j == 0 { i % grid } else { i / grid };
        -2.0 + 4.0 * k as f64 / (grid - 1) as f64
    });
    let fitted = net.forward(&NoGrad::new(store), &xs)?;
    let truth = Array2::from_shape_fn((grid * grid, 1), |(i, _)| target(xs[(i, 0)], xs[(i, 1)]));
    // Inputs run x1 fastest, so a reshaped column has x2 down its rows: flipped, x2
    // grows upwards as on the axes.
    let surface = |v: &Array2<f64>| -> BoxResult<Array2<f64>> {
        Ok(v.to_shape((grid, grid))?.slice(latent_seq::ndarray::s![..;-1, ..]).to_owned())
    };
    let (truth, fitted) = (surface(&truth)?, surface(&fitted)?);
    let (lo, hi) = truth.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    let panel = |title, values| Heatmap {
        title,
        values,
        x: ("x1", -2.0, 2.0),
        y: ("x2", -2.0, 2.0),
        scale: ColourScale::Fixed(lo, hi),
        colour_bar: "f(x)",
    };
    let path = out.join(format!("01_mlp_regression_surface{tag}.png"));
    plot::heatmaps(&path, &[panel("truth", &truth), panel("MLP fit", &fitted)], 2, (420, 380))?;
    println!("truth (left) and fit (right): {}", path.display());
    Ok(())
}
