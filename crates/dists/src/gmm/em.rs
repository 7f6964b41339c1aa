//! Expectation-maximisation for diagonal Gaussian mixtures (Dempster, Laird & Rubin
//! 1977; Bishop, *Pattern Recognition and Machine Learning*, Sec. 9.2.2, eqs.
//! 9.23-9.27).
//!
//! One iteration: the E-step computes the responsibilities `r_ik = p(k | x_i)` of
//! the current model and, in the same pass, the sufficient statistics
//! `N_k = sum_i r_ik`, `S1_k = sum_i r_ik (x_i - mu_k)`,
//! `S2_k = sum_i r_ik (x_i - mu_k)^2` and the log-likelihood; the M-step sets
//! `w_k = N_k / n`, `mu_k' = mu_k + S1_k / N_k`,
//! `sigma_k'^2 = max(S2_k / N_k - (S1_k / N_k)^2, floor)`.
//!
//! Accumulating about the current means (rather than raw `x` and `x^2`) avoids the
//! cancellation of `E[x^2] - E[x]^2` when the data sit far from the origin. Clamping
//! at the floor is the exact maximiser of the M-step objective under the
//! constraint `sigma^2 >= floor` (the objective is unimodal in each variance), so
//! the log-likelihood still never decreases; the floor keeps a component that
//! collapses onto one point from driving it to infinity.

use super::GaussianMixture;
use super::kernel::{Parallelism, map_chunks};
use crate::{Error, Result};
use ndarray::{Array2, ArrayView2, Axis};
use rand::seq::index::sample as sample_indices;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const ROUTINE: &str = "GaussianMixture::fit";

/// How EM chooses its starting means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EmInit {
    /// k-means++ seeding (Arthur & Vassilvitskii 2007): the first mean is a random
    /// point, each next one a point drawn with probability proportional to its
    /// squared distance to the nearest mean chosen so far.
    #[default]
    KMeansPlusPlus,
    /// `K` distinct data points drawn uniformly.
    Random,
}

/// Settings of [`GaussianMixture::fit`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EmConfig {
    /// Number of components `K`.
    pub components: usize,
    /// Largest number of M-steps.
    pub max_iter: usize,
    /// Stop when the mean log-likelihood per point changes by less than this.
    pub tol: f64,
    /// Lower bound on every component variance.
    pub var_floor: f64,
    /// Initialisation of the means (variances start at the data variance, weights
    /// uniform).
    pub init: EmInit,
    /// Seed of the initialisation.
    pub seed: u64,
    /// Serial or rayon.
    pub parallelism: Parallelism,
}

impl EmConfig {
    /// `K` components, `max_iter` 100, `tol` 1e-6, `var_floor` 1e-6, k-means++
    /// from seed 0, rayon (the defaults of scikit-learn's `GaussianMixture` where
    /// it has one).
    pub fn new(components: usize) -> Self {
        EmConfig {
            components,
            max_iter: 100,
            tol: 1e-6,
            var_floor: 1e-6,
            init: EmInit::default(),
            seed: 0,
            parallelism: Parallelism::default(),
        }
    }

    fn check(&self, x: ArrayView2<'_, f64>) -> Result<()> {
        let bad = |reason: String| Err(Error::Config { routine: ROUTINE, reason });
        if self.components == 0 {
            return Err(Error::Empty { dist: ROUTINE, what: "the list of components" });
        }
        if x.nrows() < self.components || x.ncols() == 0 {
            return bad(format!(
                "needs at least {} points of dimension >= 1, got {:?}",
                self.components,
                x.dim()
            ));
        }
        if self.tol.is_nan() || self.tol < 0.0 {
            return bad(format!("tol must be >= 0, got {}", self.tol));
        }
        if !self.var_floor.is_finite() || self.var_floor <= 0.0 {
            return bad(format!("var_floor must be positive and finite, got {}", self.var_floor));
        }
        crate::validate::finite(ROUTINE, "x", x)
    }
}

