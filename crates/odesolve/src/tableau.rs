//! Butcher tableaux as data, validated when constructed.
//!
//! An explicit Runge-Kutta method with `s` stages advances `y` by one step `h` as
//!
//! $$ k_i = f\Big(t + c_i h,\; y + h \sum_{j<i} a_{ij} k_j\Big), \qquad
//!    y_1 = y + h \sum_i b_i k_i, $$
//!
//! and an embedded pair adds a second weight vector whose difference with `b`,
//! $e = b - \hat b$, gives the local error estimate $h \sum_i e_i k_i$ (Hairer,
//! Nørsett and Wanner, *Solving ODEs I*, II.4). The method is *FSAL* (first same as
//! last) when its last row of `A` equals `b` and `c_s = 1`: the last stage is then
//! `f(t + h, y_1)`, the first stage of the next step, and costs nothing.

use crate::{OdeError, Result};

/// How states between step ends are computed (dense output).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum DenseOutput {
    /// Hairer's continuous extension of order 4 for Dopri5 (`CONTD5` in `dopri5.f`):
    /// with $\theta = (t - t_0)/h$, $\theta_1 = 1 - \theta$,
    /// $y(\theta) = r_1 + \theta (r_2 + \theta_1 (r_3 + \theta (r_4 + \theta_1 r_5)))$ where
    /// $r_1 = y_0$, $r_2 = y_1 - y_0$, $r_3 = h k_1 - r_2$, $r_4 = r_2 - h k_s - r_3$ and
    /// $r_5 = h \sum_i d_i k_i$. Holds the `d_i`, one per stage.
    Hairer(Vec<f64>),
    /// Cubic Hermite interpolation through `y_0, y_1` with slopes `k_1` and `f(t_1, y_1)`
    /// (third order; exact for FSAL methods at no extra evaluation).
    Hermite,
}

/// The coefficients of an explicit Runge-Kutta method. Serialized as its fields;
/// deserialized through [`ButcherTableau::new`], so a file cannot hold a tableau that
/// fails its checks.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "TableauFields")]
pub struct ButcherTableau {
    name: String,
    order: usize,
    a: Vec<Vec<f64>>,
    b: Vec<f64>,
    c: Vec<f64>,
    err: Option<(Vec<f64>, usize)>,
    dense: DenseOutput,
    fsal: bool,
}

/// A tableau's fields as read from a file, before [`ButcherTableau::new`] checks them
/// (`fsal` is derived again, not trusted).
#[derive(serde::Deserialize)]
struct TableauFields {
    name: String,
    order: usize,
    a: Vec<Vec<f64>>,
    b: Vec<f64>,
    c: Vec<f64>,
    err: Option<(Vec<f64>, usize)>,
    dense: DenseOutput,
}

impl TryFrom<TableauFields> for ButcherTableau {
    type Error = OdeError;
    fn try_from(t: TableauFields) -> Result<Self> {
        ButcherTableau::new(&t.name, t.order, t.a, t.b, t.c, t.err, t.dense)
    }
}

/// Tolerance of the consistency checks (coefficients are given to about 16 digits).
const CHECK_TOL: f64 = 1e-12;

