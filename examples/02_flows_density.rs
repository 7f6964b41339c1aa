//! # 02: density estimation with normalizing flows
//!
//! Maximum-likelihood training of three flows on the eight 2-D toy sets of FFJORD
//! (two moons, 8 Gaussians, pinwheel, checkerboard, 2 spirals, rings, swiss roll, circles):
//!
//! * **RealNVP**: affine couplings with alternating masks (Dinh et al. 2017);
//! * **Glow-style**: steps of ActNorm (data-initialised), LU invertible linear map and
//!   affine coupling (Kingma and Dhariwal 2018);
//! * **MAF**: masked autoregressive layers on MADE with the order reversed between
//!   layers (Papamakarios et al. 2017).
//!
//! Each model minimises the negative log-likelihood
//! `-ln p(x) = -ln N(f(x); 0, I) - ln|det df/dx|` with Adam; the script prints the
//! test NLL (nats per point, on held-out samples) per data set and model, and writes
//! `02_flows_density_<set>.png` to `target/runs/02_flows_density/` (or `--out`): the
//! data histogram, then the three learned densities, on `[-4, 4]^2`.
//!
//! Run: `cargo run --release --example 02_flows_density -- [--quick] [--seed N]
//! [--out DIR]` (8 couplings or 5 steps of hidden width 64, 1,200 Adam steps per
//! model, three to four minutes on 2 cores shared with other jobs; `--quick` for a
//! few seconds with small models).

use latent_seq::ChaCha8Rng;
use latent_seq::autodiff::data::Rows;
use latent_seq::autodiff::ndarray::Array2;
use latent_seq::autodiff::{Loss, NoGrad, ParamStore, Session, Tensor};
use latent_seq::cli::{self, BoxResult, CommonOnly};
use latent_seq::flows::{Chain, Conditioning, Flow, FlowDistribution, Grid, Toy, models};
use latent_seq::plot;
use latent_seq::rand::SeedableRng;
use latent_seq::trainers::{Adam, Optim, Schedule, Trainer};
use std::process::ExitCode;
use std::time::Instant;

/// The three model families.
#[derive(Debug, Clone, Copy)]
enum Model {
    RealNvp,
    Glow,
    Maf,
}

impl Model {
    const ALL: [Model; 3] = [Model::RealNvp, Model::Glow, Model::Maf];

    fn name(&self) -> &'static str {
        match self {
            Model::RealNvp => "RealNVP",
            Model::Glow => "Glow",
            Model::Maf => "MAF",
        }
    }

    /// A fresh model and its parameters; `big` selects the full-size configuration.
    fn build(&self, big: bool, rng: &mut ChaCha8Rng) -> latent_seq::flows::Result<(ParamStore, Chain)> {
        let mut store = ParamStore::new();
        let (hidden, depth): (&[usize], usize) = if big { (&[64, 64], 8) } else { (&[32, 32], 4) };
        let flow = match self {
            Model::RealNvp => models::real_nvp(&mut store, "nvp", 2, depth, hidden, rng)?,
            Model::Glow => models::glow(&mut store, "glow", 2, depth / 2 + 1, hidden, rng)?,
            Model::Maf => {
                models::autoregressive(&mut store, "maf", 2, depth / 2 + 1, hidden, Conditioning::Data, rng)?
            }
        };
        Ok((store, flow))
    }
}

struct Fit {
    test_nll: f64,
    density: Array2<f64>,
}

fn fit(
    model: Model,
    train: &Array2<f64>,
    test: &Array2<f64>,
    grid: &Grid,
    quick: bool,
    seed: u64,
) -> Result<Fit, Box<dyn std::error::Error + Send + Sync>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut store, flow) = model.build(!quick, &mut rng)?;
    // Glow's ActNorm layers start from the statistics of a first batch.
    flow.data_init(&mut store, &train.slice(latent_seq::autodiff::ndarray::s![..512, ..]).to_owned())?;
    let dist = FlowDistribution::standard(flow);
    let (epochs, batch) = if quick { (3, 256) } else { (30, 256) };
    let steps = epochs * (train.nrows() / batch) as u64;
    let adam = Optim::new(Adam { lr: 2e-3, ..Adam::default() })?;
    let mut trainer = Trainer::new(store, adam, seed)
        .epochs(epochs)
        .batch_size(batch)
        .schedule(Schedule::cosine(2e-3, 1e-4, steps))
        .progress_bar(false);
    trainer.fit(&Rows::new(vec![train.clone()])?, |s, b, _ctx| {
        let x = s.constant(b.arrays[0].clone());
        Ok(Loss::mean(&dist.log_prob(s, &x)?.neg()))
    })?;
    let s = NoGrad::new(trainer.store());
    let test_nll = -dist.log_prob(&s, test)?.view().mean().unwrap_or(f64::NAN);
    let density = grid.image(&dist.log_prob(&s, &grid.points())?.mapv(f64::exp))?;
    Ok(Fit { test_nll, density })
}

fn main() -> ExitCode {
    let about = "RealNVP, Glow-style and MAF flows fitted by maximum likelihood to eight 2-D toy sets; test NLL \
                 and density images. Default: 1,200 Adam steps per model and set, three to four minutes.";
    cli::main(about, run)
}

fn run(args: CommonOnly) -> BoxResult<()> {
    let out = args.common.start("02_flows_density")?;
    let (quick, seed) = (args.common.quick, args.common.seed);
    let n_train = if quick { 2_048 } else { 10_240 };
    let grid = Grid::new(4.0, 100)?;
    let start = Instant::now();
    println!("test NLL (nats per point; lower is better), {n_train} training points per set");
    let names: Vec<String> = Model::ALL.iter().map(|m| format!("{:>9}", m.name())).collect();
    println!("{:<14} {}", "data set", names.join(" "));
    for (i, toy) in Toy::ALL.into_iter().enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(seed + 100 + i as u64);
        let train = toy.sample(n_train, &mut rng);
        let test = toy.sample(5_000, &mut rng);
        // The three models train side by side on the two cores.
        let fits: Vec<Fit> = std::thread::scope(|scope| {
            let handles: Vec<_> = Model::ALL
                .into_iter()
                .enumerate()
                .map(|(k, m)| {
                    let (train, test, grid) = (&train, &test, &grid);
                    scope.spawn(move || fit(m, train, test, grid, quick, seed + 10 * i as u64 + k as u64))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a training thread panicked"))
                .collect::<Result<_, _>>()
        })?;
        let nll: Vec<String> = fits.iter().map(|f| format!("{:>9.3}", f.test_nll)).collect();
        println!("{:<14} {}", toy.name(), nll.join(" "));
        let data = grid.histogram(&toy.sample(100_000, &mut rng));
        let mut panels = vec![("data (histogram)", &data)];
        panels.extend(Model::ALL.iter().zip(&fits).map(|(m, f)| (m.name(), &f.density)));
        let path = out.join(format!("02_flows_density_{}.png", toy.name()));
        plot::density_panels(&path, 4.0, &panels)?;
    }
    println!("images (data | RealNVP | Glow | MAF): {}", out.join("02_flows_density_<set>.png").display());
    println!("{} models trained in {:.1} s", 3 * Toy::ALL.len(), start.elapsed().as_secs_f64());
    Ok(())
}
