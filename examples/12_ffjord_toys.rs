//! # 12: FFJORD, a continuous normalizing flow, on the 2-D toy sets
//!
//! Grathwohl et al. (2019) with the defaults of FFJORD's `train_toy.py`: one
//! continuous flow whose field is 2-64-64-64-2 ConcatSquash layers with tanh, the end
//! time learned as `s^2` from 0.5, Dopri5 at rtol = atol = 1e-5, the exact trace (two
//! vector-Jacobian products per evaluation in 2-D), a fresh batch of 100 points per
//! step, Adam 1e-3 with weight decay 1e-5. Gradients are checkpointed
//! backpropagation through the solver (exact) where FFJORD uses the backsolve
//! adjoint. The density of a point is `ln N(z(T); 0, I) + int_0^T tr(df/dz) dt`.
//!
//! Each set is trained twice: plainly, and with the kinetic-energy and
//! Jacobian-Frobenius penalties of Finlay et al. (2020), each weighted 0.01 (they are
//! two more integrated states of the same solve), to see how many fewer evaluations
//! the solver needs and what it costs in likelihood. The script prints the test NLL
//! (exact trace, Dopri5 at the training tolerance as FFJORD evaluates, 5,000 fresh
//! points) beside the set's entropy where it is known (the NLL's floor), the learned
//! end time and the evaluations per training step at the end (forward plus
//! backward).
//!
//! The budget is far below FFJORD's 10,000 iterations: `--iters N` per model
//! (default 1,500), on every set or on those named by `--sets` (e.g.
//! `--sets 8gaussians,checkerboard,rings`). Run: `cargo run --release --example
//! 12_ffjord_toys -- [--iters N] [--sets a,b] [--quick] [--seed N] [--out DIR]`; the
//! default run (seven sets) takes roughly 15 to 40 minutes, growing with the solver's
//! evaluations per step. Writes to `target/runs/12_ffjord_toys/` (or `--out`):
//! `12_ffjord_<set>.png` (data histogram | FFJORD density | histogram of FFJORD's
//! samples | regularised FFJORD's density, on `[-4, 4]^2`) and `12_ffjord_nfe.png`
//! (evaluations per step over training), and each trained model as
//! `12_ffjord_<set>[_reg].safetensors`: `--load` one to score and draw it without
//! training.

use clap::Parser;
use latent_seq::ChaCha8Rng;
use latent_seq::autodiff::ndarray::Array2;
use latent_seq::autodiff::{NoGrad, ParamStore, Session, Tape, Tensor};
use latent_seq::cli::{self, BoxResult, Common, Steps};
use latent_seq::flows::cnf::{CnfConfig, ContinuousFlow};
use latent_seq::flows::{FlowDistribution, Grid, Toy};
use latent_seq::plot::{self, Series};
use latent_seq::rand::SeedableRng;
use latent_seq::trainers::model_file::{self, ModelMeta};
use latent_seq::trainers::{Adam, Optim, Optimizer};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

/// The sets, those with a known entropy (`Toy::entropy`, the floor of a test NLL)
/// first.
const SETS: [Toy; 7] = [
    Toy::EightGaussians,
    Toy::Checkerboard,
    Toy::Rings,
    Toy::TwoSpirals,
    Toy::Pinwheel,
    Toy::TwoMoons,
    Toy::Circles,
];

/// Weight of each of Finlay et al.'s penalties.
const PENALTY: f64 = 0.01;
/// Training points per step (FFJORD's batch).
const BATCH: usize = 100;
/// Steps averaged per point of the evaluations-over-training picture.
const NFE_WINDOW: usize = 50;

/// A trained flow's scores and pictures.
struct Fit {
    test_nll: f64,
    end_time: f64,
    /// Evaluations (forward plus backward) of every training step.
    nfe: Vec<usize>,
    density: Array2<f64>,
    samples: Array2<f64>,
    /// Seconds of training (the evaluation not included).
    seconds: f64,
}

/// What a saved FFJORD model was: its configuration (the probe seed included) and
/// the set it was fitted to.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct FfjordSpec {
    cnf: CnfConfig,
    set: String,
    regularised: bool,
}

/// The model kind written into the files.
const KIND: &str = "ffjord_2d";

/// The test NLL (exact trace, the evaluation solver) and density image of `dist`.
fn score(
    dist: &FlowDistribution<ContinuousFlow>,
    store: &ParamStore,
    test: &Array2<f64>,
    grid: &Grid,
) -> BoxResult<(f64, Array2<f64>)> {
    let s = NoGrad::new(store);
    let test_nll = -dist.log_prob(&s, test)?.view().mean().unwrap_or(f64::NAN);
    Ok((test_nll, grid.image(&dist.log_prob(&s, &grid.points())?.mapv(f64::exp))?))
}

