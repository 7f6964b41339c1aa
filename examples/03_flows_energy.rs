//! # 03: fitting unnormalised densities by reverse KL
//!
//! Variational inference with normalizing flows as in Rezende and Mohamed (2015,
//! Sec. 6.1): fit `q` (a flow over `N(0, I)`) to `p(z) ∝ exp(-U(z))` for the four
//! energies U1-U4 of their Table 1, by minimising
//!
//! `KL(q || p) = E_q[ln q(z) + U(z)] + ln Z`,
//!
//! whose gradient does not need `ln Z`: each step draws 256 base points, pushes them
//! through the flow (the generative, cheap direction) and averages `ln q + beta U`,
//! with `beta` annealed from 0.01 to 1 over the first half of training (as in the
//! paper; without it reverse KL tends to settle on one of U1's two arcs).
//! Flows: 32 planar layers, 32 radial layers, 4 IAF layers (MADE 2-64-64), 16
//! orthogonal Sylvester layers.
//!
//! To report `KL(q || p)` itself, `ln Z` is computed by 2-D quadrature (midpoint
//! rule, 1200 x 1200 cells on `[-7, 7]^2`, 400 x 400 with `--quick`, where `exp(-U)`
//! is negligible at the border); the remaining term is a Monte-Carlo mean over
//! 20,000 samples (5,000 with `--quick`), printed with its standard error. U2-U4 get
//! the smooth wall of [`flows::Energy`] outside `|z1| <= 4` (without it they have
//! infinite mass).
//!
//! Writes `03_flows_energy_<U>.png` to `target/runs/03_flows_energy/` (or `--out`):
//! the true density, then the fitted ones (histograms of 400,000 samples), on
//! `[-4, 4]^2`; and every trained flow as `03_flows_<U>_<family>.safetensors`:
//! `--load` one to estimate its KL on fresh samples and draw it without training.
//!
//! Run: `cargo run --release --example 03_flows_energy -- [--quick] [--seed N] [--out
//! DIR]` (6,000 steps per flow, three to
//! four minutes on 2 cores shared with other jobs; `--quick`: 150 steps and a quarter of the
//! planar, radial and Sylvester layers, a few seconds).

use latent_seq::ChaCha8Rng;
use latent_seq::autodiff::data::Rows;
use latent_seq::autodiff::ndarray::Array2;
use latent_seq::autodiff::{Loss, NoGrad, ParamStore, Tensor};
use latent_seq::cli::{self, BoxError, BoxResult, CommonOnly};
use latent_seq::flows::{Chain, Conditioning, Energy, FlowDistribution, Grid, SylvesterKind, models};
use latent_seq::plot::{self, ColourScale, Heatmap};
use latent_seq::rand::SeedableRng;
use latent_seq::trainers::model_file::{self, ModelMeta};
use latent_seq::trainers::{Adam, KlAnneal, Optim, Schedule, Trainer};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
enum Family {
    Planar,
    Radial,
    Iaf,
    Sylvester,
}

impl Family {
    const ALL: [Family; 4] = [Family::Planar, Family::Radial, Family::Iaf, Family::Sylvester];

    fn name(&self) -> &'static str {
        match self {
            Family::Planar => "planar",
            Family::Radial => "radial",
            Family::Iaf => "IAF",
            Family::Sylvester => "Sylvester",
        }
    }

    /// A fresh flow, its parameters in `store`; `quick` takes a quarter of the layers.
    fn build(
        &self,
        store: &mut ParamStore,
        quick: bool,
        rng: &mut ChaCha8Rng,
    ) -> latent_seq::flows::Result<Chain> {
        let k = |full: usize| if quick { full / 4 } else { full };
        match self {
            Family::Planar => models::planar(store, "planar", 2, k(32), rng),
            Family::Radial => models::radial(store, "radial", 2, k(32), rng),
            Family::Iaf => models::autoregressive(store, "iaf", 2, 4, &[64, 64], Conditioning::Base, rng),
            Family::Sylvester => {
                models::sylvester(store, "syl", 2, k(16), SylvesterKind::Orthogonal { columns: 2 }, rng)
            }
        }
    }
}

