//! # 04: a variational autoencoder on 8x8 digits
//!
//! The VAE of Kingma and Welling (2013) on the 1,797 binarized 8x8 digits of the UCI
//! optical recognition data (shipped in `crates/seqmodels/data/` with its
//! scikit-learn licence): a Gaussian encoder `q(z | x)` and a Bernoulli decoder
//! `p(x | z)`, each one hidden layer of 128 tanh units, `z` of dimension 8. Trained
//! with Adam on the ELBO (closed-form KL, one reparameterised sample), keeping the
//! parameters of the epoch with the best validation ELBO.
//!
//! Reports, on the test images (a seeded 20% split), the ELBO and the
//! importance-weighted log-likelihood estimate with `K = 1000` samples (Burda et al.
//! 2016), both in nats per image; the gap between them bounds the KL from the
//! encoder to the true posterior.
//!
//! Run: `cargo run --release --example 04_vae_digits -- [--data digits.csv] [--quick]
//! [--seed N] [--out DIR]`. Writes to `target/runs/04_vae_digits/` (or `--out`):
//! `04_vae_digits_grid.png` (top two rows: ten test digits and their reconstructions,
//! the decoder's mean at the posterior mean; then five rows of samples from the
//! prior, decoder means) and `04_vae_digits_elbo.png` (training and validation ELBO
//! per epoch), and the trained model as `vae.safetensors` (its configuration inside):
//! `--load` that file to evaluate and sample without training.

use clap::Parser;
use latent_seq::ChaCha8Rng;
use latent_seq::autodiff::data::{RowBatch, Rows, split};
use latent_seq::autodiff::ndarray::{Array2, Axis, concatenate};
use latent_seq::autodiff::{Activation, NoGrad, ParamStore};
use latent_seq::cli::{self, BoxResult, Common};
use latent_seq::plot::{self, Axes, ColourScale, Heatmap, Series};
use latent_seq::rand::SeedableRng;
use latent_seq::seqmodels::data::load_digits;
use latent_seq::seqmodels::{ObsKind, Vae, VaeConfig};
use latent_seq::trainers::model_file::{self, ModelMeta};
use latent_seq::trainers::{Adam, Control, EarlyStopping, Mode, Optim, Trainer};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The mean ELBO per image of `x`, averaged over `draws` samples of `z` per image.
fn mean_elbo(
    vae: &Vae,
    store: &ParamStore,
    x: &Array2<f64>,
    draws: usize,
    seed: u64,
) -> Result<f64, latent_seq::seqmodels::Error> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut total = 0.0;
    for _ in 0..draws {
        total += vae.elbo(&NoGrad::new(store), x, &mut rng)?.elbo()?.view().mean().unwrap_or(f64::NAN);
    }
    Ok(total / draws as f64)
}

/// Images (rows of 64) laid side by side in one strip, with a 1-pixel gap.
fn strip(images: &Array2<f64>) -> Array2<f64> {
    let mut tiles = Vec::new();
    for row in images.outer_iter() {
        tiles.push(row.to_owned().into_shape_with_order((8, 8)).expect("64 pixels"));
        tiles.push(Array2::from_elem((8, 1), 0.5));
    }
    let views: Vec<_> = tiles.iter().map(|t| t.view()).collect();
    concatenate(Axis(1), &views).expect("tiles of 8 rows")
}

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    common: Common,
    /// The binarized 8x8 digits as CSV [default: the copy embedded in
    /// crates/seqmodels/data/]
    #[arg(long, value_name = "FILE")]
    data: Option<PathBuf>,
}

/// The model kind written into its file.
const KIND: &str = "vae";

/// What the model file holds besides the parameters: the VAE's configuration and the
/// run's seed and size, which rebuild the same split (so `--load` scores the same test
/// digits, never ones it trained on).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Saved {
    vae: VaeConfig,
    seed: u64,
    quick: bool,
}

fn main() -> ExitCode {
    let about = "A VAE on the binarized 8x8 digits: test ELBO and importance-weighted log-likelihood (K = 1,000); \
                 samples and reconstructions. Default: up to 400 epochs with early stopping, about a minute.";
    cli::main(about, run)
}

