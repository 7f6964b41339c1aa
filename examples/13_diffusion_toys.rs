//! # 13: a diffusion model on the 2-D toy sets: its bound and its exact likelihood
//!
//! A DDPM (Ho et al. 2020) read as the hierarchical VAE it is: the noising chain is
//! the fixed encoder, the reverse chain the learned decoder. Each set trains one
//! noise-prediction MLP ([`seqmodels::diffusion::NoiseNet`]: `[x, 32 sinusoidal step
//! features]` through three hidden layers of 128 with ReLU) on Ho et al.'s simplified
//! loss (eq. 14), Adam 1e-3, a fresh batch of 256 points per step, with `T = 100`
//! steps on Song et al.'s VP schedule (`beta_t` linear from `0.1 / T` to `20 / T`)
//! and `sigma_t^2 = beta_t`. The same trained network is then scored twice on 2,000
//! fresh points:
//!
//! * the **bound**: `-ELBO = L_T + sum_t L_{t-1} + L_0` (eq. 5), every KL term in
//!   closed form and a Gaussian decoder `p(x | z_1)`, so it bounds the NLL of a
//!   density from above;
//! * the **probability-flow NLL**: the chain read as the VP-SDE, whose
//!   probability-flow ODE (Song et al. 2021, eq. 13) is a continuous normalizing flow
//!   of the same network; solved with `flows::cnf::solve_log_det` (Dopri5 at
//!   rtol = atol = 1e-5, exact trace) from `u = 1e-5` to `u = 1`.
//!
//! The table puts them beside the set's entropy (the floor of any test NLL) and the
//! test NLLs that examples 02 (RealNVP, MAF) and 12 (FFJORD) measured, as recorded in
//! `crates/flows/README.md` (their own budgets and seeds). Pictures, in
//! `target/runs/13_diffusion_toys/` (or `--out`): `13_diffusion_<set>_noising.png`,
//! histograms of the noising chain of
//! fresh data at `t = 0, T/10, T/4, T/2, T`, and `.._denoising.png`, the denoising
//! chain (ancestral sampling, Ho et al.'s Algorithm 2) at the same steps, read right
//! to left: its `t = 0` panel is the samples.
//!
//! With `--bound` the network trains on the bound itself instead of the simplified
//! loss: `Diffusion::sampled_bound`, Ho et al.'s unbiased estimate of eq. 5 from one
//! random step per point (pictures named `13_diffusion_<set>_bound_..`).
//!
//! Run: `cargo run --release --example 13_diffusion_toys -- [--iters N] [--bound]
//! [--quick] [--seed N] [--out DIR]` (default 4,000 steps per set, about 5 minutes;
//! `--quick` trains a tiny model for a few steps on one set). Each trained model is
//! saved as `13_diffusion_<set>[_bound].safetensors`; `--load` one to score it without
//! training.

use clap::Parser;
use latent_seq::ChaCha8Rng;
use latent_seq::autodiff::ndarray::Array2;
use latent_seq::autodiff::{Activation, NoGrad, ParamStore, Tape, Tensor};
use latent_seq::cli::{self, BoxResult, Common, Steps};
use latent_seq::flows::{Grid, Toy};
use latent_seq::plot;
use latent_seq::rand::SeedableRng;
use latent_seq::seqmodels::diffusion::{Diffusion, DiffusionConfig, FlowOptions, Schedule};
use latent_seq::trainers::model_file::{self, ModelMeta};
use latent_seq::trainers::{Adam, Optim, Optimizer};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

/// A set (its entropy is `Toy::entropy`) and the test NLLs of RealNVP, MAF (example
/// 02) and FFJORD (example 12) recorded in `crates/flows/README.md`.
struct Set {
    toy: Toy,
    real_nvp: f64,
    maf: f64,
    ffjord: f64,
}

const SETS: [Set; 3] = [
    Set { toy: Toy::EightGaussians, real_nvp: 2.979, maf: 3.227, ffjord: 2.829 },
    Set { toy: Toy::Checkerboard, real_nvp: 3.706, maf: 3.939, ffjord: 3.705 },
    Set { toy: Toy::Rings, real_nvp: 3.413, maf: 3.424, ffjord: 3.307 },
];

/// Training points per step.
const BATCH: usize = 256;

/// What one trained model scored, and its pictures.
struct Fit {
    bound_nll: f64,
    flow_nll: f64,
    /// Evaluations of the field in the probability-flow solve.
    flow_nfe: usize,
    seconds: f64,
}

