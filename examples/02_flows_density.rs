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
//! data histogram, then the three learned densities, on `[-4, 4]^2`; and every trained
//! flow as `02_flows_<set>_<model>.safetensors` (its family, size and data inside):
//! `--load` one to score it on its test points and draw it without training.
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
use latent_seq::trainers::model_file::{self, ModelMeta};
use latent_seq::trainers::{Adam, Optim, Schedule, Trainer};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

/// The three model families.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
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

    /// A fresh model, its parameters in `store`; `big` selects the full-size
    /// configuration.
    fn build(
        &self,
        store: &mut ParamStore,
        big: bool,
        rng: &mut ChaCha8Rng,
    ) -> latent_seq::flows::Result<Chain> {
        let (hidden, depth): (&[usize], usize) = if big { (&[64, 64], 8) } else { (&[32, 32], 4) };
        match self {
            Model::RealNvp => models::real_nvp(store, "nvp", 2, depth, hidden, rng),
            Model::Glow => models::glow(store, "glow", 2, depth / 2 + 1, hidden, rng),
            Model::Maf => {
                models::autoregressive(store, "maf", 2, depth / 2 + 1, hidden, Conditioning::Data, rng)
            }
        }
    }
}

/// What a saved flow was: the family, its size, the seed it was built from (Glow's
/// permutations are drawn when it is built and are not parameters, so a rebuilt flow
/// needs the same generator), and the data it was fitted to (the set and how its
/// training and test points were drawn), so that `--load` can score it on the same
/// test points.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct FlowSpec {
    model: Model,
    big: bool,
    build_seed: u64,
    set: String,
    data_seed: u64,
    n_train: usize,
}

/// The model kind written into the files.
const KIND: &str = "flow_2d";
/// Held-out points per set.
const N_TEST: usize = 5_000;

impl FlowSpec {
    /// The set's training and test points, drawn as the training run drew them, and
    /// the generator after those draws.
    fn data(&self) -> BoxResult<(Toy, Array2<f64>, Array2<f64>, ChaCha8Rng)> {
        let toy =
            Toy::ALL.into_iter().find(|t| t.name() == self.set).ok_or(format!("unknown set {}", self.set))?;
        let mut rng = ChaCha8Rng::seed_from_u64(self.data_seed);
        let train = toy.sample(self.n_train, &mut rng);
        let test = toy.sample(N_TEST, &mut rng);
        Ok((toy, train, test, rng))
    }
}

struct Fit {
    test_nll: f64,
    density: Array2<f64>,
    store: ParamStore,
}

/// The test NLL and density image of a trained `flow`.
fn score(flow: Chain, store: &ParamStore, test: &Array2<f64>, grid: &Grid) -> BoxResult<(f64, Array2<f64>)> {
    let dist = FlowDistribution::standard(flow);
    let s = NoGrad::new(store);
    let test_nll = -dist.log_prob(&s, test)?.view().mean().unwrap_or(f64::NAN);
    Ok((test_nll, grid.image(&dist.log_prob(&s, &grid.points())?.mapv(f64::exp))?))
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
    let mut store = ParamStore::new();
    let flow = model.build(&mut store, !quick, &mut rng)?;
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
    let store = trainer.into_store();
    let (test_nll, density) = score(dist.into_flow(), &store, test, grid)?;
    Ok(Fit { test_nll, density, store })
}

/// `--load`: scores a saved flow on its set's test points and draws it beside the data.
fn load_and_score(file: &Path, out: &Path, grid: &Grid) -> BoxResult<()> {
    let spec: FlowSpec = model_file::config(file, KIND)?;
    let build = |store: &mut ParamStore, spec: FlowSpec| {
        Ok(spec.model.build(store, spec.big, &mut ChaCha8Rng::seed_from_u64(spec.build_seed))?)
    };
    let (flow, store) = model_file::load(file, KIND, build)?;
    let (toy, _, test, mut rng) = spec.data()?;
    let (test_nll, density) = score(flow, &store, &test, grid)?;
    println!(
        "{} on {} loaded from {}: test NLL {test_nll:.3} nats per point; no training",
        spec.model.name(),
        spec.set,
        file.display()
    );
    let data = grid.histogram(&toy.sample(100_000, &mut rng))?;
    let path = out.join(format!("02_flows_density_{}_{}_loaded.png", spec.set, spec.model.name()));
    plot::density_panels(&path, 4.0, &[("data (histogram)", &data), (spec.model.name(), &density)])?;
    println!("image: {}", path.display());
    Ok(())
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
    if let Some(file) = &args.common.load {
        return load_and_score(file, &out, &grid);
    }
    let start = Instant::now();
    println!("test NLL (nats per point; lower is better), {n_train} training points per set");
    let names: Vec<String> = Model::ALL.iter().map(|m| format!("{:>9}", m.name())).collect();
    println!("{:<14} {}", "data set", names.join(" "));
    for (i, toy) in Toy::ALL.into_iter().enumerate() {
        let build_seed = |k: usize| seed + 10 * i as u64 + k as u64;
        let spec = |k: usize, model| FlowSpec {
            model,
            big: !quick,
            build_seed: build_seed(k),
            set: toy.name().into(),
            data_seed: seed + 100 + i as u64,
            n_train,
        };
        let (_, train, test, mut rng) = spec(0, Model::RealNvp).data()?;
        // The three models train side by side on the two cores.
        let fits: Vec<Fit> = std::thread::scope(|scope| {
            let handles: Vec<_> = Model::ALL
                .into_iter()
                .enumerate()
                .map(|(k, m)| {
                    let (train, test, grid) = (&train, &test, &grid);
                    scope.spawn(move || fit(m, train, test, grid, quick, build_seed(k)))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a training thread panicked"))
                .collect::<Result<_, _>>()
        })?;
        for (k, (model, f)) in Model::ALL.into_iter().zip(&fits).enumerate() {
            let file = out.join(format!("02_flows_{}_{}.safetensors", toy.name(), model.name()));
            model_file::save(&file, &ModelMeta::new(KIND, &spec(k, model))?, &f.store)?;
        }
        let nll: Vec<String> = fits.iter().map(|f| format!("{:>9.3}", f.test_nll)).collect();
        println!("{:<14} {}", toy.name(), nll.join(" "));
        let data = grid.histogram(&toy.sample(100_000, &mut rng))?;
        let mut panels = vec![("data (histogram)", &data)];
        panels.extend(Model::ALL.iter().zip(&fits).map(|(m, f)| (m.name(), &f.density)));
        let path = out.join(format!("02_flows_density_{}.png", toy.name()));
        plot::density_panels(&path, 4.0, &panels)?;
    }
    println!("images (data | RealNVP | Glow | MAF): {}", out.join("02_flows_density_<set>.png").display());
    println!(
        "trained flows: {} (score one again with --load)",
        out.join("02_flows_<set>_<model>.safetensors").display()
    );
    println!("{} models trained in {:.1} s", 3 * Toy::ALL.len(), start.elapsed().as_secs_f64());
    Ok(())
}
