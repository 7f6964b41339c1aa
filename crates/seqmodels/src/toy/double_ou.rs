//! The two-dimensional Ornstein-Uhlenbeck toy of GRU-ODE-Bayes (De Brouwer, Simm,
//! Arany, Moreau, *GRU-ODE-Bayes: Continuous modeling of sporadically-observed time
//! series*, NeurIPS 2019, Sec. 5.1), as its reference code edebrouwer/gru_ode_bayes
//! generates it: `gru_ode_bayes/datasets/double_OU/double_OU.py` (`OU`, `OU_sample`,
//! run as its `__main__` does), read by `data_utils.ODE_Dataset`.
//!
//! # The paths
//!
//! Series `i` draws two means, `mu_1 ~ U(0.5, 1.5)` and `mu_2 ~ U(-1.5, -0.5)` (centres
//! 1 and -1, width 1), starts at `Y(0) = 0` (not at its means) and takes Euler-Maruyama
//! steps of the mean-reverting drift on a grid of spacing `dt`:
//!
//! $$ Y_{k+1} = Y_k + \theta (\mu - Y_k)\, \Delta t + \Delta W_k, \qquad
//!    \Delta W_k \sim \mathcal N\!\left(0,\ \Delta t\, \sigma^2
//!    \begin{pmatrix} 1 & \rho \\ \rho & 1 \end{pmatrix}\right), $$
//!
//! with `theta = 1`, `sigma = 0.1`, `rho = +0.99`, `dt = 0.05`. The grid has
//! `int(T // dt) = 199` points, times `0, 0.05, ..., 9.9` (Python's floor division of
//! 10 by the binary 0.05, which is a little above 1/20, is 199, not 200). Here the
//! correlated increment is `sigma sqrt(dt) (z_1, rho z_1 + sqrt(1 - rho^2) z_2)` from
//! two standard normals, the Cholesky form of that covariance (numpy draws it through
//! an SVD: same distribution).
//!
//! Statistics, for checking: the step multiplies the distance to the mean by
//! `a = 1 - theta dt = 0.95`, so `E[Y_k] = mu (1 - a^k)` (within `e^{-theta t}` of
//! the mean, 2 % at `t = 4`) and the spread around it tends to the stationary
//! variance of the discrete chain, `sigma^2 dt / (1 - a^2) = 5.13e-3` (the continuous
//! OU's `sigma^2 / (2 theta) = 5e-3`, which Euler-Maruyama overstates by the factor
//! `1 / (1 - theta dt / 2)`). The increments of the two dimensions have correlation
//! `rho` exactly, and so (both dimensions sharing `theta`) do the deviations from the
//! means.
//!
//! # The observations
//!
//! Each series observes between 16 and 23 grid times (numpy's
//! `randint(0.8 * 2 * 10, 1.2 * 2 * 10)`, the upper bound exclusive: `sample_rate` 2
//! per unit time over `T = 10`, +-20 %), drawn uniformly without replacement. Each
//! observation sees dimension 1 only, dimension 2 only or both, with probabilities
//! 0.4 / 0.4 / 0.2 (`dual_sample_rate` 0.2, the rest split evenly). The values are the
//! path's, with no observation noise. The reference's `max_lag` option (a random
//! shift of each path) is 0 in its run and not reproduced.
//!
//! The reference writes 10,000 series (seed 432) to a CSV, and its experiment
//! (`experiments/double_OU/double_ou_gruode.py`) splits them 80/20 at random
//! (`train_test_split`, `random_state = 432`): [`autodiff::data::split`]`(n, 0.2, 0.0,
//! rng)` is that split here. Its validation protocol is in
//! [`double_ou_oracle`](super::double_ou_oracle).
//!
//! # Where this differs from the reference's numbers
//!
//! - The draws come from one generator in this crate's own order (per series: means,
//!   path increments, count, times, observed dimensions), so `ChaCha8Rng` seeded 432
//!   gives the reference's distributions, not its numbers (numpy's `RandomState`, all
//!   means first, then all increments, then the observations).
//! - The reference draws its observation times unsorted and its data loader sorts
//!   them by time; here they are sorted at once, as a [`Series`] needs.
//! - The reference stores its paths as `float32` (and its loader reads everything as
//!   `float32`); here everything is `f64`.
//! - The reference's `OU` function has defaults `theta = 10` and `rho = -0.99`, but
//!   its script passes `theta = 1` and `rho = +0.99` (the `--rho` default): those are
//!   the data set's, and the defaults here.