/// What the network is trained on.
#[derive(Debug, Clone, Copy)]
enum Objective {
    /// Ho et al.'s eq. 14.
    Simple,
    /// The negated bound, estimated from one step per point.
    Bound,
}

fn fit(
    set: &Set,
    objective: Objective,
    iters: usize,
    quick: bool,
    grid: &Grid,
    seed: u64,
    out: &Path,
) -> BoxResult<Fit> {
    let start = Instant::now();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let steps = if quick { 40 } else { 100 };
    let spec = DdpmSpec {
        steps,
        beta_first: 0.1 / steps as f64,
        beta_last: 20.0 / steps as f64,
        net: DiffusionConfig {
            activation: Activation::Relu,
            ..DiffusionConfig::new(2, if quick { vec![16] } else { vec![128, 128, 128] })
        },
        set: set.toy.name().into(),
    };
    let mut store = ParamStore::new();
    let model = spec.build(&mut store, &mut rng)?;
    let mut adam = Optim::new(Adam { lr: 1e-3, ..Adam::default() })?;
    for _ in 0..iters {
        let x = set.toy.sample(BATCH, &mut rng);
        let tape = Tape::new();
        let s = tape.session(&store);
        let loss = match objective {
            Objective::Simple => model.simple_loss(&s, &x, &mut rng)?.mean()?,
            Objective::Bound => model.sampled_bound(&s, &x, &mut rng)?.mean()?.neg(),
        };
        adam.step(&mut store, &loss.backward()?.into_params())?;
    }
    let name = set.toy.name();
    let tag = match objective {
        Objective::Simple => "",
        Objective::Bound => "_bound",
    };
    let saved = out.join(format!("13_diffusion_{name}{tag}.safetensors"));
    model_file::save(&saved, &ModelMeta::new(KIND, &spec)?, &store)?;
    let test = set.toy.sample(if quick { 100 } else { 2_000 }, &mut rng);
    let (bound_nll, flow_nll, flow_nfe) = score(&model, &store, &test, &mut rng)?;

    // Pictures: the noising chain of fresh data and the denoising chain of samples,
    // at the same steps.
    let n = if quick { 500 } else { 20_000 };
    let shown = [0, steps / 10, steps / 4, steps / 2, steps];
    let data = set.toy.sample(n, &mut rng);
    let noised: Vec<Array2<f64>> = shown
        .iter()
        .map(|&t| {
            if t == 0 {
                return Ok(data.clone());
            }
            Ok(model.schedule().q_marginal(&data, &vec![t; n])?.sample(&mut rng)?)
        })
        .collect::<BoxResult<_>>()?;
    // sample_chain returns z_T .. z_1, x: z_t is entry T - t.
    let chain = model.sample_chain(&store, n, &mut rng)?;
    let denoised: Vec<&Array2<f64>> = shown.iter().map(|&t| &chain[steps - t]).collect();
    let titles = |kind: &str| shown.map(|t| format!("{kind} t = {t}"));
    let (q_titles, p_titles) = (titles("noising"), titles("denoising"));
    let hist: Vec<Array2<f64>> =
        noised.iter().chain(denoised.iter().copied()).map(|z| grid.histogram(z)).collect::<Result<_, _>>()?;
    let panels: Vec<(&str, &Array2<f64>)> =
        q_titles.iter().chain(&p_titles).map(String::as_str).zip(hist.iter()).collect();
    plot::density_panels(&out.join(format!("13_diffusion_{name}{tag}_noising.png")), 4.0, &panels[..5])?;
    plot::density_panels(&out.join(format!("13_diffusion_{name}{tag}_denoising.png")), 4.0, &panels[5..])?;
    Ok(Fit { bound_nll, flow_nll, flow_nfe, seconds: start.elapsed().as_secs_f64() })
}

/// What a saved DDPM was: its noise schedule (linear in `beta`), its network and the
/// set it was fitted to.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DdpmSpec {
    steps: usize,
    beta_first: f64,
    beta_last: f64,
    net: DiffusionConfig,
    set: String,
}

/// The model kind written into the files.
const KIND: &str = "ddpm_2d";

impl DdpmSpec {
    fn build(&self, store: &mut ParamStore, rng: &mut ChaCha8Rng) -> BoxResult<Diffusion> {
        let schedule = Schedule::linear(self.steps, self.beta_first, self.beta_last)?;
        Ok(Diffusion::new(store, "ddpm", schedule, self.net.clone(), rng)?)
    }
}

