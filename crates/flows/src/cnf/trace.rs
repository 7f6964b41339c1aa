//! `tr(df/dz)`, exactly or by Hutchinson's estimator, and the probes the estimator
//! draws.

use ndarray::Array2;
use rand::Rng;
use rand_distr::StandardNormal;

/// The distribution of a Hutchinson probe `e` (`E[e e^T] = I`, so
/// `E[e^T A e] = tr(A)`).
///
/// # Formula
///
/// For a fixed matrix `A` with symmetric part `A_s = (A + A^T) / 2`, one probe's
/// estimate `e^T A e` has variance `2 ||A_s||_F^2` with Gaussian entries and
/// `2 (||A_s||_F^2 - sum_i A_ii^2)` with Rademacher entries (`+-1`, which never
/// err on the diagonal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Probe {
    /// Standard normal entries.
    #[default]
    Gaussian,
    /// `+-1` entries with probability one half each.
    Rademacher,
}

impl Probe {
    /// A `rows x dim` probe: one independent probe vector per row (per sample).
    pub fn draw(&self, rows: usize, dim: usize, rng: &mut impl Rng) -> Array2<f64> {
        match self {
            Probe::Gaussian => Array2::from_shape_simple_fn((rows, dim), || rng.sample(StandardNormal)),
            Probe::Rademacher => {
                Array2::from_shape_simple_fn((rows, dim), || if rng.random::<bool>() { 1.0 } else { -1.0 })
            }
        }
    }
}

/// How a continuous flow computes `tr(df/dz)` (FFJORD's `divergence_fn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TraceEstimator {
    /// `sum_i df_i/dz_i`, one vector-Jacobian product per dimension (FFJORD's
    /// `brute_force`): exact, `dim` times the work.
    Exact,
    /// Hutchinson's unbiased estimate (Grathwohl et al. 2019, eq. 7),
    /// `tr(df/dz) ~ (1/K) sum_k e_k^T (df/dz) e_k`, from one vector-Jacobian product
    /// per probe. The `samples` probes are drawn once per solve and kept for every
    /// stage, step and the backward pass (eq. 8): redrawn per evaluation, the
    /// estimated dynamics would be rough and the solver would take tiny steps.
    Hutchinson {
        /// The probes' distribution.
        probe: Probe,
        /// `K`, the number of probes averaged (at least 1).
        samples: usize,
    },
}

impl Default for TraceEstimator {
    /// One Gaussian probe, FFJORD's default for high-dimensional data.
    fn default() -> Self {
        TraceEstimator::Hutchinson { probe: Probe::Gaussian, samples: 1 }
    }
}
