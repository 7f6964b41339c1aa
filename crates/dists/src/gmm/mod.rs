//! Gaussian mixtures with diagonal components: scoring and sampling (here), the
//! plain-array kernel ([`kernel`]), and EM fitting ([`em`]).

pub mod em;
pub mod kernel;
mod rows;

pub use rows::RowMixture;

use crate::normal::{DiagNormal, standard_normal};
use crate::traits::{LogProb, Sample};
use crate::{Error, Result, validate};
use autodiff::{Shape, Tensor};
use kernel::{Kernel, Parallelism, map_chunks};
use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::Rng;

const DIST: &str = "GaussianMixture";

/// `p(x) = sum_k w_k N(x; mu_k, diag(e^{v_k}))` over row vectors of length `d`,
/// with weights `w = softmax(logits)`.
///
/// `logits` is `1 x K`, `means` and `log_vars` are `K x d`. The generic methods
/// ([`log_prob`](Self::log_prob), [`responsibilities`](Self::responsibilities))
/// run on the tape and are differentiable in all three parameters; on plain arrays,
/// [`score_samples`](GaussianMixture::score_samples) and EM use a tight,
/// optionally parallel kernel instead.
///
/// # Formula
///
/// $$ \ln p(x) = \operatorname{logsumexp}_k \Big( \ln w_k - \tfrac12 \textstyle\sum_j \big( \ln 2\pi + v_{kj} + (x_j - \mu_{kj})^2 e^{-v_{kj}} \big) \Big), \qquad \ln w = \operatorname{log\,softmax}(\text{logits}). $$
#[derive(Debug, Clone)]
pub struct GaussianMixture<T> {
    logits: T,
    means: T,
    log_vars: T,
}

impl<T: Tensor> GaussianMixture<T> {
    /// From component logits (`1 x K`), means and log-variances (`K x d`).
    pub fn new(logits: T, means: T, log_vars: T) -> Result<Self> {
        let (r, k) = logits.shape();
        if k == 0 {
            return Err(Error::Empty { dist: DIST, what: "the list of components" });
        }
        if r != 1 {
            return Err(Error::Shape { dist: DIST, what: "logits", got: (r, k), expected: "1 x K".into() });
        }
        let (mk, d) = means.shape();
        if mk != k || d == 0 {
            return Err(Error::Shape {
                dist: DIST,
                what: "means",
                got: (mk, d),
                expected: format!("{k} x d with d >= 1 (one row per component)"),
            });
        }
        if log_vars.shape() != (k, d) {
            return Err(Error::Shape {
                dist: DIST,
                what: "log_vars",
                got: log_vars.shape(),
                expected: format!("{k} x {d} like means"),
            });
        }
        validate::finite(DIST, "logits", &logits.to_array())?;
        validate::finite(DIST, "means", &means.to_array())?;
        validate::finite(DIST, "log_vars", &log_vars.to_array())?;
        Ok(GaussianMixture { logits, means, log_vars })
    }

    /// Number of components `K`.
    pub fn components(&self) -> usize {
        self.logits.shape().1
    }
    /// Event dimension `d`.
    pub fn dim(&self) -> usize {
        self.means.shape().1
    }
    /// The logits (`1 x K`).
    pub fn logits(&self) -> &T {
        &self.logits
    }
    /// The component means (`K x d`).
    pub fn means(&self) -> &T {
        &self.means
    }
    /// The component log-variances (`K x d`).
    pub fn log_vars(&self) -> &T {
        &self.log_vars
    }
    /// The mixture weights `softmax(logits)` (`1 x K`).
    pub fn weights(&self) -> T {
        self.logits.softmax(Axis(1))
    }

    /// Component `k` as a `1 x d` diagonal normal.
    pub fn component(&self, k: usize) -> Result<DiagNormal<T>> {
        DiagNormal::from_mean_log_var(self.means.gather_rows(&[k])?, self.log_vars.gather_rows(&[k])?)
    }

    /// `x` must be `n x d` (its finiteness is checked where it is read).
    fn check_x(&self, shape: Shape) -> Result<()> {
        if shape.1 != self.dim() {
            return Err(Error::Shape {
                dist: DIST,
                what: "x",
                got: shape,
                expected: format!("n x {}", self.dim()),
            });
        }
        Ok(())
    }

    /// `ln w_k + ln N(x_i; mu_k, sigma_k^2)` for each point and component (`n x K`).
    pub fn log_joint(&self, x: &T) -> Result<T> {
        self.check_x(x.shape())?;
        validate::finite_data(DIST, "x", x)?;
        let cols = (0..self.components())
            .map(|k| self.component(k)?.log_prob_rows(x))
            .collect::<Result<Vec<_>>>()?;
        let joint = T::concat_cols(&cols.iter().collect::<Vec<_>>())?;
        Ok(joint.add(&self.logits.log_softmax(Axis(1)))?)
    }

