//! The categorical distribution over `K` classes, one distribution per row,
//! parameterised by logits: WaveNet's softmax over quantised amplitude levels.

use crate::traits::{LogProb, Sample};
use crate::{Error, Result, validate};
use autodiff::{Shape, Tensor};
use ndarray::{Array1, Array2, Axis};
use rand::Rng;

const DIST: &str = "Categorical";

/// A distribution over the classes `0..K` in every row: row `b` puts probability
/// `softmax(logits_b)_k` on class `k`.
///
/// # Formula
///
/// With logits $\ell \in \mathbb R^K$ and $\operatorname{lse}(\ell) = \ln \sum_j e^{\ell_j}$,
///
/// $$ \ln p(k) = \ell_k - \operatorname{lse}(\ell), \qquad
///    H = -\sum_k p(k) \ln p(k), \qquad
///    \mathrm{KL}(p \,\|\, q) = \sum_k p(k) \big(\ln p(k) - \ln q(k)\big). $$
///
/// Every formula goes through the log-probabilities $\ell - \operatorname{lse}(\ell)$,
/// and the log-sum-exp subtracts the row's maximum first, so logits of $\pm 10^4$ give
/// finite, exact answers where $e^{10^4}$ would overflow. A class of probability
/// $e^{-2 \cdot 10^4} = 0$ (to `f64`) enters the entropy and the KL as
/// $0 \cdot (-2 \cdot 10^4) = 0$, never as $0 \cdot (-\infty)$.
#[derive(Debug, Clone)]
pub struct Categorical<T> {
    logits: T,
}

/// The `n x categories` one-hot encoding of `index` (row `r` has a 1 in column
/// `index[r]`). Fails if an index is not below `categories`.
pub fn one_hot(index: &[usize], categories: usize) -> Result<Array2<f64>> {
    check_index(index, categories)?;
    let mut out = Array2::zeros((index.len(), categories));
    for (r, &k) in index.iter().enumerate() {
        out[(r, k)] = 1.0;
    }
    Ok(out)
}

/// Every index below `categories`.
fn check_index(index: &[usize], categories: usize) -> Result<()> {
    match index.iter().position(|&k| k >= categories) {
        Some(row) => Err(Error::OutOfRange {
            dist: DIST,
            param: "index",
            range: "0..categories",
            row,
            col: 0,
            value: index[row] as f64,
        }),
        None => Ok(()),
    }
}

impl<T: Tensor> Categorical<T> {
    /// From logits, `B x K` with `K >= 1` (finite).
    pub fn from_logits(logits: T) -> Result<Self> {
        if logits.shape().1 == 0 {
            return Err(Error::Empty { dist: DIST, what: "the set of categories" });
        }
        validate::finite(DIST, "logits", &logits.to_array())?;
        Ok(Categorical { logits })
    }

    /// The logits.
    pub fn logits(&self) -> &T {
        &self.logits
    }
    /// `(B, K)`: the number of rows and of categories.
    pub fn shape(&self) -> Shape {
        self.logits.shape()
    }
    /// The number of categories `K`.
    pub fn categories(&self) -> usize {
        self.shape().1
    }
    /// The log-probabilities of every class in every row, `logits - lse(logits)` (`B x K`).
    pub fn log_probs(&self) -> T {
        self.logits.log_softmax(Axis(1))
    }
    /// The probabilities `softmax(logits)` (`B x K`).
    pub fn probs(&self) -> T {
        self.logits.softmax(Axis(1))
    }

    /// `ln p_b(index[b])` for every row (`B x 1`): the log-probability of one class
    /// per row, picked out of [`log_probs`](Self::log_probs) by a one-hot mask.
    pub fn log_prob(&self, index: &[usize]) -> Result<T> {
        let (rows, k) = self.shape();
        if index.len() != rows {
            return Err(Error::Shape {
                dist: DIST,
                what: "index",
                got: (index.len(), 1),
                expected: format!("one class per row of the {rows} x {k} logits"),
            });
        }
        Ok(self.log_probs().mask(&one_hot(index, k)?)?.sum_axis(Axis(1)))
    }

    /// The entropy of every row, `-sum_k p_k ln p_k` (`B x 1`).
    pub fn entropy(&self) -> Result<T> {
        let lp = self.log_probs();
        Ok(lp.exp().mul(&lp)?.sum_axis(Axis(1)).neg())
    }

