//! [`RowMixture`]: a diagonal Gaussian mixture per row, the output distribution of a
//! network that predicts mixture weights, means and log-variances for every example.

use crate::{DiagNormal, Error, Result};
use autodiff::Tensor;
use ndarray::{Array2, Axis};
use rand::Rng;
use rand_distr::StandardNormal;

/// Row-wise Gaussian mixtures: row `b` has weights `softmax(logits_b)` (`B x K`) and
/// components with means and log-variances in column blocks of `means`, `log_vars`
/// (`B x K d`).
///
/// # Formula
///
/// $$ \ln p(x_b) = \operatorname{logsumexp}_k \Big( \ln w_{bk} + \textstyle\sum_j \ln \mathcal N(x_{bj}; \mu_{b,kd+j}, e^{v_{b,kd+j}}) \Big). $$
///
/// ([`GaussianMixture`](crate::GaussianMixture) holds one mixture for all rows; a
/// network's output layer, such as a VRNN's mixture decoder, needs one per row.)
#[derive(Debug, Clone)]
pub struct RowMixture<T> {
    logits: T,
    components: DiagNormal<T>,
    dim: usize,
}

impl<T: Tensor> RowMixture<T> {
    /// From logits (`B x K`), means and log-variances (`B x K dim`).
    pub fn new(logits: T, means: T, log_vars: T, dim: usize) -> Result<Self> {
        let (b, k) = logits.shape();
        if means.shape() != (b, k * dim) || log_vars.shape() != (b, k * dim) {
            return Err(Error::Shape {
                dist: "RowMixture",
                what: "means and log_vars",
                got: means.shape(),
                expected: format!(
                    "{:?} for logits {:?} and dimension {dim} (log_vars: {:?})",
                    (b, k * dim),
                    (b, k),
                    log_vars.shape()
                ),
            });
        }
        Ok(RowMixture { logits, components: DiagNormal::from_mean_log_var(means, log_vars)?, dim })
    }

    /// Number of components `K`.
    pub fn components(&self) -> usize {
        self.logits.shape().1
    }

    /// `ln p(x_b)` of each row of `x` (`B x dim`), as `B x 1`.
    pub fn log_prob_rows(&self, x: &T) -> Result<T> {
        crate::validate::finite_data("RowMixture", "x", x)?;
        let k = self.components();
        let tiled = T::concat_cols(&vec![x; k])?;
        let lp = self.components.log_prob(&tiled)?;
        // Summing each block of `dim` columns is a product with a 0/1 block matrix.
        let blocks =
            Array2::from_shape_fn((k * self.dim, k), |(i, j)| if i / self.dim == j { 1.0 } else { 0.0 });
        let per_component = lp.matmul(&x.constant(blocks))?;
        Ok(per_component.add(&self.logits.log_softmax(Axis(1)))?.logsumexp(Axis(1)))
    }

    /// Ancestral samples, one per row: a component from the row's weights, then a point.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Array2<f64> {
        let w = self.logits.softmax(Axis(1)).to_array();
        let (mean, std) = (self.components.mean().to_array(), self.components.std().to_array());
        let d = self.dim;
        let mut out = Array2::zeros((w.nrows(), d));
        for (b, mut row) in out.outer_iter_mut().enumerate() {
            let u: f64 = rng.random();
            let mut acc = 0.0;
            let k = w.row(b).iter().position(|&p| {
                acc += p;
                u < acc
            });
            let k = k.unwrap_or(w.ncols() - 1);
            for j in 0..d {
                let eps: f64 = rng.sample(StandardNormal);
                row[j] = mean[(b, k * d + j)] + std[(b, k * d + j)] * eps;
            }
        }
        out
    }

    /// The mixture mean of each row, `sum_k w_k mu_k`.
    pub fn mean(&self) -> Result<Array2<f64>> {
        let w = self.logits.softmax(Axis(1)).to_array();
        let mean = self.components.mean().to_array();
        let d = self.dim;
        Ok(Array2::from_shape_fn((w.nrows(), d), |(b, j)| {
            (0..w.ncols()).map(|k| w[(b, k)] * mean[(b, k * d + j)]).sum()
        }))
    }
}
