//! The two abilities a Monte-Carlo KL estimate needs, and the estimate itself.

use crate::{Error, Result};
use ndarray::{Array1, Array2};
use rand::Rng;

/// A distribution over row vectors that can score data.
pub trait LogProb {
    /// The log-density (or log-mass) of each row of `x`, summed over its entries.
    fn log_prob_rows(&self, x: &Array2<f64>) -> Result<Array1<f64>>;
}

/// A distribution over row vectors that can draw samples.
pub trait Sample {
    /// `n` independent draws, one per row.
    fn sample_n<R: Rng + ?Sized>(&self, n: usize, rng: &mut R) -> Result<Array2<f64>>;
}

/// A Monte-Carlo estimate with its standard error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct McEstimate {
    /// The sample mean.
    pub value: f64,
    /// The standard error of the mean, `s / sqrt(n)` with the unbiased sample
    /// standard deviation `s`.
    pub std_err: f64,
    /// The number of samples.
    pub samples: usize,
}

/// `KL(p || q) = E_p[ln p(x) - ln q(x)]` estimated from `n` draws of `p`.
///
/// For pairs with no closed form (mixtures). The estimator is unbiased; its
/// standard error shrinks like `1 / sqrt(n)`, so an analytic KL should lie within a
/// few standard errors of `value`. Needs `n >= 2` (for the standard error).
pub fn monte_carlo_kl<P, Q, R>(p: &P, q: &Q, n: usize, rng: &mut R) -> Result<McEstimate>
where
    P: Sample + LogProb,
    Q: LogProb,
    R: Rng + ?Sized,
{
    if n < 2 {
        return Err(Error::Config {
            routine: "monte_carlo_kl",
            reason: format!("needs at least 2 samples for a standard error, got {n}"),
        });
    }
    let x = p.sample_n(n, rng)?;
    let diff = p.log_prob_rows(&x)? - q.log_prob_rows(&x)?;
    Ok(mean_and_std_err(&diff))
}

/// Mean and standard error of the mean of `v` (two-pass, so a large common offset
/// does not cancel the variance away).
pub(crate) fn mean_and_std_err(v: &Array1<f64>) -> McEstimate {
    let n = v.len();
    let mean = v.iter().sum::<f64>() / n as f64;
    let ss = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>();
    let var = ss / (n as f64 - 1.0).max(1.0);
    McEstimate { value: mean, std_err: (var / n as f64).sqrt(), samples: n }
}
