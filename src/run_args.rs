//! The flags the training examples share: `--quick` for a seconds-long run (what CI
//! runs) and `--iters N` for the number of optimizer steps; and the trainer the
//! comparison examples share ([`Budget::trainer`]).

use autodiff::ParamStore;
use trainers::{Adam, KlAnneal, Optim, Trainer};

/// What the command line asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunArgs {
    /// `--quick`: tiny data and a few steps.
    pub quick: bool,
    /// `--iters N`: this many optimizer steps instead of the example's default.
    pub iters: Option<u64>,
}

impl RunArgs {
    /// Reads the process's arguments; anything else is an error naming it.
    pub fn from_env() -> Result<Self, String> {
        Self::parse(std::env::args().skip(1))
    }

    /// Reads `args` (without the program name).
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut out = RunArgs::default();
        let mut it = args.into_iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--quick" => out.quick = true,
                "--iters" => {
                    let n = it.next().ok_or("--iters needs a number")?;
                    out.iters = Some(n.parse().map_err(|e| format!("--iters {n}: {e}"))?);
                }
                other => return Err(format!("unknown argument {other}")),
            }
        }
        Ok(out)
    }
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
    /// The comparison examples' trainer: Adam at `lr` on batches of `batch` training
    /// examples for `iters` steps (as many epochs as that takes), the KL weight
    /// (`StepCtx::kl_weight`) ramped linearly from 0 to 1 over the first fifth of the
    /// steps, seed 0, no progress bar (the examples print their own tables).
    pub fn trainer<'a>(&self, store: ParamStore, lr: f64) -> trainers::Result<Trainer<'a>> {
        let epochs = self.iters.div_ceil(self.train.div_ceil(self.batch.max(1)).max(1) as u64);
        let adam = Optim::new(Adam { lr, ..Adam::default() })?;
        let ramp = KlAnneal::Linear { start: 0.0, end: 1.0, steps: (self.iters / 5).max(1) };
        Ok(Trainer::new(store, adam, 0)
            .epochs(epochs)
            .max_steps(self.iters)
            .batch_size(self.batch)
            .kl_anneal(ramp)
            .progress_bar(false))
    }
}

impl RunArgs {
    /// `quick` or `full` as the flags ask, with `--iters` applied.
    pub fn budget(&self, quick: Budget, full: Budget) -> Budget {
        let chosen = if self.quick { quick } else { full };
        Budget { iters: self.iters.unwrap_or(chosen.iters), ..chosen }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_and_unknown_ones_are_named() {
        let args = |v: &[&str]| RunArgs::parse(v.iter().map(|s| s.to_string()));
        assert_eq!(args(&[]).unwrap(), RunArgs::default());
        assert_eq!(args(&["--iters", "30", "--quick"]).unwrap(), RunArgs { quick: true, iters: Some(30) });
        assert!(args(&["--iters"]).unwrap_err().contains("needs a number"));
        assert!(args(&["--iters", "x"]).unwrap_err().contains("--iters x"));
        assert!(args(&["--fast"]).unwrap_err().contains("--fast"));
        let (quick, full) = (
            Budget { train: 1, test: 1, iters: 2, batch: 1 },
            Budget { train: 9, test: 9, iters: 90, batch: 3 },
        );
        assert_eq!(args(&["--quick"]).unwrap().budget(quick, full), quick);
        assert_eq!(args(&["--iters", "5"]).unwrap().budget(quick, full), Budget { iters: 5, ..full });
    }
}
