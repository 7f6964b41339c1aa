//! The multivariate normal with full covariance, parameterised by its mean and a
//! lower-triangular scale (Cholesky factor).

use crate::linalg::{Triangle, cholesky, diag_row, solve_right_triangular};
use crate::normal::{LN_2PI, standard_normal};
use crate::traits::{LogProb, Sample};
use crate::{Error, Result, validate};
use autodiff::Tensor;
use ndarray::{Array1, Array2, Axis};
use rand::Rng;

const DIST: &str = "MultivariateNormal";

/// `N(mu, L L^T)` over row vectors of length `d`.
///
/// `loc` is `1 x d`, `scale_tril` is the `d x d` lower-triangular `L` with a positive
/// diagonal. Data are `n x d` (one point per row). Every method is generic over the
/// value type: on the tape the log-density, entropy, samples and KL are
/// differentiable in `loc` and `L` (the triangular solve is itself written with tape
/// operations, see [`solve_right_triangular`]).
///
/// # Formula
///
/// With `z = L^{-1}(x - mu)` (forward substitution),
///
/// $$ \ln \mathcal N(x; \mu, LL^\top) = -\tfrac12 \left(d \ln 2\pi + \lVert z \rVert^2 \right) - \textstyle\sum_i \ln L_{ii}. $$
#[derive(Debug, Clone)]
pub struct MultivariateNormal<T> {
    loc: T,
    scale_tril: T,
}

impl<T: Tensor> MultivariateNormal<T> {
    /// From mean (`1 x d`) and lower-triangular scale (`d x d`, positive diagonal,
    /// zeros above it). Checks the current values.
    pub fn new(loc: T, scale_tril: T) -> Result<Self> {
        let (r, d) = loc.shape();
        if r != 1 || d == 0 {
            return Err(Error::Shape {
                dist: DIST,
                what: "loc",
                got: (r, d),
                expected: "1 x d with d >= 1".into(),
            });
        }
        if scale_tril.shape() != (d, d) {
            return Err(Error::Shape {
                dist: DIST,
                what: "scale_tril",
                got: scale_tril.shape(),
                expected: format!("{d} x {d} to match loc"),
            });
        }
        validate::finite(DIST, "loc", &loc.to_array())?;
        let l = scale_tril.to_array();
        validate::finite(DIST, "scale_tril", &l)?;
        if let Some(((row, col), &value)) = l.indexed_iter().find(|((i, j), v)| j > i && **v != 0.0) {
            return Err(Error::NotLowerTriangular { dist: DIST, param: "scale_tril", row, col, value });
        }
        if let Some((i, &value)) = l.diag().indexed_iter().find(|(_, v)| **v <= 0.0) {
            return Err(Error::NonPositive {
                dist: DIST,
                param: "scale_tril diagonal",
                row: i,
                col: i,
                value,
            });
        }
        Ok(MultivariateNormal { loc, scale_tril })
    }

    /// The mean (`1 x d`).
    pub fn loc(&self) -> &T {
        &self.loc
    }
    /// The scale `L` (`d x d`).
    pub fn scale_tril(&self) -> &T {
        &self.scale_tril
    }
    /// The dimension `d`.
    pub fn dim(&self) -> usize {
        self.loc.shape().1
    }
    /// The covariance `L L^T`.
    pub fn covariance(&self) -> Result<T> {
        Ok(self.scale_tril.matmul_t(&self.scale_tril, false, true)?)
    }

    /// `sum_i ln L_ii = ln det(L L^T) / 2`, as `1 x 1`.
    fn half_log_det(&self) -> Result<T> {
        Ok(diag_row(&self.scale_tril)?.log().sum())
    }

    /// Log-density of each row of `x` (`n x d`, finite), as `n x 1`.
    pub fn log_prob(&self, x: &T) -> Result<T> {
        let d = self.dim();
        if x.shape().1 != d {
            return Err(Error::Shape { dist: DIST, what: "x", got: x.shape(), expected: format!("n x {d}") });
        }
        validate::finite_data(DIST, "x", x)?;
        let z = whiten(&self.scale_tril, &x.sub(&self.loc)?)?;
        let maha = z.square().sum_axis(Axis(1));
        Ok(maha.add_scalar(d as f64 * LN_2PI).scale(-0.5).sub(&self.half_log_det()?)?)
    }