/// What [`GaussianMixture::fit`] returns.
#[derive(Debug, Clone)]
pub struct EmFit {
    /// The fitted mixture.
    pub model: GaussianMixture<Array2<f64>>,
    /// Mean log-likelihood per point of the initial model and after each M-step;
    /// the last entry belongs to `model`.
    pub log_likelihood: Vec<f64>,
    /// Whether the change fell below `tol` before `max_iter` M-steps.
    pub converged: bool,
}

/// Sufficient statistics of one E-step (see the module docs).
struct Stats {
    log_lik: f64,
    nk: Vec<f64>,
    s1: Vec<f64>,
    s2: Vec<f64>,
}

impl Stats {
    fn zeros(k: usize, d: usize) -> Self {
        Stats { log_lik: 0.0, nk: vec![0.0; k], s1: vec![0.0; k * d], s2: vec![0.0; k * d] }
    }
    fn add(mut self, other: &Stats) -> Self {
        self.log_lik += other.log_lik;
        let pairs = [(&mut self.nk, &other.nk), (&mut self.s1, &other.s1), (&mut self.s2, &other.s2)];
        for (a, b) in pairs {
            a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
        }
        self
    }
}

impl GaussianMixture<Array2<f64>> {
    /// The settings are meaningful and `x` fits this model.
    fn check_data(&self, x: ArrayView2<'_, f64>, cfg: &EmConfig) -> Result<()> {
        cfg.check(x)?;
        if x.ncols() != self.dim() {
            return Err(Error::Shape {
                dist: ROUTINE,
                what: "x",
                got: x.dim(),
                expected: format!("n x {}", self.dim()),
            });
        }
        Ok(())
    }

    /// The E-step statistics of this model on `x`.
    fn e_step(&self, x: ArrayView2<'_, f64>, par: Parallelism) -> Stats {
        let kernel = self.kernel();
        let (k, d) = (self.components(), self.dim());
        let means = self.means.as_standard_layout();
        let means = means.as_slice().expect("standard layout");
        let chunks = map_chunks(x, par, |rows, _| {
            let mut st = Stats::zeros(k, d);
            let mut r = vec![0.0; k];
            for p in rows.chunks_exact(d) {
                let lp = kernel.posterior(p, &mut r);
                st.log_lik += lp;
                for c in 0..k {
                    let rc = r[c];
                    st.nk[c] += rc;
                    let mu = &means[c * d..(c + 1) * d];
                    for j in 0..d {
                        let dev = p[j] - mu[j];
                        st.s1[c * d + j] += rc * dev;
                        st.s2[c * d + j] += rc * dev * dev;
                    }
                }
            }
            st
        });
        chunks.iter().fold(Stats::zeros(k, d), Stats::add)
    }

    /// The M-step: the model maximising the expected complete-data log-likelihood
    /// under the statistics (components with no responsibility keep their
    /// parameters and get weight `~1e-308`, so the logits stay finite).
    fn m_step(&self, st: &Stats, n: usize, var_floor: f64) -> Result<Self> {
        let (k, d) = (self.components(), self.dim());
        let mut means = self.means.clone();
        let mut log_vars = self.log_vars.clone();
        for c in 0..k {
            if st.nk[c] <= 0.0 {
                continue;
            }
            for j in 0..d {
                let shift = st.s1[c * d + j] / st.nk[c];
                means[(c, j)] += shift;
                let var = st.s2[c * d + j] / st.nk[c] - shift * shift;
                log_vars[(c, j)] = var.max(var_floor).ln();
            }
        }
        let logits =
            Array2::from_shape_fn((1, k), |(_, c)| (st.nk[c] / n as f64).max(f64::MIN_POSITIVE).ln());
        Self::new(logits, means, log_vars)
    }