    /// Log-density of each row of `x` (`n x d`), as `n x 1`.
    pub fn log_prob(&self, x: &T) -> Result<T> {
        Ok(self.log_joint(x)?.logsumexp(Axis(1)))
    }

    /// Posterior component probabilities `p(k | x_i)` (`n x K`, rows sum to 1).
    pub fn responsibilities(&self, x: &T) -> Result<T> {
        Ok(self.log_joint(x)?.softmax(Axis(1)))
    }

    /// A copy of the parameters as plain arrays (detached from any tape).
    pub fn values(&self) -> GaussianMixture<Array2<f64>> {
        GaussianMixture {
            logits: self.logits.to_array(),
            means: self.means.to_array(),
            log_vars: self.log_vars.to_array(),
        }
    }
}

impl GaussianMixture<Array2<f64>> {
    /// From weights (positive, normalised here), means and variances (positive).
    pub fn from_weights(weights: &[f64], means: Array2<f64>, variances: &Array2<f64>) -> Result<Self> {
        let w = Array2::from_shape_vec((1, weights.len()), weights.to_vec()).expect("one row");
        validate::positive(DIST, "weights", &w)?;
        validate::positive(DIST, "variances", variances)?;
        Self::new(w.mapv(f64::ln), means, variances.mapv(f64::ln))
    }

    /// `ln softmax(logits)` as a plain vector.
    pub(crate) fn log_weights(&self) -> Vec<f64> {
        self.logits.log_softmax(Axis(1)).iter().copied().collect()
    }

    pub(crate) fn kernel(&self) -> Kernel {
        Kernel::new(&self.log_weights(), &self.means, &self.log_vars)
    }

    /// Log-density of each row of `x` by the fast kernel (what scikit-learn calls
    /// `score_samples`), serial or with rayon.
    pub fn score_samples(&self, x: ArrayView2<'_, f64>, par: Parallelism) -> Result<Array1<f64>> {
        self.check_x(x.dim())?;
        validate::finite(DIST, "x", x)?;
        let kernel = self.kernel();
        let d = self.dim();
        let chunks = map_chunks(x, par, |rows, _| {
            let mut buf = vec![0.0; kernel.components()];
            rows.chunks_exact(d).map(|p| kernel.posterior(p, &mut buf)).collect::<Vec<_>>()
        });
        Ok(chunks.into_iter().flatten().collect())
    }

    /// Mean log-density per point (scikit-learn's `score`).
    pub fn score(&self, x: ArrayView2<'_, f64>, par: Parallelism) -> Result<f64> {
        if x.nrows() == 0 {
            return Err(Error::Empty { dist: DIST, what: "the data" });
        }
        Ok(self.score_samples(x, par)?.sum() / x.nrows() as f64)
    }

    /// `n` ancestral samples: a component from the weights, then a point from it.
    pub fn sample<R: Rng + ?Sized>(&self, n: usize, rng: &mut R) -> Array2<f64> {
        let w: Vec<f64> = self.log_weights().iter().map(|l| l.exp()).collect();
        let noise = standard_normal((n, self.dim()), rng);
        let mut out = Array2::zeros((n, self.dim()));
        for (i, mut row) in out.axis_iter_mut(Axis(0)).enumerate() {
            let k = categorical(&w, rng.random::<f64>());
            for j in 0..self.dim() {
                row[j] = self.means[(k, j)] + (0.5 * self.log_vars[(k, j)]).exp() * noise[(i, j)];
            }
        }
        out
    }
}

/// The index `k` with `sum_{i<k} w_i <= u < sum_{i<=k} w_i` (the last index if
/// rounding leaves `u` past the total).
fn categorical(w: &[f64], u: f64) -> usize {
    let total: f64 = w.iter().sum();
    let mut acc = 0.0;
    for (k, wk) in w.iter().enumerate() {
        acc += wk / total;
        if u < acc {
            return k;
        }
    }
    w.len() - 1
}

impl LogProb for GaussianMixture<Array2<f64>> {
    fn log_prob_rows(&self, x: &Array2<f64>) -> Result<Array1<f64>> {
        self.score_samples(x.view(), Parallelism::Serial)
    }
}

impl Sample for GaussianMixture<Array2<f64>> {
    fn sample_n<R: Rng + ?Sized>(&self, n: usize, rng: &mut R) -> Result<Array2<f64>> {
        Ok(self.sample(n, rng))
    }
}
