//! What every example's command line shares: the flags ([`Common`], parsed with
//! `clap`, so `--help` works and an unknown flag is an error), the output folder,
//! the thread count, a readable report of a failed run ([`report`]) and of a missing
//! data file ([`require_file`]); and the trainer the comparison examples share
//! ([`Budget::fit`]).

use autodiff::data::Dataset;
use autodiff::{Loss, ParamStore, TapeSession, Var};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;
use trainers::{Adam, KlAnneal, Optim, StepCtx, Trainer};

pub use trainers::BoxError;

/// A result carrying a [`BoxError`] (the error type of the examples' `run`
/// functions and of the trainer's callbacks).
pub type BoxResult<T> = Result<T, BoxError>;

/// The flags every example takes (flattened into each example's own `clap` parser).
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct Common {
    /// Tiny data and a few steps: a run of seconds (what CI runs).
    #[arg(long)]
    pub quick: bool,
    /// Added to every seed the example uses; 0 gives the published figures.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub seed: u64,
    /// Folder for figures, metrics, checkpoints and results [default:
    /// target/runs/EXAMPLE/ in the workspace]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Threads for the parallel parts (rayon's pool) [default: one per core]
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Skip training: score, sample or draw a model this example saved in an earlier
    /// run (one of the .safetensors files it wrote, or a checkpoint)
    #[arg(long, value_name = "FILE")]
    pub load: Option<PathBuf>,
}

impl Common {
    /// Sets up the run of `example` (its file name without `.rs`): sizes rayon's pool
    /// to `--threads`, creates the output folder and prints where it is.
    pub fn start(&self, example: &str) -> BoxResult<PathBuf> {
        if let Some(n) = self.threads {
            if n == 0 {
                return Err("--threads must be at least 1".into());
            }
            rayon::ThreadPoolBuilder::new().num_threads(n).build_global()?;
        }
        let out = match &self.out {
            Some(dir) => dir.clone(),
            None => Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("runs").join(example),
        };
        std::fs::create_dir_all(&out)
            .map_err(|e| format!("cannot create the output folder {}: {e}", out.display()))?;
        println!("writing to {}", out.display());
        Ok(out)
    }
}

/// The whole `main` of an example: parses its flags `A` (with `about`, the example's
/// summary and default run time, as the first paragraph of `--help`; a bad flag
/// prints the usage and exits with status 2), runs `run` and [`report`]s.
pub fn main<A: clap::Parser>(about: &'static str, run: impl FnOnce(A) -> BoxResult<()>) -> ExitCode {
    let matches = A::command().about(about).get_matches();
    match A::from_arg_matches(&matches) {
        Ok(args) => report(run(args)),
        Err(e) => e.exit(),
    }
}

/// `--iters N`, for examples that train for a number of optimizer steps.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct Steps {
    /// Optimizer steps per model (the example's summary above gives its default)
    #[arg(long, value_name = "N")]
    pub iters: Option<u64>,
}

/// The flags of an example whose only own flag is `--iters`.
#[derive(Debug, Clone, clap::Parser)]
pub struct CommonAndSteps {
    /// The shared flags.
    #[command(flatten)]
    pub common: Common,
    /// `--iters`.
    #[command(flatten)]
    pub steps: Steps,
}

/// The flags of an example that has none of its own.
#[derive(Debug, Clone, clap::Parser)]
pub struct CommonOnly {
    /// The shared flags.
    #[command(flatten)]
    pub common: Common,
}

/// Ends `main`: nothing on success; on failure `error: ` and the error with its chain
/// of causes, one per line, and exit status 1.
pub fn report(result: BoxResult<()>) -> ExitCode {
    let Err(e) = result else { return ExitCode::SUCCESS };
    eprintln!("error: {e}");
    let mut source = e.source();
    while let Some(cause) = source {
        eprintln!("  caused by: {cause}");
        source = cause.source();
    }
    ExitCode::FAILURE
}

/// `name` as a file-name part: letters and digits kept, anything else `_`
/// (`"RNN, time gap"` is `"RNN__time_gap"`).
pub fn slug(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect()
}