    /// One EM iteration on `x`: returns the updated model and the mean
    /// log-likelihood per point of `self` (computed in the same pass).
    pub fn em_step(&self, x: ArrayView2<'_, f64>, var_floor: f64, par: Parallelism) -> Result<(Self, f64)> {
        self.check_data(x, &EmConfig { var_floor, ..EmConfig::new(self.components()) })?;
        let st = self.e_step(x, par);
        Ok((self.m_step(&st, x.nrows(), var_floor)?, st.log_lik / x.nrows() as f64))
    }

    /// Fits a mixture to the rows of `x` by EM from the initialisation in `cfg`.
    ///
    /// Returns the log-likelihood trace; it never decreases (up to rounding).
    pub fn fit(x: ArrayView2<'_, f64>, cfg: &EmConfig) -> Result<EmFit> {
        cfg.check(x)?;
        initial_model(x, cfg)?.fit_from(x, cfg)
    }

    /// EM from this mixture as the starting point (a warm start; `cfg.components`,
    /// `init` and `seed` are not used).
    pub fn fit_from(&self, x: ArrayView2<'_, f64>, cfg: &EmConfig) -> Result<EmFit> {
        let cfg = EmConfig { components: self.components(), ..*cfg };
        self.check_data(x, &cfg)?;
        let n = x.nrows();
        let mut model = self.clone();
        let mut trace: Vec<f64> = Vec::with_capacity(cfg.max_iter + 1);
        let mut converged = false;
        for it in 0..=cfg.max_iter {
            let st = model.e_step(x, cfg.parallelism);
            let ll = st.log_lik / n as f64;
            if let Some(&prev) = trace.last() {
                converged = (ll - prev).abs() < cfg.tol;
            }
            trace.push(ll);
            if converged || it == cfg.max_iter {
                break;
            }
            model = model.m_step(&st, n, cfg.var_floor)?;
        }
        Ok(EmFit { model, log_likelihood: trace, converged })
    }
}

/// The starting mixture: means from `cfg.init`, every variance the (floored)
/// per-dimension data variance, uniform weights.
fn initial_model(x: ArrayView2<'_, f64>, cfg: &EmConfig) -> Result<GaussianMixture<Array2<f64>>> {
    let (n, d) = x.dim();
    let k = cfg.components;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let chosen = match cfg.init {
        EmInit::Random => sample_indices(&mut rng, n, k).into_vec(),
        EmInit::KMeansPlusPlus => kmeans_pp(x, k, &mut rng),
    };
    let means = x.select(Axis(0), &chosen);
    let var = x.var_axis(Axis(0), 0.0).mapv(|v| v.max(cfg.var_floor).ln());
    let log_vars = Array2::from_shape_fn((k, d), |(_, j)| var[j]);
    GaussianMixture::new(Array2::zeros((1, k)), means, log_vars)
}

/// Indices of `k` seeds chosen by k-means++ (`D^2` sampling).
fn kmeans_pp<R: Rng>(x: ArrayView2<'_, f64>, k: usize, rng: &mut R) -> Vec<usize> {
    let n = x.nrows();
    let sq = |a: usize, b: usize| x.row(a).iter().zip(x.row(b)).map(|(p, q)| (p - q).powi(2)).sum::<f64>();
    let mut chosen = vec![rng.random_range(0..n)];
    let mut dist: Vec<f64> = (0..n).map(|i| sq(i, chosen[0])).collect();
    while chosen.len() < k {
        let total: f64 = dist.iter().sum();
        let next = if total > 0.0 {
            let mut u = rng.random::<f64>() * total;
            dist.iter()
                .position(|&w| {
                    u -= w;
                    u < 0.0
                })
                .unwrap_or(n - 1)
        } else {
            // Every point coincides with a seed: any point will do.
            rng.random_range(0..n)
        };
        chosen.push(next);
        for (i, di) in dist.iter_mut().enumerate() {
            *di = di.min(sq(i, next));
        }
    }
    chosen
}