use crate::{Error, IrregularSeries, Result, Series};
use ndarray::Array2;
use rand::Rng;
use rand::seq::index::sample;
use rand_distr::StandardNormal;

/// Settings of [`double_ou`]; the default is the reference's data set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DoubleOuConfig {
    /// Number of series (10,000).
    pub series: usize,
    /// Points of the time grid, `int(T // dt)` in the reference (199 for `T = 10`).
    pub grid_points: usize,
    /// Grid spacing and Euler-Maruyama step (0.05).
    pub dt: f64,
    /// Mean-reversion rate `theta` (1).
    pub theta: f64,
    /// Noise scale `sigma` of each dimension (0.1).
    pub sigma: f64,
    /// Correlation `rho` of the two dimensions' noises (+0.99).
    pub rho: f64,
    /// Centres of the uniform priors of the two means (1 and -1).
    pub mean_centres: [f64; 2],
    /// Width of those uniform priors (1: `U(0.5, 1.5)` and `U(-1.5, -0.5)`).
    pub mean_width: f64,
    /// Fewest observation times per series (16).
    pub min_observations: usize,
    /// Most observation times per series, inclusive (23).
    pub max_observations: usize,
    /// Probability that an observation sees both dimensions (0.2); the rest is split
    /// evenly between dimension 1 only and dimension 2 only.
    pub p_both: f64,
}

impl Default for DoubleOuConfig {
    fn default() -> Self {
        DoubleOuConfig {
            series: 10_000,
            grid_points: 199,
            dt: 0.05,
            theta: 1.0,
            sigma: 0.1,
            rho: 0.99,
            mean_centres: [1.0, -1.0],
            mean_width: 1.0,
            min_observations: 16,
            max_observations: 23,
            p_both: 0.2,
        }
    }
}

/// What an observation sees: dimension 1 only, dimension 2 only, both (the
/// reference's `sample_type` 0, 1 and 2), with [`pattern_probabilities`].
const PATTERNS: [[f64; 2]; 3] = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]];

/// The probabilities of [`PATTERNS`]: `p_both` for both, the rest split evenly.
fn pattern_probabilities(p_both: f64) -> [f64; 3] {
    let single = (1.0 - p_both) / 2.0;
    [single, single, p_both]
}

impl DoubleOuConfig {
    /// Checks the settings, so that generation cannot fail half way.
    pub(crate) fn check(&self) -> Result<()> {
        let fail = |reason: String| Err(Error::config("double_ou", reason));
        if self.series == 0 || self.grid_points == 0 {
            return fail(format!(
                "{} series on {} grid points: both must be positive",
                self.series, self.grid_points
            ));
        }
        let finite = [self.dt, self.theta, self.sigma, self.rho, self.mean_width, self.p_both];
        // Finite first, so that the comparisons below are not fooled by NaN.
        if finite.iter().chain(&self.mean_centres).any(|v| !v.is_finite()) {
            return fail(format!("every setting must be finite: {self:?}"));
        }
        if self.dt <= 0.0 || self.sigma < 0.0 || self.mean_width < 0.0 {
            return fail(format!(
                "dt {} must be > 0, sigma {} and mean_width {} >= 0",
                self.dt, self.sigma, self.mean_width
            ));
        }
        if self.rho.abs() > 1.0 || !(0.0..=1.0).contains(&self.p_both) {
            return fail(format!("rho {} must be in [-1, 1] and p_both {} in [0, 1]", self.rho, self.p_both));
        }
        if self.min_observations == 0
            || self.min_observations > self.max_observations
            || self.max_observations > self.grid_points
        {
            return fail(format!(
                "observation counts {}..={} must be at least 1 and at most the {} grid points",
                self.min_observations, self.max_observations, self.grid_points
            ));
        }
        Ok(())
    }

    /// The grid times `k dt`, `k = 0 .. grid_points`.
    pub fn grid(&self) -> Vec<f64> {
        (0..self.grid_points).map(|k| k as f64 * self.dt).collect()
    }