/// `path` if it exists; otherwise an error naming the file, what it holds and the
/// flag that points at it, e.g. `require_file(p, "the JSB Chorales split of
/// Boulanger-Lewandowski et al. (2012), as JSON", "--data")`.
pub fn require_file(path: &Path, what: &str, flag: &str) -> BoxResult<PathBuf> {
    if path.is_file() {
        return Ok(path.to_owned());
    }
    Err(format!(
        "cannot find {}: {what}. Point {flag} at your copy (the README's 'Data' section says where to get it)",
        path.display()
    )
    .into())
}

/// The data and step budget of a training example.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Training examples.
    pub train: usize,
    /// Held-out examples.
    pub test: usize,
    /// Optimizer steps.
    pub iters: u64,
    /// Examples per step.
    pub batch: usize,
}

impl Budget {
    /// `quick` with `--quick`, else `full`; `--iters` replaces the chosen budget's
    /// steps.
    pub fn choose(quick_run: bool, steps: &Steps, quick: Budget, full: Budget) -> Budget {
        let chosen = if quick_run { quick } else { full };
        Budget { iters: steps.iters.unwrap_or(chosen.iters), ..chosen }
    }

    /// Trains `store` on `data` with the comparison examples' recipe: Adam at `lr` on
    /// batches of `batch` training examples for `iters` steps (as many epochs as that
    /// takes), the KL weight (`StepCtx::kl_weight`) ramped linearly from 0 to 1 over
    /// the first fifth of the steps, seed `seed`, no progress bar (the examples print
    /// their own tables). The trained store and the seconds it took.
    pub fn fit<D, L>(
        &self,
        store: ParamStore,
        lr: f64,
        seed: u64,
        data: &D,
        loss: L,
    ) -> trainers::Result<(ParamStore, f64)>
    where
        D: Dataset,
        L: for<'t, 's> Fn(&TapeSession<'t, 's>, &D::Batch, &mut StepCtx) -> Result<Loss<Var<'t>>, BoxError>
            + Sync,
    {
        let started = Instant::now();
        let epochs = self.iters.div_ceil(self.train.div_ceil(self.batch.max(1)).max(1) as u64);
        let adam = Optim::new(Adam { lr, ..Adam::default() })?;
        let ramp = KlAnneal::Linear { start: 0.0, end: 1.0, steps: (self.iters / 5).max(1) };
        let mut trainer = Trainer::new(store, adam, seed)
            .epochs(epochs)
            .max_steps(self.iters)
            .batch_size(self.batch)
            .kl_anneal(ramp)
            .progress_bar(false);
        trainer.fit(data, loss)?;
        Ok((trainer.into_store(), started.elapsed().as_secs_f64()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn flags_parse_and_unknown_ones_are_errors() {
        let args =
            |v: &[&str]| CommonAndSteps::try_parse_from(std::iter::once("ex").chain(v.iter().copied()));
        let a = args(&[]).unwrap();
        assert_eq!(a.common, Common { quick: false, seed: 0, out: None, threads: None, load: None });
        let flags =
            ["--quick", "--seed", "3", "--out", "/tmp/x", "--threads", "1", "--iters", "9", "--load", "m"];
        let a = args(&flags).unwrap();
        let out = Some("/tmp/x".into());
        assert_eq!(a.common, Common { quick: true, seed: 3, out, threads: Some(1), load: Some("m".into()) });
        assert_eq!(a.steps.iters, Some(9));
        assert!(args(&["--fast"]).unwrap_err().to_string().contains("--fast"));
        assert!(args(&["--seed", "x"]).unwrap_err().to_string().contains("invalid value 'x'"));
        let (quick, full) = (
            Budget { train: 1, test: 1, iters: 2, batch: 1 },
            Budget { train: 9, test: 9, iters: 90, batch: 3 },
        );
        assert_eq!(Budget::choose(true, &Steps { iters: None }, quick, full), quick);
        assert_eq!(
            Budget::choose(false, &Steps { iters: Some(5) }, quick, full),
            Budget { iters: 5, ..full }
        );
    }

    #[test]
    fn a_missing_file_is_named_with_its_flag() {
        let err =
            require_file(Path::new("/no/such/jsb.json"), "the JSB split", "--data").unwrap_err().to_string();
        assert!(
            err.contains("/no/such/jsb.json") && err.contains("the JSB split") && err.contains("--data"),
            "{err}"
        );
    }
}