impl ButcherTableau {
    /// A tableau from its strictly lower-triangular `a` (row `i` holds `a_{i,0..i}`),
    /// weights `b`, nodes `c`, order, and for an embedded pair the error weights
    /// `e = b - b_hat` with the order of `b_hat`.
    ///
    /// Checks: every coefficient finite, `c_0 = 0`, row `i` of `a` has `i` entries summing to `c_i`, `b` sums to 1,
    /// `e` sums to 0, all lengths agree. FSAL is derived (last row of `a` equals `b`
    /// with `b_s = 0` and `c_s = 1`).
    pub fn new(
        name: &str,
        order: usize,
        a: Vec<Vec<f64>>,
        b: Vec<f64>,
        c: Vec<f64>,
        err: Option<(Vec<f64>, usize)>,
        dense: DenseOutput,
    ) -> Result<Self> {
        let fail = |reason: String| Err(OdeError::Tableau { name: name.to_owned(), reason });
        let s = b.len();
        if s == 0 || c.len() != s || a.len() != s {
            return fail(format!("{} rows of a, {} weights b, {} nodes c", a.len(), s, c.len()));
        }
        // A NaN passes every sum check below (comparisons with NaN are false).
        let entries = a.iter().flatten().chain(&b).chain(&c).chain(err.iter().flat_map(|(e, _)| e));
        if let Some(bad) = entries.copied().find(|x| !x.is_finite()) {
            return fail(format!("coefficient {bad} is not finite"));
        }
        if c[0] != 0.0 {
            return fail(format!("c_0 = {} (an explicit method starts at c_0 = 0)", c[0]));
        }
        for (i, row) in a.iter().enumerate() {
            if row.len() != i {
                return fail(format!("row {i} of a has {} entries, expected {i}", row.len()));
            }
            let sum: f64 = row.iter().sum();
            if i > 0 && (sum - c[i]).abs() > CHECK_TOL {
                return fail(format!("row {i} of a sums to {sum}, but c_{i} = {}", c[i]));
            }
        }
        let bsum: f64 = b.iter().sum();
        if (bsum - 1.0).abs() > CHECK_TOL {
            return fail(format!("weights b sum to {bsum}, not 1"));
        }
        if let Some((e, _)) = &err {
            let esum: f64 = e.iter().sum();
            if e.len() != s || esum.abs() > CHECK_TOL {
                return fail(format!("{} error weights summing to {esum}; need {s} summing to 0", e.len()));
            }
        }
        if let DenseOutput::Hairer(d) = &dense
            && d.len() != s
        {
            return fail(format!("{} dense-output coefficients for {s} stages", d.len()));
        }
        let last = &a[s - 1];
        let fsal = s > 1
            && b[s - 1] == 0.0
            && c[s - 1] == 1.0
            && last.iter().zip(&b).all(|(x, y)| (x - y).abs() <= CHECK_TOL);
        Ok(ButcherTableau { name: name.to_owned(), order, a, b, c, err, dense, fsal })
    }

    /// The method's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Order of the solution `y_1`.
    pub fn order(&self) -> usize {
        self.order
    }
    /// Number of stages `s`.
    pub fn stages(&self) -> usize {
        self.b.len()
    }
    /// Row `i` of `A` (its `i` entries left of the diagonal).
    pub fn a(&self, i: usize) -> &[f64] {
        &self.a[i]
    }
    /// The weights `b`.
    pub fn b(&self) -> &[f64] {
        &self.b
    }
    /// The nodes `c`.
    pub fn c(&self) -> &[f64] {
        &self.c
    }
    /// Error weights `e = b - b_hat`, if the method is an embedded pair.
    pub fn error_weights(&self) -> Option<&[f64]> {
        self.err.as_ref().map(|(e, _)| e.as_slice())
    }
    /// Order of the embedded solution `b_hat` (sets the controller's exponent).
    pub fn error_order(&self) -> Option<usize> {
        self.err.as_ref().map(|(_, q)| *q)
    }
    /// Whether the last stage is `f(t + h, y_1)` (first same as last).
    pub fn fsal(&self) -> bool {
        self.fsal
    }
    /// The dense-output rule.
    pub fn dense(&self) -> &DenseOutput {
        &self.dense
    }

    /// Weights `w_i(theta)` such that the dense output at `t_0 + theta h` is
    /// `y_0 + h sum_i w_i k_i`, where `k_s` stands for `f(t_1, y_1)` (the last stage of an
    /// FSAL method, or the first stage of the next step otherwise: `stages() + 1`
    /// weights are returned in that case, the extra one for `f(t_1, y_1)`).
    ///
    /// Both rules are linear in the stages, so writing them as weights lets one
    /// combination serve plain arrays and tape values alike.
    pub fn dense_weights(&self, theta: f64) -> Vec<f64> {
        let s = self.stages();
        let n = if self.fsal { s } else { s + 1 };
        let last = n - 1;
        let mut w = vec![0.0; n];
        match &self.dense {
            DenseOutput::Hairer(d) => {
                // Expand r_2..r_5 of CONTD5 with r_2 = h sum b_i k_i.
                let t1 = 1.0 - theta;
                for i in 0..s {
                    let b = self.b[i];
                    let delta1 = if i == 0 { 1.0 } else { 0.0 };
                    let delta_s = if i == last { 1.0 } else { 0.0 };
                    let r3 = delta1 - b;
                    let r4 = b - delta_s - r3;
                    w[i] = theta * (b + t1 * (r3 + theta * (r4 + t1 * d[i])));
                }
            }
            DenseOutput::Hermite => {
                // y = h00 y0 + h01 y1 + h h10 f0 + h h11 f1 with y1 = y0 + h sum b k.
                let t2 = theta * theta;
                let h01 = 3.0 * t2 - 2.0 * t2 * theta;
                let h10 = theta - 2.0 * t2 + t2 * theta;
                let h11 = t2 * theta - t2;
                for i in 0..s {
                    w[i] = h01 * self.b[i];
                }
                w[0] += h10;
                w[last] += h11;
            }
        }
        w
    }
}