/// `ln Z = ln ∫ exp(-U)` by the midpoint rule, shifted by the minimum
/// energy so the exponentials cannot underflow.
fn log_partition(energy: Energy, cells: usize) -> Result<f64, BoxError> {
    let grid = Grid::new(7.0, cells)?;
    let u = energy.eval(&grid.points())?;
    let u_min = u.iter().copied().fold(f64::INFINITY, f64::min);
    Ok(grid.integrate(&u.mapv(|v| (u_min - v).exp()))?.ln() - u_min)
}

struct Fit {
    kl: f64,
    std_err: f64,
    image: Array2<f64>,
}

/// What a saved flow was: its family and size, the seed it was built from (a rebuilt
/// flow takes the same generator, whatever it draws at construction), and the
/// energy it was fitted to.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct FlowSpec {
    family: Family,
    quick: bool,
    build_seed: u64,
    energy: String,
}

/// The model kind written into the files.
const KIND: &str = "energy_flow";

/// `KL(q || p)` by a Monte-Carlo mean over `n` samples of `dist` (with its standard
/// error, `ln Z` added back), and a histogram of `shown` samples on `view`.
fn evaluate(
    dist: &FlowDistribution<Chain>,
    store: &ParamStore,
    energy: Energy,
    log_z: f64,
    view: &Grid,
    (n, shown): (usize, usize),
    rng: &mut ChaCha8Rng,
) -> Result<Fit, BoxError> {
    let (z, log_q) = dist.rsample_and_log_prob(&NoGrad::new(store), n, rng)?;
    let terms = log_q + energy.eval(&z)?;
    let mean = terms.view().mean().unwrap_or(f64::NAN);
    let std_err = terms.view().std(1.0) / (n as f64).sqrt();
    let samples = dist.sample(store, shown, rng)?;
    Ok(Fit { kl: mean + log_z, std_err, image: view.histogram(&samples)? })
}

/// `--load`: a saved flow's KL to its energy on fresh samples (from `--seed`), and
/// its samples beside the true density.
fn load_and_score(file: &Path, out: &Path, seed: u64) -> BoxResult<()> {
    let spec: FlowSpec = model_file::config(file, KIND)?;
    let energy = Energy::ALL
        .into_iter()
        .find(|e| e.name() == spec.energy)
        .ok_or(format!("unknown energy {}", spec.energy))?;
    let build = |store: &mut ParamStore, spec: FlowSpec| {
        Ok(spec.family.build(store, spec.quick, &mut ChaCha8Rng::seed_from_u64(spec.build_seed))?)
    };
    let (flow, store) = model_file::load(file, KIND, build)?;
    let view = Grid::new(4.0, 100)?;
    let log_z = log_partition(energy, if spec.quick { 400 } else { 1200 })?;
    let dist = FlowDistribution::standard(flow);
    let fit = evaluate(
        &dist,
        &store,
        energy,
        log_z,
        &view,
        (20_000, 400_000),
        &mut ChaCha8Rng::seed_from_u64(seed + 1_000),
    )?;
    println!(
        "{} flow on {} loaded from {}: KL(q || p) {:.3} ± {:.3} nats on 20,000 fresh samples; no training",
        spec.family.name(),
        spec.energy,
        file.display(),
        fit.kl,
        fit.std_err
    );
    let truth = view.image(&energy.eval(&view.points())?.mapv(|u| (-u - log_z).exp()))?;
    let top = truth.iter().copied().fold(0.0, f64::max);
    let panel = |title, values| Heatmap {
        scale: ColourScale::Fixed(0.0, top),
        ..Heatmap::density(title, values, 4.0)
    };
    let path = out.join(format!("03_flows_energy_{}_{}_loaded.png", spec.energy, spec.family.name()));
    plot::heatmaps(
        &path,
        &[panel("true density", &truth), panel(spec.family.name(), &fit.image)],
        2,
        (380, 330),
    )?;
    println!("image: {}", path.display());
    Ok(())
}