fn run(args: Args) -> BoxResult<()> {
    let out = args.common.start("04_vae_digits")?;
    let loaded: Option<Saved> =
        args.common.load.as_deref().map(|f| model_file::config(f, KIND)).transpose()?;
    let (quick, seed) = loaded.as_ref().map_or((args.common.quick, args.common.seed), |s| (s.quick, s.seed));
    let path = args.data.unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/seqmodels/data/digits_8x8_binarized.csv")
    });
    let path =
        cli::require_file(&path, "the binarized 8x8 digits (64 columns of 0/1 per row, CSV)", "--data")?;
    let digits = load_digits(&path)?;
    let n = digits.images.nrows();
    let parts = split(n, 0.1, 0.2, &mut ChaCha8Rng::seed_from_u64(seed))?;
    let pick = |idx: &[usize]| digits.images.select(Axis(0), idx);
    let (train, val, test) = (pick(&parts.train), pick(&parts.val), pick(&parts.test));
    println!(
        "{n} digits from {}: {} training, {} validation, {} test",
        path.display(),
        train.nrows(),
        val.nrows(),
        test.nrows()
    );

    let (vae, store) = match &args.common.load {
        Some(file) => {
            let build = |store: &mut ParamStore, saved: Saved| {
                Ok(Vae::new(store, "vae", saved.vae, &mut ChaCha8Rng::seed_from_u64(0))?)
            };
            let (vae, store) = model_file::load(file, KIND, build)?;
            println!("loaded {} ({} parameters); no training", file.display(), store.num_scalars());
            (vae, store)
        }
        None => train_vae(&train, &val, quick, seed, &out)?,
    };

    let k = if quick { 10 } else { 1_000 };
    let test_elbo = mean_elbo(&vae, &store, &test, if quick { 1 } else { 10 }, seed + 4)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed + 5);
    let iw = vae.log_likelihood(&store, &test, k, &mut rng)?.view().mean().unwrap_or(f64::NAN);
    println!("test: ELBO {test_elbo:.3}, importance-weighted log p(x) (K = {k}) {iw:.3} nats per image");
    println!("      per pixel: ELBO {:.4}, log p(x) {:.4} nats", test_elbo / 64.0, iw / 64.0);

    // Ten test digits, their reconstructions, and fifty samples from the prior.
    let originals = test.select(Axis(0), &(0..10).collect::<Vec<_>>());
    let recon = vae.reconstruct(&store, &originals)?;
    let (means, _) = vae.sample(&store, 50, &mut rng)?;
    let gap = Array2::from_elem((1, 10 * 9), 0.5);
    let mut rows = vec![strip(&originals), gap.clone(), strip(&recon), gap.clone(), gap.clone()];
    for r in 0..5 {
        rows.push(strip(&means.select(Axis(0), &(10 * r..10 * r + 10).collect::<Vec<_>>())));
        rows.push(gap.clone());
    }
    let views: Vec<_> = rows.iter().map(|r| r.view()).collect();
    let grid = concatenate(Axis(0), &views)?;
    let (height, width) = grid.dim();
    let panel = Heatmap {
        title: "10 test digits, their reconstructions, then 50 samples from the prior",
        values: &grid,
        x: ("pixel column", 0.0, width as f64),
        y: ("pixel row (from the bottom)", 0.0, height as f64),
        scale: ColourScale::Fixed(0.0, 1.0),
        colour_bar: "P(pixel on)",
    };
    let path =
        out.join(if loaded.is_some() { "04_vae_digits_grid_loaded.png" } else { "04_vae_digits_grid.png" });
    plot::heatmaps(&path, &[panel], 1, (7 * width as u32 + 160, 7 * height as u32 + 90))?;
    println!("digits, reconstructions and samples: {}", path.display());

    Ok(())
}

/// Trains the VAE with early stopping on the validation ELBO, saves it as
/// `vae.safetensors` in `out` and draws the ELBO curves.
fn train_vae(
    train: &Array2<f64>,
    val: &Array2<f64>,
    quick: bool,
    seed: u64,
    out: &Path,
) -> BoxResult<(Vae, ParamStore)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed + 1);
    let mut store = ParamStore::new();
    let config = VaeConfig {
        x_dim: 64,
        z_dim: 8,
        hidden: vec![128],
        obs: ObsKind::Bernoulli,
        activation: Activation::Tanh,
        min_std: 1e-4,
    };
    let meta = ModelMeta::new(KIND, &Saved { vae: config.clone(), seed, quick })?;
    let vae = Vae::new(&mut store, "vae", config, &mut rng)?;
    let epochs = if quick { 5 } else { 400 };
    let curve = RefCell::new(Vec::new());
    let adam = Optim::new(Adam { lr: 1e-3, ..Adam::default() })?;
    let mut trainer = Trainer::new(store, adam, seed)
        .epochs(epochs)
        .batch_size(64)
        .early_stopping(EarlyStopping::new(40, 0.0, Mode::Max)?, "val_elbo")
        .on_epoch(|report| {
            let v = mean_elbo(&vae, report.store, val, 1, seed + 3)?;
            report.metrics.insert("val_elbo".into(), v);
            curve.borrow_mut().push((report.epoch as f64, -report.train_loss, v));
            Ok(Control::Continue)
        });
    let data = Rows::new(vec![train.clone()])?;
    let summary = trainer.fit(&data, |s, batch: &RowBatch, ctx| {
        Ok(vae.elbo(s, &batch.arrays[0], &mut ctx.rng)?.loss_per_sequence(1.0)?)
    })?;
    let store = trainer.into_store();
    let (best, best_epoch) = summary.best.unwrap_or((f64::NAN, 0));
    println!(
        "{} epochs; best validation ELBO {best:.3} nats per image at epoch {best_epoch}",
        summary.epochs
    );
    let saved = out.join("vae.safetensors");
    model_file::save(&saved, &meta, &store)?;
    println!("trained VAE: {} (reload it with --load)", saved.display());

    let curve = curve.into_inner();
    let train_pts = curve.iter().map(|c| (c.0, c.1)).collect();
    let val_pts = curve.iter().map(|c| (c.0, c.2)).collect();
    let path = out.join("04_vae_digits_elbo.png");
    let axes = Axes { title: "VAE on 8x8 digits", x: "epoch", y: "ELBO (nats per image)", log_y: false };
    plot::line_chart(
        &path,
        &axes,
        &[Series::new("training", train_pts), Series::new("validation", val_pts)],
    )?;
    println!("ELBO curves: {}", path.display());
    Ok((vae, store))
}