/// The test bound (-ELBO) and probability-flow NLL of `model` on `test`, in nats per
/// point, and the flow solve's evaluations.
fn score(
    model: &Diffusion,
    store: &ParamStore,
    test: &Array2<f64>,
    rng: &mut ChaCha8Rng,
) -> BoxResult<(f64, f64, usize)> {
    let s = NoGrad::new(store);
    let bound = model.chain_bound(&s, test, rng)?.into_elbo()?;
    let bound_nll = -bound.elbo()?.mean()?.item()?;
    let flow = model.flow_log_likelihood(&s, test, &FlowOptions::default(), rng)?;
    Ok((bound_nll, -flow.log_likelihood.mean()?.item()?, flow.solution.work.get().forward.nfev))
}

/// `--load`: scores a saved DDPM on 2,000 fresh points of its set (drawn from
/// `--seed`, so not the trained run's test points).
fn load_and_score(file: &Path, seed: u64) -> BoxResult<()> {
    let spec: DdpmSpec = model_file::config(file, KIND)?;
    let (model, store) = model_file::load(file, KIND, |store, spec: DdpmSpec| {
        spec.build(store, &mut ChaCha8Rng::seed_from_u64(0))
    })?;
    let toy = SETS.iter().find(|s| s.toy.name() == spec.set).ok_or(format!("unknown set {}", spec.set))?.toy;
    let mut rng = ChaCha8Rng::seed_from_u64(seed + 1_000);
    let test = toy.sample(2_000, &mut rng);
    let (bound_nll, flow_nll, nfe) = score(&model, &store, &test, &mut rng)?;
    println!(
        "DDPM on {} loaded from {}: -ELBO {bound_nll:.3}, probability-flow NLL {flow_nll:.3} nats per point ({nfe} \
         evaluations) on 2,000 fresh points; no training",
        spec.set,
        file.display()
    );
    Ok(())
}

/// Command-line settings.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    steps: Steps,
    /// Train on the bound itself (Ho et al.'s one-random-step estimate of eq. 5)
    /// instead of the simplified loss
    #[arg(long)]
    bound: bool,
}

fn main() -> ExitCode {
    let about = "A DDPM on three 2-D toy sets: the test bound and the exact probability-flow NLL of the same \
                 network beside the entropy and the flows' NLLs; pictures of the noising and denoising chains. \
                 Default: 4,000 Adam steps per set, about 5 minutes.";
    cli::main(about, run)
}

fn run(args: Args) -> BoxResult<()> {
    let out = args.common.start("13_diffusion_toys")?;
    let (quick, seed) = (args.common.quick, args.common.seed);
    if let Some(file) = &args.common.load {
        return load_and_score(file, seed);
    }
    let objective = if args.bound { Objective::Bound } else { Objective::Simple };
    let iters = args.steps.iters.map_or(if quick { 5 } else { 4_000 }, |n| n as usize);
    let sets = if quick { &SETS[..1] } else { &SETS[..] };
    let grid = Grid::new(4.0, if quick { 20 } else { 60 })?;
    println!(
        "DDPM trained on {objective:?}, {iters} Adam steps of {BATCH} points per set; test NLL in nats per point"
    );
    println!(
        "{:<13} {:>8} {:>9} {:>9} {:>5} {:>8} {:>8} {:>8} {:>7}",
        "data set", "entropy", "-ELBO", "PF-ODE", "NFE", "RealNVP", "MAF", "FFJORD", "s"
    );
    for (i, set) in sets.iter().enumerate() {
        let f = fit(set, objective, iters, quick, &grid, seed + 100 + i as u64, &out)?;
        println!(
            "{:<13} {:>8.3} {:>9.3} {:>9.3} {:>5} {:>8.3} {:>8.3} {:>8.3} {:>7.0}",
            set.toy.name(),
            set.toy.entropy().unwrap_or(f64::NAN),
            f.bound_nll,
            f.flow_nll,
            f.flow_nfe,
            set.real_nvp,
            set.maf,
            set.ffjord,
            f.seconds
        );
    }
    println!("RealNVP, MAF: example 02; FFJORD: example 12 (crates/flows/README.md, their own budgets)");
    println!("pictures: {}, _denoising.png", out.join("13_diffusion_<set>[_bound]_noising.png").display());
    Ok(())
}