    /// Entropy `d (1 + ln 2 pi) / 2 + sum_i ln L_ii`, as `1 x 1`.
    pub fn entropy(&self) -> Result<T> {
        Ok(self.half_log_det()?.add_scalar(0.5 * self.dim() as f64 * (1.0 + LN_2PI)))
    }

    /// Reparameterised samples `mu + eps L^T` for given standard normal noise `eps`
    /// (`n x d`), one per row.
    pub fn rsample_with(&self, eps: &Array2<f64>) -> Result<T> {
        if eps.ncols() != self.dim() {
            return Err(Error::Shape {
                dist: DIST,
                what: "eps",
                got: eps.dim(),
                expected: format!("n x {}", self.dim()),
            });
        }
        let noise = self.loc.constant(eps.clone());
        Ok(self.loc.add(&noise.matmul_t(&self.scale_tril, false, true)?)?)
    }

    /// `n` reparameterised samples with noise drawn from `rng`.
    pub fn rsample<R: Rng + ?Sized>(&self, n: usize, rng: &mut R) -> Result<T> {
        self.rsample_with(&standard_normal((n, self.dim()), rng))
    }

    /// `n` samples with the gradient stopped.
    pub fn sample<R: Rng + ?Sized>(&self, n: usize, rng: &mut R) -> Result<T> {
        Ok(self.rsample(n, rng)?.detach())
    }

    /// Closed-form `KL(self || q)`, as `1 x 1`:
    ///
    /// $$ \tfrac12 \left( \lVert L_q^{-1} L_p \rVert_F^2 + \lVert L_q^{-1}(\mu_q - \mu_p) \rVert^2 - d \right) + \textstyle\sum_i \ln L_{q,ii} - \sum_i \ln L_{p,ii}. $$
    pub fn kl_divergence(&self, q: &MultivariateNormal<T>) -> Result<T> {
        let d = self.dim();
        if q.dim() != d {
            return Err(Error::Shape {
                dist: DIST,
                what: "q loc",
                got: q.loc.shape(),
                expected: format!("1 x {d}"),
            });
        }
        // Rows of the solve are the columns of L_q^{-1} L_p; the Frobenius norm does not care.
        let m = whiten(&q.scale_tril, &self.scale_tril.transpose())?;
        let z = whiten(&q.scale_tril, &q.loc.sub(&self.loc)?)?;
        let quad = m.square().sum().add(&z.square().sum())?.add_scalar(-(d as f64)).scale(0.5);
        Ok(quad.add(&q.half_log_det()?)?.sub(&self.half_log_det()?)?)
    }

    /// A copy of the parameters as plain arrays (detached from any tape).
    pub fn values(&self) -> MultivariateNormal<Array2<f64>> {
        MultivariateNormal { loc: self.loc.to_array(), scale_tril: self.scale_tril.to_array() }
    }
}

impl MultivariateNormal<Array2<f64>> {
    /// From mean (`1 x d`) and covariance (`d x d`, symmetric positive definite),
    /// factorised by the pure-Rust [`cholesky`].
    pub fn from_covariance(loc: Array2<f64>, covariance: &Array2<f64>) -> Result<Self> {
        Self::new(loc, cholesky(covariance)?)
    }
}

impl LogProb for MultivariateNormal<Array2<f64>> {
    fn log_prob_rows(&self, x: &Array2<f64>) -> Result<Array1<f64>> {
        Ok(self.log_prob(x)?.column(0).to_owned())
    }
}

impl Sample for MultivariateNormal<Array2<f64>> {
    fn sample_n<R: Rng + ?Sized>(&self, n: usize, rng: &mut R) -> Result<Array2<f64>> {
        self.rsample(n, rng)
    }
}

/// The rows `z_r` solving `L z_r = b_r` (`Z L^T = B`), differentiable in `L` and `B`.
fn whiten<T: Tensor>(l: &T, b: &T) -> Result<T> {
    solve_right_triangular(b, &l.transpose(), Triangle::Upper)
}