    /// Closed-form `KL(self || q)` of every row, `sum_k p_k (ln p_k - ln q_k)` (`B x 1`).
    /// The rows broadcast (a `1 x K` `q` against `B x K` logits); `K` must agree.
    pub fn kl_divergence(&self, q: &Categorical<T>) -> Result<T> {
        validate::broadcast(DIST, "q", self.shape(), q.shape())?;
        let lp = self.log_probs();
        Ok(lp.exp().mul(&lp.sub(&q.log_probs())?)?.sum_axis(Axis(1)))
    }

    /// One class per row (not differentiable), by inverting the row's cumulative
    /// distribution at one uniform draw: exactly one draw from `rng` per row, in row
    /// order, so two computations of the same logits sample alike from the same seed.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Vec<usize> {
        self.logits.to_array().rows().into_iter().map(|row| inverse_cdf(row, rng.random())).collect()
    }

    /// A copy of the parameters as plain arrays (detached from any tape).
    pub fn values(&self) -> Categorical<Array2<f64>> {
        Categorical { logits: self.logits.to_array() }
    }
}

/// The class `k` at which the cumulative distribution of `softmax(logits)` first
/// exceeds `u` in `[0, 1)`. The weights `e^{l_k - max}` are never all zero (the
/// maximum has weight 1), and a `u` that rounds to the very end picks the last class
/// of positive weight, so a class of zero probability is never drawn.
fn inverse_cdf(logits: ndarray::ArrayView1<'_, f64>, u: f64) -> usize {
    let max = logits.fold(f64::NEG_INFINITY, |m, &l| m.max(l));
    let weights: Vec<f64> = logits.iter().map(|&l| (l - max).exp()).collect();
    let target = u * weights.iter().sum::<f64>();
    let mut acc = 0.0;
    for (k, w) in weights.iter().enumerate() {
        acc += w;
        if target < acc {
            return k;
        }
    }
    weights.iter().rposition(|&w| w > 0.0).expect("the maximum has weight 1")
}

/// The classes held as numbers in a one-column array (as [`LogProb`] and [`Sample`]
/// carry them, and a sequence batch holds a quantised signal): fails unless every
/// entry is an integer in `0..categories`.
pub fn class_indices(x: &Array2<f64>, categories: usize) -> Result<Vec<usize>> {
    if x.ncols() != 1 {
        return Err(Error::Shape {
            dist: DIST,
            what: "x",
            got: x.dim(),
            expected: "one column holding a class per row".into(),
        });
    }
    match x.iter().position(|&v| v.fract() != 0.0 || v < 0.0 || v >= categories as f64) {
        Some(row) => Err(Error::OutOfRange {
            dist: DIST,
            param: "x",
            range: "the integers 0..categories",
            row,
            col: 0,
            value: x[(row, 0)],
        }),
        None => Ok(x.iter().map(|&v| v as usize).collect()),
    }
}

impl LogProb for Categorical<Array2<f64>> {
    /// `x` holds one class per row, as a number, in its one column.
    fn log_prob_rows(&self, x: &Array2<f64>) -> Result<Array1<f64>> {
        let index = class_indices(x, self.categories())?;
        let lp = if self.shape().0 == 1 && index.len() != 1 {
            // One distribution scoring many draws: broadcast the logits' row.
            let rows = self.logits.broadcast((index.len(), self.categories())).expect("one row").to_owned();
            Categorical { logits: rows }.log_prob(&index)?
        } else {
            self.log_prob(&index)?
        };
        Ok(lp.column(0).to_owned())
    }
}

impl Sample for Categorical<Array2<f64>> {
    /// `n` draws as rows of one column (the class as a number); the logits must have
    /// one row.
    fn sample_n<R: Rng + ?Sized>(&self, n: usize, rng: &mut R) -> Result<Array2<f64>> {
        if self.shape().0 != 1 {
            return Err(Error::Shape {
                dist: DIST,
                what: "logits",
                got: self.shape(),
                expected: "one row to draw rows of samples".into(),
            });
        }
        let row = self.logits.row(0);
        Ok(Array2::from_shape_fn((n, 1), |_| inverse_cdf(row, rng.random()) as f64))
    }
}