fn fit(
    toy: Toy,
    regularised: bool,
    iters: usize,
    quick: bool,
    grid: &Grid,
    seed: u64,
    out: &Path,
) -> BoxResult<Fit> {
    let start = Instant::now();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut store = ParamStore::new();
    let config =
        CnfConfig { hidden: if quick { vec![8, 8] } else { vec![64, 64, 64] }, seed, ..CnfConfig::default() };
    let spec = FfjordSpec { cnf: config.clone(), set: toy.name().into(), regularised };
    let dist = FlowDistribution::standard(ContinuousFlow::new(&mut store, "ffjord", 2, config, &mut rng)?);
    let mut adam = Optim::new(Adam { lr: 1e-3, weight_decay: 1e-5, ..Adam::default() })?;
    let mut nfe = Vec::with_capacity(iters);
    for _ in 0..iters {
        let x = toy.sample(BATCH, &mut rng);
        let tape = Tape::new();
        let s = tape.session(&store);
        let out = dist.flow().forward_regularised(&s, &s.constant(x))?;
        let nll = dist.base_log_prob(&out.z)?.add(&out.log_det)?.mean()?.neg();
        let loss =
            if regularised { nll.add(&out.kinetic.add(&out.jacobian)?.mean()?.scale(PENALTY))? } else { nll };
        let grads = loss.backward()?.into_params();
        adam.step(&mut store, &grads)?;
        nfe.push(dist.flow().take_work().iter().map(|w| w.forward.nfev + w.backward.nfev).sum());
    }
    let seconds = start.elapsed().as_secs_f64();
    let reg = if regularised { "_reg" } else { "" };
    model_file::save(
        &out.join(format!("12_ffjord_{}{reg}.safetensors", toy.name())),
        &ModelMeta::new(KIND, &spec)?,
        &store,
    )?;
    let test = toy.sample(if quick { 200 } else { 5_000 }, &mut rng);
    let (test_nll, density) = score(&dist, &store, &test, grid)?;
    let samples = grid.histogram(&dist.sample(&store, if quick { 200 } else { 5_000 }, &mut rng)?)?;
    dist.flow().take_work(); // evaluation solves are not training work
    Ok(Fit { test_nll, end_time: dist.flow().end_time(&store)?, nfe, density, samples, seconds })
}

/// Mean evaluations per step over the last tenth of training.
fn final_nfe(nfe: &[usize]) -> f64 {
    let tail = &nfe[nfe.len() - nfe.len().div_ceil(10)..];
    tail.iter().sum::<usize>() as f64 / tail.len() as f64
}

/// Command-line settings.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    steps: Steps,
    /// Toy sets to fit, comma-separated [default: 8gaussians, checkerboard, rings,
    /// 2spirals, pinwheel, moons, circles]
    #[arg(long, value_delimiter = ',', value_parser = toy_named, value_name = "A,B")]
    sets: Vec<Toy>,
}

/// `--load`: scores a saved model on 5,000 fresh points of its set (drawn from
/// `--seed`, so not the trained run's test points) and draws its density.
fn load_and_score(file: &Path, out: &Path, seed: u64) -> BoxResult<()> {
    let spec: FfjordSpec = model_file::config(file, KIND)?;
    let toy = toy_named(&spec.set)?;
    let build = |store: &mut ParamStore, spec: FfjordSpec| {
        Ok(ContinuousFlow::new(store, "ffjord", 2, spec.cnf, &mut ChaCha8Rng::seed_from_u64(0))?)
    };
    let (flow, store) = model_file::load(file, KIND, build)?;
    let dist = FlowDistribution::standard(flow);
    let grid = Grid::new(4.0, 60)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed + 1_000);
    let (test_nll, density) = score(&dist, &store, &toy.sample(5_000, &mut rng), &grid)?;
    println!(
        "FFJORD{} on {} loaded from {}: test NLL {test_nll:.3} nats per point on 5,000 fresh points (entropy {}); \
         end time {:.3}; no training",
        if spec.regularised { " (regularised)" } else { "" },
        spec.set,
        file.display(),
        toy.entropy().map_or("unknown".into(), |h| format!("{h:.3}")),
        dist.flow().end_time(&store)?
    );
    let data = grid.histogram(&toy.sample(100_000, &mut rng))?;
    let path = out.join(format!("12_ffjord_{}_loaded.png", spec.set));
    plot::density_panels(&path, 4.0, &[("data (histogram)", &data), ("FFJORD density", &density)])?;
    println!("image: {}", path.display());
    Ok(())
}