    /// One Euler-Maruyama step of the paths from `y` toward the means `mu`, plus the
    /// increment `dw` (see the module docs).
    pub(crate) fn step(&self, y: [f64; 2], mu: [f64; 2], dw: [f64; 2]) -> [f64; 2] {
        std::array::from_fn(|d| y[d] + self.theta * (mu[d] - y[d]) * self.dt + dw[d])
    }

    /// The correlated increment from two independent standard normals `z`.
    pub(crate) fn increment(&self, z: [f64; 2]) -> [f64; 2] {
        let scale = self.sigma * self.dt.sqrt();
        [scale * z[0], scale * (self.rho * z[0] + (1.0 - self.rho * self.rho).sqrt() * z[1])]
    }
}

/// One series of the toy: its means, its whole path and what is observed of it.
#[derive(Debug, Clone, PartialEq)]
pub struct DoubleOuPath {
    /// Its means `mu_1`, `mu_2`.
    pub means: [f64; 2],
    /// The path on the whole grid (`grid_points x 2`), for plots and oracles.
    pub latent: Array2<f64>,
    /// Its observations: sorted grid times, the path's values there, and masks.
    pub observed: Series,
}

/// The toy data set: the settings it was drawn with and its series.
#[derive(Debug, Clone, PartialEq)]
pub struct DoubleOu {
    /// The settings (the oracle needs them, and the grid is theirs).
    pub config: DoubleOuConfig,
    /// The series.
    pub paths: Vec<DoubleOuPath>,
}

impl DoubleOu {
    /// The observed series as a data set (series `i` is `paths[i].observed`).
    pub fn to_irregular(&self) -> Result<IrregularSeries> {
        IrregularSeries::new(self.paths.iter().map(|p| p.observed.clone()).collect())
    }

    /// Every series' means, in order.
    pub fn means(&self) -> Vec<[f64; 2]> {
        self.paths.iter().map(|p| p.means).collect()
    }
}

/// The toy data set drawn with `rng` (see the module docs).
pub fn double_ou<R: Rng + ?Sized>(config: &DoubleOuConfig, rng: &mut R) -> Result<DoubleOu> {
    config.check()?;
    let times = config.grid();
    let paths = (0..config.series).map(|_| one_path(config, &times, rng)).collect();
    Ok(DoubleOu { config: *config, paths })
}

fn one_path<R: Rng + ?Sized>(config: &DoubleOuConfig, times: &[f64], rng: &mut R) -> DoubleOuPath {
    let means: [f64; 2] =
        std::array::from_fn(|d| config.mean_centres[d] + config.mean_width * (rng.random::<f64>() - 0.5));
    let mut latent = Array2::zeros((config.grid_points, 2));
    let mut y = [0.0; 2];
    for k in 1..config.grid_points {
        let z = [rng.sample(StandardNormal), rng.sample(StandardNormal)];
        y = config.step(y, means, config.increment(z));
        latent[(k, 0)] = y[0];
        latent[(k, 1)] = y[1];
    }
    let count = rng.random_range(config.min_observations..=config.max_observations);
    let mut steps = sample(rng, config.grid_points, count).into_vec();
    steps.sort_unstable();
    let mut observed = Series {
        times: steps.iter().map(|&k| times[k]).collect(),
        values: Array2::zeros((count, 2)),
        masks: Array2::zeros((count, 2)),
    };
    for (row, &k) in steps.iter().enumerate() {
        let pattern = observed_pattern(config.p_both, rng.random::<f64>());
        for d in 0..2 {
            observed.masks[(row, d)] = pattern[d];
            observed.values[(row, d)] = pattern[d] * latent[(k, d)];
        }
    }
    DoubleOuPath { means, latent, observed }
}