fn fit(
    family: Family,
    energy: Energy,
    log_z: f64,
    view: &Grid,
    quick: bool,
    seed: u64,
    out: &Path,
) -> Result<Fit, BoxError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut store = ParamStore::new();
    let flow = family.build(&mut store, quick, &mut rng)?;
    let dist = FlowDistribution::standard(flow);
    let steps = if quick { 150 } else { 6_000 };
    let adam = Optim::new(Adam { lr: 5e-3, ..Adam::default() })?;
    // One dummy row: every "epoch" is one step on fresh base samples.
    let dummy = Rows::new(vec![Array2::zeros((1, 1))])?;
    let mut trainer = Trainer::new(store, adam, seed)
        .epochs(steps)
        .batch_size(1)
        .schedule(Schedule::cosine(5e-3, 1e-4, steps))
        // Rezende and Mohamed's annealing: the energy's weight rises from 0.01 to 1,
        // so q first spreads and then settles on all modes instead of one.
        .kl_anneal(KlAnneal::Linear { start: 0.01, end: 1.0, steps: steps / 2 })
        .progress_bar(false);
    trainer.fit(&dummy, |s, _, ctx| {
        let (z, log_q) = dist.rsample_and_log_prob(s, 256, &mut ctx.rng)?;
        Ok(Loss::mean(&log_q.add(&energy.eval(&z)?.scale(ctx.kl_weight))?))
    })?;
    let spec = FlowSpec { family, quick, build_seed: seed, energy: energy.name().into() };
    let path = out.join(format!("03_flows_{}_{}.safetensors", energy.name(), family.name()));
    model_file::save(&path, &ModelMeta::new(KIND, &spec)?, trainer.store())?;
    let sizes = if quick { (5_000, 20_000) } else { (20_000, 400_000) };
    evaluate(&dist, trainer.store(), energy, log_z, view, sizes, &mut rng)
}

fn main() -> ExitCode {
    let about = "Planar, radial, IAF and Sylvester flows fitted to the energies U1-U4 by reverse KL, with exact ln Z \
                 by quadrature. Default: 6,000 steps per flow, three to four minutes.";
    cli::main(about, run)
}

fn run(args: CommonOnly) -> BoxResult<()> {
    let out = args.common.start("03_flows_energy")?;
    let (quick, seed) = (args.common.quick, args.common.seed);
    if let Some(file) = &args.common.load {
        return load_and_score(file, &out, seed);
    }
    let view = Grid::new(4.0, 100)?;
    let start = Instant::now();
    println!("KL(q || p) in nats (± Monte-Carlo standard error), ln Z by quadrature");
    let names: Vec<String> = Family::ALL.iter().map(|f| format!("{:>16}", f.name())).collect();
    println!("{:<4} {:>8} {}", "U", "ln Z", names.join(" "));
    for (i, energy) in Energy::ALL.into_iter().enumerate() {
        let log_z = log_partition(energy, if quick { 400 } else { 1200 })?;
        let fits: Vec<Fit> = std::thread::scope(|scope| {
            let handles: Vec<_> = Family::ALL
                .into_iter()
                .enumerate()
                .map(|(k, f)| {
                    let (view, out) = (&view, &out);
                    scope.spawn(move || {
                        fit(f, energy, log_z, view, quick, seed + 10 * i as u64 + k as u64, out)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a fitting thread panicked"))
                .collect::<Result<_, _>>()
        })?;
        let cells: Vec<String> = fits.iter().map(|f| format!("{:>9.3} ± {:.3}", f.kl, f.std_err)).collect();
        println!("{:<4} {log_z:>8.4} {}", energy.name(), cells.join(" "));

        let truth = view.image(&energy.eval(&view.points())?.mapv(|u| (-u - log_z).exp()))?;
        // All panels on the true density's scale, so a too-peaked fit saturates visibly.
        let top = truth.iter().copied().fold(0.0, f64::max);
        let on_truth_scale = |title, values| Heatmap {
            scale: ColourScale::Fixed(0.0, top),
            ..Heatmap::density(title, values, view.half_width())
        };
        let mut panels = vec![on_truth_scale("true density", &truth)];
        panels
            .extend(Family::ALL.iter().zip(&fits).map(|(family, f)| on_truth_scale(family.name(), &f.image)));
        let path = out.join(format!("03_flows_energy_{}.png", energy.name()));
        plot::heatmaps(&path, &panels, panels.len(), (380, 330))?;
    }
    println!(
        "images (true | planar | radial | IAF | Sylvester): {}",
        out.join("03_flows_energy_<U>.png").display()
    );
    println!("{} flows fitted in {:.1} s", 4 * Family::ALL.len(), start.elapsed().as_secs_f64());
    Ok(())
}