fn toy_named(name: &str) -> Result<Toy, String> {
    SETS.iter().copied().find(|t| t.name() == name).ok_or_else(|| {
        let known: Vec<&str> = SETS.iter().map(Toy::name).collect();
        format!("unknown set {name} (known: {})", known.join(", "))
    })
}

fn main() -> ExitCode {
    let about = "FFJORD (a continuous normalizing flow) on seven 2-D toy sets, plain and with the kinetic and \
                 Jacobian regularisers: test NLL against the entropy, evaluations per step, density panels. \
                 Default: 1,500 Adam steps per model, roughly 15 to 40 minutes.";
    cli::main(about, run)
}

fn run(args: Args) -> BoxResult<()> {
    let out = args.common.start("12_ffjord_toys")?;
    let (quick, seed) = (args.common.quick, args.common.seed);
    if let Some(file) = &args.common.load {
        return load_and_score(file, &out, seed);
    }
    let iters = args.steps.iters.map_or(if quick { 3 } else { 1_500 }, |n| n as usize);
    let sets = if args.sets.is_empty() { SETS.to_vec() } else { args.sets.clone() };
    let sets = if quick { &sets[..1] } else { &sets[..] };
    let grid = Grid::new(4.0, if quick { 20 } else { 60 })?;
    let start = Instant::now();
    println!("FFJORD, {iters} Adam steps of {BATCH} points per model; test NLL in nats per point");
    println!(
        "{:<13} {:>8} {:>9} {:>9} {:>6} {:>6} {:>6} {:>7}",
        "data set", "entropy", "FFJORD", "+ reg.", "NFE", "NFE r.", "T", "train s"
    );
    let mut nfe_panels = Vec::new();
    for (i, &toy) in sets.iter().enumerate() {
        // The plain and the regularised model train side by side on the two cores.
        let (plain, reg) = std::thread::scope(|scope| {
            let (grid, out) = (&grid, &out);
            let a = scope.spawn(move || fit(toy, false, iters, quick, grid, seed + 100 + i as u64, out));
            let b = scope.spawn(move || fit(toy, true, iters, quick, grid, seed + 100 + i as u64, out));
            (a.join().expect("a training thread panicked"), b.join().expect("a training thread panicked"))
        });
        let (plain, reg) = (plain?, reg?);
        println!(
            "{:<13} {:>8} {:>9.3} {:>9.3} {:>6.1} {:>6.1} {:>6.3} {:>7.0}",
            toy.name(),
            toy.entropy().map_or("-".to_string(), |h| format!("{h:.3}")),
            plain.test_nll,
            reg.test_nll,
            final_nfe(&plain.nfe),
            final_nfe(&reg.nfe),
            plain.end_time,
            plain.seconds.max(reg.seconds),
        );
        let mut data_rng = ChaCha8Rng::seed_from_u64(seed + 900 + i as u64);
        let data = grid.histogram(&toy.sample(100_000, &mut data_rng))?;
        let panels = [
            ("data (histogram)", &data),
            ("FFJORD density", &plain.density),
            ("FFJORD samples (histogram)", &plain.samples),
            ("+ kinetic, Jacobian: density", &reg.density),
        ];
        plot::density_panels(&out.join(format!("12_ffjord_{}.png", toy.name())), 4.0, &panels)?;
        // Means over windows of 50 steps: the count jumps by whole solver steps.
        let curve = |label: &str, nfe: &[usize]| {
            let points = nfe
                .chunks(NFE_WINDOW)
                .enumerate()
                .map(|(k, w)| {
                    (((k * NFE_WINDOW) + w.len()) as f64, w.iter().sum::<usize>() as f64 / w.len() as f64)
                })
                .collect();
            Series::new(label, points)
        };
        nfe_panels.push((
            toy.name().to_string(),
            vec![curve("FFJORD", &plain.nfe), curve("+ kinetic, Jacobian", &reg.nfe)],
        ));
    }
    plot::panels(
        &out.join("12_ffjord_nfe.png"),
        "training step",
        "evaluations per step (mean of 50)",
        &nfe_panels,
        nfe_panels.len().min(4),
    )?;
    println!(
        "images (data | FFJORD density | FFJORD samples | regularised density): {}",
        out.join("12_ffjord_<set>.png").display()
    );
    println!(
        "evaluations over training: {}; {:.0} s in all",
        out.join("12_ffjord_nfe.png").display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