/// The pattern of [`PATTERNS`] a uniform draw `u` in `[0, 1)` falls on.
fn observed_pattern(p_both: f64, u: f64) -> [f64; 2] {
    let mut below = 0.0;
    for (pattern, probability) in PATTERNS.into_iter().zip(pattern_probabilities(p_both)) {
        below += probability;
        if u < below {
            return pattern;
        }
    }
    // Rounding can leave the cumulative sum a hair below 1.
    PATTERNS[PATTERNS.len() - 1]
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// 2,000 series: enough for the statistics below, fast in debug builds.
    fn toy(seed: u64) -> DoubleOu {
        let config = DoubleOuConfig { series: 2000, ..DoubleOuConfig::default() };
        double_ou(&config, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap()
    }

    fn mean_var(xs: &[f64]) -> (f64, f64) {
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        (mean, xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n)
    }

    #[test]
    fn the_grid_has_199_times_from_0_to_9_9_and_paths_start_at_0() {
        let data = toy(0);
        let grid = data.config.grid();
        assert_eq!(grid.len(), 199);
        assert_eq!(grid[0], 0.0);
        assert!((grid[198] - 9.9).abs() < 1e-12);
        for p in &data.paths {
            assert_eq!(p.latent.dim(), (199, 2));
            assert_eq!((p.latent[(0, 0)], p.latent[(0, 1)]), (0.0, 0.0), "Y(0) = 0, not the mean");
        }
    }

    #[test]
    fn means_are_uniform_on_their_two_intervals() {
        let means = toy(1).means();
        for (d, centre) in [1.0, -1.0].into_iter().enumerate() {
            let m: Vec<f64> = means.iter().map(|m| m[d]).collect();
            assert!(m.iter().all(|v| (centre - 0.5..centre + 0.5).contains(v)));
            // U(c - 1/2, c + 1/2): mean c, variance 1/12; over 2,000 series the
            // standard errors are 0.0065 and 0.0013, the bounds 4 of them.
            let (mean, var) = mean_var(&m);
            assert!((mean - centre).abs() < 0.026 && (var - 1.0 / 12.0).abs() < 0.0052, "{mean} {var}");
        }
    }

    #[test]
    fn observations_are_16_to_23_sorted_grid_times_of_the_path() {
        let data = toy(2);
        let grid = data.config.grid();
        let mut seen = [0usize; 24];
        for p in &data.paths {
            let s = &p.observed;
            let n = s.times.len();
            assert!((16..=23).contains(&n), "{n}");
            seen[n] += 1;
            assert!(s.times.windows(2).all(|w| w[0] < w[1]), "sorted, without replacement");
            for (row, t) in s.times.iter().enumerate() {
                let k = grid.iter().position(|u| u == t).expect("a grid time");
                for d in 0..2 {
                    let expected = s.masks[(row, d)] * p.latent[(k, d)];
                    assert_eq!(s.values[(row, d)], expected, "the path's value, 0 where unseen");
                }
            }
        }
        // Each of the 8 counts has probability 1/8: 250 of 2,000, standard deviation 15.
        assert!(seen[16..].iter().all(|&c| (190..310).contains(&c)), "{seen:?}");
        assert_eq!(data.to_irregular().unwrap().series().len(), 2000);
    }

    #[test]
    fn an_observation_sees_one_dimension_or_the_other_or_both_as_0_4_0_4_0_2() {
        let data = toy(3);
        let mut counts = [0usize; 3];
        for p in &data.paths {
            for row in p.observed.masks.rows() {
                let pattern = PATTERNS.iter().position(|m| m[0] == row[0] && m[1] == row[1]);
                counts[pattern.expect("one of the three patterns")] += 1;
            }
        }
        let n: usize = counts.iter().sum();
        for (count, p) in counts.into_iter().zip([0.4, 0.4, 0.2]) {
            // A binomial share: standard error sqrt(p (1 - p) / n), about 0.0025 here.
            let tolerance = 4.0 * (p * (1.0 - p) / n as f64).sqrt();
            assert!((count as f64 / n as f64 - p).abs() < tolerance, "{count} of {n}, p {p}");
        }
    }

    #[test]
    fn paths_revert_to_their_means_with_the_chains_spread() {
        let config = DoubleOuConfig::default();
        let data = toy(4);
        let a: f64 = 1.0 - config.theta * config.dt;
        for k in [100, 198] {
            // E[Y_k] = mu (1 - a^k), Var[Y_k] = sigma^2 dt (1 - a^2k) / (1 - a^2)
            // (about 5.13e-3), for each dimension.
            let var = config.sigma.powi(2) * config.dt * (1.0 - a.powi(2 * k as i32)) / (1.0 - a * a);
            for d in 0..2 {
                let dev: Vec<f64> = data
                    .paths
                    .iter()
                    .map(|p| p.latent[(k, d)] - p.means[d] * (1.0 - a.powi(k as i32)))
                    .collect();
                let (mean, v) = mean_var(&dev);
                // Standard errors over 2,000 series: sqrt(var / n) = 0.0016 for the
                // mean and var sqrt(2 / n) = 3.2 % for the variance; bounds 4 of them.
                assert!(mean.abs() < 4.0 * (var / 2000.0).sqrt(), "step {k}, dim {d}: mean {mean}");
                assert!(
                    (v / var - 1.0).abs() < 4.0 * (2.0 / 2000.0_f64).sqrt(),
                    "step {k}, dim {d}: {v} vs {var}"
                );
            }
        }
    }

    #[test]
    fn the_two_noises_have_correlation_rho() {
        let config = DoubleOuConfig::default();
        let data = toy(5);
        // The increment of a step is what the path did beyond the noise-free step.
        let (mut w1, mut w2) = (Vec::new(), Vec::new());
        for p in &data.paths {
            for k in 0..198 {
                let y = [p.latent[(k, 0)], p.latent[(k, 1)]];
                let drift = config.step(y, p.means, [0.0, 0.0]);
                w1.push(p.latent[(k + 1, 0)] - drift[0]);
                w2.push(p.latent[(k + 1, 1)] - drift[1]);
            }
        }
        let ((m1, v1), (m2, v2)) = (mean_var(&w1), mean_var(&w2));
        let cov = w1.iter().zip(&w2).map(|(a, b)| (a - m1) * (b - m2)).sum::<f64>() / w1.len() as f64;
        let n = w1.len() as f64;
        // Each increment has variance sigma^2 dt = 5e-4 (standard error sqrt(2 / n)
        // relative, 0.2 % over 396,000), and the correlation's standard error is
        // (1 - rho^2) / sqrt(n) = 3.2e-5.
        for v in [v1, v2] {
            assert!((v / 5e-4 - 1.0).abs() < 4.0 * (2.0 / n).sqrt(), "{v}");
        }
        let corr = cov / (v1 * v2).sqrt();
        assert!((corr - 0.99).abs() < 4.0 * (1.0 - 0.99 * 0.99) / n.sqrt(), "{corr}");
    }

    #[test]
    fn a_seed_gives_one_data_set_and_another_seed_another() {
        let config = DoubleOuConfig { series: 20, ..DoubleOuConfig::default() };
        let draw = |seed| double_ou(&config, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap();
        assert_eq!(draw(432), draw(432));
        assert_ne!(draw(432).paths[0].latent, draw(433).paths[0].latent);
        assert_ne!(draw(432).paths[0].observed.times, draw(433).paths[0].observed.times);
    }

    #[test]
    fn bad_settings_are_errors_that_name_the_setting() {
        let base = DoubleOuConfig::default();
        // Each bad setting, and what its error says.
        let bad = [
            (DoubleOuConfig { series: 0, ..base }, "0 series on 199 grid points"),
            (DoubleOuConfig { grid_points: 0, ..base }, "on 0 grid points"),
            (DoubleOuConfig { dt: 0.0, ..base }, "dt 0 must be > 0"),
            (DoubleOuConfig { theta: f64::NAN, ..base }, "must be finite"),
            (DoubleOuConfig { sigma: -0.1, ..base }, "sigma -0.1"),
            (DoubleOuConfig { rho: 1.5, ..base }, "rho 1.5 must be in [-1, 1]"),
            (DoubleOuConfig { mean_centres: [f64::INFINITY, -1.0], ..base }, "must be finite"),
            (DoubleOuConfig { mean_width: -1.0, ..base }, "mean_width -1"),
            (DoubleOuConfig { min_observations: 0, ..base }, "counts 0..=23"),
            (DoubleOuConfig { min_observations: 24, ..base }, "counts 24..=23"),
            (DoubleOuConfig { max_observations: 200, ..base }, "counts 16..=200"),
            (DoubleOuConfig { p_both: 1.2, ..base }, "p_both 1.2"),
        ];
        for (config, says) in bad {
            let err = double_ou(&config, &mut ChaCha8Rng::seed_from_u64(0)).unwrap_err().to_string();
            assert!(err.starts_with("double_ou: ") && err.contains(says), "{err}");
        }
    }
}
